"""Changing a certificate's status: the one service behind `setCertificateStatus`.

The state machine: VALID <-> SUSPENDED; VALID or SUSPENDED -> REVOKED or CANCELLED, which are
final. EXPIRED is derived from validUntil and never set. The change and its reason go into the
certificate's status history in the caller's transaction; the status-list bit is the stored
status itself (app/certificates/publish.py builds the list from it), so the three commit
together, with the request's audit entry, or not at all.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Table, func, insert, literal, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import Certificate, CertificateStatusChange
from app.domain.enums import CertificateStatus
from app.errors import BadUserInput

certificates: Table = Certificate.__table__
status_changes: Table = CertificateStatusChange.__table__
IMPORTED_REASON = "imported"

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


async def record_imported_statuses(conn: AsyncConnection, at: dt.datetime) -> None:
    """A history entry for every certificate whose stored status its history does not end with:
    those an import just wrote, or whose status it changed. One statement, whatever the size
    of the import (nothing is held per certificate); run again, it adds nothing.

    Each certificate's latest entry is found once, for all of them (a window over the history),
    not by a subquery per certificate: the statement adds to the very table such a subquery
    reads, and where the planner knew that table to be empty (analyzed after a first small
    import) it scanned the whole table once per certificate, rows added so far included: a time
    growing with the square of the import (bench/README.md, "Import and seed rates")."""
    ranked = select(
        status_changes.c.certificate_id,
        status_changes.c.status,
        func.row_number()
        .over(partition_by=status_changes.c.certificate_id, order_by=(status_changes.c.at.desc(), status_changes.c.id.desc()))
        .label("n"),
    ).subquery("ranked")
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
    columns = ["certificate_id", "at", "status", "reason", "actor_org"]
    await conn.execute(insert(status_changes).from_select(columns, changed))
