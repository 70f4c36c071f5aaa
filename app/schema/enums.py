"""The domain's enums, registered as GraphQL enums under the names SPEC.md fixes."""

from __future__ import annotations

import strawberry

from app.domain.enums import (
    CertificateStatus,
    EnterpriseStatus,
    Gender,
    HolderKind,
    LicenceStatus,
    PenaltySeverity,
    PenaltyStatus,
    Purpose,
)

for _enum in (
    CertificateStatus,
    EnterpriseStatus,
    Gender,
    HolderKind,
    LicenceStatus,
    PenaltySeverity,
    PenaltyStatus,
    Purpose,
):
    strawberry.enum(_enum)
