"""What each role sees of a subject: masks, scopes, traversals, and the report of what was held back."""

from __future__ import annotations

from typing import Any

from tests.api import city
from tests.api.conftest import Api, codes_at

BANK_PERSON = {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OK}
PERSON = """query($id: String!, $a: AccessInput) { person(idNumber: $id, access: $a) {
  idNumber name phone address penalties { decisionNumber } creditScore { score }
  enterprises { creditCode creditScore { score } }
} }"""
ENTERPRISE = """query($c: String!, $a: AccessInput) { enterprise(creditCode: $c, access: $a) {
  name penalties { decisionNumber status } licences { decisionNumber status }
  creditScore { score } legalRepresentative { name idNumber }
} }"""


def numbers(items: list[dict[str, Any]]) -> set[str]:
    return {i["decisionNumber"] for i in items}


async def test_a_bank_with_consent_sees_the_credit_picture_masked_where_the_spec_says(api: Api) -> None:
    body = await api.graphql(PERSON, {"id": city.BORROWER, "a": BANK_PERSON}, token=api.tokens.bank)
    person = body["data"]["person"]
    assert person["idNumber"] == "330105********0010"
    assert person["name"] == "李明" and person["creditScore"]["score"] > 0
    assert person["phone"] is None and person["address"] is None
    assert codes_at(body, ["person", "phone"]) == ["FORBIDDEN"]
    assert codes_at(body, ["person", "address"]) == ["FORBIDDEN"]
    assert body["extensions"]["masked"] == [["person", "idNumber"]]
    assert sorted(body["extensions"]["denied"]) == [["person", "address"], ["person", "phone"]]


async def test_a_bank_sees_negative_records_of_the_last_five_years_only(api: Api) -> None:
    body = await api.graphql(PERSON, {"id": city.BORROWER, "a": BANK_PERSON}, token=api.tokens.bank)
    seen = numbers(body["data"]["person"]["penalties"])
    assert "杭市监罚〔近〕1号" in seen and "杭市监罚〔近〕2号" in seen
    assert "杭市监罚〔旧〕4号" not in seen  # six years old
    own = await api.graphql(PERSON, {"id": city.BORROWER}, token=api.tokens.borrower)
    assert "杭市监罚〔旧〕4号" in numbers(own["data"]["person"]["penalties"])  # the citizen sees all


async def test_a_counter_sees_masked_contact_and_no_credit(api: Api) -> None:
    body = await api.graphql(PERSON, {"id": city.BORROWER, "a": {"caseNumber": "XH-1"}}, token=api.tokens.counter)
    person = body["data"]["person"]
    assert person["phone"] == "139****5678" and person["idNumber"] == "330105********0010"
    assert person["creditScore"] is None and codes_at(body, ["person", "creditScore"]) == ["FORBIDDEN"]
    assert person["penalties"] is None and codes_at(body, ["person", "penalties"]) == ["FORBIDDEN"]


async def test_the_public_sees_published_penalties_and_licences_in_force_only(api: Api) -> None:
    body = await api.graphql(ENTERPRISE, {"c": city.FOOD})
    e = body["data"]["enterprise"]
    assert numbers(e["penalties"]) == {"杭市监罚〔近〕5号"}  # not MINOR, not repaired, not past its window
    assert numbers(e["licences"]) == {"杭市监许〔4〕号"}  # the expired one is not in force
    assert e["creditScore"] is None and codes_at(body, ["enterprise", "creditScore"]) == ["FORBIDDEN"]
    assert e["legalRepresentative"] is None
    assert codes_at(body, ["enterprise", "legalRepresentative"]) == ["FORBIDDEN"]


async def test_a_citizen_sees_every_record_of_their_enterprise(api: Api) -> None:
    body = await api.graphql(ENTERPRISE, {"c": city.FOOD}, token=api.tokens.borrower)
    e = body["data"]["enterprise"]
    assert len(e["penalties"]) == 5 and len(e["licences"]) == 2
    assert e["legalRepresentative"]["idNumber"] == city.BORROWER


