"""Queries generated over the schema (hypothesis-graphql), their arguments filled with the city's real values.

Used by test_generated_equivalence.py: a generated document's arguments are drawn from values
that reach data (the city's persons, enterprises, consents and certificates) as often as from
hypothesis-graphql's own, and are sent as literals or as variables.
"""

from __future__ import annotations

import json
from typing import Any

import graphql
from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    NameNode,
    ObjectFieldNode,
    ObjectValueNode,
    OperationDefinitionNode,
    VariableDefinitionNode,
    VariableNode,
)
from hypothesis import strategies as st
from hypothesis_graphql import nodes, queries

from tests.api import city
from tests.api.matrix_routes import SCHEMA

GQL = SCHEMA._schema

PERSONS = [city.CITIZEN, city.BORROWER, city.STRANGER, "330105199007080011"]  # the last: a bad check digit
ENTERPRISES = [city.TEA, city.FOOD, city.LOGISTICS, "91330100MA2H00001P", "91330106MA2H100017"]
NAMES = [city.SEARCH_PREFIX, f"{city.SEARCH_PREFIX}1", "钱塘", ""]
CASE = "西湖受〔2026〕0001号"
ACCESS: list[dict[str, str]] = [
    {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OK},
    {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_FOOD},
    {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_TEA},
    {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_REVOKED},
    {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OTHER_BANK},
    {"purpose": "CREDIT_CARD_APPROVAL", "consentId": city.CONSENT_CARD_ONLY},
    {"purpose": "SERVICE_COUNTER", "caseNumber": CASE},
    {"purpose": "SERVICE_COUNTER", "caseNumber": CASE, "reason": "窗口核验"},
    {"purpose": "SUPERVISION", "reason": "抽查"},
]
FIRSTS = [0, 1, 2, 3, 5, 25, 101, -1]
DATETIMES = ["2020-01-01T00:00:00+08:00", "2099-01-01T00:00:00+00:00", "not-a-time"]

# The input scalars of the schema besides the built-in ones (without a strategy, optional
# arguments of these types are never generated).
CUSTOM_SCALARS = {
    "DateTime": st.sampled_from(DATETIMES).map(nodes.String),
    "Date": st.sampled_from(["2026-01-01", "nope"]).map(nodes.String),
    "Decimal": st.sampled_from(["1.5", "x"]).map(nodes.String),
    "JSON": st.sampled_from(['{"a": 1}', "[]"]).map(nodes.String),
}


def generated() -> st.SearchStrategy[DocumentNode]:
    return queries(GQL, custom_scalars=CUSTOM_SCALARS, print_ast=lambda document: document)


def _named(gql_type: Any) -> Any:
    while isinstance(gql_type, (GraphQLNonNull, GraphQLList)):
        gql_type = gql_type.of_type
    return gql_type


def _literal(value: Any) -> Any:
    return (
        graphql.ast_from_value(value, graphql.GraphQLString) if isinstance(value, str) else graphql.parse_value(json.dumps(value))
    )


def _access_node(access: dict[str, str]) -> ObjectValueNode:
    fields = []
    for name, value in access.items():
        node = graphql.EnumValueNode(value=value) if name == "purpose" else graphql.StringValueNode(value=value)
        fields.append(ObjectFieldNode(name=NameNode(value=name), value=node))
    return ObjectValueNode(fields=tuple(fields))


class Arguments:
    """Rewrites a generated document's arguments with values drawn from `draw`."""

    def __init__(self, draw: st.DrawFn, identifiers: list[str], cursors: list[str]) -> None:
        self.draw = draw
        self.identifiers = identifiers
        self.cursors = cursors
        self.variables: dict[str, Any] = {}
        self.definitions: list[VariableDefinitionNode] = []

    def real(self, name: str) -> list[Any] | None:
        """The real values an argument of this name may take, or None to keep the generated one."""
        return {
            "idNumber": PERSONS,
            "creditCode": ENTERPRISES,
            "name": NAMES,
            "identifier": self.identifiers,
            "first": FIRSTS,
            "after": self.cursors,
            "subjectId": PERSONS + ENTERPRISES[:2],
            "organisation": [city.BANK, city.COUNTER],
            "since": DATETIMES,
            "until": DATETIMES,
        }.get(name)

    def document(self, document: DocumentNode) -> DocumentNode:
        (operation,) = document.definitions
        assert isinstance(operation, OperationDefinitionNode)
        root = GQL.query_type
        assert root is not None
        selection_set = self.selections(root, operation.selection_set)
        operation = OperationDefinitionNode(
            operation=operation.operation, name=operation.name, directives=(),
            variable_definitions=tuple(self.definitions), selection_set=selection_set,
        )  # fmt: skip
        return DocumentNode(definitions=(operation,))

    def selections(self, parent: GraphQLObjectType, selection_set: Any) -> Any:
        if selection_set is None:
            return None
        out = []
        for node in selection_set.selections:
            assert isinstance(node, FieldNode), node  # the schema has no abstract types: no fragments
            field = parent.fields[node.name.value] if not node.name.value.startswith("__") else None
            if field is None:
                out.append(node)
                continue
            arguments = tuple(self.argument(field.args[a.name.value].type, a) for a in node.arguments or ())
            child = _named(field.type)
            inner = self.selections(child, node.selection_set) if isinstance(child, GraphQLObjectType) else None
            out.append(FieldNode(alias=node.alias, name=node.name, arguments=arguments, directives=(), selection_set=inner))
        return graphql.SelectionSetNode(selections=tuple(out))

    def argument(self, arg_type: GraphQLInputType, node: ArgumentNode) -> ArgumentNode:
        name = node.name.value
        value: Any = node.value
        if name == "access" and self.draw(st.integers(0, 3)):
            value = _access_node(self.draw(st.sampled_from(ACCESS)))
        elif isinstance(_named(arg_type), GraphQLInputObjectType) and isinstance(value, ObjectValueNode):
            value = ObjectValueNode(fields=tuple(self.object_field(_named(arg_type), f) for f in value.fields))
        elif (choices := self.real(name)) and self.draw(st.integers(0, 3)):
            value = _literal(self.draw(st.sampled_from(choices)))
        if self.draw(st.booleans()):  # the same value as a variable
            variable = f"v{len(self.definitions)}"
            self.variables[variable] = graphql.value_from_ast_untyped(value)
            self.definitions.append(VariableDefinitionNode(
                variable=VariableNode(name=NameNode(value=variable)), type=graphql.parse_type(str(arg_type)),
                directives=(),
            ))  # fmt: skip
            value = VariableNode(name=NameNode(value=variable))
        return ArgumentNode(name=node.name, value=value)

    def object_field(self, input_type: GraphQLInputObjectType, node: ObjectFieldNode) -> ObjectFieldNode:
        name = node.name.value
        value: Any = node.value
        if (choices := self.real(name)) and self.draw(st.integers(0, 3)):
            value = _literal(self.draw(st.sampled_from(choices)))
        return ObjectFieldNode(name=node.name, value=value)
