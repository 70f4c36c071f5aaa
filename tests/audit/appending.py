"""Appending to the audit log in the tests of its writer: entries as the view makes them, appended
in batches by a store of the tests' own (app/audit/store.py), on the driver or through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

from sqlalchemy import event

from app.audit import keys
from app.audit.rows import INSERT_ENTRIES
from app.audit.store import AuditStore
from app.db.session import create_audit_engine, create_engine
from app.db.write import Writer
from tests.api.conftest import settings_for

CHECKPOINT_EVERY = 7
BATCHES = [1, 16, 1, 5, 16, 1]  # 40 entries, checkpoints inside batches and between them
ZONES = [dt.UTC, dt.timezone(dt.timedelta(hours=8)), dt.timezone(dt.timedelta(hours=-3, minutes=-30))]
VARIABLES: list[Any] = [
    None,  # stored as JSON null, not SQL NULL
    {},
    {"id": "330106198503120028", "access": {"purpose": "LOAN_APPROVAL", "token": "[redacted]"}},
    {"名字": "王芳", "n": [1, 2.5, None, True, -7], "quote": 'say "hi"\n\\'},
    ["a", {"b": {}}],
]

Item = tuple[dict[str, Any], list[dict[str, Any]]]


def item(i: int) -> Item:
    """An entry's fields and its access records, as the view makes them, different by i."""
    role = ["bank", "citizen", "public", "admin"][i % 4]
    fields = {
        "at": dt.datetime(2026, 11, 27, 8 + i % 5, i % 60, (i * 7) % 60, (i * 7919) % 1_000_000, tzinfo=ZONES[i % 3]),
        "requestId": f"req-{i:04d}",
        "actorSub": None if role == "public" else f"用户-{i}",
        "actorRole": role,
        "actorOrg": "91330100MA2H00001P" if role == "bank" else None,
        "clientAddress": None if i % 7 == 0 else f"10.0.{i % 255}.{i % 7}",
        "operationName": [None, "Me", 'Q"uote', "查询"][i % 4],
        "operationType": ["QUERY", "MUTATION", None][i % 3],
        "queryHash": None if i % 6 == 0 else f"{i:064x}",
        "queryText": None if i % 6 == 0 else f"query Me {{ me {{ role }} }} # {i} 中文",
        "variables": VARIABLES[i % len(VARIABLES)],
        "purpose": "LOAN_APPROVAL" if i % 2 else None,
        "consentId": f"c-{i}" if i % 3 == 0 else None,
        "caseNumber": "案-2026-01" if i % 5 == 0 else None,
        "subjects": [f"PERSON:3301061985031200{i % 100:02d}", "ENTERPRISE:91330100MA2H00001P"][: i % 3],
        "fieldsMasked": ["person.phone"] if i % 2 else [],
        "fieldsDenied": ["person.address", "person.phone"][: i % 3],
        "outcome": ["SERVED", "PARTIAL", "DENIED", "REJECTED", "FAILED"][i % 5],
        "errorCodes": [[], ["FORBIDDEN"], ["BAD_USER_INPUT", "FORBIDDEN"]][i % 3],
        "durationMs": i * 3,
    }
    accesses = [
        {
            "holder_kind": "PERSON" if k == 0 else "ENTERPRISE",
            "holder_id": "330106198503120028" if k == 0 else "91330100MA2H00001P",
            "organisation_code": fields["actorOrg"],
            "role": role,
            "purpose": fields["purpose"],
            "consent_id": fields["consentId"],
            "case_number": fields["caseNumber"],
        }
        for k in range(i % 3)
    ]
    return fields, accesses


def batches(start: int = 0) -> Iterator[list[Item]]:
    i = start
    for size in BATCHES:
        yield [item(i + k) for k in range(size)]
        i += size


async def append_batch(store: AuditStore, items: list[Item]) -> list[int]:
    """Appended together: every append is waiting before the flush starts, so one batch."""
    return list(await asyncio.gather(*(store.append(fields, accesses) for fields, accesses in items)))


@contextlib.asynccontextmanager
async def audit_store(url: str) -> AsyncIterator[AuditStore]:
    settings = settings_for(url, checkpoint_every=CHECKPOINT_EVERY)
    engine = create_engine(settings)
    store = AuditStore(engine, keys.audit_key(settings), CHECKPOINT_EVERY, create_audit_engine(settings))
    try:
        yield store
    finally:
        await engine.dispose()
        if store.sync_engine is not None:
            store.sync_engine.dispose()


def used_the_driver(store: AuditStore, *statements: Any) -> bool:
    compiled = store._writer.compiled
    return all(statement in compiled for statement in (INSERT_ENTRIES, *statements))


@contextlib.contextmanager
def through_sqlalchemy(store: AuditStore) -> Iterator[list[str]]:
    """Meanwhile the store's batches go through SQLAlchemy's execution (a writer made `ordinary`),
    and the statements the engine runs are listed (a listener sees them there)."""
    engine = store.sync_engine or store.engine.sync_engine
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    on_driver = store._writer
    store._writer = Writer(store.engine, sqlite=store.sync_engine, ordinary=True)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        store._writer = on_driver


