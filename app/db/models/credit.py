from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import ID18, Base, UTCDateTime, enum_column
from app.domain.enums import CreditFlagKind, HolderKind


class CreditFlag(Base):
    """A fact from outside that moves a score: 失信被执行人, honour list, tax A grade."""

    __tablename__ = "credit_flags"
    __table_args__ = (
        UniqueConstraint("holder_kind", "holder_id", "flag", "source", "since", name="uq_credit_flags_natural"),
        Index("ix_credit_flags_holder", "holder_kind", "holder_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    holder_kind: Mapped[HolderKind] = mapped_column(enum_column(HolderKind))
    holder_id: Mapped[str] = mapped_column(ID18)
    flag: Mapped[CreditFlagKind] = mapped_column(enum_column(CreditFlagKind))
    source: Mapped[str] = mapped_column(String(200))
    since: Mapped[dt.date]
    until: Mapped[dt.date | None]


class CreditScore(Base):
    """The latest computed score of a subject, with the factors that moved it."""

    __tablename__ = "credit_scores"

    holder_kind: Mapped[HolderKind] = mapped_column(enum_column(HolderKind), primary_key=True)
    holder_id: Mapped[str] = mapped_column(ID18, primary_key=True)
    score: Mapped[int]
    grade: Mapped[str] = mapped_column(String(4))
    model_version: Mapped[str] = mapped_column(String(32))
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # [{"code", "description", "impact"}], most negative first
    factors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The last day the score holds with the facts on file (app/scoring/rules.py holds_until):
    # 9999-12-31 for ever; none (stored before it was kept) reads as due.
    holds_until: Mapped[dt.date | None]
