"""The audit log's rows: its tables, an entry's row and back, a signed checkpoint's row, and the
statements an append runs (app/audit/store.py writes them; app/audit/verify.py, the exports and
the CLI read them).

A batch's statements run on the driver itself (sqlite3, asyncpg), compiled once by SQLAlchemy
(app/db/write.py), and store the rows SQLAlchemy's execution would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Row, bindparam, func, insert, select

from app.audit import keys, note
from app.audit.merkle import Frontier
from app.audit.tree import INSERT_NODES
from app.db.hot import hot
from app.db.models import AccessRecord, AuditCheckpoint, AuditEntry

audit_log = AuditEntry.__table__
checkpoints = AuditCheckpoint.__table__
access_records = AccessRecord.__table__

DEFAULT_ORIGIN = "xinzheng/audit"

HEAD = hot("audit_head", select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1))
_later = audit_log.alias("later")
# A row if the head is still the entry whose hash this is (hashes are unique): a batch made on
# that head is written only then.
HEAD_IS = hot(
    "audit_head_is",
    select(audit_log.c.seq).where(
        audit_log.c.hash == bindparam("hash"), audit_log.c.seq == select(func.max(_later.c.seq)).scalar_subquery()
    ),
)
INSERT_ENTRIES = insert(audit_log)
INSERT_ACCESSES = insert(access_records)
INSERT_CHECKPOINTS = insert(checkpoints)
ENTRY = hot("audit_entry", select(audit_log).where(audit_log.c.seq == bindparam("seq")))
LAST_CHECKPOINT = hot("audit_last_checkpoint", select(checkpoints.c.seq).order_by(checkpoints.c.seq.desc()).limit(1))

# Entry field (API name) -> column.
COLUMNS = {
    "seq": "seq", "at": "at", "requestId": "request_id", "actorSub": "actor_sub", "actorRole": "actor_role",
    "actorOrg": "actor_org", "clientAddress": "client_address", "operationName": "operation_name",
    "operationType": "operation_type", "queryHash": "query_hash", "queryText": "query_text",
    "variables": "variables", "purpose": "purpose", "consentId": "consent_id", "caseNumber": "case_number",
    "subjects": "subjects", "fieldsMasked": "fields_masked", "fieldsDenied": "fields_denied",
    "outcome": "outcome", "errorCodes": "error_codes", "durationMs": "duration_ms", "prevHash": "prev_hash",
    "hash": "hash",
}
# An entry's fields (API names) and its access records, as the view makes them.
Item = tuple[dict[str, Any], list[dict[str, Any]]]
# The columns that give an entry its place in the chain, and the others (what it has before).
CHAIN_COLUMNS = ("seq", "prev_hash", "hash")
UNCHAINED = {name: column for name, column in COLUMNS.items() if column not in CHAIN_COLUMNS}


def to_row(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {column: entry[name] for name, column in COLUMNS.items()}


def from_row(row: Row[Any] | Mapping[str, Any] | tuple[Any, ...]) -> dict[str, Any]:
    """An entry from its row: SQLAlchemy's, a mapping, or a hot read's named tuple."""
    if isinstance(row, Row):
        mapping: Any = row._mapping
    elif isinstance(row, tuple):
        mapping = row._asdict()  # type: ignore[attr-defined]  # a named tuple
    else:
        mapping = row
    return {name: mapping[column] for name, column in COLUMNS.items()}


class Signer:
    """Signs the log's checkpoints: a C2SP note of the tree's size and root (app/audit/note.py),
    stored as a row of audit_checkpoints."""

    def __init__(self, key: Ed25519PrivateKey, origin: str = DEFAULT_ORIGIN) -> None:
        note.checkpoint_text(origin, 0, bytes(32))  # refuses an origin a note cannot carry
        self.key = key
        self.key_id = keys.key_id(key.public_key())
        self.origin = origin

    def checkpoint(self, frontier: Frontier, head_hash: str, at: dt.datetime) -> dict[str, Any]:
        """The row of a signed checkpoint of the tree `frontier` is, whose last entry's hash is `head_hash`."""
        return self.row(frontier.size, frontier.root(), head_hash, at)

    def row(self, size: int, root: bytes, head_hash: str, at: dt.datetime) -> dict[str, Any]:
        signed = note.sign(note.checkpoint_text(self.origin, size, root), self.origin, self.key)
        signature = signed.rsplit(" ", 1)[1].strip()
        return {
            "seq": size, "head_hash": head_hash, "at": at, "key_id": self.key_id, "signature": signature,
            "root_hash": root.hex(), "note": signed,
        }  # fmt: skip


@dataclass
class Batch:
    """The rows that extend the chain and the tree with a batch of entries, made in the service."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    accesses: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)

    def statements(self) -> list[tuple[Any, list[dict[str, Any]]]]:
        out: list[tuple[Any, list[dict[str, Any]]]] = [(INSERT_ENTRIES, self.entries), (INSERT_NODES, self.nodes)]
        if self.accesses:
            out.append((INSERT_ACCESSES, self.accesses))
        if self.checkpoints:
            out.append((INSERT_CHECKPOINTS, self.checkpoints))
        return out
