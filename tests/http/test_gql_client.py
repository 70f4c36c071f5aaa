"""A real client, unchanged: gql with its httpx transport against the live service. It fetches
the schema by introspection (dev), checks its documents against it before sending them, and
reads a partial result (data beside the errors of the fields withheld) as a partial result.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from graphql import GraphQLError

from app.auth.roles import Role
from tests.http.conftest import LiveService

BORROWER = "330105199007080010"  # 李明, in the demo city (README)
BANK = "91330100MA2H00001P"  # 惠民银行
GRANT = gql("""mutation Grant($input: GrantConsentInput!) { grantConsent(input: $input) { id granteeCode purposes } }""")
CREDIT = """query Credit($id: String!, $access: AccessInput) { person(idNumber: $id, access: $access) {
  idNumber name %s creditScore { score grade factors { code impact } } } }"""


def client(live: LiveService, token: str) -> Client:
    transport = HTTPXAsyncTransport(url=live.url, headers={"authorization": f"Bearer {token}"}, timeout=30)
    return Client(transport=transport, fetch_schema_from_transport=True)


def request(document: GraphQLRequest, variables: dict[str, Any]) -> GraphQLRequest:
    return GraphQLRequest(document, variable_values=variables)


async def test_gql_fetches_the_schema_and_reads_a_banks_partial_credit_answer(live: LiveService) -> None:
    # The borrower grants the bank a consent for a loan, as the city-service app would.
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    grant = {"holderKind": "PERSON", "holderId": BORROWER, "granteeCode": BANK, "purposes": ["LOAN_APPROVAL"], "validUntil": until}
    async with client(live, live.tokens.make(Role.CITIZEN, id_number=BORROWER)) as session:
        granted = await session.execute(request(GRANT, {"input": grant}))
    consent = granted["grantConsent"]
    assert (consent["granteeCode"], consent["purposes"]) == (BANK, ["LOAN_APPROVAL"])

    bank = client(live, live.tokens.make(Role.BANK, org=BANK))
    async with bank as session:
        assert bank.schema is not None and "person" in bank.schema.query_type.fields  # fetched by introspection
        access = {"id": BORROWER, "access": {"purpose": "LOAN_APPROVAL", "consentId": consent["id"]}}
        credit = request(gql(CREDIT % "phone"), access)
        # gql raises on a result with errors; the exception carries the whole partial result.
        with pytest.raises(TransportQueryError) as raised:
            await session.execute(credit)
        partial = raised.value
        # The person, masked where the policy says, and the phone withheld, with its error at its path.
        assert partial.data is not None and partial.errors is not None and partial.extensions is not None
        person = partial.data["person"]
        assert (person["name"], person["idNumber"], person["phone"]) == ("李明", "330105********0010", None)
        assert 350 <= person["creditScore"]["score"] <= 950
        assert [(e["path"], e["extensions"]["code"]) for e in partial.errors] == [(["person", "phone"], "FORBIDDEN")]
        assert partial.extensions["denied"] == [["person", "phone"]] and isinstance(partial.extensions["auditSeq"], int)

        # The same query without what is withheld is a whole answer, returned as data.
        whole = await session.execute(request(gql(CREDIT % ""), access))
        assert whole["person"]["name"] == "李明" and "phone" not in whole["person"]

        # The fetched schema is what gql checks a document against, before anything is sent.
        with pytest.raises(GraphQLError, match="salary"):
            await session.execute(gql('{ person(idNumber: "%s") { salary } }' % BORROWER))
