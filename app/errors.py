"""The error vocabulary of the API (SPEC section 5). Every error a caller sees has one of these codes."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from app.i18n import Localised


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    CONSENT_REQUIRED = "CONSENT_REQUIRED"
    CASE_NUMBER_REQUIRED = "CASE_NUMBER_REQUIRED"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    RATE_LIMITED = "RATE_LIMITED"
    AUDIT_UNAVAILABLE = "AUDIT_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class XinzhengError(Localised):
    """An error whose message is written for the caller and safe to show: a text of the
    catalogue (app/i18n), put in the request's language where the answer is made."""

    code: ClassVar[ErrorCode]
    http_status: ClassVar[int] = 200  # GraphQL-over-HTTP: field errors ride on a 200


class Unauthenticated(XinzhengError):
    code = ErrorCode.UNAUTHENTICATED
    http_status = 401


class Forbidden(XinzhengError):
    code = ErrorCode.FORBIDDEN


class ConsentRequired(XinzhengError):
    code = ErrorCode.CONSENT_REQUIRED


class CaseNumberRequired(XinzhengError):
    code = ErrorCode.CASE_NUMBER_REQUIRED


class BadUserInput(XinzhengError):
    code = ErrorCode.BAD_USER_INPUT


class QueryTooComplex(XinzhengError):
    code = ErrorCode.QUERY_TOO_COMPLEX


class RateLimited(XinzhengError):
    code = ErrorCode.RATE_LIMITED
    http_status = 429


class AuditUnavailable(XinzhengError):
    code = ErrorCode.AUDIT_UNAVAILABLE
    http_status = 503
