from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import ID18, Base, UTCDateTime, enum_column
from app.domain.enums import STORED_CERTIFICATE_STATUSES, CertificateStatus, HolderKind

# The stored statuses whose status-list entry is not VALID (app/certificates/statuslist.py
# STATUS_VALUES), as SQL: the condition of a partial index and of the query that uses it,
# written alike, so that PostgreSQL and SQLite both see that the index serves the query.
MARKED_CONDITION = "status IN ('SUSPENDED', 'REVOKED', 'CANCELLED')"


class CertificateType(Base):
    """The catalogue: a short `code` used across the API, the national code used in identifiers."""

    __tablename__ = "certificate_types"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    national_code: Mapped[str] = mapped_column(String(21), unique=True)  # authority USCC + 3 digits
    holder_kind: Mapped[HolderKind] = mapped_column(enum_column(HolderKind))


class Certificate(Base):
    """An electronic certificate (电子证照); `document` is the issuer-signed compact JWS."""

    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_holder", "holder_kind", "holder_id"),
        UniqueConstraint("issuer_code", "status_list", "status_index", name="uq_certificates_status_entry"),
        # The few certificates whose status-list entry is not VALID, by list: what a published
        # list is built from (app/certificates/publish.py), without reading the valid ones.
        Index(
            "ix_certificates_marked",
            "issuer_code",
            "status_list",
            postgresql_where=text(MARKED_CONDITION),
            sqlite_where=text(MARKED_CONDITION),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(128), unique=True)  # 62 characters + the serial
    type_code: Mapped[str] = mapped_column(ForeignKey("certificate_types.code"), index=True)
    number: Mapped[str] = mapped_column(String(64))
    holder_kind: Mapped[HolderKind] = mapped_column(enum_column(HolderKind))
    holder_id: Mapped[str] = mapped_column(ID18)
    issuer_code: Mapped[str] = mapped_column(ForeignKey("authorities.code"), index=True)
    issued_on: Mapped[dt.date]
    valid_from: Mapped[dt.date]
    valid_until: Mapped[dt.date | None]
    # VALID, SUSPENDED, REVOKED or CANCELLED; EXPIRED is derived from valid_until when read.
    status: Mapped[CertificateStatus] = mapped_column(enum_column(CertificateStatus, stored=STORED_CERTIFICATE_STATUSES))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    document: Mapped[str] = mapped_column(Text)
    kid: Mapped[str | None] = mapped_column(String(64), index=True)  # the key that signed `document`
    # Its entry in its issuer's status list (app/certificates/statuslist.py): list id and index.
    status_list: Mapped[int | None]
    status_index: Mapped[int | None]


class CertificateStatusChange(Base):
    """One change of a certificate's status, with its reason (Certificate.statusHistory)."""

    __tablename__ = "certificate_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(Text)
    actor_org: Mapped[str | None] = mapped_column(ID18)


class SigningKey(Base):
    """An issuer's certificate-signing key. Public half served at /.well-known/jwks.json.

    The private half is held here only for the dev and demo deployments, where keys are
    made at run time; a production issuer signs with its own key and registers the public one.
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    authority_code: Mapped[str] = mapped_column(ForeignKey("authorities.code"), index=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private_pem: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Rotated out: it signs nothing more, and is published while a document it signed is in force.
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
