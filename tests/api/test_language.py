"""Words for people (SPEC section 5): the service's own messages and a score factor's description
are in Simplified Chinese unless the request's Accept-Language prefers English; codes never
change, and graphql-core's own messages stay as graphql-core writes them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.main import create_app
from tests.api import city
from tests.api.conftest import Api, settings_for

SCORE = "query($id: String!) { person(idNumber: $id) { creditScore { factors { code description } } } }"
PERSON = "query($id: String!) { person(idNumber: $id) { name } }"
RECORD_LICENCE = "mutation($input: RecordLicenceInput!) { recordLicence(input: $input) { decisionNumber } }"


async def ask(
    api: Api, body: Any, language: str | None, *, token: str | None = None, content: bytes | None = None
) -> httpx.Response:
    """One request with this Accept-Language, or with none at all (the suite's client sends `en`)."""
    request = api.client.build_request("POST", "/graphql", json=None if content else body, content=content)
    del request.headers["accept-language"]
    if language is not None:
        request.headers["accept-language"] = language
    if token:
        request.headers["authorization"] = f"Bearer {token}"
    if content:
        request.headers["content-type"] = "application/json"
    return await api.client.send(request)


def error(response: httpx.Response) -> tuple[str, str]:
    """The one error's code and message."""
    (only,) = response.json()["errors"]
    return only["extensions"]["code"], only["message"]


async def test_a_message_is_chinese_by_default_and_english_when_asked(api: Api) -> None:
    query = {"query": PERSON, "variables": {"id": city.STRANGER}}
    chinese = await ask(api, query, None, token=api.tokens.citizen)
    english = await ask(api, query, "en", token=api.tokens.citizen)
    assert error(chinese) == ("FORBIDDEN", "无权访问：公民只能查询本人的数据")
    assert error(english) == ("FORBIDDEN", "a citizen reads their own data only")
    assert chinese.json()["data"] == english.json()["data"] == {"person": None}
    assert chinese.headers["content-language"] == "zh-CN" and english.headers["content-language"] == "en"


async def test_a_factor_is_described_in_the_language_asked_and_its_code_never_changes(api: Api) -> None:
    query = {"query": SCORE, "variables": {"id": city.BORROWER}}
    chinese = (await ask(api, query, None, token=api.tokens.borrower)).json()["data"]["person"]["creditScore"]["factors"]
    english = (await ask(api, query, "en", token=api.tokens.borrower)).json()["data"]["person"]["creditScore"]["factors"]
    assert [f["code"] for f in chinese] == [f["code"] for f in english]
    serious = {f["code"]: f["description"] for f in chinese}["PENALTY_SERIOUS"]
    assert serious == "近 5 年内的严重行政处罚"
    assert {f["code"]: f["description"] for f in english}["PENALTY_SERIOUS"] == "serious administrative penalties in the last 5 years"


@pytest.mark.parametrize(
    ("header", "english"),
    [
        ("en-GB;q=0.9, zh;q=0.8", True),
        ("zh-CN, en;q=0.9", False),
        ("fr", False),
        ("en;q=banana", False),
        ("q=;en;;=,,;", False),
    ],
)
async def test_accept_language_picks_english_only_when_english_is_preferred(api: Api, header: str, english: bool) -> None:
    response = await ask(api, {"query": PERSON, "variables": {"id": city.STRANGER}}, header, token=api.tokens.citizen)
    code, message = error(response)
    assert code == "FORBIDDEN"
    assert message == ("a citizen reads their own data only" if english else "无权访问：公民只能查询本人的数据")


async def test_errors_before_execution_are_in_the_language_asked(api: Api) -> None:
    me = {"query": "{ me { role } }"}
    bad_token = await ask(api, me, None, token="not-a-token")
    assert bad_token.status_code == 401
    code, message = error(bad_token)
    assert code == "UNAUTHENTICATED" and message.startswith("令牌无效")
    assert error(await ask(api, me, "en", token="not-a-token"))[1].startswith("the token is not valid")

    refused = await ask(api, None, None, content=b"{not json")
    assert refused.status_code == 400 and error(refused) == ("BAD_USER_INPUT", "请求体不是有效的 JSON")
    assert error(await ask(api, None, "en", content=b"{not json")) == ("BAD_USER_INPUT", "the body is not valid JSON")

    aliases = {"query": "{ " + " ".join(f"a{i}: me {{ role }}" for i in range(16)) + " }"}
    code, message = error(await ask(api, aliases, None))
    assert code == "QUERY_TOO_COMPLEX" and message == "查询过于复杂：别名数为 16，超过上限 15"
    assert error(await ask(api, aliases, "en"))[1] == "the query's aliases is 16, more than the 15 allowed"


async def test_graphql_cores_own_messages_are_left_as_they_are(api: Api) -> None:
    code, message = error(await ask(api, {"query": "{ me { role }"}, None))
    assert code == "BAD_USER_INPUT" and message.startswith("Syntax Error")


async def test_an_issuers_bad_input_is_told_in_chinese_with_the_apis_field_names(api: Api) -> None:
    licence = {
        "decisionNumber": "杭市监许〔语言〕1号", "holderKind": "PERSON", "holderId": city.STRANGER, "category": "经营许可",
        "title": "食品经营许可", "content": "预包装食品销售", "decidedOn": city.days(-30),
        "validFrom": city.days(-30), "validTo": city.days(-40),
    }  # fmt: skip
    body = {"query": RECORD_LICENCE, "variables": {"input": licence}}
    code, message = error(await ask(api, body, None, token=api.tokens.issuer(city.MARKET_REGULATOR)))
    assert code == "BAD_USER_INPUT"
    assert message == f"输入有误：validTo {city.days(-40)} 早于 validFrom {city.days(-30)}"
    english = error(await ask(api, body, "en", token=api.tokens.issuer(city.MARKET_REGULATOR)))[1]
    assert english == f"validTo {city.days(-40)} is before validFrom {city.days(-30)}"


async def test_a_caller_over_its_rate_is_told_when_to_come_back_in_its_language(city_database: str) -> None:
    app = create_app(settings_for(city_database, rate_limits="public=1/day"))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test"
    ) as client:
        me = {"query": "{ me { role } }"}
        assert (await client.post("/graphql", json=me)).status_code == 200
        chinese = await client.post("/graphql", json=me)
        english = await client.post("/graphql", json=me, headers={"accept-language": "en"})
    assert chinese.status_code == english.status_code == 429
    for response, start in ((chinese, "请求过于频繁：已超过本调用方的限额（每 1 天 1 次）"), (english, "rate limit exceeded (1 per 1 day")):
        code, message = error(response)
        assert code == "RATE_LIMITED" and message.startswith(start), message
