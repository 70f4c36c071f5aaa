"""Every table, imported here so that alembic and the app see one metadata."""

from app.db.models.audit import AccessRecord, AuditCheckpoint, AuditEntry, AuditTreeNode
from app.db.models.authority import Authority
from app.db.models.certificate import Certificate, CertificateType, SigningKey
from app.db.models.consent import Consent
from app.db.models.credit import CreditFlag, CreditScore
from app.db.models.enterprise import Enterprise
from app.db.models.licence import Licence
from app.db.models.penalty import Penalty
from app.db.models.person import Person

__all__ = [
    "AccessRecord",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditTreeNode",
    "Authority",
    "Certificate",
    "CertificateType",
    "Consent",
    "CreditFlag",
    "CreditScore",
    "Enterprise",
    "Licence",
    "Penalty",
    "Person",
    "SigningKey",
]
