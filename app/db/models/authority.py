from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import ID18, Base, enum_column
from app.domain.enums import AuthorityType


class Authority(Base):
    """An organisation known to the platform: a bank, an agency, an issuer, oversight."""

    __tablename__ = "authorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(ID18, unique=True)  # its credit code
    name: Mapped[str] = mapped_column(String(200))
    authority_type: Mapped[AuthorityType] = mapped_column(enum_column(AuthorityType))
    # An issuer's certificate type codes (the catalogue's `code`s): what it may issue and change.
    certificate_types: Mapped[list[Any] | None] = mapped_column(JSON)
