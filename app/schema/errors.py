"""Every error leaves with an `extensions.code` from SPEC section 5, and nothing internal.

Errors the service raised on purpose (XinzhengError, a bad identifier) keep their message.
GraphQL syntax and validation errors are the caller's: BAD_USER_INPUT, message kept. Anything
else is a fault of ours: logged with its traceback, and the caller sees only
INTERNAL_SERVER_ERROR with a generic message (no stack, no SQL, no internal names).
"""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from app.errors import ErrorCode, XinzhengError
from app.identifiers import InvalidIdentifier

log = logging.getLogger("xinzheng.errors")


def classify(error: GraphQLError) -> tuple[ErrorCode, str]:
    """The code and the message the caller may see."""
    original = error.original_error
    if original is None or error.path is None:
        # Syntax, validation and variable errors come before execution: the request's fault.
        return ErrorCode.BAD_USER_INPUT, error.message
    if isinstance(original, XinzhengError):
        return original.code, str(original)
    if isinstance(original, InvalidIdentifier):
        return ErrorCode.BAD_USER_INPUT, str(original)
    log.error("unexpected error at %s", error.path, exc_info=original)
    return ErrorCode.INTERNAL_SERVER_ERROR, "internal server error"


class ErrorCodes(MaskErrors):
    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        out = []
        for error in errors:
            code, message = classify(error)
            out.append(
                GraphQLError(
                    message=message,
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    original_error=None,
                    extensions={"code": code.value},
                )
            )
        return out
