"""Query limits (SPEC section 9): depth, aliases, root fields, tokens and an estimated cost.

Checked on the parsed document before validation and before any SQL (app/execution/documents.py
calls `measure` once per query text and keeps the verdict): validation itself is costly on a
hostile document (graphql-core's overlapping-fields rule is super-linear), so a document past a
limit is refused before it. The caller gets QUERY_TOO_COMPLEX with the limit and the measured
value in the error's extensions.

Measured over every operation of the document, with fragments expanded: a fragment is measured
once and its figures reused wherever it is spread, so a chain of fragments that doubles at each
level is counted (2^n) without being walked 2^n times. The document is not valid yet: an
unknown field, type or fragment, or a cycle of fragments, counts as nothing here and is left to
validation to report.

The cost of a field is 1, plus the cost of its selections, times the number of items it may
return: `first` (a literal, else the largest page, PAGE_SIZE_FOR_VARIABLES, since variables are
not known yet) for a connection, LIST_SIZE for a plain list of objects (a list of scalars is
one value). Introspection (`__schema`,
`__type`) is not counted in depth and cost (GraphiQL's own query is deeper than any data query),
but its aliases and tokens are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
)

from app.errors import QueryTooComplex
from app.i18n import Text

LIST_SIZE = 20  # the items a plain list (a subject's licences, penalties...) is counted as
PAGE_SIZE_FOR_VARIABLES = 100  # `first` from a variable: the largest page (app/schema/pagination.py)
# Each limit's name (in the error's extensions) and its words in the message.
NAMES = {
    "depth": "limits.depth",
    "aliases": "limits.aliases",
    "root fields": "limits.root_fields",
    "tokens": "limits.tokens",
    "cost": "limits.cost",
}


@dataclass(frozen=True)
class Limits:
    """The limits in force; defaults as strict as GraphQL Armor's, or stricter."""

    depth: int = 8
    aliases: int = 15
    root_fields: int = 10
    tokens: int = 1000
    cost: int = 5000


class LimitExceeded(QueryTooComplex):
    """A document past one of the limits; its extensions name the limit and what was measured."""

    def __init__(self, name: str, limit: int, measured: int) -> None:
        super().__init__("limits.exceeded", what=Text(NAMES[name]), measured=measured, limit=limit)
        self.extensions = {"limit": name, "maximum": limit, "measured": measured}


@dataclass(frozen=True)
class Measure:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    root_fields: int = 0


def measure(schema: GraphQLSchema, document: DocumentNode) -> Measure:
    """The document's figures: the largest depth, cost and root fields of its operations, its aliases in all."""
    walker = _Walker(schema, document)
    depth = aliases = cost = roots = 0
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        root = {
            OperationType.QUERY: schema.query_type,
            OperationType.MUTATION: schema.mutation_type,
            OperationType.SUBSCRIPTION: schema.subscription_type,
        }[definition.operation]
        figures = walker.selection_set(definition.selection_set, root)
        depth, cost = max(depth, figures.depth), max(cost, figures.cost)
        aliases += figures.aliases
        roots = max(roots, walker.count_fields(definition.selection_set, root))
    return Measure(depth=depth, aliases=aliases, cost=cost, root_fields=roots)


def check(limits: Limits, figures: Measure) -> None:
    """Raise LimitExceeded for the first limit the figures pass."""
    for name, limit, measured in (
        ("depth", limits.depth, figures.depth),
        ("aliases", limits.aliases, figures.aliases),
        ("root fields", limits.root_fields, figures.root_fields),
        ("cost", limits.cost, figures.cost),
    ):
        if measured > limit:
            raise LimitExceeded(name, limit, measured)


class _Walker:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self._measured: dict[str, Measure] = {}
        self._visiting: set[str] = set()

    def selection_set(self, selection_set: SelectionSetNode | None, parent: Any) -> Measure:
        depth = aliases = cost = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                figures = self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                figures = self.selection_set(selection.selection_set, self._type(condition) if condition else parent)
            elif isinstance(selection, FragmentSpreadNode):
                figures = self.fragment(selection.name.value)
            else:  # pragma: no cover - the parser makes no other selection
                continue
            depth, aliases, cost = max(depth, figures.depth), aliases + figures.aliases, cost + figures.cost
        return Measure(depth=depth, aliases=aliases, cost=cost)

    def field(self, node: FieldNode, parent: Any) -> Measure:
        aliases = 1 if node.alias else 0
        name = node.name.value
        field_def = parent.fields.get(name) if isinstance(parent, GraphQLObjectType) else None
        if name.startswith("__"):
            inner = self.selection_set(node.selection_set, None)
            return Measure(aliases=aliases + inner.aliases)
        inner = self.selection_set(node.selection_set, get_named_type(field_def.type) if field_def else None)
        items = self._items(node, field_def, parent) if field_def else 1
        return Measure(depth=1 + inner.depth, aliases=aliases + inner.aliases, cost=items * (1 + inner.cost))

    def fragment(self, name: str) -> Measure:
        if name in self._measured:
            return self._measured[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self._visiting:  # unknown, or a cycle: validation says so
            return Measure()
        self._visiting.add(name)
        figures = self.selection_set(fragment.selection_set, self._type(fragment.type_condition))
        self._visiting.discard(name)
        self._measured[name] = figures
        return figures

    def count_fields(self, selection_set: SelectionSetNode, parent: Any, seen: frozenset[str] = frozenset()) -> int:
        """The fields selected directly on `parent` (the root), fragments expanded, duplicates counted."""
        count = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                count += 1
            elif isinstance(selection, InlineFragmentNode):
                count += self.count_fields(selection.selection_set, parent, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    count += self.count_fields(fragment.selection_set, parent, seen | {name})
        return count

    def _type(self, condition: Any) -> Any:
        return self.schema.get_type(condition.name.value) if condition is not None else None

    @staticmethod
    def _items(node: FieldNode, field_def: Any, parent: Any) -> int:
        """How many items the field may return, for the cost."""
        first = field_def.args.get("first")
        if first is not None:  # a connection: its page size, counted here and not again at `edges`
            for argument in node.arguments or ():
                if argument.name.value == "first":
                    value = argument.value
                    if isinstance(value, IntValueNode):
                        return max(1, min(int(value.value), PAGE_SIZE_FOR_VARIABLES))
                    return PAGE_SIZE_FOR_VARIABLES
            default = first.default_value
            return default if isinstance(default, int) and 0 < default <= PAGE_SIZE_FOR_VARIABLES else PAGE_SIZE_FOR_VARIABLES
        if parent.name.endswith("Connection"):
            return 1
        gql_type = field_def.type
        if isinstance(gql_type, GraphQLNonNull):
            gql_type = gql_type.of_type
        # A list of objects costs per item; a list of scalars is one value.
        return LIST_SIZE if isinstance(gql_type, GraphQLList) and not is_leaf_type(get_named_type(gql_type)) else 1
