"""Parsed, measured and validated documents, kept by query text: one strawberry extension.

Strawberry's own ValidationCache keys its lru_cache by the parsed document, and a document's
hash walks the whole tree on every request (bench/README.md says what that cost). Here a text
is parsed once and its document's validation result kept beside it, per set of validation
rules, so a request that sends a known text does neither again.

Before validation, and before anything of a document is kept, the query limits apply
(app/execution/limits.py): a text of more tokens than allowed is not parsed to its end, and a
document past a limit is answered QUERY_TOO_COMPLEX without being validated.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    Lexer,
    OperationDefinitionNode,
    Source,
    TokenKind,
    parse,
    validate,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from app.execution.limits import LimitExceeded, Limits, check, measure


class _Document:
    __slots__ = ("document", "errors", "operations", "too_complex")

    def __init__(self, document: DocumentNode, too_complex: LimitExceeded | None) -> None:
        self.document = document
        self.too_complex = too_complex
        self.operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
        self.errors: dict[tuple[Any, ...], list[GraphQLError]] = {}  # by validation rules


# What a parsed document costs, estimated from its text: graphql-core keeps every token and
# location, up to about 300 bytes per character of the densest text and 650 per token
# (tests/api/test_caches.py checks that the estimate holds for texts at the token limit).
AST_BYTES_PER_CHARACTER = 300
AST_BYTES_PER_TOKEN = 700


class Documents:
    """The store, shared by the requests of one schema: least recently used out past `size`
    entries or `max_bytes` of estimated memory, whichever comes first."""

    def __init__(
        self, schema: GraphQLSchema, limits: Limits, size: int, max_bytes: int, *, hide_suggestions: bool = False
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.hide_suggestions = hide_suggestions  # no "did you mean" of any kind (prod)
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0  # estimated, of the documents kept
        self._by_text: OrderedDict[str, _Document] = OrderedDict()

    def parsed(self, text: str, options: Mapping[str, Any]) -> _Document:
        entry = self._by_text.get(text)
        if entry is not None:
            self._by_text.move_to_end(text)
            return entry
        try:
            document = parse(text, **{**options, "max_tokens": self.limits.tokens})
        except GraphQLError as error:  # a syntax error: strawberry answers it; too many tokens: so do we
            if _tokens(text) > self.limits.tokens:
                raise LimitExceeded("tokens", self.limits.tokens, _tokens(text)) from None
            raise error from None
        too_complex = None
        try:
            check(self.limits, measure(self.schema, document))
        except LimitExceeded as exceeded:
            too_complex = exceeded
        entry = _Document(document, too_complex)
        self._by_text[text] = entry
        self.bytes += self.estimated_bytes(text)
        while len(self._by_text) > self.size or (self.bytes > self.max_bytes and len(self._by_text) > 1):
            old, _ = self._by_text.popitem(last=False)
            self.bytes -= self.estimated_bytes(old)
        return entry

    def validate(self, document: DocumentNode, rules: tuple[Any, ...]) -> list[GraphQLError]:
        """graphql-core's validation with the rules strawberry adds to every schema's."""
        rules = (*rules, MaybeNullValidationRule, OneOfInputValidationRule)
        return validate(self.schema, document, rules, hide_suggestions=self.hide_suggestions)

    def estimated_bytes(self, text: str) -> int:
        """The memory a document of this text keeps, at most: its tokens are within the limit."""
        return min(len(text) * AST_BYTES_PER_CHARACTER, self.limits.tokens * AST_BYTES_PER_TOKEN + len(text))

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
        if entry is not None and entry.too_complex is not None:
            context.pre_execution_errors = [GraphQLError(str(entry.too_complex), original_error=entry.too_complex)]
        elif entry is not None and entry.operations > 1 and getattr(context.context, "operation_name", "") is None:
            # The GraphQL spec: with several operations, the request must name the one to run
            # (strawberry would run the first).
            context.pre_execution_errors = [GraphQLError("Must provide operation name if query contains multiple operations.")]
        elif entry is not None and context.pre_execution_errors is None and context.validation_rules:
            rules = tuple(context.validation_rules)
            errors = entry.errors.get(rules)
            if errors is None:
                errors = entry.errors[rules] = self.documents.validate(entry.document, rules)
            context.pre_execution_errors = errors
        yield


def _tokens(text: str) -> int:
    """How many tokens the text holds (to the first one the lexer refuses)."""
    lexer, count = Lexer(Source(text)), 0
    try:
        while lexer.advance().kind is not TokenKind.EOF:
            count += 1
    except GraphQLError:
        pass
    return count
