"""The access policy, as data an auditor can read. Applied by app/auth/gate.py (which subjects a
caller reaches) and app/auth/enforce.py (which fields of them it sees); nowhere else.

Three tables:

- ACTION_POLICY: what each role may do to a resource (grant a consent, issue a certificate,
  record a penalty, ...), and on which condition (its own subject, its own authority's
  records). Mutations are actions: their field rules below are made from this table.
- SUBJECT_REACH: how each role reaches a person, an enterprise or a certificate (self,
  consent, case number, what it issued, ...).
- FIELD_POLICY: every field of every GraphQL type, with its classification and what each
  role's column grants: FULL, MASKED or DENIED, and for some lists a SCOPE that keeps only
  the rows the law lets that role see. A field missing here stops the service at start-up.

The column applied to a subject is its *view*: the caller's role when the gate let it reach
the subject (self, consent, case, ...); the public column for the public register
(searchEnterprises), whoever asks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from app.auth.masking import mask_holder_id, mask_id_number, mask_phone
from app.auth.roles import Role
from app.domain.enums import AuthorityType


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
    # 征信业管理条例: a bank queries with the subject's written consent, for a stated purpose.
    Role.BANK: {Subject.PERSON: Reach.CONSENT, Subject.ENTERPRISE: Reach.CONSENT, Subject.CERTIFICATE: Reach.NONE},
    # A service counter works on a case; the case number is its authority.
    Role.COUNTER: {Subject.PERSON: Reach.CASE, Subject.ENTERPRISE: Reach.CASE, Subject.CERTIFICATE: Reach.CASE},
    # An issuer reads what its own authority issued and nothing else.
    Role.ISSUER: {Subject.PERSON: Reach.NONE, Subject.ENTERPRISE: Reach.NONE, Subject.CERTIFICATE: Reach.ISSUED},
    # Oversight sees the audit log only, never subject data.
    Role.AUDITOR: {Subject.PERSON: Reach.NONE, Subject.ENTERPRISE: Reach.NONE, Subject.CERTIFICATE: Reach.NONE},
    Role.ADMIN: {Subject.PERSON: Reach.ANY, Subject.ENTERPRISE: Reach.ANY, Subject.CERTIFICATE: Reach.ANY},
}


# Whose audit receipts (auditReceipt) each role may have: SELF is the requests of the token's own
# organisation (bank, counter, issuer) or person (citizen); a request without a token names nobody
# who could claim it. Oversight and operations: every entry's.
RECEIPT_REACH: Mapping[Role, Reach] = MappingProxyType({
    Role.PUBLIC: Reach.NONE,
    Role.CITIZEN: Reach.SELF,
    Role.BANK: Reach.SELF,
    Role.COUNTER: Reach.SELF,
    Role.ISSUER: Reach.SELF,
    Role.AUDITOR: Reach.ANY,
    Role.ADMIN: Reach.ANY,
})  # fmt: skip


class Action(StrEnum):
    """Things done to a resource, as `resource:action` (the audit log and the snapshot name them so)."""

    CONSENT_GRANT = "consent:grant"
    CONSENT_REVOKE = "consent:revoke"
    CERTIFICATE_ISSUE = "certificate:issue"
    CERTIFICATE_SET_STATUS = "certificate:set-status"
    LICENCE_RECORD = "licence:record"
    LICENCE_SET_STATUS = "licence:set-status"
    PENALTY_RECORD = "penalty:record"
    PENALTY_REPAIR = "penalty:repair"


class Condition(StrEnum):
    """What must hold of the resource for a role's grant of an action to apply."""

    OWN_SUBJECT = "own subject"  # the subject is the caller: self, or an enterprise they represent
    OWN_AUTHORITY = "own authority"  # the record is (or will be) under the caller's own authority (token org)


