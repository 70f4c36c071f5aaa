"""Licences, penalties and credit scores: what a subject's lists are made of."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy import Row

import app.schema.enums  # noqa: F401  (registers the enums)
from app.domain import rules
from app.domain.enums import HolderKind, LicenceStatus, PenaltySeverity, PenaltyStatus
from app.i18n import Language
from app.scoring.rules import describe


@strawberry.type(name="Licence", description="An administrative licence decision (行政许可).")
class LicenceType:
    decision_number: str
    holder_kind: HolderKind
    holder_id: str
    category: str
    title: str
    content: str
    authority_code: str
    authority_name: str
    decided_on: dt.date
    valid_from: dt.date
    valid_to: dt.date | None
    status: LicenceStatus = strawberry.field(description="EXPIRED is derived from validTo.")

    @classmethod
    def from_row(cls, row: Row[Any], today: dt.date) -> LicenceType:
        return cls(
            decision_number=row.decision_number,
            holder_kind=row.holder_kind,
            holder_id=row.holder_id,
            category=row.category,
            title=row.title,
            content=row.content,
            authority_code=row.authority_code,
            authority_name=row.authority_name,
            decided_on=row.decided_on,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            status=rules.licence_status(row.status, row.valid_to, today),
        )


@strawberry.type(name="Penalty", description="An administrative penalty decision (行政处罚).")
class PenaltyType:
    decision_number: str
    holder_kind: HolderKind
    holder_id: str
    severity: PenaltySeverity
    category: str
    reason: str
    basis: str
    amount: Decimal | None = strawberry.field(description="Yuan.")
    authority_code: str
    authority_name: str
    decided_on: dt.date
    publish_until: dt.date | None = strawberry.field(
        description="The last day of public display; null for a MINOR penalty, which is never published."
    )
    status: PenaltyStatus
    repaired_on: dt.date | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> PenaltyType:
        return cls(
            decision_number=row.decision_number,
            holder_kind=row.holder_kind,
            holder_id=row.holder_id,
            severity=row.severity,
            category=row.category,
            reason=row.reason,
            basis=row.basis,
            amount=row.amount,
            authority_code=row.authority_code,
            authority_name=row.authority_name,
            decided_on=row.decided_on,
            publish_until=rules.publish_until(row.severity, row.decided_on),
            status=row.status,
            repaired_on=row.repaired_on,
        )


@strawberry.type(name="CreditFactor")
class CreditFactorType:
    code: str
    description: str
    impact: int


@strawberry.type(name="CreditScore", description="350 to 950; the factors are the reasons, most negative first.")
class CreditScoreType:
    score: int
    grade: str
    model_version: str
    computed_at: dt.datetime
    factors: list[CreditFactorType]

    @classmethod
    def from_row(cls, row: Row[Any], language: Language) -> CreditScoreType:
        """The stored score; each factor described by its code, in the request's `language`."""
        return cls(
            score=row.score,
            grade=row.grade,
            model_version=row.model_version,
            computed_at=row.computed_at,
            factors=[CreditFactorType(code=f["code"], description=describe(f["code"], language), impact=f["impact"]) for f in row.factors],
        )


@strawberry.input(
    description="A licence decision, as an import's licence line gives it (SPEC section 8); under the token's authority, VALID."
)
class RecordLicenceInput:
    decision_number: str
    holder_kind: HolderKind
    holder_id: str
    category: str
    title: str
    content: str
    decided_on: dt.date
    valid_from: dt.date
    valid_to: dt.date | None = strawberry.field(default=None, description="None: no end.")


@strawberry.input(
    description="A penalty decision, as an import's penalty line gives it (SPEC section 8); under the token's authority, ACTIVE."
)
class RecordPenaltyInput:
    decision_number: str
    holder_kind: HolderKind
    holder_id: str
    severity: PenaltySeverity
    category: str
    reason: str
    basis: str
    amount: Decimal | None = strawberry.field(description="Yuan, at most two decimals.")
    decided_on: dt.date