async def test_a_bank_following_a_legal_representative_needs_their_own_consent(api: Api) -> None:
    with_consent = await api.graphql(
        ENTERPRISE, {"c": city.FOOD, "a": {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_FOOD}},
        token=api.tokens.bank,
    )
    assert with_consent["data"]["enterprise"]["legalRepresentative"]["name"] == "李明"  # 李明 consented too
    assert "杭市监罚〔旧〕9号" not in numbers(with_consent["data"]["enterprise"]["penalties"])
    without = await api.graphql(
        ENTERPRISE, {"c": city.TEA, "a": {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_TEA}},
        token=api.tokens.bank,
    )
    assert without["data"]["enterprise"]["name"] == "西湖龙井茶业有限公司"
    assert without["data"]["enterprise"]["legalRepresentative"] is None
    assert codes_at(without, ["enterprise", "legalRepresentative"]) == ["CONSENT_REQUIRED"]


async def test_a_bank_following_a_persons_enterprises_needs_each_ones_consent(api: Api) -> None:
    body = await api.graphql(PERSON, {"id": city.BORROWER, "a": BANK_PERSON}, token=api.tokens.bank)
    enterprises = body["data"]["person"]["enterprises"]
    by_position = {i: e for i, e in enumerate(enterprises)}
    food = next(i for i, e in by_position.items() if e and e["creditCode"] == city.FOOD)
    assert enterprises[food]["creditScore"] is not None
    refused = [i for i, e in by_position.items() if e is None]
    assert len(refused) == 1  # 拱墅物流 gave no consent
    assert codes_at(body, ["person", "enterprises", refused[0]]) == ["CONSENT_REQUIRED"]


async def test_search_hits_are_seen_as_the_public_sees_them_whoever_asks(api: Api) -> None:
    query = '{ searchEnterprises(name: "钱塘食品") { edges { node { name creditScore { score } } } } }'
    body = await api.graphql(query, token=api.tokens.borrower)  # the borrower represents it, still public view
    node = body["data"]["searchEnterprises"]["edges"][0]["node"]
    assert node["name"] == "钱塘食品有限公司" and node["creditScore"] is None
    assert codes_at(body, ["searchEnterprises", "edges", 0, "node", "creditScore"]) == ["FORBIDDEN"]


async def test_a_counter_sees_certificate_metadata_but_not_the_document(api: Api) -> None:
    query = """query($id: String!) { person(idNumber: $id, access: {caseNumber: "XH-7"}) {
      certificates { typeCode status holderId data document } } }"""
    body = await api.graphql(query, {"id": city.CITIZEN}, token=api.tokens.counter)
    certs = body["data"]["person"]["certificates"]
    assert {c["typeCode"] for c in certs} == {"ID_CARD", "DRIVING_LICENCE"}
    assert all(c["document"] is None and c["data"] is None for c in certs)
    assert all(c["holderId"] == "330106********0028" for c in certs)
    assert codes_at(body, ["person", "certificates", 0, "document"]) == ["FORBIDDEN"]


async def test_a_response_with_nothing_held_back_has_no_disclosure_report(api: Api) -> None:
    body = await api.graphql(PERSON, {"id": city.CITIZEN}, token=api.tokens.citizen)
    assert "masked" not in body.get("extensions", {}) and "denied" not in body.get("extensions", {})


GRANT = "mutation($in: GrantConsentInput!) { grantConsent(input: $in) { id holderId granteeCode granteeName purposes validUntil revokedAt } }"
REVOKE = "mutation($id: ID!) { revokeConsent(id: $id) { id revokedAt } }"


def grant_input(**over: Any) -> dict[str, Any]:
    value = {"holderKind": "PERSON", "holderId": city.CITIZEN, "granteeCode": city.OTHER_BANK,
             "purposes": ["CREDIT_CARD_APPROVAL"], "validUntil": f"{city.days(90)}T00:00:00+08:00"}
    value.update(over)
    return value


