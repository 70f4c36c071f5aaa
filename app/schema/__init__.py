"""The GraphQL schema: types in this package, resolvers in app/resolvers/."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from app.audit.extension import OperationFacts
from app.auth.enforce import DisclosureReport, guard_schema
from app.config import Settings
from app.schema.mutation import Mutation
from app.schema.query import Query

# Parsed and validated documents are reused across requests: the same query text is never
# parsed or validated twice (keyed by the text; clients send a few distinct queries).
DOCUMENT_CACHE_SIZE = 1024


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Expected errors (FORBIDDEN, BAD_USER_INPUT, ...) are answers, not faults: not logged.

        Unexpected ones are logged, with their traceback, by app/schema/errors.py.
        """


def build_schema(settings: Settings, *, enforce_policy: bool = True) -> strawberry.Schema:
    """The schema with the field policy applied (enforce_policy=False exists for the benchmark only).

    Raises PolicyError, naming the fields, when the policy does not cover the schema.
    """
    schema = _schema(settings)
    if guard_schema(schema, enforce=enforce_policy):
        schema = _schema(settings)  # guards are read when fields are converted: build again
    return schema


def _schema(settings: Settings) -> strawberry.Schema:
    return Schema(
        query=Query,
        mutation=Mutation,
        extensions=[
            # Factories: strawberry makes each extension per request; these two keep their
            # caches at module level, shared by every request.
            lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
            lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
            DisclosureReport,
            OperationFacts,
        ],
        # Suggestions ("did you mean ...") map the schema for a prober; dev keeps them for humans.
        config=StrawberryConfig(disable_field_suggestions=not settings.is_dev),
    )
