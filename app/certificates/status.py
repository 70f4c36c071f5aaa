"""Changing a certificate's status: the one service behind `setCertificateStatus`.

The state machine: VALID <-> SUSPENDED; VALID or SUSPENDED -> REVOKED or CANCELLED, which are
final. EXPIRED is derived from validUntil and never set. The change and its reason go into the
certificate's status history in the caller's transaction; the status-list bit is the stored
status itself (app/certificates/publish.py builds the list from it), so the three commit
together, with the request's audit entry, or not at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Insert, Table, func, insert, literal, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.among import among
from app.db.models import Certificate, CertificateStatusChange
from app.domain.enums import CertificateStatus
from app.errors import BadUserInput

certificates: Table = Certificate.__table__
status_changes: Table = CertificateStatusChange.__table__
IMPORTED_REASON = "imported"
# Certificates a statement of `record_imported_statuses` looks at, when given: one array
# parameter on PostgreSQL, an expanded IN on SQLite (kept under its limit of parameters).
ARRAY_CHUNK = 10_000
IN_CHUNK = 500

TRANSITIONS: dict[CertificateStatus, frozenset[CertificateStatus]] = {
    CertificateStatus.VALID: frozenset({CertificateStatus.SUSPENDED, CertificateStatus.REVOKED, CertificateStatus.CANCELLED}),
    CertificateStatus.SUSPENDED: frozenset({CertificateStatus.VALID, CertificateStatus.REVOKED, CertificateStatus.CANCELLED}),
    CertificateStatus.REVOKED: frozenset(),
    CertificateStatus.CANCELLED: frozenset(),
}


def check_transition(current: CertificateStatus, new: CertificateStatus) -> None:
    if new is CertificateStatus.EXPIRED:
        raise BadUserInput("certificate.expired_not_set")
    if new not in TRANSITIONS[current]:
        if not TRANSITIONS[current]:
            raise BadUserInput("certificate.status_final", current=current, new=new)
        raise BadUserInput("certificate.transition", current=current, new=new)


async def locked_certificate(conn: AsyncConnection, identifier: str) -> Any | None:
    """The certificate's row, locked until the transaction ends (PostgreSQL; SQLite has one writer)."""
    query = select(certificates).where(certificates.c.identifier == identifier)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def set_certificate_status(
    conn: AsyncConnection, row: Any, status: CertificateStatus, reason: str, *, actor_org: str | None, at: dt.datetime
) -> None:
    """Move the (locked) certificate to `status`, keeping the reason."""
    check_transition(CertificateStatus(row.status), status)
    await conn.execute(update(certificates).where(certificates.c.id == row.id).values(status=status.value))
    await conn.execute(
        insert(status_changes),
        [{"certificate_id": row.id, "at": at, "status": status.value, "reason": reason, "actor_org": actor_org}],
    )


async def record_imported_statuses(conn: AsyncConnection, at: dt.datetime, identifiers: Collection[str] | None = None) -> None:
    """A history entry for every certificate whose stored status its history does not end with:
    those an import just wrote, or whose status it changed. Run again, it adds nothing.

    `identifiers`: the certificates the import wrote, when it kept them (a small import): only
    they are looked at, by index, ARRAY_CHUNK (PostgreSQL) or IN_CHUNK a statement. Without
    them, every certificate is, in one statement whatever the size of the import (nothing is
    held per certificate): a seed's way, which a small import into a large city must not pay
    (most of such an import's time: bench/README.md, "A small import into a large city").

    Each certificate's latest entry is found once, for all of them (a window over the history),
    not by a subquery per certificate: the statement adds to the very table such a subquery
    reads, and where the planner knew that table to be empty (analyzed after a first small
    import) it scanned the whole table once per certificate, rows added so far included: a time
    growing with the square of the import (bench/README.md, "Import and seed rates")."""
    if identifiers is None:
        await conn.execute(_history_entries(at, None))
        return
    keys = sorted(identifiers)
    size = ARRAY_CHUNK if conn.dialect.name == "postgresql" else IN_CHUNK
    statement = _history_entries(at, among(conn.dialect.name, certificates.c.identifier))
    for i in range(0, len(keys), size):
        await conn.execute(statement, {"keys": keys[i : i + size]})


def _history_entries(at: dt.datetime, only: ColumnElement[bool] | None) -> Insert:
    """INSERT of the missing entries: of the certificates `only` picks, or of all."""
    ranked_from = select(
        status_changes.c.certificate_id,
        status_changes.c.status,
        func.row_number()
        .over(partition_by=status_changes.c.certificate_id, order_by=(status_changes.c.at.desc(), status_changes.c.id.desc()))
        .label("n"),
    )
    if only is not None:
        ranked_from = ranked_from.where(status_changes.c.certificate_id.in_(select(certificates.c.id).where(only)))
    ranked = ranked_from.subquery("ranked")
    latest = select(ranked.c.certificate_id, ranked.c.status).where(ranked.c.n == 1).subquery("latest")
    changed = (
        select(
            certificates.c.id,
            literal(at, status_changes.c.at.type),
            certificates.c.status,
            literal(IMPORTED_REASON),
            null(),
        )
        .select_from(certificates.outerjoin(latest, latest.c.certificate_id == certificates.c.id))
        .where(or_(latest.c.certificate_id.is_(None), latest.c.status != certificates.c.status))
    )
    if only is not None:
        changed = changed.where(only)
    columns = ["certificate_id", "at", "status", "reason", "actor_org"]
    return insert(status_changes).from_select(columns, changed)