# Who may do what. A role not named for an action may not do it (FORBIDDEN, with the reason).
ACTION_POLICY: Mapping[Action, Mapping[Role, Condition]] = MappingProxyType({
    act: MappingProxyType(grants) for act, grants in {
    # Consent is the subject's own act (征信业管理条例 art. 14, 18): nobody grants or revokes for
    # them, platform operations included.
    Action.CONSENT_GRANT: {Role.CITIZEN: Condition.OWN_SUBJECT},
    Action.CONSENT_REVOKE: {Role.CITIZEN: Condition.OWN_SUBJECT},
    # An issuing department acts on its own authority's records and certificates only.
    Action.CERTIFICATE_ISSUE: {Role.ISSUER: Condition.OWN_AUTHORITY},
    Action.CERTIFICATE_SET_STATUS: {Role.ISSUER: Condition.OWN_AUTHORITY},
    Action.LICENCE_RECORD: {Role.ISSUER: Condition.OWN_AUTHORITY},
    Action.LICENCE_SET_STATUS: {Role.ISSUER: Condition.OWN_AUTHORITY},
    Action.PENALTY_RECORD: {Role.ISSUER: Condition.OWN_AUTHORITY},
    Action.PENALTY_REPAIR: {Role.ISSUER: Condition.OWN_AUTHORITY},
    }.items()
})  # fmt: skip


# The kind of organisation a token's `org` must be for each role that names one (SPEC section 8).
ORG_KIND: Mapping[Role, AuthorityType] = MappingProxyType({
    Role.BANK: AuthorityType.BANK,
    Role.COUNTER: AuthorityType.AGENCY,
    Role.ISSUER: AuthorityType.ISSUER,
})  # fmt: skip


class Classification(StrEnum):
    PUBLIC = "PUBLIC"  # 无条件开放
    RESTRICTED = "RESTRICTED"  # 有条件共享 / 受限开放
    SECRET = "SECRET"  # 不予共享


class Grant(StrEnum):
    FULL = "full"
    MASKED = "masked"
    DENIED = "denied"


class Scope(StrEnum):
    """Rows of a list that a column keeps; the rest are not shown to it."""

    IN_FORCE = "in force"  # licences in force today
    PUBLISHED = "published"  # penalties inside their publication window (信用修复管理办法)
    RETAINED = "within 5 years"  # negative records a bank may still see (征信业管理条例 art. 16)


Masker = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class FieldRule:
    classification: Classification
    grants: Mapping[Role, Grant]
    scopes: Mapping[Role, Scope] = field(default_factory=dict)
    mask: Masker | None = None


F, M, D = Grant.FULL, Grant.MASKED, Grant.DENIED


def rule(
    classification: Classification,
    *,
    public: Grant = D,
    citizen: Grant = D,
    bank: Grant = D,
    counter: Grant = D,
    issuer: Grant = D,
    auditor: Grant = D,
    admin: Grant = F,
    scopes: Mapping[Role, Scope] | None = None,
    mask: Masker | None = None,
) -> FieldRule:
    """A field's rule; every role not named is DENIED, admin is FULL unless said otherwise."""
    grants = {
        Role.PUBLIC: public,
        Role.CITIZEN: citizen,
        Role.BANK: bank,
        Role.COUNTER: counter,
        Role.ISSUER: issuer,
        Role.AUDITOR: auditor,
        Role.ADMIN: admin,
    }
    if M in grants.values() and mask is None:
        raise ValueError("a MASKED grant needs a mask")
    return FieldRule(classification, grants, scopes or {}, mask)


def everyone(classification: Classification = Classification.PUBLIC) -> FieldRule:
    return rule(classification, public=F, citizen=F, bank=F, counter=F, issuer=F, auditor=F)


def action(classification: Classification, act: Action) -> FieldRule:
    """A mutation's rule: FULL for the roles ACTION_POLICY lets do `act`, DENIED for the rest."""
    allowed = ACTION_POLICY[act]
    return FieldRule(classification, {role: F if role in allowed else D for role in Role})


def fields(type_name: str, names: str, r: FieldRule) -> dict[str, FieldRule]:
    """The same rule for several fields of one type (each still listed by name)."""
    return {f"{type_name}.{n}": r for n in names.split()}


