"""Planned queries (app/execution/) answer exactly as graphql-core's own executor does.

Two apps on the same city database, one running queries from plans and one through
graphql-core's executor only (both inside strawberry's pipeline, both with the policy), are asked the same things with the same tokens: every field of every type
under every role that reaches it (generated from the policy, as the matrix is), and a corpus
of the GraphQL the plans must get right: aliases, fragments, literal directives, variables
and their defaults, errors at paths, nulls propagated, subjects refused inside lists. Their
answers must be equal, data, errors and extensions alike, apart from each request's own
receipt (requestId, auditSeq); errors and held-back paths in the same order.
"""

from __future__ import annotations

import contextlib
import difflib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from app.auth.enforce import reaching_columns
from app.auth.roles import Role
from graphql import GraphQLError, OperationDefinitionNode, parse, validate

from app.execution.executor import PlannedExecutor
from app.main import create_app
from tests.api import city
from tests.api.conftest import Tokens, settings_for
from tests.api.matrix_routes import OBJECT_FIELDS, PER_CALLER, SCHEMA, route, selection

PERSON = "query($id: String!, $a: AccessInput) { person(idNumber: $id, access: $a) { %s } }"
BANK_ACCESS = {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OK}


def is_planned(query: str, name: str | None) -> bool:
    """Does the service's executor plan this operation (rather than hand it to graphql-core's)?"""
    try:
        document = parse(query)
    except GraphQLError:
        return False
    if validate(SCHEMA._schema, document):  # strawberry answers it before any executor runs
        return False
    # Variables do not decide whether an operation is planned: build it as if none were required.
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            object.__setattr__(definition, "variable_definitions", ())
    executor = PlannedExecutor.build(SCHEMA._schema, document, operation_name=name)
    if isinstance(executor, list):  # no such operation
        return False
    executor_class = SCHEMA.execution_context_class
    assert executor_class is not None and executor_class.plans is not None
    return executor_class.plans.get(executor) is not None


