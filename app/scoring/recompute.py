"""Recomputing stored credit scores from the facts on file, in batches of subjects.

Each batch costs a fixed handful of statements (subjects, penalties, licences, flags, one
upsert), whatever its size. A score whose value, grade, model and reasons are unchanged is
left as it is, `computed_at` included, so that recomputing twice changes nothing.

On PostgreSQL a batch first locks its subjects' rows, held to the commit: the subjects' turn.
A score is computed from the facts its transaction sees, so two transactions that add facts
about one subject (two decisions through the API, a decision during an import) take turns,
and the second reads the first's; SQLite writes one transaction at a time anyway.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, Text, bindparam, cast, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import now
from app.db.among import among as keys_among
from app.db.models import CreditFlag, CreditScore, Enterprise, Licence, Penalty, Person
from app.domain.enums import CreditFlagKind, HolderKind, PenaltySeverity, PenaltyStatus
from app.scoring.rules import FlagFact, LicenceFact, PenaltyFact, compute, holds_until

Holder = tuple[HolderKind, str]

# Subjects per batch: small enough for any database's bound-parameter limit.
BATCH = 500
# PostgreSQL takes a batch's subjects as one array parameter, which has no such limit. On tables
# an import has just filled (no statistics yet), each query for a batch's facts reads every
# licence (or penalty, flag) of the subjects' kind, whatever the batch's size: small batches made
# the scoring of a million persons minutes long (bench/README.md, "Figures behind the code's choices").
ARRAY_BATCH = 10_000


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


scores, penalties, licences, flags = (_table(m) for m in (CreditScore, Penalty, Licence, CreditFlag))
SUBJECT_KEYS = {
    HolderKind.PERSON: _table(Person).c.id_number,
    HolderKind.ENTERPRISE: _table(Enterprise).c.credit_code,
}


@dataclass(frozen=True)
class _Statements:
    """One dialect's statements, built once; only their parameters change."""

    existing: dict[HolderKind, Select[Any]]
    turn: dict[HolderKind, Select[Any]] | None  # PostgreSQL: the batch's subjects locked, in order
    penalties: Select[Any]
    licences: Select[Any]
    flags: Select[Any]
    upsert: Any

    @classmethod
    def build(cls, dialect: Any) -> _Statements:
        def among(column: ColumnElement[str]) -> ColumnElement[bool]:
            return keys_among("postgresql" if dialect is postgresql else "sqlite", column, "ids")

        def facts(table: Table, *columns: str) -> Select[Any]:
            return select(table.c.holder_id, *(table.c[c] for c in columns)).where(
                table.c.holder_kind == bindparam("kind"), among(table.c.holder_id)
            )

        return cls(
            existing={kind: select(key).where(among(key)) for kind, key in SUBJECT_KEYS.items()},
            turn={kind: select(key).where(among(key)).order_by(key).with_for_update() for kind, key in SUBJECT_KEYS.items()}
            if dialect is postgresql
            else None,
            penalties=facts(penalties, "severity", "status", "decided_on"),
            licences=facts(licences, "status", "valid_from", "valid_to"),
            flags=facts(flags, "flag", "since", "until"),
            upsert=_upsert(dialect),
        )


def _upsert(dialect: Any) -> Any:
    stmt = dialect.insert(scores)
    new = stmt.excluded
    changed = or_(
        scores.c.score != new.score,
        scores.c.grade != new.grade,
        scores.c.model_version != new.model_version,
        # JSON has no equality operator on PostgreSQL; the serialised text is stable.
        cast(scores.c.factors, Text) != cast(new.factors, Text),
        scores.c.holds_until.is_distinct_from(new.holds_until),
    )
    return stmt.on_conflict_do_update(
        index_elements=[scores.c.holder_kind, scores.c.holder_id],
        set_={c: new[c] for c in ("score", "grade", "model_version", "computed_at", "factors", "holds_until")},
        where=changed,
    )


STATEMENTS = {"sqlite": _Statements.build(sqlite), "postgresql": _Statements.build(postgresql)}


async def recompute_scores(
    conn: AsyncConnection, holders: set[Holder] | None, *, today: dt.date, due_only: bool = False, on_file: bool = False
) -> int:
    """Recompute and store the scores of these subjects (None: every one, or with `due_only`
    every one whose stored score no longer holds today); returns how many were recomputed.

    `on_file`: the caller knows every one of `holders` is on file (an import that has just
    written them), so they are not looked up first: at a million persons that lookup was a
    tenth of the scoring."""
    statements = STATEMENTS[conn.dialect.name]
    computed_at = now()
    total = 0
    if conn.dialect.name == "postgresql":
        # The same statements run once per batch, and after five runs PostgreSQL may switch a
        # prepared statement to a generic plan; on tables just loaded (no statistics yet) that
        # plan scans the whole table for each batch, far slower. Plan each run afresh.
        await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    for kind in HolderKind:
        if holders is not None:
            batches = _given_ids(conn, statements, kind, holders, on_file=on_file)
        else:
            batches = _due_ids(conn, kind, today) if due_only else _all_ids(conn, kind)
        async for ids in batches:
            total += await _score_batch(conn, statements, kind, ids, today=today, computed_at=computed_at)
    return total