PUBLIC, RESTRICTED, SECRET = Classification.PUBLIC, Classification.RESTRICTED, Classification.SECRET

# The "self" column is `citizen`; `bank` needs a consent in force and `counter` a case number,
# which the gate checked before any field is read.
FIELD_POLICY: Mapping[str, FieldRule] = MappingProxyType({
    # --- Query: reaching a subject at all. How (self, consent, case) is SUBJECT_REACH's.
    "Query.me": everyone(),
    "Query.person": rule(RESTRICTED, citizen=F, bank=F, counter=F),
    "Query.enterprise": rule(PUBLIC, public=F, citizen=F, bank=F, counter=F),
    "Query.searchEnterprises": rule(PUBLIC, public=F, citizen=F, bank=F, counter=F, issuer=F),
    "Query.certificate": rule(RESTRICTED, citizen=F, counter=F, issuer=F),
    "Query.certificateTypes": everyone(),
    # --- The audit log is oversight's: it carries no subject data beyond what the log needs.
    "Query.auditLog": rule(SECRET, auditor=F),
    "Query.auditIntegrity": rule(RESTRICTED, auditor=F),
    # A receipt is hashes and a signed note, no entry content; whose entry it is, RECEIPT_REACH says.
    "Query.auditReceipt": rule(RESTRICTED, citizen=F, bank=F, counter=F, issuer=F, auditor=F),
    "Query.auditConsistency": rule(RESTRICTED, auditor=F),
    # --- Mutations are actions: who may call them is ACTION_POLICY's.
    "Mutation.grantConsent": action(SECRET, Action.CONSENT_GRANT),
    "Mutation.revokeConsent": action(SECRET, Action.CONSENT_REVOKE),
    "Mutation.recordLicence": action(RESTRICTED, Action.LICENCE_RECORD),
    "Mutation.recordPenalty": action(RESTRICTED, Action.PENALTY_RECORD),
    "Mutation.repairPenalty": action(RESTRICTED, Action.PENALTY_REPAIR),
    "Mutation.setLicenceStatus": action(RESTRICTED, Action.LICENCE_SET_STATUS),
    **fields("Viewer", "role sub org idNumber", everyone()),
    # --- Person (公民个人信息)
    "Person.idNumber": rule(SECRET, citizen=F, bank=M, counter=M, mask=mask_id_number),
    **fields("Person", "name gender birthDate", rule(RESTRICTED, citizen=F, bank=F, counter=F)),
    "Person.phone": rule(SECRET, citizen=F, counter=M, mask=mask_phone),
    "Person.address": rule(SECRET, citizen=F),
    "Person.creditScore": rule(RESTRICTED, citizen=F, bank=F),
    "Person.licences": rule(RESTRICTED, citizen=F, bank=F, counter=F),
    "Person.penalties": rule(RESTRICTED, citizen=F, bank=F, scopes={Role.BANK: Scope.RETAINED}),
    "Person.enterprises": rule(RESTRICTED, citizen=F, bank=F, counter=F),
    "Person.certificates": rule(SECRET, citizen=F, counter=F),  # counter: metadata only (Certificate.*)
    "Person.consents": rule(SECRET, citizen=F),
    "Person.accessRecords": rule(SECRET, citizen=F),
    # --- Enterprise: registration facts are public (企业信息公示)
    **fields(
        "Enterprise",
        "creditCode name type status establishedOn registeredCapital registeredAddress "
        "legalRepresentativeName businessScope",
        everyone(),
    ),
    "Enterprise.licences": rule(
        PUBLIC, public=F, citizen=F, bank=F, counter=F, scopes={Role.PUBLIC: Scope.IN_FORCE}
    ),
    "Enterprise.penalties": rule(
        RESTRICTED, public=F, citizen=F, bank=F, scopes={Role.PUBLIC: Scope.PUBLISHED, Role.BANK: Scope.RETAINED}
    ),
    "Enterprise.creditScore": rule(RESTRICTED, citizen=F, bank=F),
    "Enterprise.certificates": rule(SECRET, citizen=F, counter=F),
    "Enterprise.accessRecords": rule(SECRET, citizen=F),
    # The person behind it, under the person's own rules (the gate asks for their consent or case).
    "Enterprise.legalRepresentative": rule(RESTRICTED, citizen=F, bank=F, counter=F),
    # --- Certificates: the counter sees metadata and status, not the content or the signed document.
    **fields(
        "Certificate",
        "identifier typeCode typeName number holderKind holderName issuerCode issuerName "
        "issuedOn validFrom validUntil status",
        rule(SECRET, citizen=F, counter=F, issuer=F),
    ),
    "Certificate.holderId": rule(SECRET, citizen=F, counter=M, issuer=F, mask=mask_holder_id),
    **fields("Certificate", "data document", rule(SECRET, citizen=F, issuer=F)),
    **fields("CertificateType", "typeCode name nationalCode holderKind", everyone()),
    # --- Records reached through a subject's lists, which decide who gets them.
    **fields(
        "Licence",
        "decisionNumber holderKind holderId category title content authorityCode authorityName "
        "decidedOn validFrom validTo status",
        rule(PUBLIC, public=F, citizen=F, bank=F, counter=F, issuer=F),
    ),
    **fields(
        "Penalty",
        "decisionNumber holderKind holderId severity category reason basis amount authorityCode "
        "authorityName decidedOn publishUntil status repairedOn",
        rule(RESTRICTED, public=F, citizen=F, bank=F, issuer=F),
    ),
    **fields("CreditScore", "score grade modelVersion computedAt factors", rule(RESTRICTED, citizen=F, bank=F)),
    **fields("CreditFactor", "code description impact", rule(RESTRICTED, citizen=F, bank=F)),
    **fields(
        "Consent",
        "id holderKind holderId granteeCode granteeName purposes grantedAt validUntil revokedAt",
        rule(SECRET, citizen=F),
    ),
    **fields(
        "AuditEntry",
        "seq at requestId actorSub actorRole actorOrg clientAddress operationName operationType queryHash "
        "queryText variables purpose consentId caseNumber subjects subjectContexts fieldsMasked fieldsDenied outcome "
        "errorCodes durationMs prevHash hash",
        rule(SECRET, auditor=F),
    ),
    **fields("AuditSubject", "subject state purpose consentId caseNumber", rule(SECRET, auditor=F)),
    **fields("AuditIntegrity", "ok entries headHash firstBadSeq reason checkpoints", rule(RESTRICTED, auditor=F)),
    **fields(
        "AuditReceipt",
        "seq leafIndex leafHash treeSize rootHash inclusionProof checkpoint",
        rule(RESTRICTED, citizen=F, bank=F, counter=F, issuer=F, auditor=F),
    ),
    **fields(
        "AuditConsistency",
        "fromSize toSize fromRootHash toRootHash consistencyProof checkpoint",
        rule(RESTRICTED, auditor=F),
    ),
    # Access records name organisations and purposes, never the operator (SPEC section 4).
    **fields(
        "AccessRecord",
        "at organisationCode organisationName role purpose consentId caseNumber",
        rule(SECRET, citizen=F),
    ),
    # --- Paging plumbing carries no data of its own.
    **fields("EnterpriseConnection", "edges pageInfo", everyone()),
    **fields("EnterpriseEdge", "node cursor", everyone()),
    **fields("PageInfo", "hasNextPage endCursor", everyone()),
    **fields("AuditEntryConnection", "edges pageInfo", everyone()),
    **fields("AuditEntryEdge", "node cursor", everyone()),
    **fields("AccessRecordConnection", "edges pageInfo", everyone()),
    **fields("AccessRecordEdge", "node cursor", everyone()),
})

# The public register (searchEnterprises) shows every caller what the public sees: a bank's
# consent or a citizen's self does not extend to search hits.
REGISTER_VIEW = Role.PUBLIC
# Fields whose objects are seen under another column than their parent's.
VIEW_AS: dict[str, Role] = {"EnterpriseEdge.node": REGISTER_VIEW}
