from __future__ import annotations

import strawberry

import app.schema.enums  # noqa: F401  (registers the enums)
from app.domain.enums import Purpose


@strawberry.input(name="AccessInput", description="Why the caller reaches a subject (SPEC section 4).")
class AccessInput:
    purpose: Purpose | None = None
    consent_id: strawberry.ID | None = None
    case_number: str | None = None
    reason: str | None = None


@strawberry.type(name="Viewer", description="Who the service thinks is calling.")
class ViewerType:
    role: str
    sub: str | None
    org: str | None
    id_number: str | None
