"""Request ids (app/audit/record.py): unique within a process and across forked workers."""

from __future__ import annotations

import os

from app.audit.record import request_id_from


def test_request_ids_are_unique_and_a_forked_worker_draws_its_own() -> None:
    ours = {request_id_from(None) for _ in range(1000)}
    assert len(ours) == 1000 and all(len(i) == 32 for i in ours)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # a worker forked after import (gunicorn --preload, say)
        os.write(write, "".join(request_id_from(None) for _ in range(3)).encode())
        os._exit(0)
    os.waitpid(child, 0)
    theirs = os.read(read, 96).decode()
    assert {theirs[i : i + 32] for i in range(0, 96, 32)}.isdisjoint(ours | {request_id_from(None)})
    assert theirs[:16] != next(iter(ours))[:16]  # not the parent's process bits


def test_a_plain_incoming_request_id_is_kept() -> None:
    assert request_id_from("bank-7f3a-0001") == "bank-7f3a-0001"
