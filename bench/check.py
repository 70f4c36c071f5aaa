"""The bench's query and subjects, and the check that every server answers them alike before
it is loaded (bench/run.py).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pgraphile  # bench/pgraphile.py: this script's directory is on sys.path
from servers import Server

BANK = "91330100MA2H00001P"  # 惠民银行, the demo bank of `xinzheng seed`
PURPOSE = "LOAN_APPROVAL"
CREDIT_QUERY = (
    "query Credit($id: String!, $access: AccessInput) { person(idNumber: $id, access: $access) {"
    " idNumber name gender birthDate"
    " creditScore { score grade modelVersion computedAt factors { code description impact } }"
    " penalties { decisionNumber severity category reason amount authorityName decidedOn publishUntil status repairedOn }"
    " licences { decisionNumber category title authorityName decidedOn validFrom validTo status } } }"
)
VERIFY_SUBJECTS = 200  # how many subjects both servers must answer identically before the load


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


@dataclass(frozen=True)
class Subject:
    id_number: str
    consent_id: str

    def body(self, consent_id: str | None = None) -> dict[str, Any]:
        access = {"purpose": PURPOSE, "consentId": consent_id or self.consent_id}
        return {"query": CREDIT_QUERY, "variables": {"id": self.id_number, "access": access}, "operationName": "Credit"}


def verify(servers: list[Server], token: str, subjects: list[Subject], postgraphile: Server | None = None) -> None:
    """Both servers give the same `data` for a sample of subjects, and both refuse a consent not the
    subject's. PostGraphile, if running, gives the same penalties, licences and score for the
    sample (the same data once its names are mapped: pgraphile.differences) and refuses a bad token."""
    sample = subjects[:: max(1, len(subjects) // VERIFY_SUBJECTS)][:VERIFY_SUBJECTS]
    seen = {"penalties": 0, "licences": 0}
    # In English: PostGraphile serves the factors' stored descriptions, which are English (the
    # service and the reference describe them in the request's language, Chinese by default).
    with httpx.Client(headers={"authorization": f"Bearer {token}", "accept-language": "en"}, timeout=30) as client:

        def ask(body: dict[str, Any]) -> list[dict[str, Any]]:
            answers = []
            for server in servers:
                response = client.post(server.url, json=body)
                if response.status_code != 200:
                    raise BenchError(f"{server.name} answered HTTP {response.status_code}: {response.text[:500]}")
                answers.append(response.json())
            return answers

        for subject in sample:
            ours, theirs = ask(subject.body())
            if ours.get("errors") or not (ours.get("data") or {}).get("person"):
                raise BenchError(
                    f"graphql gave no person for {subject.id_number}: {json.dumps(ours, ensure_ascii=False)}"
                )
            if ours["data"] != theirs.get("data"):  # parsed JSON: key order and spacing aside
                expected, got = (
                    json.dumps(a.get("data"), ensure_ascii=False, indent=1, sort_keys=True).splitlines()
                    for a in (ours, theirs)
                )
                diff = "\n".join(difflib.unified_diff(expected, got, "graphql", "reference", lineterm="", n=2))
                raise BenchError(f"the servers disagree on {subject.id_number}:\n{diff}")
            for key in seen:
                seen[key] += len(ours["data"]["person"][key] or [])
            if postgraphile is not None:
                response = client.post(postgraphile.url, json=pgraphile.body(subject.id_number))
                answer = response.json() if response.status_code == 200 else {}
                if response.status_code != 200 or answer.get("errors"):
                    raise BenchError(f"postgraphile answered HTTP {response.status_code}: {response.text[:1000]}")
                found = pgraphile.differences(ours["data"]["person"], (answer.get("data") or {}).get("person"))
                if found:
                    ours_text, theirs_text = (
                        json.dumps(a, ensure_ascii=False, indent=1, sort_keys=True).splitlines()
                        for a in (ours["data"]["person"], answer.get("data"))
                    )
                    diff = "\n".join(
                        difflib.unified_diff(ours_text, theirs_text, "graphql", "postgraphile", lineterm="", n=2)
                    )
                    raise BenchError(
                        f"graphql and postgraphile disagree on {subject.id_number}: {'; '.join(found)}\n{diff}"
                    )
        if len(subjects) > 1:  # the reference must check the consent as the service does
            for server, answer in zip(servers, ask(subjects[0].body(consent_id=subjects[1].consent_id)), strict=True):
                codes = [e.get("extensions", {}).get("code") for e in answer.get("errors", [])]
                if answer.get("data", {}).get("person") is not None or codes != ["CONSENT_REQUIRED"]:
                    raise BenchError(f"{server.name} did not refuse another subject's consent: {answer}")
    print(
        f"  both servers gave the same data for {len(sample)} subjects ({seen['penalties']} penalties, "
        f"{seen['licences']} licences), and refused another subject's consent"
    )
    if postgraphile is not None:
        forged = jwt.encode(jwt.decode(token, options={"verify_signature": False}), "not-the-secret" * 4, "HS256")
        response = httpx.post(
            postgraphile.url, json=pgraphile.body(subjects[0].id_number), timeout=30,
            headers={"authorization": f"Bearer {forged}"},
        )  # fmt: skip
        if response.status_code == 200 and not response.json().get("errors"):
            raise BenchError(f"postgraphile answered a token signed with another secret: {response.text[:500]}")
        print(
            f"  postgraphile gave the same penalties, licences and scores for the {len(sample)} subjects (the same"
            " data, names mapped), and refused a token signed with another secret"
        )
