"""How each column of the policy reaches each type: the routes and calls of test_policy_matrix.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.auth.enforce import reaching_columns
from app.auth.roles import Role
from app.config import Settings
from app.schema import build_schema
from tests.api import city
from tests.api.conftest import Api

SCHEMA = build_schema(Settings.from_env({"XINZHENG_JWT_SECRET": "x" * 40}))
REACH = reaching_columns(SCHEMA)
OBJECT_FIELDS = {name: t for name, t in SCHEMA._schema.type_map.items() if hasattr(t, "fields") and not name.startswith("__")}

# Types whose content depends on who asks or on when (the log grows with every request):
# the grant is that the field answers without error.
# (Access records too: admin's own reference query is itself an access.)
PER_CALLER = {
    "Viewer",
    "PageInfo",
    "AuditEntry",
    "AuditEntryEdge",
    "AuditEntryConnection",
    "AuditIntegrity",
    "AccessRecord",
    "AccessRecordEdge",
    "AccessRecordConnection",
    "AuditSubject",
    "AuditReceipt",
    "AuditConsistency",
}
BANK_PERSON = {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OK}
BANK_FOOD = {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_FOOD}
CASE = {"caseNumber": "XH-2026-0042"}


def token(api: Api, role: Role) -> str | None:
    return {
        Role.PUBLIC: None,
        # The borrower is the subject of every route below; one account (sub), whose receipts are its own.
        Role.CITIZEN: api.tokens.make(Role.CITIZEN, id_number=city.BORROWER, sub="matrix-borrower"),
        Role.BANK: api.tokens.bank,
        Role.COUNTER: api.tokens.counter,
        Role.ISSUER: api.tokens.issuer(city.POLICE),
        Role.AUDITOR: api.tokens.auditor,
        Role.ADMIN: api.tokens.admin,
    }[role]


def person_access(role: Role) -> dict[str, str] | None:
    return {Role.BANK: BANK_PERSON, Role.COUNTER: CASE}.get(role)


def food_access(role: Role) -> dict[str, str] | None:
    return {Role.BANK: BANK_FOOD, Role.COUNTER: CASE}.get(role)


@dataclass
class Route:
    """How a caller of one column reaches an object of a type: a query with {sel} where the
    object's fields go, and the path to the object in `data` (lists: their first item)."""

    query: str
    variables: dict[str, Any]
    path: list[str]


CONSISTENCY_Q = "query($t: Int!) { auditConsistency(fromSize: 1, toSize: $t) { %s } }"
PERSON_Q = "query($id: String!, $a: AccessInput) { person(idNumber: $id, access: $a) { %s } }"
CHECK_Q = """query($k: HolderKind!, $id: String!, $t: [String!]!, $c: String!) {
  checkDocuments(holderKind: $k, holderId: $id, requiredTypes: $t, caseNumber: $c) { %s } }"""
CHECK_VARIABLES = {"k": "PERSON", "id": city.BORROWER, "t": ["ID_CARD"], "c": CASE["caseNumber"]}
FOOD_Q = "query($c: String!, $a: AccessInput) { enterprise(creditCode: $c, access: $a) { %s } }"


