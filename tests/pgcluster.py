"""A throwaway PostgreSQL server of the test's own (initdb and pg_ctl, its own port and directory),
for tests that stop and start the database: never the shared server the other tests use."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import REQUIRE_PG


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or ([shutil.which(name)] if shutil.which(name) else [])
    return found[-1] if found else None


class Cluster:
    def __init__(self, directory: str, port: int, run_as: list[str]) -> None:
        self.directory = directory
        self.port = port
        self.run_as = run_as  # as root: the postgres user, since PostgreSQL refuses to run as root
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        pg_ctl = _bin("pg_ctl")
        assert pg_ctl is not None
        subprocess.run(
            [*self.run_as, pg_ctl, "-D", f"{self.directory}/data", "-l", f"{self.directory}/log", "-w", *args],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    initdb = _bin("initdb")
    if initdb is None or _bin("pg_ctl") is None:
        if REQUIRE_PG:
            pytest.fail("initdb and pg_ctl are needed for a throwaway PostgreSQL server")
        pytest.skip("no initdb and pg_ctl for a throwaway PostgreSQL server")
    run_as: list[str] = []
    directory = tempfile.mkdtemp(prefix="xz-pg-")
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(directory, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = Cluster(directory, port, run_as)
    try:
        subprocess.run(
            [*run_as, initdb, "-D", f"{directory}/data", "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        except subprocess.CalledProcessError:
            pass  # never started, or stopped already
        shutil.rmtree(directory, ignore_errors=True)
