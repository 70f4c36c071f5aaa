"""The role x field matrix, generated from the policy itself (app/auth/policy.py).

For every field of every type and every column of the policy:
- where a query can reach the field under that column, a real query over HTTP with that
  role's token proves the grant: FULL is the value admin sees, MASKED is its masked form and
  listed in the response's extensions, DENIED is null with FORBIDDEN at its path;
- where no query can reach it under that column, the table grants no more than the public
  column does (so it never overstates access: public facts may say FULL, the rest DENIED).

A field added to the schema without a rule stops the service (test_policy_coverage); a
type added without a route here fails this test. Either way nothing slips in unguarded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from app.auth.enforce import reaching_columns
from app.auth.policy import ACTION_POLICY, FIELD_POLICY, RECEIPT_REACH, Grant
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


CASES = [pytest.param(key, role, id=f"{key}-{role.value}") for key in sorted(FIELD_POLICY) for role in Role]


@pytest.fixture(scope="module")
def ident() -> dict[str, str]:
    return {}


async def _identifiers(api: Api, ident: dict[str, str]) -> dict[str, str]:
    if not ident:
        body = await api.graphql(PERSON_Q % "certificates { typeCode identifier }", {"id": city.BORROWER}, token=api.tokens.admin)
        ident.update({c["typeCode"]: c["identifier"] for c in body["data"]["person"]["certificates"]})
        issued = await api.graphql(
            "mutation($in: IssueCertificateInput!) { issueCertificate(input: $in) { identifier } }",
            {"in": {"typeCode": "DRIVING_LICENCE", "number": "MATRIXSTATUS", "holderKind": "PERSON",
                    "holderId": city.STRANGER, "issuedOn": city.days(-1), "validFrom": city.days(-1)}},
            token=api.tokens.issuer(city.POLICE),
        )  # fmt: skip
        ident["ISSUED"] = issued["data"]["issueCertificate"]["identifier"]
    return ident


@pytest.mark.parametrize(("key", "role"), CASES)
async def test_policy_matrix(api: Api, ident: dict[str, str], key: str, role: Role) -> None:
    type_name, field = key.split(".")
    grant = FIELD_POLICY[key].grants[role]
    if role not in REACH.get(type_name, set()):
        public = FIELD_POLICY[key].grants[Role.PUBLIC]
        assert grant in (Grant.DENIED, public), f"{key} grants {grant} to {role}, which never reaches {type_name}"
        return
    await _identifiers(api, ident)
    if type_name.startswith("AccessRecord") or type_name == "AuditSubject":
        # An access by someone else, so that the borrower has a record to read whatever ran before.
        await api.graphql(PERSON_Q % "name", {"id": city.BORROWER, "a": BANK_PERSON}, token=api.tokens.bank)
    if key.startswith(("Query.audit", "AuditReceipt.", "AuditConsistency.")):
        await own_receipts(api, role, ident)
    if type_name in ("Query", "Mutation"):
        query, variables = root_call(key, role, ident)
        body = await api.graphql(query, variables, token=token(api, role))
        if grant is Grant.DENIED:
            assert body["data"] is None or body["data"][field] is None
            assert [e["extensions"]["code"] for e in body["errors"] if e["path"] == [field]] == ["FORBIDDEN"]
        else:
            assert "errors" not in body, body
            assert body["data"][field] is not None
        return
    r = route(type_name, role, ident)
    assert r is not None, f"no route in this test reaches {type_name} as {role}: add one"
    query = r.query.replace("{sel}", selection(type_name, field))
    body = await api.graphql(query, r.variables, token=token(api, role))
    if grant is Grant.DENIED:
        _, path = walk(body["data"], r.path)
        assert walk(body["data"], r.path)[0][field] is None
        assert [e["extensions"]["code"] for e in body["errors"] if e["path"] == [*path, field]] == ["FORBIDDEN"]
        assert [*path, field] in body["extensions"]["denied"]
        return
    obj, path = walk(body["data"], r.path)
    value = obj[field]
    # The field itself answers; subjects it links to are gated again (tested in test_policy.py).
    assert not [e for e in body.get("errors", []) if e["path"] == [*path, field]], body
    # The reference: what admin sees, or for an answer only its caller may have (a mutation's), a second call.
    reference = await api.graphql(
        query, r.variables, token=token(api, role) if query.startswith("mutation") else api.tokens.admin
    )
    admin_value = walk(reference["data"], r.path)[0][field]
    if grant is Grant.MASKED:
        rule = FIELD_POLICY[key]
        assert rule.mask is not None
        assert value == rule.mask(admin_value, walk_source(type_name, reference, r.path)) != admin_value
        _, path = walk(body["data"], r.path)
        assert [*path, field] in body["extensions"]["masked"]
    elif role in FIELD_POLICY[key].scopes:
        assert isinstance(value, list) and all(v in admin_value for v in value)
    elif type_name in PER_CALLER:
        pass  # its content is the caller's own; that it answers without error is the grant
    elif isinstance(value, list):
        assert len(value) == len(admin_value)
    else:
        assert value == admin_value


async def own_receipts(api: Api, role: Role, ident: dict[str, str]) -> None:
    """A request of the caller's own, whose receipt it may have; and the size of a signed checkpoint."""
    body = await api.graphql("{ me { role } }", token=token(api, role))
    ident["seq"] = str(body["extensions"]["auditSeq"])
    signed = await api.graphql("{ auditReceipt(seq: 1) { treeSize } }", token=api.tokens.admin)
    ident["size"] = str(signed["data"]["auditReceipt"]["treeSize"])


def walk_source(type_name: str, body: dict[str, Any], path: list[str]) -> Any:
    """What a masker may look at besides the value: the object's holder kind."""
    obj, _ = walk(body["data"], path)

    class Source:
        holder_kind = obj.get("holderKind", "PERSON") if isinstance(obj, dict) else "PERSON"

    return Source()


def test_policy_table_is_pinned() -> None:
    """Any change to who sees what shows up in review as a diff of tests/api/policy.snapshot."""
    from pathlib import Path

    lines = []
    for key in sorted(FIELD_POLICY):
        rule = FIELD_POLICY[key]
        grants = " ".join(
            f"{role.value}={rule.grants[role].value}" + (f"({rule.scopes[role].value})" if role in rule.scopes else "")
            for role in Role
        )
        lines.append(f"{key:40} {rule.classification.value:10} {grants}")
    for action in sorted(ACTION_POLICY):
        allowed = " ".join(f"{role.value}={ACTION_POLICY[action][role].value.replace(' ', '-')}"
                           for role in Role if role in ACTION_POLICY[action])  # fmt: skip
        lines.append(f"{'action ' + action:40} {allowed}")
    lines.append(f"{'audit receipts':40} " + " ".join(f"{role.value}={RECEIPT_REACH[role].value}" for role in Role))
    snapshot = Path(__file__).with_name("policy.snapshot")
    text = "\n".join(lines) + "\n"
    assert snapshot.read_text(encoding="utf-8") == text, "the access policy changed: review it, then update the snapshot"


def test_masks_look_as_the_spec_says() -> None:
    from app.auth.masking import mask_id_number, mask_phone

    assert mask_id_number("330106198503121234") == "330106********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", mask_id_number(city.BORROWER) or "")
