"""Administrative decisions (licences 行政许可, penalties 行政处罚) written by their issuing
department through the API: record, change a licence's status, repair a penalty (信用修复).

One set of rules with the import: a decision from the API is made into the import line of its
kind (SPEC section 8) and checked by the importer's own parser (app/imports/kinds.py), then
written where its number is not on file (app/imports/write.py `insert_new_statement`). Each
change, the holder's recomputed score and (by the view, on the same connection) the request's
audit entry commit together or not at all: the caller passes the request's write transaction.

A decision number already on file answers the record on file when the content is the same (a
retried request changes nothing), and is BAD_USER_INPUT when it differs; a decision number of
another authority is FORBIDDEN, as acting on another authority's record is. A number recorded
meanwhile by a request that commits first is answered the same way, and a change to a decision
that another request changes meanwhile is made to the changed decision (it is locked). Each
function is given `authorize`, the gate's check of its action for the authority a record is under
(app/auth/policy.py ACTION_POLICY, applied by app/auth/gate.py), and calls it before any write.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import Enterprise, Licence, Penalty, Person
from app.domain.enums import HolderKind, LicenceStatus, PenaltySeverity, PenaltyStatus
from app.domain.rules import earliest_repair
from app.errors import BadUserInput
from app.i18n import Language, Text, render
from app.imports.fields import BadRecord
from app.imports.kinds import KINDS, parse_record
from app.imports.record import ParseContext, table_of
from app.imports.write import insert_new_statement
from app.resolvers.loaders import LICENCES, PENALTIES
from app.scoring.recompute import recompute_scores

licences, penalties = table_of(Licence), table_of(Penalty)
HOLDERS: Mapping[HolderKind, Any] = {
    HolderKind.PERSON: table_of(Person).c.id_number,
    HolderKind.ENTERPRISE: table_of(Enterprise).c.credit_code,
}
# The statuses a licence may be set to through the API (吊销 REVOKED, 撤销 ANNULLED), and from.
LICENCE_ENDINGS = frozenset({LicenceStatus.REVOKED, LicenceStatus.ANNULLED})
NO_CATALOGUE = ParseContext(catalogue={})  # licences and penalties name no certificate type
# A snake_case field name, among words of either language (so not `\b`: a Chinese character is a word character).
_SNAKE = re.compile(r"(?<![A-Za-z0-9_])([a-z]+(?:_[a-z]+)+)(?![A-Za-z0-9_])")


Authorize = Callable[[str], Awaitable[None]]  # raises FORBIDDEN unless the caller may act under that authority


async def record(
    conn: AsyncConnection, kind: str, fields: Mapping[str, Any], *, authority: str, authorize: Authorize, today: dt.date
) -> Row[Any]:
    """Record a licence or penalty (`kind`) under `authority` from the API's input `fields` (the
    import line's fields, snake_case, without kind, authority and status). The action is
    authorised here, once, before anything is read (the resolver does not check it again); a
    decision number already on file is then checked against the authority it is under."""
    await authorize(authority)
    status = {"licence": LicenceStatus.VALID, "penalty": PenaltyStatus.ACTIVE}[kind]
    line = {**fields, "kind": kind, "authority_code": authority, "status": status.value}
    try:
        parsed = parse_record(line, NO_CATALOGUE)
    except BadRecord as e:
        raise BadUserInput("decision.bad_input", reasons=InApiWords(e.reasons)) from None
    assert parsed.holder is not None
    row = parsed.row
    holder_kind, holder_id = parsed.holder
    if (await conn.execute(select(HOLDERS[holder_kind]).where(HOLDERS[holder_kind] == holder_id))).first() is None:
        raise BadUserInput("decision.holder_unknown", holder_kind=holder_kind, holder_id=holder_id)
    table, number = KINDS[kind].table, row["decision_number"]
    existing = (await conn.execute(select(table).where(table.c.decision_number == number))).first()
    if existing is None:
        new = insert_new_statement(conn.dialect.name, table, KINDS[kind].conflict).returning(table.c.decision_number)
        if (await conn.execute(new, row)).first() is not None:
            await recompute_scores(conn, {parsed.holder}, today=today)
            return await _answer(conn, kind, number)
        # Recorded meanwhile by a request that committed first (this insert waited for it, then
        # left its row as it is): answered as any decision on file.
        existing = (await conn.execute(select(table).where(table.c.decision_number == number))).one()
    await authorize(existing.authority_code)
    if any(getattr(existing, column) != value for column, value in row.items()):
        raise BadUserInput("decision.conflict", decision_number=number)
    return await _answer(conn, kind, number)


async def set_licence_status(
    conn: AsyncConnection, decision_number: str, status: LicenceStatus, *, authorize: Authorize, today: dt.date
) -> Row[Any]:
    """End a licence: revoked (吊销) or annulled (撤销). Those are final; setting the same again
    changes nothing; anything else is BAD_USER_INPUT."""
    if status not in LICENCE_ENDINGS:
        raise BadUserInput("decision.licence_status", status=status)
    existing = await _on_file(conn, licences, decision_number, authorize)
    stored = LicenceStatus(existing.status)
    if stored is status:
        return await _answer(conn, "licence", decision_number)
    if stored is not LicenceStatus.VALID:
        raise BadUserInput("decision.licence_final", decision_number=decision_number, status=stored)
    await conn.execute(update(licences).where(licences.c.id == existing.id).values(status=status))
    await recompute_scores(conn, {(HolderKind(existing.holder_kind), existing.holder_id)}, today=today)
    return await _answer(conn, "licence", decision_number)


async def repair_penalty(conn: AsyncConnection, decision_number: str, *, authorize: Authorize, today: dt.date) -> Row[Any]:
    """Credit repair (信用修复管理办法): a GENERAL penalty after 3 months, a SERIOUS one after a
    year, a MINOR one never (it is never published). From today it is out of public view and
    weighs half in the score. Repairing a repaired penalty again changes nothing."""
    existing = await _on_file(conn, penalties, decision_number, authorize)
    stored = PenaltyStatus(existing.status)
    if stored is PenaltyStatus.REPAIRED:
        return await _answer(conn, "penalty", decision_number)
    if stored is PenaltyStatus.REVOKED:
        raise BadUserInput("decision.penalty_revoked", decision_number=decision_number)
    severity = PenaltySeverity(existing.severity)
    possible = earliest_repair(severity, existing.decided_on)
    if possible is None:
        raise BadUserInput("decision.penalty_never_published", severity=severity)
    if today < possible:
        raise BadUserInput("decision.repair_too_early", decision_number=decision_number, date=possible.isoformat())
    await conn.execute(
        update(penalties).where(penalties.c.id == existing.id).values(status=PenaltyStatus.REPAIRED, repaired_on=today)
    )
    await recompute_scores(conn, {(HolderKind(existing.holder_kind), existing.holder_id)}, today=today)
    return await _answer(conn, "penalty", decision_number)


async def _on_file(conn: AsyncConnection, table: Table, decision_number: str, authorize: Authorize) -> Row[Any]:
    """The decision, locked until the transaction ends (PostgreSQL; SQLite has one writer): a
    change made meanwhile by another request is seen, not overwritten."""
    query = select(table).where(table.c.decision_number == decision_number)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    existing = (await conn.execute(query)).first()
    if existing is None:
        raise BadUserInput("decision.not_on_file", decision_number=decision_number)
    await authorize(existing.authority_code)
    return existing


async def _answer(conn: AsyncConnection, kind: str, decision_number: str) -> Row[Any]:
    """The decision as the API shows it (with its authority's name), read in the transaction."""
    statement, table = (LICENCES, licences) if kind == "licence" else (PENALTIES, penalties)
    holder = (
        await conn.execute(select(table.c.holder_kind, table.c.holder_id).where(table.c.decision_number == decision_number))
    ).one()
    params = {"keys": [holder.holder_id], "kinds": [str(holder.holder_kind)]}
    return (await conn.execute(statement.where(table.c.decision_number == decision_number), params)).one()


@dataclass(frozen=True)
class InApiWords:
    """An import line's reasons in the API's words, whatever the language: its fields are camelCase there."""

    reasons: list[Text]

    def render(self, language: Language) -> str:
        return _camel(render(self.reasons, language))

    def __str__(self) -> str:
        return self.render(Language.EN)


def _camel(words: str) -> str:
    return _SNAKE.sub(lambda m: re.sub(r"_([a-z])", lambda c: c.group(1).upper(), m.group(1)), words)
