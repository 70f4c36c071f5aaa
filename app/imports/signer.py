"""Signing the documents of imported certificates, on the other cores when there are many.

Ed25519 signing holds the GIL and costs about as much per certificate as parsing its line, and
a synthetic city is more than half certificates. A large import therefore sends batches of
certificates to worker processes (`IssuerKey.sign` there, the same code as in process) and
goes on reading and writing while they sign. The workers get the issuers' private keys in
memory, never on disk, and end with the import. They are spawned, so a script that imports a
large input must guard its entry point (`if __name__ == "__main__":`), as `xinzheng` and the
benchmarks do: a spawned process imports the main module again.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from app.certificates.signing import IssuerKey, load_private_pem, private_pem
from app.imports.certificate import signed_content

# Certificates to sign before worker processes pay for their start (about a second each).
POOL_FROM = 20_000
MAX_WORKERS = 4

# (issuer code, kid, private key as PEM): what a worker needs to sign as that issuer.
KeyMaterial = tuple[str, str, bytes]


def key_material(key: IssuerKey) -> KeyMaterial:
    return key.authority_code, key.kid, private_pem(key.private_key).encode()


def sign_rows(keys: dict[str, IssuerKey], rows: Sequence[dict[str, Any]]) -> list[str]:
    """The documents of these certificate rows, each signed with its issuer's key."""
    return [keys[row["issuer_code"]].sign(signed_content(row)) for row in rows]


_worker_keys: dict[str, IssuerKey] = {}  # in a worker process: the keys it has been given


def _sign_in_worker(material: list[KeyMaterial], rows: list[dict[str, Any]]) -> list[str]:
    for code, kid, raw in material:
        known = _worker_keys.get(code)
        if known is None or known.kid != kid:
            _worker_keys[code] = IssuerKey(kid, code, load_private_pem(raw))
    return sign_rows(_worker_keys, rows)


class Signer:
    """Signs batches of certificate rows: in worker processes for a large import, else here."""

    def __init__(self, certificates: int) -> None:
        workers = min(MAX_WORKERS, (os.cpu_count() or 1) - 1)
        self._pool: Executor | None = None
        if certificates >= POOL_FROM and workers >= 1:
            # spawn, not fork: the importing process has threads (the database driver's).
            self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self.workers = max(1, workers) if self._pool else 0

    def sign(self, keys: dict[str, IssuerKey], rows: list[dict[str, Any]]) -> asyncio.Future[list[str]]:
        """The documents of these rows, in their order, when they are signed."""
        loop = asyncio.get_running_loop()
        if self._pool is None:
            done: asyncio.Future[list[str]] = loop.create_future()
            done.set_result(sign_rows(keys, rows))
            return done
        material = [key_material(keys[code]) for code in {row["issuer_code"] for row in rows}]
        return asyncio.wrap_future(self._pool.submit(_sign_in_worker, material, rows))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
