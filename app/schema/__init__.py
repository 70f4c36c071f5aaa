"""The GraphQL schema: types in this package, resolvers in app/resolvers/."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.types import ExecutionContext

from app.audit.extension import OperationFacts
from app.auth.enforce import DisclosureReport, IntrospectionForAdmins, field_guards
from app.auth.policy import FIELD_POLICY, FieldRule
from app.config import Settings
from app.execution.documents import DocumentCache, Documents
from app.execution.executor import executor_class
from app.schema.mutation import Mutation
from app.schema.query import Query
from app.schema.scalars import SCALAR_MAP

# Parsed and validated documents are reused across requests: the same query text is never
# parsed or validated twice (keyed by the text; clients send a few distinct queries). Bounded
# in entries and in estimated memory, plans included (they are dropped with their document).
DOCUMENT_CACHE_SIZE = 1024
DOCUMENT_CACHE_BYTES = 64 * 2**20


class RememberedNames(NameConverter):
    """strawberry's names, each worked out once. strawberry converts every argument's and input
    field's Python name to its GraphQL name on every call of a resolver that takes arguments
    (`convert_arguments`), not only when it builds the schema: for the credit query's `person`
    (an ID and an AccessInput) that was a third of the conversion's cost. The names are a
    function of the Python name alone (`auto_camel_case` is set before the schema is built)."""

    def __init__(self) -> None:
        super().__init__()
        self._names: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._names.get(name)
        if converted is None:
            converted = self._names[name] = super().apply_naming_config(name)
        return converted


class Schema(strawberry.Schema):
    documents: Documents  # this schema's parsed documents (app/execution/documents.py)

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Expected errors (FORBIDDEN, BAD_USER_INPUT, ...) are answers, not faults: not logged.

        Unexpected ones are logged, with their traceback, by app/schema/errors.py.
        """


def build_schema(
    settings: Settings,
    *,
    enforce_policy: bool = True,
    planned: bool = True,
    policy: Mapping[str, FieldRule] = FIELD_POLICY,
) -> Schema:
    """The schema, with the field policy installed in its executor (app/execution/executor.py).

    `enforce_policy=False` exists for the benchmark only, `planned=False` for it and for the
    test that compares planned answers with graphql-core's own. The policy is checked against
    the schema either way: raises PolicyError, naming the fields, when it does not cover it.
    """
    executor = executor_class()
    prod = not settings.is_dev
    schema = Schema(
        query=Query,
        mutation=Mutation,
        extensions=[
            # In prod, introspection for admins only (before the documents: it sets the rules).
            *([IntrospectionForAdmins] if prod else []),
            # A factory: strawberry makes each extension per request; the documents are this schema's.
            lambda: DocumentCache(documents),  # made below: it needs the schema it measures against
            DisclosureReport,
            OperationFacts,
        ],
        # Suggestions ("did you mean ...") map the schema for a prober; dev keeps them for humans.
        # Hidden in prod: in validation and variable errors (below), and in strawberry's own.
        config=StrawberryConfig(disable_field_suggestions=prod, scalar_map=SCALAR_MAP, name_converter=RememberedNames()),
        execution_context_class=executor,
    )
    # strawberry has no public name for its graphql-core schema; `_schema` is the one its own docs use.
    documents = schema.documents = Documents(
        schema._schema, settings.query_limits, DOCUMENT_CACHE_SIZE, DOCUMENT_CACHE_BYTES, hide_suggestions=prod
    )
    guards = field_guards(schema, policy)
    executor.install(schema, guards if enforce_policy else MappingProxyType({}), planned=planned, hide_suggestions=prod)
    return schema
