"""Text no database stores as given (NUL, which PostgreSQL refuses; half of a surrogate pair,
which is not UTF-8 at all) sent everywhere a caller can put text: every request still leaves
exactly one entry, is answered BAD_USER_INPUT (never AUDIT_UNAVAILABLE), and the entry keeps a
visible escape of what was sent where it keeps that text at all.

Each character is sent the ways a caller can spell it: a JSON escape in the body (refused by
the body check before anything runs), a GraphQL string escape inside the query text (which the
body check cannot see: it reaches the resolvers), and inside a signed token's claims.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.auth.roles import Role
from tests.audit.conftest import KNOWN_BANK, Service, entry_count, stored_entries, xinzheng

CITIZEN = "330106198503120028"
# What a caller sends, as Python text, and the escape the entry keeps.
BAD = {"nul": ("\x00", "\\u0000"), "low_surrogate": ("\udc00", "\\udc00"), "high_surrogate": ("\ud800", "\\ud800")}
PERSON_AS = 'query { person(idNumber: "%s", access: {%s}) { name } }'


def graphql_escape(text: str) -> str:
    """The text as a GraphQL string literal's body spells it: every character as \\uXXXX."""
    return "".join(f"\\u{ord(c):04x}" for c in text)


@dataclass(frozen=True)
class Attack:
    send: Callable[[Service, str], Awaitable[httpx.Response]]
    # Where the entry keeps the text, as a function of the entry, and what it keeps there
    # ("{}" stands for the escape); None: the entry keeps no copy of it.
    kept: Callable[[dict[str, Any]], Any] | None = None
    keeps: str = ""
    # Spelt as a GraphQL escape in the query text, which the entry keeps as sent. GraphQL has
    # no escape for half of a surrogate pair: such a text is a syntax error, before any resolver.
    in_query: bool = True


def _raw(service: Service, body: str) -> Awaitable[httpx.Response]:
    """A body written by hand: json.dumps spells a lone surrogate as \\udc00, as an attacker would."""
    return service.post(content=body.encode(), headers={"content-type": "application/json"})


