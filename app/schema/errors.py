"""Every error leaves with an `extensions.code` from SPEC section 5, and nothing internal.

Errors the service raised on purpose (XinzhengError, a bad identifier) keep their message, put
in the request's language (app/i18n). GraphQL syntax, validation and variable errors are the
caller's: BAD_USER_INPUT, graphql-core's message kept as it is. Anything else is a fault of ours: logged with its traceback, and the caller sees only
INTERNAL_SERVER_ERROR with a generic message (no stack, no SQL, no internal names).

Applied by the view to every result (an extension would miss the results strawberry makes
after its extensions have exited, such as a syntax error caught while parsing).
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from app.errors import ErrorCode, XinzhengError
from app.i18n import Language, Text
from app.identifiers import InvalidIdentifier

log = logging.getLogger("xinzheng.errors")
INTERNAL_MESSAGE = Text("server.internal")


def classify(error: GraphQLError, language: Language) -> tuple[ErrorCode, str]:
    """The code and the message the caller may see, in `language` where the service wrote it."""
    original = error.original_error
    if isinstance(original, XinzhengError):
        return original.code, original.text.render(language)
    if isinstance(original, InvalidIdentifier):
        return ErrorCode.BAD_USER_INPUT, original.text.render(language)
    if original is None or error.path is None:
        # Syntax, validation and variable errors come before execution: the request's fault.
        if original is None or isinstance(original, (GraphQLError, ValueError, TypeError)):
            return ErrorCode.BAD_USER_INPUT, error.message
    log.error("unexpected error at %s", error.path, exc_info=original)
    return ErrorCode.INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE.render(language)


def format_errors(errors: list[GraphQLError], language: Language) -> list[dict[str, Any]]:
    out = []
    for error in errors:
        code, message = classify(error, language)
        formatted: dict[str, Any] = {"message": message}
        if error.locations:
            formatted["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
        if error.path is not None:
            formatted["path"] = error.path
        formatted["extensions"] = {"code": code.value, **getattr(error.original_error, "extensions", {})}
        out.append(formatted)
    return out
