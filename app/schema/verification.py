"""What the certificate services answer: a verification, a counter's document check; and the
issuer's input for a new certificate."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.scalars import JSON

from app.certificates.check import DocumentState
from app.certificates.verify import Reason
from app.domain.enums import CertificateStatus, HolderKind
from app.schema.certificate import CertificateType

strawberry.enum(Reason, name="VerificationReason", description="Why a certificate does not verify (SPEC section 5).")
strawberry.enum(DocumentState, name="DocumentState", description="A required certificate's state at a counter.")


@strawberry.type(name="CertificateVerification", description="A certificate checked: signature, record, status, dates.")
class CertificateVerificationType:
    valid: bool
    status: CertificateStatus | None = strawberry.field(description="The record's status; null if there is no record.")
    identifier: str
    issuer_code: str | None
    reasons: list[Reason] = strawberry.field(description="Every reason it is not valid; empty when it is.")


@strawberry.type(name="DocumentCheckItem", description="One required certificate type and the applicant's best one.")
class DocumentCheckItemType:
    type_code: str
    state: DocumentState
    certificate: CertificateType | None = strawberry.field(description="Its metadata and status, never its document.")


@strawberry.type(name="DocumentCheck", description="A counter's check of an applicant's certificates for a case.")
class DocumentCheckType:
    case_number: str
    all_satisfied: bool = strawberry.field(description="Every required type has a VALID certificate.")
    items: list[DocumentCheckItemType]


@strawberry.input(name="IssueCertificateInput", description="A new certificate, under the issuer's own authority.")
class IssueCertificateInput:
    type_code: str
    number: str
    holder_kind: HolderKind
    holder_id: str
    issued_on: dt.date
    valid_from: dt.date
    valid_until: dt.date | None = None
    data: JSON | None = None
    issuer_code: str | None = strawberry.field(default=None, description="The token's own organisation if left out.")
