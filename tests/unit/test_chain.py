"""The chain's format is fixed: every hash already written must still come out the same.

`canonical` and `timestamp` are written for speed; here they are held to the plain definition
(SPEC section 7: sorted keys, no spaces, UTF-8, UTC with microseconds) and to a hash made before.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

from app.audit.chain import GENESIS, canonical, canonical_parts, entry_hash, timestamp

ENTRY: dict[str, Any] = {
    "seq": 7,
    "at": dt.datetime(2026, 11, 27, 16, 5, 9, 120034, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    "requestId": "bank-7f3a:0001", "actorSub": "teller-12", "actorRole": "bank", "actorOrg": "91330100MA2H00001P",
    "clientAddress": "10.1.2.3", "operationName": "Me", "operationType": "QUERY", "queryHash": "ab" * 32,
    "queryText": 'query Me($id: String!) { person(idNumber: $id) { name "王芳" } }',
    "variables": {"z": [1, 2.5, None, True], "a": {"姓名": "王芳", "token": "[redacted]"}},
    "purpose": "LOAN_APPROVAL", "consentId": "c-1", "caseNumber": None,
    "subjects": ["PERSON:330106198503120028"], "fieldsMasked": ["person.phone"], "fieldsDenied": [],
    "outcome": "PARTIAL", "errorCodes": ["FORBIDDEN"], "durationMs": 12, "prevHash": GENESIS,
}  # fmt: skip


def reference_timestamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def reference_canonical(entry: dict[str, Any]) -> bytes:
    body = {k: v for k, v in entry.items() if k != "hash"}
    if isinstance(body["at"], dt.datetime):
        body["at"] = reference_timestamp(body["at"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_an_entry_hashes_as_it_always_has() -> None:
    # Made by the first implementation (json.dumps, strftime): the chain's format, pinned.
    assert entry_hash(ENTRY) == "b9804d2611130cbbe1f1602e201e88850305414deb02e462ee10a79ad8f98be0"
    assert canonical(ENTRY) == reference_canonical(ENTRY)
    assert b'"at":"2026-11-27T08:05:09.120034Z"' in canonical(ENTRY)


def test_timestamps_are_written_as_strftime_writes_them() -> None:
    rng = random.Random(7)
    zones = [dt.UTC, dt.timezone(dt.timedelta(hours=8)), dt.timezone(dt.timedelta(hours=-9, minutes=-30))]
    edges = [
        dt.datetime(1, 1, 1, 12, tzinfo=dt.UTC),
        dt.datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        dt.datetime(1000, 1, 1, tzinfo=dt.UTC),
        dt.datetime(1000, 1, 1, 5, tzinfo=dt.timezone(dt.timedelta(hours=8))),  # the year before, in UTC
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    ]
    randoms = [
        dt.datetime(rng.randint(1, 9998), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                    rng.randint(0, 59), rng.randint(0, 59), rng.choice([0, rng.randint(0, 999999)]), tzinfo=rng.choice(zones))
        for _ in range(5000)
    ]  # fmt: skip
    for at in edges + randoms:
        assert timestamp(at) == reference_timestamp(at), at


def test_canonical_json_is_json_dumps_with_the_fixed_options() -> None:
    rng = random.Random(11)
    values: list[Any] = [None, True, 0, -3, 2**70, 1.5, 1e-7, "", "é\u2028\"\\\n", "王芳", [], {}, {"b": 1, "a": [{"d": 1, "c": 2}]}]
    for _ in range(500):
        entry = {**ENTRY, "variables": rng.choice(values), "queryText": rng.choice(["x", None, "\x00\t"]),
                 "subjects": rng.sample(["PERSON:1", "ENTERPRISE:2", "甲"], k=rng.randint(0, 3))}  # fmt: skip
        assert canonical(entry) == reference_canonical(entry)
    assert canonical({**ENTRY, "at": "2026-11-27T08:05:09.120034Z"}) == canonical(ENTRY)  # an export's text


def test_the_parts_the_database_joins_make_the_canonical_form() -> None:
    """On PostgreSQL the database gives an entry its seq and prevHash and joins its canonical
    form's three parts around them (xz_audit_chain): the same bytes as `canonical`."""
    rng = random.Random(13)
    values: list[Any] = [None, True, -3, 2**70, 1.5, "", "é\u2028\"\\\n", "王芳", {"b": 1, "a": [{"d": 1}]}, ["x"]]
    for _ in range(500):
        entry = {**ENTRY, "variables": rng.choice(values), "purpose": rng.choice(values), "requestId": rng.choice(values),
                 "subjects": rng.choice(values), "outcome": rng.choice(values), "seq": rng.randint(1, 2**62),
                 "prevHash": rng.choice([GENESIS, "%064x" % rng.getrandbits(256)])}  # fmt: skip
        first, second, third = canonical_parts({k: v for k, v in entry.items() if k not in ("seq", "prevHash")})
        joined = first + entry["prevHash"].encode() + second + str(entry["seq"]).encode() + third
        assert joined == canonical(entry) == reference_canonical(entry)
