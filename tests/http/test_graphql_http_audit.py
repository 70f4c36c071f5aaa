"""The graphql-http server audit (npm `graphql-http`, pinned in graphql-http/package-lock.json)
against the live, seeded service: every MUST, SHOULD and MAY of the GraphQL-over-HTTP draft.

.ci/run installs the audit with `npm ci`; with CI=true a missing node or audit is a failure.
Elsewhere the test is skipped and says how to install it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.http.conftest import LiveService

PROJECT = Path(__file__).with_name("graphql-http")
LEVEL = re.compile(r"(MUST|SHOULD|MAY) (\d+)/(\d+)")


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, once the audit's packages are installed."""
    found = shutil.which("node")
    if found is None:
        problem = "node is not installed"
    elif not (PROJECT / "node_modules" / "graphql-http" / "package.json").exists():
        problem = f"the audit's packages are not installed: run 'npm ci' in {PROJECT}"
    else:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"the graphql-http audit must run in CI, but {problem}")
    pytest.skip(problem)


def test_the_server_audit_passes_every_must_should_and_may(node: str, live: LiveService) -> None:
    done = subprocess.run([node, "audit.mjs", live.url], cwd=PROJECT, capture_output=True, text=True, timeout=180)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    levels = {name: (int(ok), int(total)) for name, ok, total in LEVEL.findall(done.stdout.splitlines()[-1])}
    assert set(levels) == {"MUST", "SHOULD", "MAY"}, report
    assert all(ok == total > 0 for ok, total in levels.values()), report
    results = done.stdout.splitlines()[:-1]
    assert len(results) == sum(total for _, total in levels.values()) and all(r.startswith("ok ") for r in results), report
