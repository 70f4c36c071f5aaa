"""The score a read shows: the stored one while it holds, else one computed afresh for today.

A stored score knows the last day it holds (`holds_until`): after it, the date alone has moved
a fact on (a penalty older than a recency bound, a licence ended, a flag lifted), and showing
the stored score would show facts that are no longer true. Such a read computes the score from
the facts on file, with the same rules, for the request's `today`, and shows that; it stores
nothing (a read writes nothing). `xinzheng score recompute --due`, run daily, stores them anew,
so reads rarely need to.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from app.clock import now
from app.domain.enums import CreditFlagKind, HolderKind, PenaltySeverity, PenaltyStatus
from app.scoring.recompute import score_row
from app.scoring.rules import FlagFact, LicenceFact, PenaltyFact

if TYPE_CHECKING:
    from app.context import Context


async def current_score(context: Context, key: tuple[HolderKind, str]) -> Any:
    """The subject's score row (or an object with the same fields), or None when it has none."""
    row = await context.loaders.score.load(key)
    if row is None or (row.holds_until is not None and row.holds_until >= context.today):
        return row
    loaders = context.loaders
    penalties = [
        PenaltyFact(PenaltySeverity(p.severity), PenaltyStatus(p.status), p.decided_on) for p in await loaders.penalties.load(key)
    ]
    licences = [LicenceFact(lic.status, lic.valid_from, lic.valid_to) for lic in await loaders.licences.load(key)]
    flags = [FlagFact(CreditFlagKind(f.flag), f.since, f.until) for f in await loaders.flags.load(key)]
    return SimpleNamespace(**score_row(penalties, licences, flags, today=context.today, computed_at=now()))