def _subject_claim(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda entry: [item[key] for item in entry["subjects"] if item["state"] == "REFUSED"]


ATTACKS: dict[str, Attack] = {
    # GraphQL string escapes: the body is plain ASCII, the argument holds the character.
    "consent_id_in_query": Attack(
        lambda s, c: s.query(PERSON_AS % (CITIZEN, f'purpose: LOAN_APPROVAL, consentId: "c-{graphql_escape(c)}"'),
                             token=s.tokens.make(Role.BANK, org=KNOWN_BANK)),
        _subject_claim("consentId"), "c-{}",
    ),
    "case_number_in_query": Attack(
        lambda s, c: s.query(PERSON_AS % (CITIZEN, f'caseNumber: "XH-{graphql_escape(c)}"'), token=s.tokens.admin),
        _subject_claim("caseNumber"), "XH-{}",
    ),
    "consent_id_of_admin_in_query": Attack(
        lambda s, c: s.query(PERSON_AS % (CITIZEN, f'consentId: "{graphql_escape(c)}"'), token=s.tokens.admin),
        _subject_claim("consentId"), "{}",
    ),
    "consent_id_in_variable_default": Attack(
        lambda s, c: s.query(
            'query($a: AccessInput = {purpose: LOAN_APPROVAL, consentId: "%s"}) { person(idNumber: "%s", access: $a) { name } }'
            % (graphql_escape(c), CITIZEN), token=s.tokens.make(Role.BANK, org=KNOWN_BANK),
        ),
        _subject_claim("consentId"), "{}",
    ),
    "id_number_in_query": Attack(lambda s, c: s.query(PERSON_AS % (CITIZEN[:17] + graphql_escape(c), "reason: \"x\""),
                                                       token=s.tokens.admin)),
    "search_name_in_query": Attack(
        lambda s, c: s.query('{ searchEnterprises(name: "茶%s") { edges { node { name } } } }' % graphql_escape(c))
    ),
    "credit_code_in_query": Attack(
        lambda s, c: s.query('{ enterprise(creditCode: "91330100MA2H0000%s") { name } }' % graphql_escape(c))
    ),
    # Claims of a genuinely signed token.
    "token_sub": Attack(
        lambda s, c: s.query("{ me { role } }", token=s.tokens.make(Role.ADMIN, sub=f"ops-{c}-1")),
        lambda entry: entry["actorSub"], "ops-{}-1", in_query=False,
    ),
    # JSON escapes in the body: refused before anything runs.
    "query_text_in_body": Attack(lambda s, c: _raw(s, json.dumps({"query": "{ me { role } } #" + c})), in_query=False),
    "operation_name_in_body": Attack(
        lambda s, c: _raw(s, json.dumps({"query": "query Q { me { role } }", "operationName": "Q" + c})), in_query=False
    ),
    "variable_in_body": Attack(
        lambda s, c: _raw(s, json.dumps({"query": "query($n: String!) { searchEnterprises(name: $n) { edges { cursor } } }",
                                         "variables": {"n": "茶" + c}})), in_query=False,
    ),
    "variable_name_in_body": Attack(
        lambda s, c: _raw(s, json.dumps({"query": "{ me { role } }", "variables": {"n" + c: 1}})), in_query=False
    ),
}  # fmt: skip


async def _one_entry_each(service: Service, attack: str, character: str, response: httpx.Response, seq: int) -> None:
    """The request's answer is BAD_USER_INPUT citing entry `seq`, which keeps an escape of the text."""
    assert response.status_code in (200, 400), (attack, response.text)
    body = response.json()
    codes = [e["extensions"]["code"] for e in body.get("errors", [])]
    assert "BAD_USER_INPUT" in codes and "AUDIT_UNAVAILABLE" not in codes, (attack, body)
    assert body["extensions"]["auditSeq"] == seq, attack
    entry = next(e for e in await stored_entries(service.url) if e["seq"] == seq)
    assert "BAD_USER_INPUT" in entry["errorCodes"], (attack, entry)
    escape = BAD[character][1]
    how = ATTACKS[attack]
    if how.in_query:
        assert escape in entry["queryText"], (attack, entry)
    if how.kept is not None and (character == "nul" or not how.in_query):
        assert how.kept(entry) in (how.keeps.format(escape), [how.keeps.format(escape)]), (attack, entry)


@pytest.mark.parametrize("character", list(BAD))
async def test_text_no_database_stores_leaves_one_entry_and_is_bad_user_input(service: Service, character: str) -> None:
    for attack in ATTACKS:
        before = await entry_count(service.url)

        response = await ATTACKS[attack].send(service, BAD[character][0])

        assert await entry_count(service.url) == before + 1, attack
        await _one_entry_each(service, attack, character, response, before + 1)


async def test_all_at_once_every_request_has_its_entry(service: Service) -> None:
    """Sent together, the entries are written in shared transactions (app/audit/store.py group
    commit): none of them may fail the others, and none is lost."""
    sent = [(attack, character) for attack in ATTACKS for character in BAD]
    plain = [service.query("{ me { role } }") for _ in range(len(sent))]

    responses = await asyncio.gather(*(ATTACKS[a].send(service, BAD[c][0]) for a, c in sent), *plain)

    assert await entry_count(service.url) == len(responses)
    seqs = [r.json()["extensions"]["auditSeq"] for r in responses]
    assert sorted(seqs) == list(range(1, len(responses) + 1))
    for (attack, character), response, seq in zip(sent, responses, seqs, strict=False):
        await _one_entry_each(service, attack, character, response, seq)
    assert [r.status_code for r in responses[len(sent):]] == [200] * len(plain)
    verified = xinzheng("audit", "verify", database_url=service.url)
    assert verified.returncode == 0, verified.stderr
