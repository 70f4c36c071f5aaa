"""Query limits (SPEC section 9): refused before validation and before any SQL, with the limit and
what was measured, and audited like every request."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import get_introspection_query

from app.config import ConfigError, Settings
from app.execution.limits import Limits
from tests.api import city
from tests.api.conftest import Api

BANK_ACCESS = {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OK}


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    """The one QUERY_TOO_COMPLEX error of a refused request, which ran nothing and was audited."""
    assert body.get("data") is None, body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", error
    assert isinstance(body["extensions"]["auditSeq"], int)  # its audit entry was written
    return error["extensions"]


async def test_a_query_nested_past_the_depth_limit_is_refused_naming_the_limit(api: Api) -> None:
    nested = "legalRepresentative { enterprises { " * 4 + "name" + " } }" * 4
    body = await api.graphql(f'{{ enterprise(creditCode: "{city.FOOD}") {{ {nested} }} }}', token=api.tokens.admin)
    assert refusal(body) == {"code": "QUERY_TOO_COMPLEX", "limit": "depth", "maximum": 8, "measured": 10}


async def test_more_aliases_than_allowed_are_refused(api: Api) -> None:
    body = await api.graphql("{ " + " ".join(f"a{i}: me {{ role }}" for i in range(16)) + " }")
    assert refusal(body)["limit"] == "aliases"
    assert refusal(body)["measured"] == 16


async def test_the_same_root_field_a_thousand_times_is_refused_before_validation(api: Api) -> None:
    """graphql-core's overlapping-fields rule is super-linear: this 12 KB text stalled a worker for
    seconds when validated. It is refused before, on its tokens; and within the token limit,
    on its root fields."""
    body = await api.graphql("{ " + " ".join("me { role }" for _ in range(1000)) + " }")
    assert refusal(body) == {"code": "QUERY_TOO_COMPLEX", "limit": "tokens", "maximum": 1000, "measured": 4002}
    body = await api.graphql("{ " + " ".join("me { role }" for _ in range(11)) + " }")
    assert refusal(body) == {"code": "QUERY_TOO_COMPLEX", "limit": "root fields", "maximum": 10, "measured": 11}


async def test_a_text_of_too_many_tokens_is_refused_with_its_count(api: Api) -> None:
    body = await api.graphql("{ me { " + "role " * 1200 + "} }")
    extensions = refusal(body)
    assert extensions["limit"] == "tokens" and extensions["maximum"] == 1000
    assert extensions["measured"] == 1200 + 5


async def test_large_pages_of_nested_lists_are_refused_on_their_estimated_cost(api: Api) -> None:
    query = ('{ searchEnterprises(name: "%s", first: 100) { edges { node { name licences { title }'
             " penalties { reason } certificates { identifier } } } } }" % city.SEARCH_PREFIX)  # fmt: skip
    extensions = refusal(await api.graphql(query))
    assert extensions["limit"] == "cost" and extensions["measured"] > 5000


async def test_fragments_that_double_at_each_level_are_counted_not_walked(api: Api) -> None:
    """A chain of fragments asking twice per level returns 2^n objects from a tiny text."""
    levels = 12
    fragments = " ".join(
        f"fragment F{i} on Person {{ a: enterprises {{ legalRepresentative {{ ...F{i + 1} }} }}"
        f" b: enterprises {{ legalRepresentative {{ ...F{i + 1} }} }} }}"
        for i in range(levels)
    )
    query = f'query {{ person(idNumber: "{city.BORROWER}") {{ ...F0 }} }} {fragments} fragment F{levels} on Person {{ name }}'
    extensions = refusal(await api.graphql(query, token=api.tokens.admin))
    assert extensions["limit"] in ("depth", "aliases", "cost")


async def test_the_bank_credit_query_and_graphiqls_introspection_are_within_the_limits(api: Api) -> None:
    credit = (
        "query($id: String!, $a: AccessInput) { person(idNumber: $id, access: $a) { idNumber name gender birthDate"
        " creditScore { score grade modelVersion computedAt factors { code description impact } }"
        " penalties { decisionNumber severity category reason amount authorityName decidedOn publishUntil status repairedOn }"
        " licences { decisionNumber category title authorityName decidedOn validFrom validTo status } } }"
    )
    body = await api.graphql(credit, {"id": city.BORROWER, "a": BANK_ACCESS}, token=api.tokens.bank)
    assert "errors" not in body and body["data"]["person"]["name"]
    body = await api.graphql(get_introspection_query(), token=api.tokens.admin)
    assert "errors" not in body and body["data"]["__schema"]["queryType"]["name"] == "Query"


def test_the_limits_are_configured_by_environment() -> None:
    secret = {"XINZHENG_JWT_SECRET": "x" * 40}
    assert Settings.from_env(secret).query_limits == Limits(depth=8, aliases=15, root_fields=10, tokens=1000, cost=5000)
    configured = Settings.from_env({**secret, "XINZHENG_QUERY_LIMITS": "depth=6, cost=2000"}).query_limits
    assert configured == Limits(depth=6, aliases=15, root_fields=10, tokens=1000, cost=2000)
    for bad in ("depth=0", "depth=deep", "width=3"):
        with pytest.raises(ConfigError, match="XINZHENG_QUERY_LIMITS"):
            Settings.from_env({**secret, "XINZHENG_QUERY_LIMITS": bad})
