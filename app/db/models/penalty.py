from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import ID18, Base, Money, enum_column
from app.domain.enums import HolderKind, PenaltySeverity, PenaltyStatus


class Penalty(Base):
    """An administrative penalty (行政处罚) decision. Its publication window is derived."""

    __tablename__ = "penalties"
    __table_args__ = (Index("ix_penalties_holder", "holder_kind", "holder_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_number: Mapped[str] = mapped_column(String(100), unique=True)
    holder_kind: Mapped[HolderKind] = mapped_column(enum_column(HolderKind))
    holder_id: Mapped[str] = mapped_column(ID18)
    severity: Mapped[PenaltySeverity] = mapped_column(enum_column(PenaltySeverity))
    category: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    basis: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Money)  # yuan
    authority_code: Mapped[str] = mapped_column(ForeignKey("authorities.code"), index=True)
    decided_on: Mapped[dt.date]
    status: Mapped[PenaltyStatus] = mapped_column(enum_column(PenaltyStatus))
    repaired_on: Mapped[dt.date | None]
