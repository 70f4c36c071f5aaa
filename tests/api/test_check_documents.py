"""A counter's document check (最多跑一次): every state, the best certificate chosen, metadata
never the document, and the case number in the audit log and the holder's access records."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.api import city
from tests.api.certs import issue, set_status
from tests.api.conftest import Api, api_for, codes_at
from tests.api.test_generated_equivalence import city_copy
from tests.conftest import DatabaseFactory

CHECK = """query($kind: HolderKind!, $id: String!, $types: [String!]!, $case: String!) {
  checkDocuments(holderKind: $kind, holderId: $id, requiredTypes: $types, caseNumber: $case) {
    caseNumber allSatisfied
    items { typeCode state certificate { identifier typeCode status holderId validUntil } } } }"""
DOCUMENT = """query($kind: HolderKind!, $id: String!, $types: [String!]!, $case: String!) {
  checkDocuments(holderKind: $kind, holderId: $id, requiredTypes: $types, caseNumber: $case) {
    items { certificate { document } } } }"""
ACCESS = """query { person(idNumber: "%s") { accessRecords(first: 1) { edges { node { organisationCode caseNumber } } } } }"""


@pytest.fixture(scope="module")
def own_city(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> str:
    return city_copy(databases, tmp_path_factory.mktemp("check-documents"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(own_city: str) -> AsyncIterator[Api]:
    """This module's own service and city: its tests count a holder's certificates of a type,
    which other modules issue too (in any order, when the suite runs shuffled)."""
    async with api_for(own_city) as service:
        yield service


async def check(api: Api, holder: str, types: list[str], case: str = "XH-2026-0001", kind: str = "PERSON",
                token: str | None = "counter") -> dict[str, Any]:  # fmt: skip
    """As the counter asks, or with `token` (None: the public)."""
    variables = {"kind": kind, "id": holder, "types": types, "case": case}
    return await api.graphql(CHECK, variables, token=api.tokens.counter if token == "counter" else token)


async def test_every_state_a_counter_can_find(api: Api) -> None:
    # The citizen: a valid ID card, a suspended driving licence, no marriage certificate; the
    # borrower's ID card is past its validUntil.
    body = await check(api, city.CITIZEN, ["ID_CARD", "DRIVING_LICENCE", "MARRIAGE"])
    states = {i["typeCode"]: i["state"] for i in body["data"]["checkDocuments"]["items"]}
    assert states == {"ID_CARD": "VALID", "DRIVING_LICENCE": "SUSPENDED", "MARRIAGE": "MISSING"}
    assert body["data"]["checkDocuments"]["allSatisfied"] is False
    missing = next(i for i in body["data"]["checkDocuments"]["items"] if i["typeCode"] == "MARRIAGE")
    assert missing["certificate"] is None
    expired = await check(api, city.BORROWER, ["ID_CARD"])
    assert [i["state"] for i in expired["data"]["checkDocuments"]["items"]] == ["EXPIRED"]


async def test_a_revoked_certificate_is_revoked_and_a_valid_one_is_preferred(api: Api) -> None:
    number = f"HR{uuid.uuid4().hex[:10].upper()}"
    revoked = await issue(api, typeCode="HOUSEHOLD_REGISTER", number=number)
    await set_status(api, revoked["identifier"], "REVOKED", "迁出")
    body = await check(api, city.STRANGER, ["HOUSEHOLD_REGISTER"])
    item = body["data"]["checkDocuments"]["items"][0]
    assert (item["state"], item["certificate"]["identifier"]) == ("REVOKED", revoked["identifier"])

    reissued = await issue(api, typeCode="HOUSEHOLD_REGISTER", number=number)  # version 002
    body = await check(api, city.STRANGER, ["HOUSEHOLD_REGISTER"])
    items = {i["typeCode"]: i for i in body["data"]["checkDocuments"]["items"]}
    assert items["HOUSEHOLD_REGISTER"]["state"] == "VALID"
    assert items["HOUSEHOLD_REGISTER"]["certificate"]["identifier"] == reissued["identifier"]
    assert body["data"]["checkDocuments"]["allSatisfied"] is True


async def test_an_enterprises_documents_are_checked_too(api: Api) -> None:
    body = await check(api, city.TEA, ["BUSINESS_LICENCE", "FOOD_BUSINESS_LICENCE"], kind="ENTERPRISE")
    states = [(i["typeCode"], i["state"]) for i in body["data"]["checkDocuments"]["items"]]
    assert states == [("BUSINESS_LICENCE", "VALID"), ("FOOD_BUSINESS_LICENCE", "MISSING")]


async def test_the_counter_gets_metadata_masked_as_ever_and_never_the_document(api: Api) -> None:
    body = await check(api, city.CITIZEN, ["ID_CARD"])
    certificate = body["data"]["checkDocuments"]["items"][0]["certificate"]
    assert certificate["status"] == "VALID" and certificate["holderId"] != city.CITIZEN  # masked
    variables = {"kind": "PERSON", "id": city.CITIZEN, "types": ["ID_CARD"], "case": "XH-1"}
    body = await api.graphql(DOCUMENT, variables, token=api.tokens.counter)
    assert body["data"]["checkDocuments"]["items"][0]["certificate"]["document"] is None
    assert codes_at(body, ["checkDocuments", "items", 0, "certificate", "document"]) == ["FORBIDDEN"]


async def test_the_case_number_is_required_and_recorded_for_the_holder(api: Api) -> None:
    assert codes_at(await check(api, city.BORROWER, ["ID_CARD"], case="  "), ["checkDocuments"]) == ["CASE_NUMBER_REQUIRED"]
    case = f"XH-{uuid.uuid4().hex[:8]}"
    await check(api, city.BORROWER, ["ID_CARD"], case=case)
    body = await api.graphql(ACCESS % city.BORROWER, token=api.tokens.borrower)
    assert body["data"]["person"]["accessRecords"]["edges"][0]["node"] == {"organisationCode": city.COUNTER, "caseNumber": case}


async def test_unknown_types_and_bad_holders_are_bad_user_input(api: Api) -> None:
    for types, holder, kind in (
        (["PASSPORT"], city.CITIZEN, "PERSON"),
        (["BUSINESS_LICENCE"], city.CITIZEN, "PERSON"),  # an enterprise's type for a person
        ([], city.CITIZEN, "PERSON"),
        (["ID_CARD"], "330106198503120029", "PERSON"),  # a bad check character
    ):
        body = await check(api, holder, types, kind=kind)
        assert codes_at(body, ["checkDocuments"]) == ["BAD_USER_INPUT"], (types, holder)


async def test_only_a_counter_checks_documents(api: Api) -> None:
    for token in (api.tokens.bank, api.tokens.citizen, api.tokens.issuer(city.POLICE), None):
        assert codes_at(await check(api, city.CITIZEN, ["ID_CARD"], token=token), ["checkDocuments"]) == ["FORBIDDEN"]
