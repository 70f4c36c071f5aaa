"""`/metrics`: requests by operation, role and outcome, their latency, the audit writer, the pools,
the newest checkpoint's age, rate-limit refusals; and no personal data in any of it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from app.observability import request as request_module
from app.observability.request import MAX_OPERATION_NAMES
from tests.api import city
from tests.api.conftest import Api, settings_for

# What /metrics may not hold: a citizen ID number, a credit code, a mobile number. Anywhere in a
# label; elsewhere, not as the digits of a number (0.005021185000032347 is a duration).
ID_NUMBER = re.compile(r"\d{17}[\dX]")
CREDIT_CODE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}")
PHONE = re.compile(r"1[3-9]\d{9}")
NOT_A_NUMBER = r"(?<![\d.])({})(?!\d)"

Samples = dict[tuple[tuple[str, str], ...], float]


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def samples(text: str, name: str) -> Samples:
    """Every sample called `name`, by its labels."""
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text, name).get(tuple(sorted(labels.items())), 0.0)


async def test_requests_are_counted_by_operation_role_and_outcome_and_timed(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # As a service that has not yet labelled its MAX_OPERATION_NAMES names (this process has run
    # the rest of the suite: test_operation_names_are_bounded shows what happens past them).
    monkeypatch.setattr(request_module, "_named", set())
    before = await scrape(api.client)
    await api.graphql("query WhoAmI { me { role } }", token=api.tokens.admin)
    await api.graphql("query WhoAmI { me { role } }", token=api.tokens.admin)
    await api.graphql('query Peek { person(idNumber: "%s") { name } }' % city.CITIZEN)  # public: denied
    await api.graphql("{ me { role }")  # a syntax error: rejected, no name
    after = await scrape(api.client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("xinzheng_requests_total", operation="WhoAmI", role="admin", outcome="SERVED") == 2
    assert delta("xinzheng_requests_total", operation="Peek", role="public", outcome="DENIED") == 1
    assert delta("xinzheng_requests_total", operation="(none)", role="public", outcome="REJECTED") >= 1
    assert delta("xinzheng_request_duration_seconds_count", operation="WhoAmI", role="admin") == 2
    assert delta("xinzheng_request_duration_seconds_sum", operation="WhoAmI", role="admin") > 0
    # Every request's entry was written in some batch of the audit writer, and timed.
    assert delta("xinzheng_audit_batch_entries_sum") >= 4
    assert delta("xinzheng_audit_append_duration_seconds_count") >= 1


async def test_the_pools_and_the_newest_checkpoint_are_read_at_the_scrape(api: Api) -> None:
    for _ in range(10):  # settings_for signs a checkpoint every 10 entries
        await api.graphql("{ me { role } }")
    text = await scrape(api.client)
    assert value(text, "xinzheng_db_pool_size", pool="main") > 0
    assert set(samples(text, "xinzheng_db_pool_connections_in_use")) >= {(("pool", "main"),)}
    (age,) = samples(text, "xinzheng_audit_checkpoint_age_seconds").values()
    assert age >= 0


async def test_no_personal_data_reaches_a_label(api: Api) -> None:
    """Operation names are the caller's text: one spelled like an ID number, a credit code or a
    phone number is counted as (other); subjects, organisations and variables are never labels."""
    names = [
        "Q11010519491231002X", "op_440524188001010014", "A91330100MA2H00001P", "call_13800138000",
        "p_330106_19850312_0028", "x" * 65,
    ]  # fmt: skip
    for name in names:
        await api.graphql("query %s { me { role } }" % name, token=api.tokens.bank)
    await api.graphql(
        "query Look($id: String!) { person(idNumber: $id) { name phone } }", {"id": city.BORROWER}, token=api.tokens.bank
    )
    text = await scrape(api.client)
    labels = [v for family in text_string_to_metric_families(text) for s in family.samples for v in s.labels.values()]
    for pattern in (ID_NUMBER, CREDIT_CODE, PHONE):
        assert not [label for label in labels if pattern.search(label)]
        assert not re.search(NOT_A_NUMBER.format(pattern.pattern), text)
    assert city.BANK not in text and "19850312" not in text and "330106" not in text
    assert value(text, "xinzheng_requests_total", operation="(other)", role="bank", outcome="SERVED") >= len(names)


async def test_operation_names_are_bounded(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller inventing names cannot grow the metrics without bound: past the cap, (other)."""
    monkeypatch.setattr(request_module, "_named", set())  # as a service that has named none yet
    before = await scrape(api.client)
    invented = ["Invented" + "".join(chr(65 + int(d)) for d in str(i)) for i in range(MAX_OPERATION_NAMES + 5)]
    for name in invented:
        await api.graphql("query %s { me { role } }" % name)
    after = await scrape(api.client)
    labelled = {dict(labels)["operation"] for labels in samples(after, "xinzheng_requests_total")}
    assert len(labelled & set(invented)) == MAX_OPERATION_NAMES
    other = {"operation": "(other)", "role": "public", "outcome": "SERVED"}
    assert value(after, "xinzheng_requests_total", **other) - value(before, "xinzheng_requests_total", **other) == 5


@pytest_asyncio.fixture(loop_scope="session")
async def limited(city_database: str) -> AsyncIterator[httpx.AsyncClient]:
    """The service with the public allowed 2 requests an hour (in this process's count)."""
    app = create_app(settings_for(city_database, rate_limits="public=2/hour"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test") as client,
    ):
        yield client


async def test_rate_limit_refusals_are_counted_by_role(limited: httpx.AsyncClient) -> None:
    before = value(await scrape(limited), "xinzheng_rate_limited_total", role="public")
    statuses = [(await limited.post("/graphql", json={"query": "{ me { role } }"})).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    text = await scrape(limited)
    assert value(text, "xinzheng_rate_limited_total", role="public") == before + 1