class Twins:
    def __init__(self, planned: httpx.AsyncClient, strawberry: httpx.AsyncClient, tokens: Tokens) -> None:
        self.planned = planned
        self.strawberry = strawberry
        self.tokens = tokens

    async def same(self, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        """Both answer `body` alike; the planned app's answer."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        answers = []
        for client in (self.planned, self.strawberry):
            response = await client.post("/graphql", json=body, headers=headers)
            answer = response.json()
            extensions = answer.get("extensions", {})
            extensions.pop("requestId", None)
            extensions.pop("auditSeq", None)
            # Errors and the paths held back in order: plans settle fields as graphql-core does.
            answers.append((response.status_code, answer))
        if answers[0] != answers[1]:
            planned, strawberry = (json.dumps(a, ensure_ascii=False, indent=1).splitlines() for a in answers)
            diff = "\n".join(difflib.unified_diff(strawberry, planned, "strawberry", "planned", lineterm="", n=3))
            pytest.fail(f"planned and strawberry differ for {body['query']}:\n{diff}")
        return answers[0][1]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def twins(city_database: str) -> AsyncIterator[Twins]:
    settings = settings_for(city_database)
    apps = [create_app(settings), create_app(settings, planned=False)]
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients.append(await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test")
            ))  # fmt: skip
        yield Twins(clients[0], clients[1], Tokens(settings))


def role_token(tokens: Tokens, role: Role) -> str | None:
    return {
        Role.PUBLIC: None, Role.CITIZEN: tokens.borrower, Role.BANK: tokens.bank, Role.COUNTER: tokens.counter,
        Role.ISSUER: tokens.issuer(city.POLICE), Role.AUDITOR: tokens.auditor, Role.ADMIN: tokens.admin,
    }[role]  # fmt: skip


REACH = reaching_columns(SCHEMA)
TYPES = sorted(name for name in OBJECT_FIELDS if name not in ("Query", "Mutation") and name not in PER_CALLER)


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
async def test_every_field_of_every_type_alike(twins: Twins, role: Role) -> None:
    token = role_token(twins.tokens, role)
    ident: dict[str, str] = {}
    admin = await twins.same({"query": PERSON % "certificates { typeCode identifier }", "variables": {"id": city.BORROWER}},
                             twins.tokens.admin)  # fmt: skip
    ident.update({c["typeCode"]: c["identifier"] for c in admin["data"]["person"]["certificates"]})
    compared = 0
    for type_name in TYPES:
        if role not in REACH.get(type_name, set()):
            continue
        r = route(type_name, role, ident)
        if r is None or r.query.startswith("mutation"):  # mutations are never planned: one executor runs them
            continue
        fields = " ".join(selection(type_name, f) for f in OBJECT_FIELDS[type_name].fields)
        query = r.query.replace("{sel}", fields)
        assert is_planned(query, None), query
        await twins.same({"query": query, "variables": r.variables}, token)
        compared += 1
    assert compared, f"no type reached as {role}"


# (query, variables, operation name, token role, planned?)
CORPUS: list[tuple[str, dict[str, Any], str | None, Role, bool]] = [
    # the bank's credit query, as the benchmark sends it
    (PERSON % "idNumber name gender birthDate creditScore { score grade modelVersion computedAt factors { code description impact } }"
     " penalties { decisionNumber severity category reason amount authorityName decidedOn publishUntil status repairedOn }"
     " licences { decisionNumber category title authorityName decidedOn validFrom validTo status }",
     {"id": city.BORROWER, "a": BANK_ACCESS}, None, Role.BANK, True),
    # aliases, the same field twice, __typename
    (PERSON % "who: name again: name __typename n: idNumber", {"id": city.BORROWER, "a": BANK_ACCESS}, None, Role.BANK, True),
    # named and inline fragments, merged selections
    ("query Q($id: String!) { person(idNumber: $id) { ...P ... on Person { phone licences { title } } licences { status } } }"
     " fragment P on Person { name phone }", {"id": city.BORROWER}, "Q", Role.CITIZEN, True),
    # literal directives
    (PERSON % "name @skip(if: true) phone @include(if: false) address @include(if: true) idNumber @skip(if: false)",
     {"id": city.BORROWER}, None, Role.CITIZEN, True),
    # directives with a variable: strawberry runs it
    ("query($id: String!, $s: Boolean!) { person(idNumber: $id) { name @skip(if: $s) } }",
     {"id": city.BORROWER, "s": True}, None, Role.CITIZEN, False),
    # denied fields (null, FORBIDDEN at their path) and masked ones, for a bank
    (PERSON % "name phone address idNumber consents { id }", {"id": city.BORROWER, "a": BANK_ACCESS}, None, Role.BANK, True),
    # no consent: the subject refused at the root
    (PERSON % "name", {"id": city.BORROWER}, None, Role.BANK, True),
    (PERSON % "name", {"id": city.BORROWER, "a": {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_REVOKED}},
     None, Role.BANK, True),
    # a bad identifier, and a variable of the wrong type
    (PERSON % "name", {"id": "330105199007080011"}, None, Role.ADMIN, True),
    (PERSON % "name", {"id": 12}, None, Role.ADMIN, True),
    (PERSON % "name", {}, None, Role.ADMIN, True),
    (PERSON % "name", {"id": city.BORROWER, "a": {"purpose": "NO_SUCH_PURPOSE", "consentId": city.CONSENT_OK}},
     None, Role.BANK, True),
    (PERSON % "name", {"id": city.BORROWER, "a": {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OK, "x": 1}},
     None, Role.BANK, True),
    # variables with defaults, omitted and given
    ('query($n: String = "%s", $f: Int = 2) { searchEnterprises(name: $n, first: $f) { edges { node { name } } } }'
     % city.SEARCH_PREFIX, {}, None, Role.PUBLIC, True),
    ('query($n: String = "%s", $f: Int = 2) { searchEnterprises(name: $n, first: $f) { edges { node { name } } } }'
     % city.SEARCH_PREFIX, {"f": 3, "n": None}, None, Role.PUBLIC, True),
    # literal arguments, and defaults
    ('{ person(idNumber: "%s") { name enterprises { name } } }' % city.BORROWER, {}, None, Role.ADMIN, True),
    ('{ searchEnterprises(name: "%s", first: 3) { edges { cursor node { name creditCode } } pageInfo { hasNextPage endCursor } } }'
     % city.SEARCH_PREFIX, {}, None, Role.PUBLIC, True),
    ('query($after: String) { searchEnterprises(name: "%s", first: 2, after: $after) { edges { node { name } } } }'
     % city.SEARCH_PREFIX, {"after": "not-a-cursor"}, None, Role.PUBLIC, True),
    # the subject's enterprises, each gated again: some refused at their index
    (PERSON % "name enterprises { name legalRepresentative { name } licences { title } penalties { reason } }",
     {"id": city.BORROWER, "a": BANK_ACCESS}, None, Role.BANK, True),
    (PERSON % "enterprises { creditCode licences { title status } creditScore { score } }",
     {"id": city.BORROWER}, None, Role.CITIZEN, True),
    # two root fields, one refused
    ('query($id: String!) { me { role } person(idNumber: $id) { name } certificateTypes { typeCode name } }',
     {"id": city.STRANGER}, None, Role.CITIZEN, True),
    # several operations, one chosen; a name that is not there
    ("query A { me { role } } query B { certificateTypes { typeCode } }", {}, "B", Role.PUBLIC, True),
    ("query A { me { role } } query B { certificateTypes { typeCode } }", {}, "C", Role.PUBLIC, False),
    # what plans leave to strawberry: introspection, a mutation, a syntax and a validation error
    ("{ __schema { queryType { name } } }", {}, None, Role.ADMIN, False),
    ("{ __type(name: \"Person\") { name } me { role } }", {}, None, Role.ADMIN, False),
    ("mutation($id: ID!) { revokeConsent(id: $id) { id } }", {"id": "no-such-consent"}, None, Role.CITIZEN, False),
    ("{ person(idNumber: ", {}, None, Role.ADMIN, False),
    ("{ person { nope } }", {}, None, Role.ADMIN, False),
]


@pytest.mark.parametrize(("query", "variables", "name", "role", "planned"), CORPUS)
async def test_corpus_alike(
    twins: Twins, query: str, variables: dict[str, Any], name: str | None, role: Role, planned: bool
) -> None:
    assert is_planned(query, name) is planned
    await twins.same({"query": query, "variables": variables, "operationName": name}, role_token(twins.tokens, role))