def route(type_name: str, role: Role, ident: dict[str, str]) -> Route | None:
    person = {"id": city.BORROWER, "a": person_access(role)}
    food = {"c": city.FOOD, "a": food_access(role)}
    if type_name == "Person":
        return Route(PERSON_Q % "{sel}", person, ["person"])
    if type_name == "Enterprise":
        if role is Role.PUBLIC or role in (Role.CITIZEN, Role.BANK, Role.COUNTER, Role.ADMIN):
            return Route(FOOD_Q % "{sel}", food, ["enterprise"])
    if type_name == "Certificate":
        if role is Role.ISSUER:
            return Route("query($i: String!) { certificate(identifier: $i) { {sel} } }", {"i": ident["ID_CARD"]}, ["certificate"])
        return Route(PERSON_Q % "certificates { {sel} }", person, ["person", "certificates"])
    if type_name in ("Licence", "Penalty") and role is Role.ISSUER:
        # An issuer reads its own decisions in its mutations' answers: setting a revoked
        # licence's status again, and repairing a repaired penalty, change nothing.
        key = {"Licence": "Mutation.setLicenceStatus", "Penalty": "Mutation.repairPenalty"}[type_name]
        query, variables = DECISION_CALLS[key]
        field = key.split(".")[1]
        return Route(query.replace("{ decisionNumber }", "{ {sel} }"), variables, [field])
    if type_name == "Licence":
        return Route(FOOD_Q % "licences { {sel} }", food, ["enterprise", "licences"])
    if type_name == "Penalty":
        return Route(FOOD_Q % "penalties { {sel} }", food, ["enterprise", "penalties"])
    if type_name == "CreditScore":
        return Route(PERSON_Q % "creditScore { {sel} }", person, ["person", "creditScore"])
    if type_name == "CreditFactor":
        return Route(PERSON_Q % "creditScore { factors { {sel} } }", person, ["person", "creditScore", "factors"])
    if type_name == "Consent":
        return Route(PERSON_Q % "consents { {sel} }", person, ["person", "consents"])
    if type_name == "Viewer":
        return Route("{ me { {sel} } }", {}, ["me"])
    if type_name == "CertificateType":
        return Route("{ certificateTypes { {sel} } }", {}, ["certificateTypes"])
    if type_name == "CertificateStatusChange":  # every imported certificate has its first entry
        if role is Role.ISSUER:
            return Route(
                "query($i: String!) { certificate(identifier: $i) { statusHistory { {sel} } } }",
                {"i": ident["ID_CARD"]},
                ["certificate", "statusHistory"],
            )
        return Route(PERSON_Q % "certificates { statusHistory { {sel} } }", person, ["person", "certificates", "statusHistory"])
    if type_name == "CertificateVerification":
        return Route("query($i: String!) { verifyCertificate(identifier: $i) { {sel} } }", {"i": ident["ID_CARD"]},
                     ["verifyCertificate"])  # fmt: skip
    if type_name in ("DocumentCheck", "DocumentCheckItem"):
        inner = "{sel}" if type_name == "DocumentCheck" else "items { {sel} }"
        path = ["checkDocuments"] if type_name == "DocumentCheck" else ["checkDocuments", "items"]
        return Route(CHECK_Q % inner, CHECK_VARIABLES, path)
    if type_name in ("AccessRecordConnection", "AccessRecordEdge", "AccessRecord"):
        inner = {
            "AccessRecordConnection": "{sel}",
            "AccessRecordEdge": "edges { {sel} }",
            "AccessRecord": "edges { node { {sel} } }",
        }
        path = {"AccessRecordConnection": [], "AccessRecordEdge": ["edges"], "AccessRecord": ["edges", "node"]}
        return Route(
            PERSON_Q % ("accessRecords { %s }" % inner[type_name]), person, ["person", "accessRecords", *path[type_name]]
        )
    if type_name in ("AuditEntryConnection", "AuditEntryEdge", "AuditEntry"):
        inner = {"AuditEntryConnection": "{sel}", "AuditEntryEdge": "edges { {sel} }", "AuditEntry": "edges { node { {sel} } }"}
        path = {"AuditEntryConnection": [], "AuditEntryEdge": ["edges"], "AuditEntry": ["edges", "node"]}
        # A fixed, old window of the log, so that the entries this test adds do not move it.
        return Route(
            '{ auditLog(first: 1, filter: {outcome: "SERVED"}) { %s } }' % inner[type_name], {}, ["auditLog", *path[type_name]]
        )
    if type_name == "AuditSubject":
        # The newest served read of the borrower (test_policy_matrix makes one first).
        log = '{ auditLog(first: 1, filter: {outcome: "SERVED", subjectKind: PERSON, subjectId: "%s"}) { %s } }'
        return Route(
            log % (city.BORROWER, "edges { node { subjectContexts { {sel} } } }"),
            {},
            ["auditLog", "edges", "node", "subjectContexts"],
        )
    if type_name == "AuditIntegrity":
        return Route("{ auditIntegrity { {sel} } }", {}, ["auditIntegrity"])
    if type_name == "AuditReceipt":  # the caller's own latest request (see own_receipts)
        return Route("query($s: Int!) { auditReceipt(seq: $s) { {sel} } }", {"s": int(ident["seq"])}, ["auditReceipt"])
    if type_name == "AuditConsistency":
        return Route(CONSISTENCY_Q % "{sel}", {"t": int(ident["size"])}, ["auditConsistency"])
    search = '{ searchEnterprises(name: "钱塘", first: 1) { %s } }'
    if type_name == "EnterpriseConnection":
        return Route(search % "{sel}", {}, ["searchEnterprises"])
    if type_name == "EnterpriseEdge":
        return Route(search % "edges { {sel} }", {}, ["searchEnterprises", "edges"])
    if type_name == "PageInfo":
        if role is Role.AUDITOR:  # the only paged list an auditor reaches
            return Route("{ auditLog(first: 1) { pageInfo { {sel} } } }", {}, ["auditLog", "pageInfo"])
        return Route(search % "pageInfo { {sel} }", {}, ["searchEnterprises", "pageInfo"])
    return None


