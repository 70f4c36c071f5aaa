"""The audit log as auditors read it, and access records as subjects read them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from sqlalchemy import Row
from strawberry.scalars import JSON

import app.schema.enums  # noqa: F401  (registers the enums)
from app.domain.enums import HolderKind
from app.schema.audit_subject import AuditSubjectType, subject_contexts, subject_names


@strawberry.type(name="AuditEntry", description="One request to the service, chained to the one before it.")
class AuditEntryType:
    seq: int
    at: dt.datetime
    request_id: str
    actor_sub: str | None
    actor_role: str
    actor_org: str | None
    client_address: str | None
    operation_name: str | None
    operation_type: str | None
    query_hash: str | None
    query_text: str | None
    variables: JSON | None = strawberry.field(description="With anything that looks like a secret left out.")
    purpose: str | None
    consent_id: str | None
    case_number: str | None
    subjects: list[str] = strawberry.field(description="Each subject the request asked for, once.")
    subject_contexts: list[AuditSubjectType] = strawberry.field(
        description="Each subject under each access context, and what became of it (the entry's stored `subjects`)."
    )
    fields_masked: list[str]
    fields_denied: list[str]
    outcome: str = strawberry.field(description="SERVED, PARTIAL, DENIED, REJECTED or FAILED.")
    error_codes: list[str]
    duration_ms: int
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: Row[Any]) -> AuditEntryType:
        return cls(
            seq=row.seq, at=row.at, request_id=row.request_id, actor_sub=row.actor_sub, actor_role=row.actor_role,
            actor_org=row.actor_org, client_address=row.client_address, operation_name=row.operation_name,
            operation_type=row.operation_type, query_hash=row.query_hash, query_text=row.query_text,
            variables=row.variables, purpose=row.purpose, consent_id=row.consent_id, case_number=row.case_number,
            subjects=subject_names(row.subjects), subject_contexts=subject_contexts(row.subjects),
            fields_masked=row.fields_masked, fields_denied=row.fields_denied,
            outcome=row.outcome, error_codes=row.error_codes, duration_ms=row.duration_ms,
            prev_hash=row.prev_hash, hash=row.hash,
        )


@strawberry.type(name="AuditIntegrity", description="The chain, walked now from its first entry.")
class AuditIntegrityType:
    ok: bool
    entries: int
    head_hash: str | None
    first_bad_seq: int | None
    reason: str | None
    checkpoints: int


@strawberry.type(
    name="AuditReceipt",
    description="An entry's proof of inclusion in a signed checkpoint of the log, to check offline against "
    "the audit public key alone. Hashes are lowercase hex; the proof is in RFC 9162 order.",
)
class AuditReceiptType:
    seq: int
    leaf_index: int = strawberry.field(description="The entry's leaf in the Merkle tree, counted from 0 (seq - 1).")
    leaf_hash: str = strawberry.field(description="SHA-256(0x00 || the entry's canonical form).")
    tree_size: int
    root_hash: str
    inclusion_proof: list[str]
    checkpoint: str = strawberry.field(description="The signed note (C2SP tlog-checkpoint) of treeSize and rootHash.")


@strawberry.type(
    name="AuditConsistency",
    description="The RFC 9162 proof that the log at fromSize is a prefix of the signed checkpoint at toSize.",
)
class AuditConsistencyType:
    from_size: int
    to_size: int
    from_root_hash: str
    to_root_hash: str
    consistency_proof: list[str]
    checkpoint: str = strawberry.field(description="The signed note (C2SP tlog-checkpoint) of toSize.")


@strawberry.input(name="AuditFilter")
class AuditFilter:
    subject_kind: HolderKind | None = None
    subject_id: str | None = strawberry.field(default=None, description="With subjectKind: entries that touched it.")
    organisation: str | None = strawberry.field(default=None, description="The caller's organisation (credit code).")
    role: str | None = None
    outcome: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@strawberry.type(name="AccessRecord", description="Someone other than the subject reached the subject's data.")
class AccessRecordType:
    at: dt.datetime
    organisation_code: str | None
    organisation_name: str | None
    role: str
    purpose: str | None
    consent_id: str | None
    case_number: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> AccessRecordType:
        return cls(
            at=row.at, organisation_code=row.organisation_code, organisation_name=row.organisation_name,
            role=row.role, purpose=row.purpose, consent_id=row.consent_id, case_number=row.case_number,
        )
