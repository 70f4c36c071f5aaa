"""No resolver's coroutine is left unawaited when a null propagates past pending siblings.

A non-null root field (`verifyCertificate`) that fails after its first await nulls the whole
answer while a sibling (`enterprise`) has just started its own fields, each a resolver's
coroutine in a task of its own: both executors (graphql-core's, and the plans, which settle
fields as it does) cancel those tasks before their first step. What the cancelled tasks held
must be closed, not dropped for Python to report as "coroutine ... was never awaited"
(app/execution/awaiting.py). The query is the one the generated equivalence test first met
this with; the warning is looked for here, whatever pytest's own warning filters are.
"""

from __future__ import annotations

import gc
import warnings
from typing import Any

import httpx
import pytest

from app.main import create_app
from tests.api import city
from tests.api.conftest import Tokens, settings_for

TEMPLATE = """{
  enterprise(creditCode: "%s", access: { purpose: SELF_QUERY }) {
    legalRepresentativeName
    legalRepresentative { phone }
    penalties { authorityName }
  }
  certificateTypes { holderKind }
  verifyCertificate(identifier: "not-an-identifier", document: "") { reasons }
}"""
QUERY = TEMPLATE % city.TEA


async def ask(app: Any, token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test") as client:
        response = await client.post("/graphql", json={"query": QUERY}, headers={"authorization": f"Bearer {token}"})
    return response.json()


@pytest.mark.parametrize("planned", [True, False], ids=["planned", "graphql-core"])
async def test_a_null_propagated_past_pending_siblings_leaves_no_coroutine_unawaited(city_database: str, planned: bool) -> None:
    settings = settings_for(city_database)
    app = create_app(settings, planned=planned)
    async with app.router.lifespan_context(app):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            answers = [await ask(app, Tokens(settings).admin) for _ in range(3)]
            gc.collect()
    for answer in answers:
        assert answer["data"] is None, answer  # the non-null root field's null nulled the answer
        assert [e["path"] for e in answer["errors"]] == [["verifyCertificate"]], answer
    unawaited = [str(w.message) for w in caught if "was never awaited" in str(w.message)]
    assert unawaited == [], unawaited
