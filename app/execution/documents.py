"""Parsed and validated documents, kept by query text: one strawberry extension for both.

Strawberry's own ValidationCache keys its lru_cache by the parsed document, and a document's
hash walks the whole tree on every request (bench/README.md says what that cost). Here a text
is parsed once and its document's validation result kept beside it, per set of validation
rules, so a request that sends a known text does neither again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, parse
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document


class _Document:
    __slots__ = ("document", "errors")

    def __init__(self, document: DocumentNode) -> None:
        self.document = document
        self.errors: dict[tuple[Any, ...], list[GraphQLError]] = {}  # by validation rules


class Documents:
    """The store, shared by the requests of one schema; least recently used out past `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._by_text: OrderedDict[str, _Document] = OrderedDict()

    def parsed(self, text: str, options: dict[str, Any]) -> _Document:
        entry = self._by_text.get(text)
        if entry is not None:
            self._by_text.move_to_end(text)
            return entry
        entry = _Document(parse(text, **options))  # a syntax error raises: strawberry answers it
        self._by_text[text] = entry
        if len(self._by_text) > self.size:
            self._by_text.popitem(last=False)
        return entry

    def __len__(self) -> int:
        return len(self._by_text)


class DocumentCache(SchemaExtension):
    """Parse and validate a text once (made per request by a factory that shares `documents`)."""

    def __init__(self, documents: Documents) -> None:
        super().__init__()
        self.documents = documents
        self.entry: _Document | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is None:
            self.entry = self.documents.parsed(context.query, context.parse_options)
            context.graphql_document = self.entry.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        entry = self.entry
        if entry is not None and context.pre_execution_errors is None and context.validation_rules:
            rules = tuple(context.validation_rules)
            errors = entry.errors.get(rules)
            if errors is None:
                errors = entry.errors[rules] = validate_document(context.schema._schema, entry.document, rules)
            context.pre_execution_errors = errors
        yield