async def test_a_citizen_grants_a_consent_the_bank_can_then_use_until_it_is_revoked(api: Api) -> None:
    granted = await api.graphql(GRANT, {"in": grant_input()}, token=api.tokens.citizen)
    consent = granted["data"]["grantConsent"]
    assert (consent["holderId"], consent["granteeName"], consent["purposes"]) == (city.CITIZEN, "钱江银行", ["CREDIT_CARD_APPROVAL"])
    other_bank = api.tokens.make(__import__("app.auth.roles", fromlist=["Role"]).Role.BANK, org=city.OTHER_BANK)
    access = {"purpose": "CREDIT_CARD_APPROVAL", "consentId": consent["id"]}
    read = await api.graphql(PERSON, {"id": city.CITIZEN, "a": access}, token=other_bank)
    assert read["data"]["person"]["name"] == "王芳"
    listed = await api.graphql("query($id: String!) { person(idNumber: $id) { consents { id } } }",
                               {"id": city.CITIZEN}, token=api.tokens.citizen)
    assert consent["id"] in [c["id"] for c in listed["data"]["person"]["consents"]]
    revoked = await api.graphql(REVOKE, {"id": consent["id"]}, token=api.tokens.citizen)
    assert revoked["data"]["revokeConsent"]["revokedAt"] is not None
    again = await api.graphql(REVOKE, {"id": consent["id"]}, token=api.tokens.citizen)
    assert again["data"]["revokeConsent"]["revokedAt"] == revoked["data"]["revokeConsent"]["revokedAt"]
    refused = await api.graphql(PERSON, {"id": city.CITIZEN, "a": access}, token=other_bank)
    assert codes_at(refused, ["person"]) == ["CONSENT_REQUIRED"]


async def test_a_citizen_grants_for_an_enterprise_they_represent(api: Api) -> None:
    body = await api.graphql(GRANT, {"in": grant_input(holderKind="ENTERPRISE", holderId=city.TEA)}, token=api.tokens.citizen)
    assert body["data"]["grantConsent"]["holderId"] == city.TEA


async def test_a_citizen_cannot_grant_or_revoke_for_someone_else(api: Api) -> None:
    body = await api.graphql(GRANT, {"in": grant_input(holderId=city.STRANGER)}, token=api.tokens.citizen)
    assert codes_at(body, ["grantConsent"]) == ["FORBIDDEN"]
    body = await api.graphql(GRANT, {"in": grant_input(holderKind="ENTERPRISE", holderId=city.FOOD)}, token=api.tokens.citizen)
    assert codes_at(body, ["grantConsent"]) == ["FORBIDDEN"]
    body = await api.graphql(REVOKE, {"id": city.CONSENT_OK}, token=api.tokens.citizen)
    assert codes_at(body, ["revokeConsent"]) == ["FORBIDDEN"]


async def test_only_the_citizen_gives_consent(api: Api) -> None:
    for token in (api.tokens.bank, api.tokens.admin, None):
        body = await api.graphql(GRANT, {"in": grant_input()}, token=token)
        assert codes_at(body, ["grantConsent"]) == ["FORBIDDEN"]


async def test_bad_consent_input_is_bad_user_input(api: Api) -> None:
    cases = [
        grant_input(granteeCode="91330100MA2H00009X"),  # valid code, unknown organisation
        grant_input(granteeCode="91330100MA2H00001Q"),  # bad check character
        grant_input(validUntil=f"{city.days(-1)}T00:00:00+08:00"),  # in the past
        grant_input(purposes=["SUPERVISION"]),  # a purpose a bank cannot use
        grant_input(purposes=[]),
        grant_input(holderId="330106198503120029"),
    ]
    for value in cases:
        body = await api.graphql(GRANT, {"in": value}, token=api.tokens.citizen)
        assert codes_at(body, ["grantConsent"]) == ["BAD_USER_INPUT"], value



async def test_revoking_someone_elses_consent_is_answered_as_revoking_one_that_does_not_exist(api: Api) -> None:
    """Otherwise the answer would tell a citizen which consent ids exist."""
    unknown = await api.graphql(REVOKE, {"id": "no-such-consent"}, token=api.tokens.citizen)
    others = await api.graphql(REVOKE, {"id": city.CONSENT_OK}, token=api.tokens.citizen)
    assert codes_at(unknown, ["revokeConsent"]) == codes_at(others, ["revokeConsent"]) == ["FORBIDDEN"]
    assert unknown["errors"][0]["message"] == others["errors"][0]["message"]


async def test_consent_is_given_to_banks_only(api: Api) -> None:
    for grantee in (city.COUNTER, city.POLICE):
        body = await api.graphql(GRANT, {"in": grant_input(granteeCode=grantee)}, token=api.tokens.citizen)
        assert codes_at(body, ["grantConsent"]) == ["BAD_USER_INPUT"], grantee
        assert "bank" in body["errors"][0]["message"]
