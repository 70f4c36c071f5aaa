"""Reading the audit log (auditors, admins) and access records (the subject, admins)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, select
from strawberry.types import Info

from app.audit.store import audit_log
from app.audit.verify import verify_database
from app.context import Context
from app.domain.enums import HolderKind
from app.errors import BadUserInput
from app.identifiers import parse_credit_code, parse_holder_id
from app.schema.audit import AccessRecordType, AuditEntryType, AuditFilter, AuditIntegrityType
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


async def audit_integrity(info: Info[Context, None]) -> AuditIntegrityType:
    """Walk the whole chain and its signed checkpoints now."""
    store = info.context.audit_store
    if store is None:
        raise BadUserInput("audit.no_log")
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
