"""An audit entry's subjects as auditors read them: each with what became of it and the access
context it was under (app/audit/record.py says how they are recorded)."""

from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type(
    name="AuditSubject",
    description="A subject the request asked for, under one access context: its purpose, consent and case.",
)
class AuditSubjectType:
    subject: str = strawberry.field(description='"PERSON:<id number>", "ENTERPRISE:<credit code>" or "CERTIFICATE:<identifier>".')
    state: str | None = strawberry.field(
        description="REACHED, NOT_FOUND, REFUSED, FAILED or WRITTEN (null in entries written before states were kept)."
    )
    purpose: str | None
    consent_id: str | None = strawberry.field(description="Only a consent that covered the subject, or, refused, the one claimed.")
    case_number: str | None


def subject_contexts(stored: list[Any]) -> list[AuditSubjectType]:
    """The stored items: objects, or plain "KIND:key" names in entries older than contexts."""
    return [
        AuditSubjectType(
            subject=item["subject"], state=item.get("state"), purpose=item.get("purpose"),
            consent_id=item.get("consentId"), case_number=item.get("caseNumber"),
        )
        if isinstance(item, dict)
        else AuditSubjectType(subject=str(item), state=None, purpose=None, consent_id=None, case_number=None)
        for item in stored
    ]  # fmt: skip


def subject_names(stored: list[Any]) -> list[str]:
    """Each subject's name once, in the order the request first asked for it."""
    return list(dict.fromkeys(item["subject"] if isinstance(item, dict) else str(item) for item in stored))
