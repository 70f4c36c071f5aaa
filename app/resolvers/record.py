"""The issuing departments' decisions through the API: licences and penalties (app/decisions.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

from strawberry.types import Info

from app import decisions
from app.audit.record import State
from app.auth.policy import Action
from app.context import Context
from app.domain.enums import HolderKind, LicenceStatus
from app.identifiers import parse_text
from app.schema.record import LicenceType, PenaltyType, RecordLicenceInput, RecordPenaltyInput

MAX_DECISION_NUMBER = 64
MAX_REASON = 500


def _authorize(context: Context, action: Action) -> decisions.Authorize:
    async def authorize(authority: str) -> None:
        await context.gate.authorize(action, authority=authority)

    return authorize


def _line(input: Any) -> dict[str, Any]:
    """The input as an import line's fields: snake_case names, enum names, ISO dates."""
    fields = dataclasses.asdict(input)
    return {k: v.value if hasattr(v, "value") else v.isoformat() if hasattr(v, "isoformat") else v for k, v in fields.items()}


def _written(context: Context, row: Any) -> None:
    """The subject a decision is about, in the request's audit entry (a write, not a read of
    their data: no access record)."""
    context.audit.subject(HolderKind(row.holder_kind), row.holder_id, State.WRITTEN)


async def _record(context: Context, kind: str, action: Action, input: Any) -> Any:
    """Record a decision of `kind` under the token's own authority. The action is authorised
    once, by the service (app/decisions.py `record`), before anything is read or written."""
    async with context.db.transaction() as conn:
        row = await decisions.record(
            conn, kind, _line(input), authority=context.principal.org or "",
            authorize=_authorize(context, action), today=context.today,
        )  # fmt: skip
    _written(context, row)
    return row


async def record_licence(info: Info[Context, None], input: RecordLicenceInput) -> LicenceType:
    """Record a licence decision (行政许可) of the token's own authority."""
    row = await _record(info.context, "licence", Action.LICENCE_RECORD, input)
    return LicenceType.from_row(row, info.context.today)


async def record_penalty(info: Info[Context, None], input: RecordPenaltyInput) -> PenaltyType:
    """Record a penalty decision (行政处罚) of the token's own authority."""
    return PenaltyType.from_row(await _record(info.context, "penalty", Action.PENALTY_RECORD, input))


async def repair_penalty(info: Info[Context, None], decision_number: str, reason: str) -> PenaltyType:
    """Credit repair (信用修复) of a penalty of the token's own authority; `reason` is kept in the audit log."""
    context = info.context
    authorize = _authorize(context, Action.PENALTY_REPAIR)
    await authorize(context.principal.org or "")
    number = parse_text(decision_number, "what.decision_number", MAX_DECISION_NUMBER)
    parse_text(reason, "what.reason", MAX_REASON)
    async with context.db.transaction() as conn:
        row = await decisions.repair_penalty(conn, number, authorize=authorize, today=context.today)
    _written(context, row)
    return PenaltyType.from_row(row)


async def set_licence_status(info: Info[Context, None], decision_number: str, status: LicenceStatus, reason: str) -> LicenceType:
    """Revoke (吊销) or annul (撤销) a licence of the token's own authority; `reason` is kept in the audit log."""
    context = info.context
    authorize = _authorize(context, Action.LICENCE_SET_STATUS)
    await authorize(context.principal.org or "")
    number = parse_text(decision_number, "what.decision_number", MAX_DECISION_NUMBER)
    parse_text(reason, "what.reason", MAX_REASON)
    async with context.db.transaction() as conn:
        row = await decisions.set_licence_status(conn, number, LicenceStatus(status), authorize=authorize, today=context.today)
    _written(context, row)
    return LicenceType.from_row(row, context.today)
