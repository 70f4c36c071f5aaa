"""The service as a client across the network meets it: `xinzheng serve` in its own process on
a free port (tests/live.py), on a fresh database holding the demo city (`xinzheng seed`), with
the test keys and rate limits off (these tests send bursts; tests/api/test_rate_limits.py tests
the limits).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.api.conftest import Tokens, settings_for
from tests.audit.conftest import service_env, xinzheng
from tests.conftest import DatabaseFactory
from tests.live import free_port, serving


@dataclass
class LiveService:
    database_url: str
    base_url: str
    tokens: Tokens

    @property
    def url(self) -> str:
        return f"{self.base_url}/graphql"


@pytest.fixture(scope="session")
def live(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    database_url = databases.new()
    seeded = xinzheng("seed", database_url=database_url)
    assert seeded.returncode == 0, seeded.stderr
    log = tmp_path_factory.mktemp("live") / "serve.log"
    with serving(service_env(database_url), log, port=free_port()) as base_url:
        yield LiveService(database_url, base_url, Tokens(settings_for(database_url)))
