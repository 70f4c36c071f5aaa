from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import ID18, Base, enum_column
from app.domain.enums import Gender


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_number: Mapped[str] = mapped_column(ID18, unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # Both derive from the ID number; stored so that queries need not parse it.
    gender: Mapped[Gender] = mapped_column(enum_column(Gender))
    birth_date: Mapped[dt.date]
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(300))
