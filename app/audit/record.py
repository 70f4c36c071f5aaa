"""What a request did, gathered while it runs, made into an audit entry at its end.

The gate adds each subject it was asked for, with what became of it and the access context it
was reached (or refused) under; the policy adds what it masked and denied; the view adds the
outcome. Tokens are never kept; of the variables, only those the operation declares, with
anything that looks like a secret left out (app/audit/redact.py).

Access contexts (SPEC sections 4 and 7). Each item of an entry's `subjects` is one subject
under one context: `{"subject": "PERSON:<id>", "state": ..., "purpose", "consentId",
"caseNumber"}`, where `state` is REACHED (the caller read it), NOT_FOUND (allowed, but no such
subject), REFUSED (FORBIDDEN, CONSENT_REQUIRED, CASE_NUMBER_REQUIRED or a bad access argument)
FAILED (the request broke off) or WRITTEN (an issuer recorded a decision about it: a write,
not a read of its data, so no access record). A reached subject's context is what the gate checked: the
purpose and the case number as the caller named them, and a consent only when it is the one
that covered this subject (the root's, or the subject's own one a traversal needed); a consent
named but not checked (an admin's, say) is never recorded as given. A refused attempt keeps
what the caller claimed, escaped to be storable, and is never an access record. The entry's
top-level `purpose`, `consentId` and `caseNumber` are the request's one context when its
subjects show exactly one; when they show several (aliases under different consents, a
traversal to a subject's own consent) they are null, and `subjects` says which went with
which. Each reached subject under each context is an access record of its own.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.audit.chain import query_hash
from app.audit.redact import caller_text, declared_variables, storable
from app.auth.tokens import PUBLIC, Principal
from app.errors import ErrorCode

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_QUERY_TEXT = 20_000
# Text a caller chooses is cut to its column (app/db/models/audit.py), so that no request can
# make its own entry, or the entries written beside it, impossible to store.
MAX_NAME = 200  # operation name, token sub
MAX_CODE = 64  # consent id, case number, request id, client address
MAX_PURPOSE = 32


class State:
    """What became of a subject the request asked for."""

    REACHED = "REACHED"
    NOT_FOUND = "NOT_FOUND"
    REFUSED = "REFUSED"
    FAILED = "FAILED"
    WRITTEN = "WRITTEN"


@dataclass(frozen=True)
class AccessContext:
    """The purpose, consent and case a subject was reached (or refused) under, as stored."""

    purpose: str | None = None
    consent_id: str | None = None
    case_number: str | None = None

    @classmethod
    def of(cls, purpose: Any = None, consent_id: Any = None, case_number: Any = None) -> AccessContext:
        """From what the caller named or the gate found: as text, storable, cut to its column."""
        return cls(
            caller_text(str(purpose), MAX_PURPOSE) if purpose is not None else None,
            caller_text(str(consent_id), MAX_CODE) if consent_id is not None else None,
            caller_text(str(case_number), MAX_CODE) if case_number is not None else None,
        )

    @classmethod
    def claimed(cls, access: Any) -> AccessContext:
        """Everything an AccessInput names, checked or not: for an attempt that was refused."""
        if access is None:
            return NO_CONTEXT
        return cls.of(access.purpose, access.consent_id, access.case_number)

    def __bool__(self) -> bool:
        return any((self.purpose, self.consent_id, self.case_number))


NO_CONTEXT = AccessContext()


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
    # As sent; the entry keeps those the operation declares (`operation`), redacted.
    sent_variables: dict[str, Any] | None = None
    variables: Any = None
    # Ordered sets: each subject under each context, with what became of it (module docstring),
    # and those reached by someone other than the subject, each an access record.
    subjects: dict[tuple[str, str, AccessContext], None] = field(default_factory=dict)
    accesses: dict[tuple[str, str, AccessContext], None] = field(default_factory=dict)

    query_sha256: str | None = None

    def request(self, query: str | None, variables: Any, operation_name: str | None) -> None:
        self.query_sha256 = query_hash(query)  # of the whole text, which is then kept up to a limit
        self.query_text = caller_text(query, MAX_QUERY_TEXT)
        self.sent_variables = variables if isinstance(variables, dict) else None
        self.operation_name = caller_text(operation_name, MAX_NAME)

    def operation(self, operation_type: str, document_name: str | None, declared: Iterable[str]) -> None:
        """The operation the document runs: its type, its name if the body gave none, and the
        variables it declares (the only ones the entry keeps)."""
        self.operation_type = operation_type.upper()
        if self.operation_name is None:
            self.operation_name = caller_text(document_name, MAX_NAME)
        self.variables = declared_variables(self.sent_variables, declared)

    def subject(self, kind: str, key: str, state: str, context: AccessContext = NO_CONTEXT, *, is_self: bool = False) -> None:
        """A subject the request asked for, what became of it, and the context it was under.

        Reached by someone else, it is an access the subject sees. Anonymous reads of the
        public register are in the log but make no access record: they are not a query of
        the subject's data.
        """
        self.subjects[(f"{kind}:{storable(key)}", state, context)] = None
        if (
            state == State.REACHED and not is_self and kind in ("PERSON", "ENTERPRISE")
            and self.principal.role != "public"
        ):  # fmt: skip
            self.accesses[(kind, key, context)] = None

    def context(self) -> AccessContext:
        """The request's one access context, or none when its subjects show none or several."""
        contexts = {context for _, _, context in self.subjects if context}
        return contexts.pop() if len(contexts) == 1 else NO_CONTEXT

    def entry(
        self, *, outcome: str, error_codes: list[str], masked: list[list[str | int]], denied: list[list[str | int]]
    ) -> dict[str, Any]:
        """The entry's fields (all but seq, prevHash and hash, which the store adds)."""
        context = self.context()
        return {
            "at": self.at,
            "requestId": self.request_id,
            "actorSub": caller_text(self.principal.sub, MAX_NAME),
            "actorRole": str(self.principal.role),
            "actorOrg": self.principal.org,
            "clientAddress": caller_text(self.client_address, MAX_CODE),
            "operationName": self.operation_name,
            "operationType": self.operation_type,
            "queryHash": self.query_sha256,
            "queryText": self.query_text,
            "variables": self.variables,
            "purpose": context.purpose,
            "consentId": context.consent_id,
            "caseNumber": context.case_number,
            "subjects": [
                {
                    "subject": subject,
                    "state": state,
                    "purpose": c.purpose,
                    "consentId": c.consent_id,
                    "caseNumber": c.case_number,
                }
                for subject, state, c in self.subjects
            ],
            "fieldsMasked": [_dotted(p) for p in masked],
            "fieldsDenied": [_dotted(p) for p in denied],
            "outcome": outcome,
            "errorCodes": sorted(set(error_codes)),
            "durationMs": round((time.perf_counter() - self.started) * 1000),
        }

    def access_records(self) -> list[dict[str, Any]]:
        """An access record for each subject someone other than the subject reached, under each
        context it was reached under (the store adds when, and the entry's seq)."""
        p = self.principal
        return [
            {
                "holder_kind": kind,
                "holder_id": key,
                "organisation_code": p.org,
                "role": str(p.role),
                "purpose": c.purpose,
                "consent_id": c.consent_id,
                "case_number": c.case_number,
            }
            for kind, key, c in self.accesses
        ]


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
