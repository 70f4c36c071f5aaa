"""Fuzzing the public surface (issue 9): whatever is sent, a clean answer, nothing past the
policy, and exactly one audit entry.

Queries are generated from the schema itself (hypothesis-graphql, with the real and hostile
argument values of tests/api/generated_queries.py) under every role's token, and
bodies are generated as random bytes and random JSON. For each request:
- no 5xx and no INTERNAL_SERVER_ERROR: every input is the caller's to get wrong;
- no field carries a value that FIELD_POLICY denies to every column the caller could read it
  under (its own role's, or the public register's for search hits), and a field the caller's
  column masks (and the register's does not show in full) carries only a masked value;
- the answer's `auditSeq` follows the previous one: one entry per request, none skipped.

Bounded and deterministic (`derandomize=True`); the app and its copy of the city are this
module's own. A longer run: XINZHENG_FUZZ_EXAMPLES=1000 python -m pytest tests/api/test_fuzz.py
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import graphql
import httpx
import pytest
import pytest_asyncio
from graphql import DocumentNode, GraphQLList, GraphQLNonNull, GraphQLObjectType
from stdnum.cn import ric, uscc
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from app.auth.policy import FIELD_POLICY, REGISTER_VIEW, FieldRule, Grant
from app.auth.roles import Role
from app.domain.enums import HolderKind
from app.main import create_app
from tests.api.conftest import Tokens, settings_for
from tests.api.test_compiled_execution import role_token
from tests.api.generated_queries import GQL, Arguments, generated
from tests.api.test_generated_equivalence import city_copy
from tests.conftest import DatabaseFactory

EXAMPLES = int(os.environ.get("XINZHENG_FUZZ_EXAMPLES", "25"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["query", "variables", "operationName", "extensions", "x"]) | st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@dataclass
class Service:
    client: httpx.AsyncClient
    tokens: Tokens
    identifiers: list[str] = field(default_factory=lambda: ["not-a-certificate"])  # what Arguments draws from
    cursors: list[str] = field(default_factory=lambda: ["not-a-cursor"])
    last_seq: int | None = None

    async def send(self, content: bytes, token: str | None) -> tuple[int, dict[str, Any]]:
        headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
        response = await self.client.post("/graphql", content=content, headers=headers)
        assert response.status_code < 500, response.text
        body: dict[str, Any] = response.json()
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        assert "INTERNAL_SERVER_ERROR" not in codes, body
        seq = body["extensions"]["auditSeq"]
        assert isinstance(seq, int) and (self.last_seq is None or seq == self.last_seq + 1), (self.last_seq, body)
        self.last_seq = seq
        return response.status_code, body


@pytest.fixture(scope="module")
def fuzz_city(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> str:
    """This module's own copy of the city (made outside the event loop: PostgreSQL's is made with asyncio.run)."""
    return city_copy(databases, tmp_path_factory.mktemp("fuzz"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service(fuzz_city: str) -> AsyncIterator[Service]:
    settings = settings_for(fuzz_city)
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test"
    ) as client:
        yield Service(client, Tokens(settings))


def past_the_policy(value: Any, gql_type: Any, role: Role, path: str = "") -> list[str]:
    """The paths of values that no column the caller could read them under may see."""
    while isinstance(gql_type, (GraphQLNonNull, GraphQLList)):
        gql_type = gql_type.of_type
        if isinstance(value, list):
            return [p for i, item in enumerate(value) for p in past_the_policy(item, gql_type, role, f"{path}.{i}")]
    if not isinstance(gql_type, GraphQLObjectType) or not isinstance(value, dict):
        return []
    found = []
    for key, item in value.items():
        if key.startswith("__") or key not in gql_type.fields:
            continue
        rule = FIELD_POLICY[f"{gql_type.name}.{key}"]
        if item is not None and {rule.grants[role], rule.grants[REGISTER_VIEW]} == {Grant.DENIED}:
            found.append(f"{path}.{key}")
        elif item is not None and rule.grants[role] == Grant.MASKED and rule.grants[REGISTER_VIEW] != Grant.FULL:
            if unmasked(rule, item, value):
                found.append(f"{path}.{key} (unmasked)")
        found += past_the_policy(item, gql_type.fields[key].type, role, f"{path}.{key}")
    return found


def unmasked(rule: FieldRule, item: Any, siblings: dict[str, Any]) -> bool:
    """Does a value shown under a MASKED grant still need masking? Masks keep what they keep and
    star the rest, so a masked value is its own mask. A holder id is masked only for a person:
    its kind is the answer's `holderKind` when asked for, else told by the value itself."""
    assert rule.mask is not None
    kind = siblings.get("holderKind")
    if kind is None and isinstance(item, str) and uscc.is_valid(item) and not ric.is_valid(item):
        kind = HolderKind.ENTERPRISE.value
    source = SimpleNamespace(holder_kind=HolderKind(kind)) if kind else None
    return bool(rule.mask(item, source) != item)


def test_the_masking_check_can_fail() -> None:
    person_id, bank_code = "330106198503120028", "91330100MA2H00001P"
    id_rule, holder_rule = FIELD_POLICY["Person.idNumber"], FIELD_POLICY["Certificate.holderId"]
    assert unmasked(id_rule, person_id, {}) and not unmasked(id_rule, "330106********0028", {})
    assert unmasked(holder_rule, person_id, {"holderKind": "PERSON"}) and unmasked(holder_rule, person_id, {})
    assert not unmasked(holder_rule, bank_code, {}) and not unmasked(holder_rule, bank_code, {"holderKind": "ENTERPRISE"})


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@FUZZ_SETTINGS
@given(document=generated(), data=st.data())
async def test_generated_queries_get_clean_answers_within_the_policy(
    service: Service, role: Role, document: DocumentNode, data: st.DataObject
) -> None:
    arguments = Arguments(data.draw, service.identifiers, service.cursors)
    body = {"query": graphql.print_ast(arguments.document(document)), "variables": arguments.variables}
    _, answer = await service.send(json.dumps(body).encode(), role_token(service.tokens, role))
    operation = document.definitions[0]
    root = GQL.mutation_type if getattr(operation, "operation", None) == graphql.OperationType.MUTATION else GQL.query_type
    assert past_the_policy(answer.get("data"), root, role) == [], (role, body, answer)


@FUZZ_SETTINGS
@given(content=st.binary(max_size=300) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
async def test_malformed_bodies_get_a_clean_answer_and_an_entry(service: Service, content: bytes) -> None:
    await service.send(content, None)
