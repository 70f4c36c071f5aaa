from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import ID18, Base, UTCDateTime, enum_column
from app.domain.enums import HolderKind


class Consent(Base):
    """A subject's authorisation (授权书) for one organisation and a set of purposes."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_holder", "holder_kind", "holder_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder_kind: Mapped[HolderKind] = mapped_column(enum_column(HolderKind))
    holder_id: Mapped[str] = mapped_column(ID18)
    grantee_code: Mapped[str] = mapped_column(ForeignKey("authorities.code"), index=True)
    purposes: Mapped[list[str]] = mapped_column(JSON)
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
