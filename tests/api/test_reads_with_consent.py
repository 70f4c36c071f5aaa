"""A subject's rows are asked for with its consent (app/auth/gate.py `_reads_soon`).

On PostgreSQL a bank's credit query reads in one round trip: the person, the consent, and the
rows of the fields it selects (score, penalties, licences), as one statement. What the field
policy denies the bank is never read, and nothing read is shown unless the consent allows it.
"""

from __future__ import annotations

import pytest

from tests.api import city
from tests.api.conftest import Api, codes_at
from tests.conftest import reads_sent

CREDIT = """query Credit($id: String!, $access: AccessInput) {
  person(idNumber: $id, access: $access) {
    name
    creditScore { score grade }
    ...Records
  }
}
fragment Records on Person {
  penalties { decisionNumber severity }
  licences { decisionNumber status }
}"""

WITH_CERTIFICATES = """query($id: String!, $access: AccessInput) {
  person(idNumber: $id, access: $access) { name certificates { identifier } }
}"""

ACCESS = {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OK}


@pytest.fixture
def sent(api: Api, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The read statements the service sends to PostgreSQL."""
    if api.engines[0].dialect.name != "postgresql":
        pytest.skip("SQLite reads on the loop, each at once: there is no round trip to share")
    return reads_sent(monkeypatch)


async def test_a_banks_credit_query_reads_in_one_round_trip(api: Api, sent: list[str]) -> None:
    await api.graphql(CREDIT, {"id": city.BORROWER, "access": ACCESS}, token=api.tokens.bank)
    sent.clear()  # what a process reads once (the authorities' names) is read
    body = await api.graphql(CREDIT, {"id": city.BORROWER, "access": ACCESS}, token=api.tokens.bank)
    assert "errors" not in body, body
    person = body["data"]["person"]
    assert person["name"] == "李明" and person["creditScore"]["score"] > 0
    assert person["penalties"] and person["licences"]
    assert len(sent) == 1, sent
    for table in ("persons", "consents", "credit_scores", "penalties", "licences"):
        assert f"FROM {table}" in sent[0]


async def test_without_the_consent_nothing_read_is_shown(api: Api, sent: list[str]) -> None:
    await api.graphql(CREDIT, {"id": city.BORROWER, "access": ACCESS}, token=api.tokens.bank)
    sent.clear()  # what a process reads once (the authorities' names), if this test is its first
    access = {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OTHER_BANK}
    body = await api.graphql(CREDIT, {"id": city.BORROWER, "access": access}, token=api.tokens.bank)
    assert body["data"] == {"person": None}
    assert codes_at(body, ["person"]) == ["CONSENT_REQUIRED"]
    assert "李明" not in str(body) and "罚" not in str(body)
    assert len(sent) == 1  # asked for with the consent, and let go


async def test_what_the_policy_denies_the_bank_is_not_read(api: Api, sent: list[str]) -> None:
    body = await api.graphql(WITH_CERTIFICATES, {"id": city.BORROWER, "access": ACCESS}, token=api.tokens.bank)
    assert body["data"]["person"]["certificates"] is None
    assert codes_at(body, ["person", "certificates"]) == ["FORBIDDEN"]
    assert not [s for s in sent if "FROM certificates" in s]


async def test_a_citizen_reads_their_own_in_one_round_trip_too(api: Api, sent: list[str]) -> None:
    await api.graphql(CREDIT, {"id": city.BORROWER}, token=api.tokens.borrower)
    sent.clear()
    body = await api.graphql(CREDIT, {"id": city.BORROWER}, token=api.tokens.borrower)
    assert "errors" not in body, body
    assert body["data"]["person"]["penalties"]
    assert len(sent) == 1, sent
