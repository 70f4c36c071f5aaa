"""Reading the audit log (auditors, admins) and access records (the subject, admins)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, select
from strawberry.types import Info

from app.audit import proofs
from app.audit.rows import audit_log
from app.audit.store import AuditStore, AuditWriteFailed
from app.audit.tree import TreeError
from app.audit.verify import verify_database
from app.auth.policy import RECEIPT_REACH, Reach
from app.auth.roles import ORG_ROLES
from app.auth.tokens import Principal
from app.context import Context
from app.domain.enums import HolderKind
from app.errors import AuditUnavailable, BadUserInput, Forbidden
from app.identifiers import parse_credit_code, parse_holder_id
from app.schema.audit import (
    AccessRecordType, AuditConsistencyType, AuditEntryType, AuditFilter, AuditIntegrityType, AuditReceiptType,
)
from app.schema.pagination import Connection, Page, decode_cursor, encode_cursor, page_size

OUTCOMES = {"SERVED", "PARTIAL", "DENIED", "REJECTED", "FAILED"}


async def audit_log_page(
    info: Info[Context, None], filter: AuditFilter | None = None, first: int | None = 50, after: str | None = None
) -> Connection[AuditEntryType]:
    """Audit entries, newest first, filtered."""
    size = page_size(first)
    statement = select(audit_log)
    conditions = []
    f = filter or AuditFilter()
    if (f.subject_kind is None) != (f.subject_id is None):
        raise BadUserInput("audit.filter_subject")
    if f.subject_kind is not None and f.subject_id is not None:
        subject = f"{f.subject_kind.value}:{parse_holder_id(HolderKind(f.subject_kind), f.subject_id)}"
        # subjects is a JSON list of strings: the quoted name appears in its text.
        conditions.append(cast(audit_log.c.subjects, String).contains(f'"{subject}"', autoescape=True))
    if f.organisation is not None:
        conditions.append(audit_log.c.actor_org == parse_credit_code(f.organisation))
    if f.role is not None:
        conditions.append(audit_log.c.actor_role == f.role)
    if f.outcome is not None:
        if f.outcome not in OUTCOMES:
            raise BadUserInput("audit.outcome", outcomes=", ".join(sorted(OUTCOMES)))
        conditions.append(audit_log.c.outcome == f.outcome)
    for bound in (f.since, f.until):
        if bound is not None and bound.tzinfo is None:
            raise BadUserInput("audit.time_zone")
    if f.since is not None:
        conditions.append(audit_log.c.at >= f.since)
    if f.until is not None:
        conditions.append(audit_log.c.at < f.until)
    if after is not None:
        (last_seq,) = decode_cursor(after, (int,))
        conditions.append(audit_log.c.seq < int(last_seq))
    rows = await info.context.db.rows(
        statement.where(*conditions).order_by(audit_log.c.seq.desc()).limit(size + 1)
    )
    page = rows[:size]
    return Page(
        nodes=[AuditEntryType.from_row(r) for r in page],
        cursors=[encode_cursor([r.seq]) for r in page],
        has_next_page=len(rows) > size,
    ).connection()


def _store(info: Info[Context, None]) -> AuditStore:
    store = info.context.audit_store
    if store is None:
        raise BadUserInput("audit.no_log")
    return store


async def audit_integrity(info: Info[Context, None]) -> AuditIntegrityType:
    """Walk the whole chain and its signed checkpoints now."""
    store = _store(info)
    async with store.engine.connect() as conn:
        result = await verify_database(conn, store.key.public_key())
    return AuditIntegrityType(
        ok=result.ok,
        entries=result.entries,
        head_hash=result.head_hash,
        first_bad_seq=result.first_bad.seq if result.first_bad else None,
        reason=result.first_bad.reason if result.first_bad else None,
        checkpoints=result.checkpoints,
    )


def _owns(principal: Principal, actor: Any) -> bool:
    """RECEIPT_REACH applied: the entry was made by the caller's organisation or person."""
    reach = RECEIPT_REACH[principal.role]
    if reach is Reach.ANY:
        return True
    if reach is not Reach.SELF or actor.actor_role != principal.role:
        return False
    if principal.role in ORG_ROLES:
        return principal.org is not None and actor.actor_org == principal.org
    return principal.sub is not None and actor.actor_sub == principal.sub


async def audit_receipt(info: Info[Context, None], seq: int) -> AuditReceiptType | None:
    """Entry `seq`'s inclusion in a signed checkpoint, for whoever made the request (null: no such entry)."""
    store = _store(info)
    if seq < 1:
        raise BadUserInput("audit.seq_from_one")
    actor = await proofs.entry_actor(store, seq)
    if actor is None:
        return None
    if not _owns(info.context.principal, actor):
        raise Forbidden("audit.not_your_entry", seq=seq)
    try:
        receipt = await proofs.receipt(store, seq)
    except (AuditWriteFailed, TreeError) as e:
        raise AuditUnavailable("audit.no_receipt_now") from e
    return AuditReceiptType(**receipt.__dict__)


async def audit_consistency(info: Info[Context, None], from_size: int, to_size: int) -> AuditConsistencyType:
    """The RFC 9162 proof that the log at fromSize is a prefix of the signed checkpoint at toSize."""
    store = _store(info)
    try:
        proof = await proofs.consistency(store, from_size, to_size)
    except proofs.ProofRequestError as e:
        raise BadUserInput(e.text) from None
    except TreeError as e:
        raise AuditUnavailable("audit.no_proof_now") from e
    return AuditConsistencyType(**proof.__dict__)


def page_of_access_records(rows: list[Any], first: int) -> Connection[AccessRecordType]:
    page = rows[:first]
    return Page(
        nodes=[AccessRecordType.from_row(r) for r in page],
        cursors=[encode_cursor([r.id]) for r in page],
        has_next_page=len(rows) > first,
    ).connection()


async def access_records_connection(
    info: Info[Context, None], kind: HolderKind, holder_id: str, first: int | None, after: str | None
) -> Connection[AccessRecordType]:
    """A subject's access records, newest first (batched across subjects by the loader)."""
    size = page_size(first)
    last = decode_cursor(after, (int,))[0] if after is not None else None
    rows = await info.context.loaders.access_records.load((kind, holder_id, size, last))
    return page_of_access_records(list(rows), size)
