"""The role x field matrix, generated from the policy itself (app/auth/policy.py).

For every field of every type and every column of the policy:
- where a query can reach the field under that column, a real query over HTTP with that
  role's token proves the grant: FULL is the value admin sees, MASKED is its masked form and
  listed in the response's extensions, DENIED is null with FORBIDDEN at its path;
- where no query can reach it under that column, the table grants no more than the public
  column does (so it never overstates access: public facts may say FULL, the rest DENIED).

A field added to the schema without a rule stops the service (test_policy_coverage); a
type added without a route in matrix_routes.py fails this test. Either way nothing slips in unguarded.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.auth.policy import ACTION_POLICY, FIELD_POLICY, RECEIPT_REACH, Grant
from app.auth.roles import Role
from tests.api import city
from tests.api.conftest import Api
from tests.api.matrix_routes import (
    BANK_PERSON,
    PER_CALLER,
    PERSON_Q,
    REACH,
    root_call,
    route,
    selection,
    token,
    walk,
)


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