# The police's own records (the issuer's token is the police's): each call, once it has
# succeeded, changes nothing again, so the matrix may run them in any order, any number of times.
DECISION_CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "Mutation.recordLicence": (
        "mutation($in: RecordLicenceInput!) { recordLicence(input: $in) { decisionNumber } }",
        {
            "in": {
                "decisionNumber": "杭公许〔矩阵〕2号",
                "holderKind": "ENTERPRISE",
                "holderId": city.PAGED_LAST,
                "category": "普通",
                "title": "特种行业许可",
                "content": "旅馆业",
                "decidedOn": city.days(-20),
                "validFrom": city.days(-20),
            }
        },
    ),
    "Mutation.recordPenalty": (
        "mutation($in: RecordPenaltyInput!) { recordPenalty(input: $in) { decisionNumber } }",
        {
            "in": {
                "decisionNumber": "杭公罚〔矩阵〕2号",
                "holderKind": "ENTERPRISE",
                "holderId": city.PAGED_LAST,
                "severity": "MINOR",
                "category": "治安",
                "reason": "未登记住宿旅客信息",
                "basis": "《旅馆业治安管理办法》",
                "amount": "200.00",
                "decidedOn": city.days(-20),
            }
        },
    ),
    "Mutation.repairPenalty": (
        'mutation($n: String!) { repairPenalty(decisionNumber: $n, reason: "已整改") { decisionNumber } }',
        {"n": city.POLICE_PENALTY},
    ),
    "Mutation.setLicenceStatus": (
        'mutation($n: String!) { setLicenceStatus(decisionNumber: $n, status: REVOKED, reason: "违规经营") { decisionNumber } }',
        {"n": city.POLICE_LICENCE},
    ),
}


def root_call(key: str, role: Role, ident: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """A real call of each root field, with the access each role would give."""
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        "Query.me": ("{ me { role } }", {}),
        "Query.person": (PERSON_Q % "name", {"id": city.BORROWER, "a": person_access(role)}),
        "Query.enterprise": (FOOD_Q % "name", {"c": city.FOOD, "a": food_access(role)}),
        "Query.searchEnterprises": ('{ searchEnterprises(name: "钱塘") { edges { cursor } } }', {}),
        "Query.certificate": (
            "query($i: String!, $a: AccessInput) { certificate(identifier: $i, access: $a) { status } }",
            {"i": ident["ID_CARD"], "a": {Role.COUNTER: CASE}.get(role)},
        ),
        "Query.certificateTypes": ("{ certificateTypes { typeCode } }", {}),
        "Query.auditLog": ("{ auditLog(first: 1) { edges { cursor } } }", {}),
        "Query.auditIntegrity": ("{ auditIntegrity { ok } }", {}),
        # Set by own_receipts, which runs first for these keys (the others never send them).
        "Query.auditReceipt": ("query($s: Int!) { auditReceipt(seq: $s) { seq } }", {"s": int(ident.get("seq", 0))}),
        "Query.auditConsistency": (CONSISTENCY_Q % "toSize", {"t": int(ident.get("size", 0))}),
        "Mutation.grantConsent": (
            "mutation($in: GrantConsentInput!) { grantConsent(input: $in) { id } }",
            {
                "in": {
                    "holderKind": "PERSON",
                    "holderId": city.BORROWER,
                    "granteeCode": city.OTHER_BANK,
                    "purposes": ["GUARANTEE_REVIEW"],
                    "validUntil": f"{city.days(30)}T00:00:00+08:00",
                }
            },
        ),
        "Mutation.revokeConsent": ("mutation($id: ID!) { revokeConsent(id: $id) { id } }", {"id": city.CONSENT_REVOKED}),
        **DECISION_CALLS,
        "Query.verifyCertificate": (
            "query($i: String!) { verifyCertificate(identifier: $i) { valid } }",
            {"i": ident["ID_CARD"]},
        ),
        "Query.checkDocuments": (CHECK_Q % "allSatisfied", CHECK_VARIABLES),
        # The stranger's: nobody else's tests count the stranger's certificates.
        "Mutation.issueCertificate": (
            "mutation($in: IssueCertificateInput!) { issueCertificate(input: $in) { identifier } }",
            {
                "in": {
                    "typeCode": "HOUSEHOLD_REGISTER",
                    "number": f"MATRIX{role.value.upper()}",
                    "holderKind": "PERSON",
                    "holderId": city.STRANGER,
                    "issuedOn": city.days(-1),
                    "validFrom": city.days(-1),
                }
            },
        ),
        # A certificate of the police's that the matrix issued for itself (`_identifiers`).
        "Mutation.setCertificateStatus": (
            'mutation($i: String!) { setCertificateStatus(identifier: $i, status: SUSPENDED, reason: "矩阵") { status } }',
            {"i": ident["ISSUED"]},
        ),
    }
    return calls[key]


def selection(type_name: str, field: str) -> str:
    target = OBJECT_FIELDS[type_name].fields[field].type
    while hasattr(target, "of_type"):
        target = target.of_type
    return f"{field} {{ __typename }}" if hasattr(target, "fields") else field


def walk(data: Any, path: list[str]) -> tuple[Any, list[str | int]]:
    concrete: list[str | int] = []
    for key in path:
        data = data[key]
        concrete.append(key)
        if isinstance(data, list):
            assert data, f"the test city has no {key} to test with"
            data, _ = data[0], concrete.append(0)
    return data, concrete
