from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from sqlalchemy import Row

import app.schema.enums  # noqa: F401  (registers the enums)
from app.domain.enums import HolderKind, Purpose


@strawberry.type(name="Consent", description="A subject's authorisation (授权书) for one organisation.")
class ConsentType:
    id: strawberry.ID
    holder_kind: HolderKind
    holder_id: str
    grantee_code: str
    grantee_name: str
    purposes: list[Purpose]
    granted_at: dt.datetime
    valid_until: dt.datetime | None
    revoked_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> ConsentType:
        return cls(
            id=strawberry.ID(row.id),
            holder_kind=row.holder_kind,
            holder_id=row.holder_id,
            grantee_code=row.grantee_code,
            grantee_name=row.grantee_name,
            purposes=[Purpose(p) for p in row.purposes],
            granted_at=row.granted_at,
            valid_until=row.valid_until,
            revoked_at=row.revoked_at,
        )


@strawberry.input(name="GrantConsentInput", description="A consent a citizen gives, for self or an enterprise they represent.")
class GrantConsentInput:
    holder_kind: HolderKind
    holder_id: str
    grantee_code: str = strawberry.field(description="The organisation's credit code.")
    purposes: list[Purpose]
    valid_until: dt.datetime = strawberry.field(description="When the consent ends; must be in the future.")
