from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import ID18, Base, UTCDateTime

# Append-only: the migrations give these tables triggers that refuse UPDATE and DELETE.


class AuditEntry(Base):
    """One GraphQL request, whatever its fate, chained to the one before it (SPEC section 7)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor_org", "actor_org"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    request_id: Mapped[str] = mapped_column(String(64))
    actor_sub: Mapped[str | None] = mapped_column(String(200))
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_org: Mapped[str | None] = mapped_column(ID18)
    client_address: Mapped[str | None] = mapped_column(String(64))
    operation_name: Mapped[str | None] = mapped_column(String(200))
    operation_type: Mapped[str | None] = mapped_column(String(16))
    query_hash: Mapped[str | None] = mapped_column(String(64))
    query_text: Mapped[str | None] = mapped_column(Text)
    variables: Mapped[Any] = mapped_column(JSON)  # with secrets left out
    purpose: Mapped[str | None] = mapped_column(String(32))
    consent_id: Mapped[str | None] = mapped_column(String(64))
    case_number: Mapped[str | None] = mapped_column(String(64))
    subjects: Mapped[list[str]] = mapped_column(JSON)  # "PERSON:<id>", "ENTERPRISE:<code>", ...
    fields_masked: Mapped[list[str]] = mapped_column(JSON)
    fields_denied: Mapped[list[str]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(16))
    error_codes: Mapped[list[str]] = mapped_column(JSON)
    duration_ms: Mapped[int]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditCheckpoint(Base):
    """The log at a size, signed with the service's audit key (Ed25519).

    Since the Merkle tree (app/audit/merkle.py): `note` is the signed checkpoint (C2SP signed
    note: origin, tree size `seq`, base64 root) and `root_hash` its root in hex; `head_hash` is
    the chain's hash of entry `seq`. Rows from before it have neither, and sign the chain's head
    alone (app/audit/keys.py checkpoint_message).
    """

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    head_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))
    root_hash: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class AuditTreeNode(Base):
    """A complete subtree of the log's Merkle tree: leaves [idx * 2^level, (idx + 1) * 2^level).

    Level 0 are the leaves (entry seq idx + 1). Written with the batch that completes them, so
    that a tree head or a proof is a few rows (app/audit/merkle.py).
    """

    __tablename__ = "audit_tree"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))  # hex


class AccessRecord(Base):
    """An access to a subject by someone other than the subject, for the subject to read."""

    __tablename__ = "access_records"
    __table_args__ = (Index("ix_access_records_holder", "holder_kind", "holder_id", "id"),)

    # SQLite numbers rows itself only for INTEGER PRIMARY KEY.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    holder_kind: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[str] = mapped_column(ID18)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    organisation_code: Mapped[str | None] = mapped_column(ID18)
    role: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str | None] = mapped_column(String(32))
    consent_id: Mapped[str | None] = mapped_column(String(64))
    case_number: Mapped[str | None] = mapped_column(String(64))
    audit_seq: Mapped[int] = mapped_column(BigInteger, index=True)