async def _all_ids(conn: AsyncConnection, kind: HolderKind) -> AsyncIterator[list[str]]:
    """Every subject of a kind, by keyset pages (no OFFSET: it rescans what it skips)."""
    key = SUBJECT_KEYS[kind]
    last = ""
    while True:
        ids = list((await conn.execute(select(key).where(key > last).order_by(key).limit(BATCH))).scalars())
        if ids:
            yield ids
        if len(ids) < BATCH:
            return
        last = ids[-1]


async def _due_ids(conn: AsyncConnection, kind: HolderKind, today: dt.date) -> AsyncIterator[list[str]]:
    """The subjects of a kind whose stored score no longer holds today (or says not until when)."""
    due = or_(scores.c.holds_until.is_(None), scores.c.holds_until < today)
    last = ""
    while True:
        query = (
            select(scores.c.holder_id)
            .where(scores.c.holder_kind == kind.value, scores.c.holder_id > last, due)
            .order_by(scores.c.holder_id)
            .limit(BATCH)
        )
        ids = list((await conn.execute(query)).scalars())
        if ids:
            yield ids
        if len(ids) < BATCH:
            return
        last = ids[-1]


async def _given_ids(
    conn: AsyncConnection, statements: _Statements, kind: HolderKind, holders: set[Holder], *, on_file: bool
) -> AsyncIterator[list[str]]:
    """The given subjects of a kind that exist: a score for someone not on file means nothing."""
    wanted = sorted(holder_id for k, holder_id in holders if k == kind)
    for chunk in _chunks(wanted, ARRAY_BATCH if conn.dialect.name == "postgresql" else BATCH):
        if on_file:
            yield chunk
            continue
        ids = list((await conn.execute(statements.existing[kind], {"ids": chunk})).scalars())
        if ids:
            yield ids


async def _score_batch(
    conn: AsyncConnection,
    statements: _Statements,
    kind: HolderKind,
    ids: list[str],
    *,
    today: dt.date,
    computed_at: dt.datetime,
) -> int:
    params = {"kind": kind.value, "ids": ids}
    if statements.turn is not None:
        # The subjects' turn (their rows locked to the commit): a decision about one of them
        # committing meanwhile is waited for and its fact read, and one made after waits for
        # this score. Without it, two transactions each read only their own new facts, and the
        # last to commit stored a score missing the other's.
        await conn.execute(statements.turn[kind], {"ids": ids})
    penalty_facts: dict[str, list[PenaltyFact]] = defaultdict(list)
    licence_facts: dict[str, list[LicenceFact]] = defaultdict(list)
    flag_facts: dict[str, list[FlagFact]] = defaultdict(list)
    for r in await conn.execute(statements.penalties, params):
        penalty_facts[r.holder_id].append(PenaltyFact(PenaltySeverity(r.severity), PenaltyStatus(r.status), r.decided_on))
    for r in await conn.execute(statements.licences, params):
        licence_facts[r.holder_id].append(LicenceFact(r.status, r.valid_from, r.valid_to))
    for r in await conn.execute(statements.flags, params):
        flag_facts[r.holder_id].append(FlagFact(CreditFlagKind(r.flag), r.since, r.until))
    rows = []
    for holder_id in ids:
        facts = (penalty_facts[holder_id], licence_facts[holder_id], flag_facts[holder_id])
        rows.append(
            {"holder_kind": kind.value, "holder_id": holder_id, **score_row(*facts, today=today, computed_at=computed_at)}
        )
    await conn.execute(statements.upsert, rows)
    return len(rows)


def score_row(
    penalties: list[PenaltyFact], licences: list[LicenceFact], flags: list[FlagFact], *, today: dt.date, computed_at: dt.datetime
) -> dict[str, Any]:
    """A subject's score as stored (and as a read shows one computed afresh: app/scoring/current.py)."""
    score = compute(penalties, licences, flags, today=today)
    return {
        "score": score.score,
        "grade": score.grade,
        "model_version": score.model_version,
        "computed_at": computed_at,
        "factors": [{"code": f.code, "description": f.description, "impact": f.impact} for f in score.factors],
        "holds_until": holds_until(penalties, licences, flags, today=today) or dt.date.max,
    }


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
