"""Verifying certificates: online (verifyCertificate), offline (the JWKS and the status list
alone), and across a rotation of the issuer's key (SPEC sections 5 and 6)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jwt
import pytest

from app.auth.roles import Role
from app.certificates.keys import new_key_row
from app.certificates.statuslist import INVALID, SUSPENDED, VALID, StatusList
from app.identifiers import parse_certificate_identifier
from tests.api import city
from tests.api.certs import VERIFY, issue, published_keys, set_status, tampered, verify_offline
from tests.api.conftest import Api, codes_at, run_cli

CITY_CERTIFICATES = """query($id: String!) { person(idNumber: $id) { certificates { identifier typeCode document } } }"""
ACCESS = """query { person(idNumber: "%s") { accessRecords(first: 1) { edges { node { organisationCode role } } } } }"""


async def verify(api: Api, identifier: str, document: str | None = None, token: str | None = None) -> dict[str, Any]:
    body = await api.graphql(VERIFY, {"id": identifier, "doc": document}, token=token)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["verifyCertificate"]
    return result


async def test_the_public_verifies_a_valid_certificate_and_its_document(api: Api) -> None:
    issued = await issue(api)
    result = await verify(api, issued["identifier"], issued["document"])
    assert result == {
        "valid": True, "status": "VALID", "identifier": issued["identifier"], "issuerCode": city.POLICE, "reasons": [],
    }  # fmt: skip
    assert (await verify(api, issued["identifier"]))["valid"] is True  # the record's own document


async def test_a_tampered_payload_under_a_good_signature_is_refused(api: Api) -> None:
    issued = await issue(api)
    forged = tampered(issued["document"], valid_until="2099-12-31")
    assert (await verify(api, issued["identifier"], forged))["reasons"] == ["BAD_SIGNATURE"]
    jwks = await published_keys(api)
    with pytest.raises(jwt.InvalidSignatureError):
        verify_offline(forged, jwks)


async def test_a_document_signed_by_a_key_nobody_published_is_an_unknown_key(api: Api) -> None:
    issued = await issue(api)
    impostor, _ = new_key_row(city.POLICE)  # right issuer, key not on file
    payload = verify_offline(issued["document"], await published_keys(api))
    assert (await verify(api, issued["identifier"], impostor.sign(payload)))["reasons"] == ["UNKNOWN_KEY"]


async def test_another_certificates_document_is_a_mismatch(api: Api) -> None:
    one, other = await issue(api), await issue(api)
    result = await verify(api, one["identifier"], other["document"])
    assert (result["valid"], result["reasons"]) == (False, ["DOCUMENT_MISMATCH"])


async def test_an_unknown_certificate_is_said_to_be_unknown(api: Api) -> None:
    issued = await issue(api)
    unknown = str(replace(parse_certificate_identifier(issued["identifier"]), version="999"))
    result = await verify(api, unknown)
    assert (result["valid"], result["status"], result["reasons"]) == (False, None, ["UNKNOWN_CERTIFICATE"])
    # Shown with a real document of another certificate: both the record and the match fail.
    assert "UNKNOWN_CERTIFICATE" in (await verify(api, unknown, issued["document"]))["reasons"]


@pytest.mark.parametrize(("status", "reason"), [("REVOKED", "REVOKED"), ("SUSPENDED", "SUSPENDED"), ("CANCELLED", "CANCELLED")])
async def test_a_certificate_no_longer_valid_says_why(api: Api, status: str, reason: str) -> None:
    issued = await issue(api)
    await set_status(api, issued["identifier"], status, "测试")
    result = await verify(api, issued["identifier"], issued["document"])
    assert (result["valid"], result["status"], result["reasons"]) == (False, status, [reason])


async def test_expired_and_not_yet_valid_certificates_say_so(api: Api) -> None:
    expired = await issue(api, issuedOn=city.days(-400), validFrom=city.days(-400), validUntil=city.days(-1))
    assert (await verify(api, expired["identifier"]))["reasons"] == ["EXPIRED"]
    future = await issue(api, validFrom=city.days(30))
    assert (await verify(api, future["identifier"]))["reasons"] == ["NOT_YET_VALID"]


async def test_every_reason_is_told_not_only_the_first(api: Api) -> None:
    issued = await issue(api, issuedOn=city.days(-400), validFrom=city.days(-400), validUntil=city.days(-1))
    await set_status(api, issued["identifier"], "REVOKED", "测试")
    result = await verify(api, issued["identifier"], tampered(issued["document"], number="X"))
    assert set(result["reasons"]) == {"BAD_SIGNATURE", "REVOKED", "EXPIRED"}


async def test_a_bad_identifier_is_bad_user_input(api: Api) -> None:
    body = await api.graphql(VERIFY, {"id": "1.2.156.3005.2.nonsense"})
    assert codes_at(body, ["verifyCertificate"]) == ["BAD_USER_INPUT"]


async def test_an_organisations_verification_is_an_access_record_of_the_holder(api: Api) -> None:
    issued = await issue(api)
    await verify(api, issued["identifier"], token=api.tokens.bank)
    holder = api.tokens.make(Role.CITIZEN, id_number=city.STRANGER)
    body = await api.graphql(ACCESS % city.STRANGER, token=holder)
    assert body["data"]["person"]["accessRecords"]["edges"][0]["node"] == {"organisationCode": city.BANK, "role": "bank"}
    await verify(api, issued["identifier"])  # the public: in the log, but no access record
    body = await api.graphql(ACCESS % city.STRANGER, token=holder)
    assert body["data"]["person"]["accessRecords"]["edges"][0]["node"]["organisationCode"] == city.BANK


async def test_a_revoked_certificate_reads_revoked_from_the_status_list_with_the_network_off(api: Api) -> None:
    valid, suspended, revoked = await issue(api), await issue(api), await issue(api)
    await set_status(api, suspended["identifier"], "SUSPENDED", "挂失")
    await set_status(api, revoked["identifier"], "REVOKED", "吊销")
    jwks = await published_keys(api)
    references = [verify_offline(c["document"], jwks)["status"]["status_list"] for c in (valid, suspended, revoked)]
    assert len({r["uri"] for r in references}) == 1  # one list of the police's
    response = await api.client.get(references[0]["uri"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/statuslist+jwt")
    token = response.text

    # From here on nothing is fetched: the verifier has the JWKS and the list, and tells nobody
    # which certificate it checks.
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "statuslist+jwt"
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(token, jwt.PyJWK(jwk), algorithms=[jwk["alg"]])
    assert claims["sub"] == references[0]["uri"] and claims["ttl"] > 0 and claims["exp"] > claims["iat"]
    statuses = StatusList.decode(claims["status_list"]["lst"], claims["status_list"]["bits"])
    assert claims["status_list"]["bits"] == 2 and statuses.size >= 131_072
    assert [statuses.get(r["idx"]) for r in references] == [VALID, SUSPENDED, INVALID]


async def test_entries_are_at_random_places_in_the_list(api: Api) -> None:
    jwks = await published_keys(api)
    indexes = [verify_offline((await issue(api))["document"], jwks)["status"]["status_list"]["idx"] for _ in range(6)]
    assert indexes != sorted(indexes) or max(indexes) - min(indexes) > 1_000  # not handed out in order


async def test_an_unknown_status_list_is_not_found_in_the_callers_language(api: Api) -> None:
    beyond = (2**31, 10**20)  # beyond the list ids a database column holds: still no such list, not a failure
    for path in (f"/status-lists/{city.POLICE}/99999", "/status-lists/not-a-code/1", *(f"/status-lists/{city.POLICE}/{n}" for n in beyond)):
        answer = await api.client.get(path, headers={"accept-language": "zh-CN,zh;q=0.9"})
        assert (answer.status_code, answer.json(), answer.headers["content-language"]) == (
            404, {"error": "没有该状态列表"}, "zh-CN"
        )
        answer = await api.client.get(path, headers={"accept-language": "en-GB, zh;q=0.5"})
        assert (answer.status_code, answer.json(), answer.headers["content-language"]) == (
            404, {"error": "no such status list"}, "en"
        )


async def test_documents_signed_before_a_rotation_still_verify_after_it(api: Api, city_database: str) -> None:
    before = await issue(api)
    old_kid = jwt.get_unverified_header(before["document"])["kid"]

    rotated = run_cli("keys", "rotate", "--authority", city.POLICE, "--algorithm", "ES256", database_url=city_database)
    assert rotated.returncode == 0, rotated.stderr
    try:
        after = await _rotated(api, city_database, before, old_kid)
    finally:  # the police sign with EdDSA again, as everywhere else: no test depends on this one's place
        assert run_cli("keys", "rotate", "--authority", city.POLICE, database_url=city_database).returncode == 0
    assert (await verify(api, before["identifier"], before["document"]))["valid"] is True  # two rotations later
    # The only document the ES256 key signed is revoked: nothing in force needs it, it is no longer published.
    es256_kid = jwt.get_unverified_header(after["document"])["kid"]
    assert es256_kid in {k["kid"] for k in (await published_keys(api))["keys"]}
    await set_status(api, after["identifier"], "REVOKED", "测试")
    assert es256_kid not in {k["kid"] for k in (await published_keys(api))["keys"]}


async def _rotated(api: Api, city_database: str, before: dict[str, Any], old_kid: str) -> dict[str, Any]:
    after = await issue(api)
    new_header = jwt.get_unverified_header(after["document"])
    assert new_header["kid"] != old_kid and new_header["alg"] == "ES256"
    jwks = await published_keys(api)
    assert old_kid in {k["kid"] for k in jwks["keys"]}  # retired, still published: a document it signed is in force
    assert verify_offline(before["document"], jwks)["identifier"] == before["identifier"]
    assert verify_offline(after["document"], jwks)["identifier"] == after["identifier"]
    assert (await verify(api, before["identifier"], before["document"]))["valid"] is True
    listing = run_cli("keys", "list", database_url=city_database)
    assert listing.returncode == 0 and old_kid in listing.stdout and new_header["kid"] in listing.stdout
    return after


async def test_jwks_never_holds_a_private_key(api: Api) -> None:
    await issue(api)
    for key in (await published_keys(api))["keys"]:
        assert "d" not in key and key["kid"].split(".")[0] in (city.POLICE, city.MARKET_REGULATOR)
