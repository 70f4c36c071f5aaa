"""How a masked value looks (SPEC section 3). Pure functions of the value (and its object)."""

from __future__ import annotations

from typing import Any

from app.domain.enums import HolderKind


def mask_id_number(value: str | None, source: Any = None) -> str | None:
    """Keep the first 6 and last 4: 330106********1234."""
    if value is None:
        return None
    return value[:6] + "*" * (len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)


def mask_phone(value: str | None, source: Any = None) -> str | None:
    """Keep the first 3 and last 4: 138****5678."""
    if value is None:
        return None
    return value[:3] + "*" * (len(value) - 7) + value[-4:] if len(value) > 7 else "*" * len(value)


def mask_holder_id(value: str | None, source: Any = None) -> str | None:
    """A person's ID number is masked; an enterprise's credit code is public."""
    if getattr(source, "holder_kind", None) == HolderKind.ENTERPRISE:
        return value
    return mask_id_number(value)
