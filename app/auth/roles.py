"""Who may call Xinzheng (SPEC section 1)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PUBLIC = "public"  # no token
    CITIZEN = "citizen"
    BANK = "bank"
    COUNTER = "counter"
    ISSUER = "issuer"
    AUDITOR = "auditor"
    ADMIN = "admin"


# Roles whose token names the organisation it acts for (its credit code).
ORG_ROLES = frozenset({Role.BANK, Role.COUNTER, Role.ISSUER})
