"""Recomputing stored credit scores from the facts on file, in batches of subjects.

Each batch costs a fixed handful of statements (subjects, penalties, licences, flags, one
upsert), whatever its size. A score whose value, grade, model and reasons are unchanged is
left as it is, `computed_at` included, so that recomputing twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any

from sqlalchemy import BindParameter, Text, bindparam, cast, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import now
from app.db.models import CreditFlag, CreditScore, Enterprise, Licence, Penalty, Person
from app.domain.enums import CreditFlagKind, HolderKind, PenaltySeverity, PenaltyStatus
from app.scoring.rules import FlagFact, LicenceFact, PenaltyFact, compute

Holder = tuple[HolderKind, str]

# Subjects per batch: small enough for any database's bound-parameter limit.
BATCH = 500

scores = CreditScore.__table__
IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
SUBJECTS = {
    HolderKind.PERSON: (Person.__table__, Person.__table__.c.id_number),
    HolderKind.ENTERPRISE: (Enterprise.__table__, Enterprise.__table__.c.credit_code),
}
_p, _l, _f = Penalty.__table__, Licence.__table__, CreditFlag.__table__
PENALTIES = select(_p.c.holder_id, _p.c.severity, _p.c.status, _p.c.decided_on).where(
    _p.c.holder_kind == bindparam("kind"), _p.c.holder_id.in_(IDS)
)
LICENCES = select(_l.c.holder_id, _l.c.status, _l.c.valid_from, _l.c.valid_to).where(
    _l.c.holder_kind == bindparam("kind"), _l.c.holder_id.in_(IDS)
)
FLAGS = select(_f.c.holder_id, _f.c.flag, _f.c.since, _f.c.until).where(
    _f.c.holder_kind == bindparam("kind"), _f.c.holder_id.in_(IDS)
)


async def recompute_scores(conn: AsyncConnection, holders: set[Holder] | None, *, today: dt.date) -> int:
    """Recompute and store the scores of these subjects (None: every one); returns how many exist."""
    computed_at = now()
    total = 0
    for kind in HolderKind:
        batches = _all_ids(conn, kind) if holders is None else _given_ids(conn, kind, holders)
        async for ids in batches:
            total += await _score_batch(conn, kind, ids, today=today, computed_at=computed_at)
    return total


async def _all_ids(conn: AsyncConnection, kind: HolderKind) -> AsyncIterator[list[str]]:
    """Every subject of a kind, by keyset pages (no OFFSET: it rescans what it skips)."""
    _, key = SUBJECTS[kind]
    last = ""
    while True:
        ids = list((await conn.execute(select(key).where(key > last).order_by(key).limit(BATCH))).scalars())
        if not ids:
            return
        yield ids
        if len(ids) < BATCH:
            return
        last = ids[-1]


async def _given_ids(conn: AsyncConnection, kind: HolderKind, holders: set[Holder]) -> AsyncIterator[list[str]]:
    """The given subjects of a kind that exist: a score for someone not on file means nothing."""
    _, key = SUBJECTS[kind]
    wanted = sorted(holder_id for k, holder_id in holders if k == kind)
    for chunk in _chunks(wanted, BATCH):
        ids = list((await conn.execute(select(key).where(key.in_(IDS)), {"ids": chunk})).scalars())
        if ids:
            yield ids


async def _score_batch(
    conn: AsyncConnection, kind: HolderKind, ids: list[str], *, today: dt.date, computed_at: dt.datetime
) -> int:
    params = {"kind": kind.value, "ids": ids}
    penalties: dict[str, list[PenaltyFact]] = defaultdict(list)
    licences: dict[str, list[LicenceFact]] = defaultdict(list)
    flags: dict[str, list[FlagFact]] = defaultdict(list)
    for r in await conn.execute(PENALTIES, params):
        penalties[r.holder_id].append(PenaltyFact(PenaltySeverity(r.severity), PenaltyStatus(r.status), r.decided_on))
    for r in await conn.execute(LICENCES, params):
        licences[r.holder_id].append(LicenceFact(r.status, r.valid_from, r.valid_to))
    for r in await conn.execute(FLAGS, params):
        flags[r.holder_id].append(FlagFact(CreditFlagKind(r.flag), r.since, r.until))
    rows = []
    for holder_id in ids:
        score = compute(penalties[holder_id], licences[holder_id], flags[holder_id], today=today)
        rows.append(
            {
                "holder_kind": kind.value,
                "holder_id": holder_id,
                "score": score.score,
                "grade": score.grade,
                "model_version": score.model_version,
                "computed_at": computed_at,
                "factors": [{"code": f.code, "description": f.description, "impact": f.impact} for f in score.factors],
            }
        )
    await conn.execute(_UPSERT[conn.dialect.name], rows)
    return len(rows)


def _upsert(dialect: Any) -> Any:
    stmt = dialect.insert(scores)
    new = stmt.excluded
    changed = or_(
        scores.c.score != new.score,
        scores.c.grade != new.grade,
        scores.c.model_version != new.model_version,
        # JSON has no equality operator on PostgreSQL; the serialised text is stable.
        cast(scores.c.factors, Text) != cast(new.factors, Text),
    )
    return stmt.on_conflict_do_update(
        index_elements=[scores.c.holder_kind, scores.c.holder_id],
        set_={c: new[c] for c in ("score", "grade", "model_version", "computed_at", "factors")},
        where=changed,
    )


_UPSERT = {"sqlite": _upsert(sqlite), "postgresql": _upsert(postgresql)}


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
