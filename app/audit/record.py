"""What a request did, gathered while it runs, made into an audit entry at its end.

The gate adds the subjects it let the caller reach and the access given at the root; the
policy adds what it masked and denied; the view adds the outcome. Tokens are never kept,
and variables lose anything that looks like a secret.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from app.audit.chain import query_hash
from app.auth.tokens import PUBLIC, Principal
from app.errors import ErrorCode
from app.identifiers import NOT_TEXT

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SECRET_NAME = re.compile(r"token|secret|password|passwd|document|private|credential|key", re.IGNORECASE)
REDACTED = "[redacted]"
MAX_QUERY_TEXT = 20_000
# Text a caller chooses is cut to its column (app/db/models/audit.py), so that no request can
# make its own entry, or the entries written beside it, impossible to store.
MAX_NAME = 200  # operation name, token sub
MAX_CODE = 64  # consent id, case number, request id, client address
MAX_PURPOSE = 32


def _cut(value: str | None, limit: int) -> str | None:
    """Text a caller chose, as the entry keeps it: cut to its column, and storable. A caller can
    spell NOT_TEXT where the request's own checks do not reach (a GraphQL string escape,
    "\\u0000", in an argument the entry records): kept as U+FFFD, so the entry is stored."""
    return None if value is None else NOT_TEXT.sub("\ufffd", value[:limit])

DENIALS = {ErrorCode.FORBIDDEN, ErrorCode.CONSENT_REQUIRED, ErrorCode.CASE_NUMBER_REQUIRED}


class Outcome:
    SERVED = "SERVED"  # answered in full
    PARTIAL = "PARTIAL"  # answered, with some fields or subjects withheld or failed
    DENIED = "DENIED"  # nothing answered: not allowed
    REJECTED = "REJECTED"  # refused before execution: token, body, syntax, validation, limits
    FAILED = "FAILED"  # our fault


def request_id_from(header: str | None) -> str:
    """An incoming X-Request-Id is honoured when it is a plain identifier; otherwise one is made."""
    if header and REQUEST_ID.match(header):
        return header
    return f"{_PROCESS_ID}{next(_REQUEST_NUMBERS):016x}"


# Request ids: 64 random bits per process, then a count. Unique without asking the kernel for
# randomness on every request (which cost more than a planned query's scalar fields); a request
# id is a receipt to quote, not a secret. A forked worker draws its own bits.
def _new_process_id() -> None:
    global _PROCESS_ID, _REQUEST_NUMBERS
    _PROCESS_ID, _REQUEST_NUMBERS = os.urandom(8).hex(), itertools.count(1)


_PROCESS_ID, _REQUEST_NUMBERS = "", itertools.count(1)
_new_process_id()
os.register_at_fork(after_in_child=_new_process_id)


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if SECRET_NAME.search(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


@dataclass
class AuditRecord:
    request_id: str
    at: dt.datetime
    client_address: str | None
    started: float = field(default_factory=time.perf_counter)
    principal: Principal = PUBLIC
    operation_name: str | None = None
    operation_type: str | None = None
    query_text: str | None = None
    variables: Any = None
    purpose: str | None = None
    consent_id: str | None = None
    case_number: str | None = None
    subjects: dict[str, None] = field(default_factory=dict)  # ordered set
    accesses: dict[tuple[str, str], None] = field(default_factory=dict)  # subjects reached by another

    query_sha256: str | None = None

    def request(self, query: str | None, variables: Any, operation_name: str | None) -> None:
        self.query_sha256 = query_hash(query)  # of the whole text, which is then kept up to a limit
        self.query_text = query[:MAX_QUERY_TEXT] if query is not None else None
        self.variables = redact(variables) if variables else None
        self.operation_name = _cut(operation_name, MAX_NAME)

    def operation(self, operation_type: str, document_name: str | None) -> None:
        """The operation the document runs: its type, and its name if the body gave none."""
        self.operation_type = operation_type.upper()
        if self.operation_name is None:
            self.operation_name = _cut(document_name, MAX_NAME)

    def access(self, access: Any) -> None:
        """The access context given at the root (the first one, when aliases give several)."""
        if access is None or self.purpose or self.consent_id or self.case_number:
            return
        purpose = getattr(access, "purpose", None)
        consent = getattr(access, "consent_id", None)
        case = getattr(access, "case_number", None)
        self.purpose = _cut(str(purpose), MAX_PURPOSE) if purpose else None
        self.consent_id = _cut(str(consent), MAX_CODE) if consent else None
        self.case_number = _cut(str(case), MAX_CODE) if case else None

    def subject(self, kind: str, key: str, *, reached: bool, is_self: bool) -> None:
        """A subject the request touched; reached by someone else, it is an access the subject sees.

        Anonymous reads of the public register are in the log but make no access record:
        they are not a query of the subject's data.
        """
        self.subjects[f"{kind}:{key}"] = None
        if reached and not is_self and kind in ("PERSON", "ENTERPRISE") and self.principal.role != "public":
            self.accesses[(kind, key)] = None

    def entry(
        self, *, outcome: str, error_codes: list[str], masked: list[list[str | int]], denied: list[list[str | int]]
    ) -> dict[str, Any]:
        """The entry's fields (all but seq, prevHash and hash, which the store adds)."""
        return {
            "at": self.at,
            "requestId": self.request_id,
            "actorSub": _cut(self.principal.sub, MAX_NAME),
            "actorRole": str(self.principal.role),
            "actorOrg": self.principal.org,
            "clientAddress": _cut(self.client_address, MAX_CODE),
            "operationName": self.operation_name,
            "operationType": self.operation_type,
            "queryHash": self.query_sha256,
            "queryText": self.query_text,
            "variables": self.variables,
            "purpose": self.purpose,
            "consentId": self.consent_id,
            "caseNumber": self.case_number,
            "subjects": list(self.subjects),
            "fieldsMasked": [_dotted(p) for p in masked],
            "fieldsDenied": [_dotted(p) for p in denied],
            "outcome": outcome,
            "errorCodes": sorted(set(error_codes)),
            "durationMs": round((time.perf_counter() - self.started) * 1000),
        }


def _dotted(path: list[str | int]) -> str:
    return ".".join(str(p) for p in path)


def outcome_of(data: Any, error_codes: list[str], *, executed: bool) -> str:
    if not executed:
        return Outcome.REJECTED
    if not error_codes:
        return Outcome.SERVED
    answered = isinstance(data, dict) and any(v is not None for v in data.values())
    if answered:
        return Outcome.PARTIAL
    if ErrorCode.INTERNAL_SERVER_ERROR in error_codes:
        return Outcome.FAILED
    if all(ErrorCode(c) in DENIALS for c in error_codes):
        return Outcome.DENIED
    return Outcome.REJECTED if ErrorCode.BAD_USER_INPUT in error_codes else Outcome.PARTIAL
