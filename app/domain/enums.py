"""The enumerations SPEC.md fixes, shared by the database, the API and the importer."""

from __future__ import annotations

from enum import StrEnum


class HolderKind(StrEnum):
    PERSON = "PERSON"
    ENTERPRISE = "ENTERPRISE"


class Gender(StrEnum):
    MALE = "MALE"
    FEMALE = "FEMALE"


class AuthorityType(StrEnum):
    BANK = "BANK"
    AGENCY = "AGENCY"
    ISSUER = "ISSUER"
    OVERSIGHT = "OVERSIGHT"


class EnterpriseStatus(StrEnum):
    ACTIVE = "ACTIVE"  # 存续 / 在业
    SUSPENDED = "SUSPENDED"  # 停业
    REVOKED = "REVOKED"  # 吊销
    CANCELLED = "CANCELLED"  # 注销
    MOVED_OUT = "MOVED_OUT"  # 迁出


# The national enterprise register's own terms for a status (SPEC section 8), which an import
# may give instead of the enum's names; the API answers the enum.
REGISTER_STATUS_TERMS: dict[str, EnterpriseStatus] = {
    "存续": EnterpriseStatus.ACTIVE,
    "在业": EnterpriseStatus.ACTIVE,
    "停业": EnterpriseStatus.SUSPENDED,
    "吊销": EnterpriseStatus.REVOKED,
    "注销": EnterpriseStatus.CANCELLED,
    "迁出": EnterpriseStatus.MOVED_OUT,
}


class PenaltySeverity(StrEnum):
    MINOR = "MINOR"
    GENERAL = "GENERAL"
    SERIOUS = "SERIOUS"


class PenaltyStatus(StrEnum):
    ACTIVE = "ACTIVE"
    REPAIRED = "REPAIRED"
    REVOKED = "REVOKED"


class LicenceStatus(StrEnum):
    VALID = "VALID"
    REVOKED = "REVOKED"
    ANNULLED = "ANNULLED"
    EXPIRED = "EXPIRED"  # derived from valid_to, never stored


class CertificateStatus(StrEnum):
    VALID = "VALID"
    SUSPENDED = "SUSPENDED"
    REVOKED = "REVOKED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"  # derived from valid_until, never stored


class Purpose(StrEnum):
    LOAN_APPROVAL = "LOAN_APPROVAL"
    CREDIT_CARD_APPROVAL = "CREDIT_CARD_APPROVAL"
    GUARANTEE_REVIEW = "GUARANTEE_REVIEW"
    POST_LOAN_MANAGEMENT = "POST_LOAN_MANAGEMENT"
    SERVICE_COUNTER = "SERVICE_COUNTER"
    SELF_QUERY = "SELF_QUERY"
    SUPERVISION = "SUPERVISION"


# The purposes a bank may name (SPEC section 4).
BANK_PURPOSES = frozenset(
    {
        Purpose.LOAN_APPROVAL,
        Purpose.CREDIT_CARD_APPROVAL,
        Purpose.GUARANTEE_REVIEW,
        Purpose.POST_LOAN_MANAGEMENT,
    }
)


class CreditFlagKind(StrEnum):
    DISHONEST_DEBTOR = "DISHONEST_DEBTOR"  # 失信被执行人
    HONOUR_LIST = "HONOUR_LIST"  # 守信激励 / 红名单
    TAX_A_GRADE = "TAX_A_GRADE"  # 纳税信用A级


STORED_LICENCE_STATUSES = frozenset(s for s in LicenceStatus if s is not LicenceStatus.EXPIRED)
STORED_CERTIFICATE_STATUSES = frozenset(s for s in CertificateStatus if s is not CertificateStatus.EXPIRED)
