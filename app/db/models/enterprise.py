from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import ID18, Base, Money, enum_column
from app.domain.enums import EnterpriseStatus


class Enterprise(Base):
    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(primary_key=True)
    credit_code: Mapped[str] = mapped_column(ID18, unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    legal_rep_id_number: Mapped[str] = mapped_column(ForeignKey("persons.id_number"), index=True)
    type: Mapped[str] = mapped_column(String(100))
    status: Mapped[EnterpriseStatus] = mapped_column(enum_column(EnterpriseStatus))
    registered_capital: Mapped[Decimal | None] = mapped_column(Money)  # yuan
    established_on: Mapped[dt.date]
    registered_address: Mapped[str] = mapped_column(String(300))
    business_scope: Mapped[str] = mapped_column(Text)
