"""Who may reach which subjects: data an auditor can read, applied by app/auth/gate.py only.

Reaching a subject (a row) is decided here; which of its fields a role then sees is the
field policy's business.
"""

from __future__ import annotations

from enum import StrEnum

from app.auth.roles import Role


class Subject(StrEnum):
    PERSON = "person"
    ENTERPRISE = "enterprise"
    CERTIFICATE = "certificate"


class Reach(StrEnum):
    ANY = "any"  # every subject of the kind
    SELF = "self"  # the token's own person, the enterprises they represent, their certificates
    CONSENT = "consent"  # with the subject's consent to the token's organisation, for the purpose
    CASE = "case"  # with a case number
    ISSUED = "issued"  # what the token's own authority issued
    NONE = "none"  # nothing of the kind


SUBJECT_REACH: dict[Role, dict[Subject, Reach]] = {
    # The public reads enterprises' public profiles and verifies certificates (verifyCertificate).
    Role.PUBLIC: {Subject.PERSON: Reach.NONE, Subject.ENTERPRISE: Reach.ANY, Subject.CERTIFICATE: Reach.NONE},
    # A citizen reads self only (SPEC section 3: anyone else is FORBIDDEN).
    Role.CITIZEN: {Subject.PERSON: Reach.SELF, Subject.ENTERPRISE: Reach.SELF, Subject.CERTIFICATE: Reach.SELF},
    Role.BANK: {Subject.PERSON: Reach.CONSENT, Subject.ENTERPRISE: Reach.CONSENT, Subject.CERTIFICATE: Reach.NONE},
    Role.COUNTER: {Subject.PERSON: Reach.CASE, Subject.ENTERPRISE: Reach.CASE, Subject.CERTIFICATE: Reach.CASE},
    # An issuer reads what its own authority issued and nothing else.
    Role.ISSUER: {Subject.PERSON: Reach.NONE, Subject.ENTERPRISE: Reach.NONE, Subject.CERTIFICATE: Reach.ISSUED},
    # Oversight sees the audit log only, never subject data.
    Role.AUDITOR: {Subject.PERSON: Reach.NONE, Subject.ENTERPRISE: Reach.NONE, Subject.CERTIFICATE: Reach.NONE},
    Role.ADMIN: {Subject.PERSON: Reach.ANY, Subject.ENTERPRISE: Reach.ANY, Subject.CERTIFICATE: Reach.ANY},
}
