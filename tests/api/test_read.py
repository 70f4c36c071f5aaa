"""Reading profiles: who reaches which subject, and what comes back (SPEC sections 3 to 5)."""

from __future__ import annotations

import pytest

from tests.api import city
from tests.api.conftest import Api, codes_at

PERSON = """query($id: String!, $access: AccessInput) {
  person(idNumber: $id, access: $access) {
    idNumber name gender birthDate phone address
    creditScore { score grade modelVersion computedAt factors { code description impact } }
    licences { decisionNumber status authorityName validTo }
    penalties { decisionNumber severity status publishUntil amount authorityName }
    certificates { identifier typeCode typeName status holderName issuerName document }
    enterprises { creditCode name legalRepresentativeName }
    consents { id granteeCode granteeName purposes revokedAt }
  }
}"""

ENTERPRISE = """query($code: String!, $access: AccessInput) {
  enterprise(creditCode: $code, access: $access) {
    creditCode name type status establishedOn registeredCapital registeredAddress
    legalRepresentativeName businessScope
  }
}"""


async def test_a_citizen_reads_their_own_profile(api: Api) -> None:
    body = await api.graphql(PERSON, {"id": city.CITIZEN}, token=api.tokens.citizen)
    assert "errors" not in body, body
    me = body["data"]["person"]
    assert (me["idNumber"], me["name"], me["gender"], me["birthDate"]) == (city.CITIZEN, "王芳", "FEMALE", "1985-03-12")
    assert me["phone"] == "13800138000"
    assert [e["creditCode"] for e in me["enterprises"]] == [city.TEA]
    assert me["enterprises"][0]["legalRepresentativeName"] == "王芳"
    assert {c["typeCode"]: c["status"] for c in me["certificates"]} == {"ID_CARD": "VALID", "DRIVING_LICENCE": "SUSPENDED"}
    assert all(c["holderName"] == "王芳" and c["issuerName"] == "杭州市公安局" for c in me["certificates"])
    assert all(c["document"].count(".") == 2 for c in me["certificates"])  # a compact JWS


async def test_a_citizen_sees_their_penalties_scores_and_licences(api: Api) -> None:
    body = await api.graphql(PERSON, {"id": city.BORROWER}, token=api.tokens.borrower)
    me = body["data"]["person"]
    by_number = {p["decisionNumber"]: p for p in me["penalties"]}
    assert by_number["杭市监罚〔近〕3号"]["publishUntil"] is None  # MINOR: never published
    assert by_number["杭市监罚〔近〕2号"]["status"] == "REPAIRED"
    assert by_number["杭市监罚〔近〕1号"]["amount"] == "5000.00"
    statuses = {lic["decisionNumber"]: lic["status"] for lic in me["licences"]}
    assert statuses == {"杭市监许〔1〕号": "VALID", "杭市监许〔2〕号": "EXPIRED"}  # EXPIRED derived from validTo
    score = me["creditScore"]
    assert 350 <= score["score"] <= 950
    assert score["factors"][0]["code"] == "PENALTY_SERIOUS" and score["factors"][0]["impact"] < 0
    assert len(score["factors"]) <= 4
    assert [c["id"] for c in me["consents"]].count(city.CONSENT_OK) == 1


async def test_a_citizen_cannot_read_anyone_else(api: Api) -> None:
    body = await api.graphql(PERSON, {"id": city.STRANGER}, token=api.tokens.citizen)
    assert body["data"]["person"] is None
    assert codes_at(body, ["person"]) == ["FORBIDDEN"]


async def test_the_public_reads_no_person(api: Api) -> None:
    body = await api.graphql(PERSON, {"id": city.CITIZEN})
    assert body["data"]["person"] is None
    assert codes_at(body, ["person"]) == ["FORBIDDEN"]


@pytest.mark.parametrize(
    "id_number",
    ["330106198503120029", "33010619850312002", "3301061985031200281", "33010619851332002X", "990106198503120028", ""],
)
async def test_a_bad_id_number_is_bad_user_input(api: Api, id_number: str) -> None:
    body = await api.graphql(PERSON, {"id": id_number}, token=api.tokens.admin)
    assert body["data"]["person"] is None
    assert codes_at(body, ["person"]) == ["BAD_USER_INPUT"]


async def test_an_unknown_person_is_null_without_error_for_admin(api: Api) -> None:
    body = await api.graphql(PERSON, {"id": "440524188001010014"}, token=api.tokens.admin)
    assert body["data"] == {"person": None} and "errors" not in body


