"""The GraphQL schema: types in this package, resolvers in app/resolvers/."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from app.config import Settings
from app.schema.errors import ErrorCodes
from app.schema.query import Query

# Parsed and validated documents are reused across requests: the same query text is never
# parsed or validated twice (keyed by the text; clients send a few distinct queries).
DOCUMENT_CACHE_SIZE = 1024


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Expected errors (FORBIDDEN, BAD_USER_INPUT, ...) are answers, not faults: not logged.

        Unexpected ones are logged, with their traceback, by ErrorCodes.
        """


def build_schema(settings: Settings) -> strawberry.Schema:
    return Schema(
        query=Query,
        extensions=[
            ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
            ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
            ErrorCodes(),
        ],
        # Suggestions ("did you mean ...") map the schema for a prober; dev keeps them for humans.
        config=StrawberryConfig(disable_field_suggestions=not settings.is_dev),
    )
