"""Issuing and changing certificates over HTTP with real tokens (SPEC sections 2, 3, 5, 6)."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from app.auth.roles import Role
from app.certificates import entries
from app.identifiers import parse_certificate_identifier
from tests.api import city
from tests.api.certs import ISSUE, issue, issue_input, published_keys, set_status, verify_offline
from tests.api.conftest import Api, all_codes, codes_at

LOG = """query($f: AuditFilter) { auditLog(filter: $f, first: 5) { edges { node {
  operationName operationType actorOrg outcome subjects variables } } } }"""


async def test_an_issuer_issues_a_signed_certificate_anyone_verifies_with_the_jwks_alone(api: Api) -> None:
    issued = await issue(api)

    ident = parse_certificate_identifier(issued["identifier"])  # GB/T 36904, check character and all
    assert (ident.issuer_code, ident.version, issued["issuerCode"]) == (city.POLICE, "001", city.POLICE)
    assert issued["status"] == "VALID"
    assert issued["statusHistory"] == [{"status": "VALID", "reason": "issued"}]
    payload = verify_offline(issued["document"], await published_keys(api))
    assert payload["identifier"] == issued["identifier"] and payload["holder_id"] == city.STRANGER
    assert payload["status"]["status_list"]["uri"].startswith(f"/status-lists/{city.POLICE}/")
    assert jwt.get_unverified_header(issued["document"])["kid"].startswith(city.POLICE + ".")


async def test_the_same_number_issued_again_is_the_next_version(api: Api) -> None:
    first = await issue(api)
    again = await issue(api, number=parse_certificate_identifier(first["identifier"]).serial)
    assert parse_certificate_identifier(again["identifier"]).version == "002"


async def test_an_issuers_full_status_list_is_followed_by_a_new_one(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = await published_keys(api)

    def list_of(certificate: dict[str, Any]) -> int:
        return int(verify_offline(certificate["document"], keys)["status"]["status_list"]["uri"].rsplit("/", 1)[1])

    first = await issue(api)
    monkeypatch.setattr(entries, "FILL_LIMIT", 1)  # a list holding any entry is full
    second = await issue(api)
    third = await issue(api)
    assert [list_of(c) for c in (second, third)] == [list_of(first) + 1, list_of(first) + 2]
    published = await api.client.get(f"/status-lists/{city.POLICE}/{list_of(third)}")
    assert published.status_code == 200


async def test_an_issuer_issues_only_its_own_types_under_its_own_authority(api: Api) -> None:
    market = api.tokens.issuer(city.MARKET_REGULATOR)
    body = await api.graphql(ISSUE, {"in": issue_input()}, token=market)  # an ID card: the police's
    assert codes_at(body, ["issueCertificate"]) == ["FORBIDDEN"]
    body = await api.graphql(ISSUE, {"in": issue_input(issuerCode=city.POLICE)}, token=market)  # in another's name
    assert codes_at(body, ["issueCertificate"]) == ["FORBIDDEN"]
    for token in (api.tokens.counter, api.tokens.citizen, api.tokens.admin, None):
        body = await api.graphql(ISSUE, {"in": issue_input()}, token=token)
        assert "FORBIDDEN" in all_codes(body), body


async def test_another_authority_cannot_change_a_certificate(api: Api) -> None:
    issued = await issue(api)
    body = await set_status(api, issued["identifier"], "REVOKED", "伪造", token=api.tokens.issuer(city.MARKET_REGULATOR))
    assert codes_at(body, ["setCertificateStatus"]) == ["FORBIDDEN"]
    assert (await set_status(api, issued["identifier"], "REVOKED", "x", token=api.tokens.counter))["data"] is None


@pytest.mark.parametrize(
    "changes",
    [
        {"holderKind": "ENTERPRISE", "holderId": city.TEA},  # an ID card is a person's
        {"validFrom": city.days(10), "validUntil": city.days(5)},  # dates out of order
        {"holderId": "110105194912310021"},  # a bad check character
        {"holderId": "110101199003070011"},  # valid, but nobody on file
        {"typeCode": "PASSPORT"},  # not in the catalogue
        {"number": "!!!"},  # nothing to make a serial of
        {"data": {"note": "很长" * 400}},  # a document no QR code would be read reliably from
    ],
)
async def test_bad_input_is_bad_user_input(api: Api, changes: dict[str, str]) -> None:
    body = await api.graphql(ISSUE, {"in": issue_input(**changes)}, token=api.tokens.issuer(city.POLICE))
    assert codes_at(body, ["issueCertificate"]) == ["BAD_USER_INPUT"], body


async def test_status_changes_follow_the_state_machine_and_keep_their_reasons(api: Api) -> None:
    ident = (await issue(api))["identifier"]

    suspended = await set_status(api, ident, "SUSPENDED", "挂失")
    assert suspended["data"]["setCertificateStatus"]["status"] == "SUSPENDED"
    assert (await set_status(api, ident, "VALID", "找回"))["data"]["setCertificateStatus"]["status"] == "VALID"
    revoked = (await set_status(api, ident, "REVOKED", "证件信息有误"))["data"]["setCertificateStatus"]
    assert revoked["status"] == "REVOKED"
    assert revoked["statusHistory"] == [
        {"status": "VALID", "reason": "issued"},
        {"status": "SUSPENDED", "reason": "挂失"},
        {"status": "VALID", "reason": "找回"},
        {"status": "REVOKED", "reason": "证件信息有误"},
    ]
    for status in ("VALID", "SUSPENDED", "CANCELLED", "REVOKED"):  # REVOKED is final
        assert codes_at(await set_status(api, ident, status, "再改"), ["setCertificateStatus"]) == ["BAD_USER_INPUT"]


async def test_expired_is_never_set_and_a_reason_is_required(api: Api) -> None:
    ident = (await issue(api))["identifier"]
    assert codes_at(await set_status(api, ident, "EXPIRED", "到期"), ["setCertificateStatus"]) == ["BAD_USER_INPUT"]
    assert codes_at(await set_status(api, ident, "SUSPENDED", "  "), ["setCertificateStatus"]) == ["BAD_USER_INPUT"]
    assert codes_at(await set_status(api, "1.2.156.bad", "SUSPENDED", "x"), ["setCertificateStatus"]) == ["BAD_USER_INPUT"]


async def test_a_refused_change_writes_nothing_and_every_change_is_audited(api: Api) -> None:
    ident = (await issue(api))["identifier"]
    await set_status(api, ident, "SUSPENDED", "挂失")
    await set_status(api, ident, "VALID", "not a suspension this time", token=api.tokens.issuer(city.MARKET_REGULATOR))
    holder = api.tokens.make(Role.CITIZEN, id_number=city.STRANGER)
    body = await api.graphql(
        "query($id: String!) { certificate(identifier: $id) { status statusHistory { status reason } } }",
        {"id": ident},
        token=holder,
    )
    assert body["data"]["certificate"] == {
        "status": "SUSPENDED",
        "statusHistory": [{"status": "VALID", "reason": "issued"}, {"status": "SUSPENDED", "reason": "挂失"}],
    }
    log = await api.graphql(LOG, {"f": {"organisation": city.MARKET_REGULATOR}}, token=api.tokens.auditor)
    newest = log["data"]["auditLog"]["edges"][0]["node"]
    assert (newest["operationType"], newest["outcome"]) == ("MUTATION", "DENIED")
    assert f"CERTIFICATE:{ident}" in newest["subjects"]
    # The change that stood is in the log with its reason.
    log = await api.graphql(LOG, {"f": {"organisation": city.POLICE}}, token=api.tokens.auditor)
    change = next(e["node"] for e in log["data"]["auditLog"]["edges"] if (e["node"]["variables"] or {}).get("id") == ident
                  and e["node"]["variables"].get("s") == "SUSPENDED")  # fmt: skip
    assert (change["outcome"], change["variables"]["why"]) == ("SERVED", "挂失")