async def test_the_public_reads_an_enterprise_profile(api: Api) -> None:
    body = await api.graphql(ENTERPRISE, {"code": city.TEA})
    assert "errors" not in body, body
    e = body["data"]["enterprise"]
    assert e["name"] == "西湖龙井茶业有限公司" and e["legalRepresentativeName"] == "王芳"
    assert e["registeredCapital"] == "1000000.00" and e["status"] == "ACTIVE"


async def test_a_citizen_reads_the_enterprise_they_represent_only(api: Api) -> None:
    own = await api.graphql(ENTERPRISE, {"code": city.TEA}, token=api.tokens.citizen)
    assert own["data"]["enterprise"]["creditCode"] == city.TEA
    other = await api.graphql(ENTERPRISE, {"code": city.FOOD}, token=api.tokens.citizen)
    assert other["data"]["enterprise"] is None
    assert codes_at(other, ["enterprise"]) == ["FORBIDDEN"]


@pytest.mark.parametrize("code", ["91330106MA2H100017", "91330106MA2H10001I", "9133010", "91330106ma2h100016x"])
async def test_a_bad_credit_code_is_bad_user_input(api: Api, code: str) -> None:
    body = await api.graphql(ENTERPRISE, {"code": code})
    assert codes_at(body, ["enterprise"]) == ["BAD_USER_INPUT"]


async def test_a_lower_case_credit_code_is_read_as_upper_case(api: Api) -> None:
    body = await api.graphql(ENTERPRISE, {"code": city.TEA.lower()})
    assert body["data"]["enterprise"]["creditCode"] == city.TEA


