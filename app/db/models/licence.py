from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import ID18, Base, enum_column
from app.domain.enums import STORED_LICENCE_STATUSES, HolderKind, LicenceStatus


class Licence(Base):
    """An administrative licence (行政许可) decision."""

    __tablename__ = "licences"
    __table_args__ = (Index("ix_licences_holder", "holder_kind", "holder_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_number: Mapped[str] = mapped_column(String(100), unique=True)
    holder_kind: Mapped[HolderKind] = mapped_column(enum_column(HolderKind))
    holder_id: Mapped[str] = mapped_column(ID18)
    category: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    authority_code: Mapped[str] = mapped_column(ForeignKey("authorities.code"), index=True)
    decided_on: Mapped[dt.date]
    valid_from: Mapped[dt.date]
    valid_to: Mapped[dt.date | None]
    # VALID, REVOKED or ANNULLED; EXPIRED is derived from valid_to when read.
    status: Mapped[LicenceStatus] = mapped_column(enum_column(LicenceStatus, stored=STORED_LICENCE_STATUSES))
