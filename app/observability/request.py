"""Each request, once answered and audited, counted in the metrics and told in one log line.

`observe` is called once per request by the view (app/view.py `_finish`) with the fields of its
audit entry, so a request is counted and logged whatever its fate, by whichever path it left
(with the audit log on: only the benchmark's audit-off comparison runs without, and without these).
The line and the labels carry no personal data: no subject, no variables, no token, no
citizen's `sub`; the organisation (a bank's, an agency's or an issuer's credit code) is in the
line, never in a label.

An operation's name is the caller's own text. It is kept (as a label, and in the line) only as
a plain GraphQL name of at most 64 characters with at most 5 digits: every citizen ID number
(17 digits), phone number (11) and credit code (a 6-digit division code) has more, however it
is spelled around them. Any other name is `(other)`, no name `(none)`. Each process gives
labels to the first MAX_OPERATION_NAMES names it sees and counts the rest as `(other)`, so a
caller inventing names cannot grow the metrics without bound.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from app.errors import ErrorCode
from app.observability import metrics

log = logging.getLogger("xinzheng.request")

PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_DIGITS = 5
MAX_OPERATION_NAMES = 64
NO_NAME = "(none)"
OTHER = "(other)"
AUDIT_UNAVAILABLE = ErrorCode.AUDIT_UNAVAILABLE.value

_named: set[str] = set()  # the names this process gives labels to


def safe_name(name: str | None) -> str:
    """The operation's name as metrics and logs may show it."""
    if name is None:
        return NO_NAME
    if not PLAIN_NAME.fullmatch(name) or sum(c.isdigit() for c in name) > MAX_DIGITS:
        return OTHER
    return name


def operation_label(name: str | None) -> str:
    label = safe_name(name)
    if label in _named or label in (NO_NAME, OTHER):
        return label
    if len(_named) >= MAX_OPERATION_NAMES:
        return OTHER
    _named.add(label)
    return label


def observe(entry: dict[str, Any], seq: int | None, status: int, *, audited: bool, started: float) -> None:
    """One answered request: `entry` its audit entry's fields, `seq` the entry's number (None when
    it was not written), `status` the HTTP status sent, `audited` False when the entry could
    not be written (the caller got AUDIT_UNAVAILABLE), `started` its perf_counter at arrival."""
    seconds = time.perf_counter() - started
    outcome = entry["outcome"] if audited else AUDIT_UNAVAILABLE
    codes = entry["errorCodes"] if audited else [AUDIT_UNAVAILABLE]
    role = entry["actorRole"]
    operation = operation_label(entry["operationName"])
    metrics.REQUESTS.labels(operation=operation, role=role, outcome=outcome).inc()
    metrics.REQUEST_SECONDS.labels(operation=operation, role=role).observe(seconds)
    if ErrorCode.RATE_LIMITED.value in codes:
        metrics.RATE_LIMITED.labels(role=role).inc()
    log.log(
        logging.WARNING if status >= 500 else logging.INFO,
        "request",
        extra={
            "fields": {
                "requestId": entry["requestId"],
                "auditSeq": seq,
                "operation": safe_name(entry["operationName"]),
                "operationType": entry["operationType"],
                "role": role,
                "org": entry["actorOrg"],
                "outcome": outcome,
                "codes": codes,
                "status": status,
                "durationMs": round(seconds * 1000, 1),
            }
        },
    )