SEARCH = """query($name: String!, $first: Int, $after: String) {
  searchEnterprises(name: $name, first: $first, after: $after) {
    edges { cursor node { creditCode name } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def test_search_pages_through_every_match_once_in_name_order(api: Api) -> None:
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = await api.graphql(SEARCH, {"name": city.SEARCH_PREFIX, "first": 10, "after": after})
        conn = body["data"]["searchEnterprises"]
        seen += [e["node"]["name"] for e in conn["edges"]]
        pages += 1
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
        assert after == conn["edges"][-1]["cursor"]
    assert pages == 3
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == city.PAGED_ENTERPRISES


async def test_search_finds_by_part_of_the_name(api: Api) -> None:
    body = await api.graphql(SEARCH, {"name": "龙井"})
    assert [e["node"]["creditCode"] for e in body["data"]["searchEnterprises"]["edges"]] == [city.TEA]


async def test_search_treats_like_wildcards_as_text(api: Api) -> None:
    body = await api.graphql(SEARCH, {"name": "%"})
    assert body["data"]["searchEnterprises"]["edges"] == []


@pytest.mark.parametrize(
    "variables",
    [{"name": "商贸", "first": 101}, {"name": "商贸", "first": 0}, {"name": "商贸", "first": -1},
     {"name": " "}, {"name": "商贸", "after": "not-a-cursor"}, {"name": "商贸", "after": "WzFd"}],
)
async def test_bad_search_arguments_are_bad_user_input(api: Api, variables: dict[str, object]) -> None:
    body = await api.graphql(SEARCH, variables)
    assert body["data"] is None or body["data"]["searchEnterprises"] is None
    assert codes_at(body, ["searchEnterprises"]) == ["BAD_USER_INPUT"]


async def test_the_certificate_catalogue_lists_every_type(api: Api) -> None:
    body = await api.graphql("{ certificateTypes { typeCode name nationalCode holderKind } }")
    types = {t["typeCode"]: t for t in body["data"]["certificateTypes"]}
    assert set(types) == {
        "ID_CARD", "HOUSEHOLD_REGISTER", "DRIVING_LICENCE", "MARRIAGE", "SOCIAL_INSURANCE", "REAL_ESTATE", "DEGREE",
        "BUSINESS_LICENCE", "FOOD_BUSINESS_LICENCE",
    }
    assert types["BUSINESS_LICENCE"]["holderKind"] == "ENTERPRISE" and types["ID_CARD"]["name"] == "居民身份证"


CERTIFICATE = """query($id: String!, $access: AccessInput) {
  certificate(identifier: $id, access: $access) { identifier typeCode holderId holderName issuerCode status validUntil }
}"""


async def _identifiers(api: Api, id_number: str, token: str) -> dict[str, str]:
    body = await api.graphql(PERSON, {"id": id_number}, token=token)
    return {c["typeCode"]: c["identifier"] for c in body["data"]["person"]["certificates"]}


async def test_a_citizen_reads_their_certificate_by_identifier(api: Api) -> None:
    ident = (await _identifiers(api, city.CITIZEN, api.tokens.citizen))["ID_CARD"]
    body = await api.graphql(CERTIFICATE, {"id": ident}, token=api.tokens.citizen)
    assert body["data"]["certificate"]["holderId"] == city.CITIZEN
    other = await api.graphql(CERTIFICATE, {"id": ident}, token=api.tokens.borrower)
    assert codes_at(other, ["certificate"]) == ["FORBIDDEN"]


async def test_an_expired_certificate_reads_as_expired(api: Api) -> None:
    ident = (await _identifiers(api, city.BORROWER, api.tokens.borrower))["ID_CARD"]
    body = await api.graphql(CERTIFICATE, {"id": ident}, token=api.tokens.borrower)
    assert body["data"]["certificate"]["status"] == "EXPIRED"


async def test_an_issuer_reads_only_what_it_issued(api: Api) -> None:
    ident = (await _identifiers(api, city.CITIZEN, api.tokens.citizen))["ID_CARD"]
    own = await api.graphql(CERTIFICATE, {"id": ident}, token=api.tokens.issuer(city.POLICE))
    assert own["data"]["certificate"]["issuerCode"] == city.POLICE
    other = await api.graphql(CERTIFICATE, {"id": ident}, token=api.tokens.issuer(city.MARKET_REGULATOR))
    assert codes_at(other, ["certificate"]) == ["FORBIDDEN"]


@pytest.mark.parametrize(
    "identifier",
    [
        "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.V",
        "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.01.U",
        "2.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
        "not an identifier",
    ],
)
async def test_a_bad_certificate_identifier_is_bad_user_input(api: Api, identifier: str) -> None:
    body = await api.graphql(CERTIFICATE, {"id": identifier}, token=api.tokens.admin)
    assert codes_at(body, ["certificate"]) == ["BAD_USER_INPUT"]


async def test_a_bank_reads_a_person_with_consent(api: Api) -> None:
    access = {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OK}
    body = await api.graphql(PERSON, {"id": city.BORROWER, "access": access}, token=api.tokens.bank)
    assert body["data"]["person"]["name"] == "李明"


@pytest.mark.parametrize(
    "access",
    [
        None,
        {"purpose": "LOAN_APPROVAL"},
        {"purpose": "LOAN_APPROVAL", "consentId": "no-such-consent"},
        {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_REVOKED},
        {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_EXPIRED},
        {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OTHER_BANK},
        {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_CARD_ONLY},
        {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_FOOD},  # another subject's consent
    ],
    ids=["none", "no-consent-id", "unknown", "revoked", "expired", "other-bank", "other-purpose", "other-subject"],
)
async def test_a_bank_without_a_consent_in_force_gets_nothing(api: Api, access: dict[str, str] | None) -> None:
    body = await api.graphql(PERSON, {"id": city.BORROWER, "access": access}, token=api.tokens.bank)
    assert body["data"]["person"] is None
    assert codes_at(body, ["person"]) == ["CONSENT_REQUIRED"]


async def test_a_bank_cannot_name_a_purpose_banks_may_not_use(api: Api) -> None:
    access = {"purpose": "SUPERVISION", "consentId": city.CONSENT_OK}
    body = await api.graphql(PERSON, {"id": city.BORROWER, "access": access}, token=api.tokens.bank)
    assert codes_at(body, ["person"]) == ["BAD_USER_INPUT"]


async def test_a_counter_needs_a_case_number(api: Api) -> None:
    body = await api.graphql(PERSON, {"id": city.CITIZEN}, token=api.tokens.counter)
    assert codes_at(body, ["person"]) == ["CASE_NUMBER_REQUIRED"]
    body = await api.graphql(PERSON, {"id": city.CITIZEN, "access": {"caseNumber": "XH-2026-0001"}}, token=api.tokens.counter)
    assert body["data"]["person"]["name"] == "王芳"


@pytest.mark.parametrize("role", ["auditor", "issuer"])
async def test_auditors_and_issuers_read_no_person(api: Api, role: str) -> None:
    token = api.tokens.auditor if role == "auditor" else api.tokens.issuer(city.POLICE)
    body = await api.graphql(PERSON, {"id": city.CITIZEN}, token=token)
    assert codes_at(body, ["person"]) == ["FORBIDDEN"]
