"""`xinzheng token` (SPEC section 8): in dev it signs with XINZHENG_JWT_SECRET when one is
configured, so the token it prints is one the running service accepts; only prod refuses."""

from __future__ import annotations

import secrets
import subprocess

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.api.conftest import TEST_SECRET
from tests.audit.conftest import service_env
from tests.http.conftest import LiveService
from tests.live import xinzheng_command

BANK = "91330100MA2H00001P"  # 惠民银行, in the demo city
NO_DATABASE = "sqlite+aiosqlite:////nonexistent/xz.db"  # a refusal reads no database


def token_command(*args: str, database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`xinzheng token` with the live service's environment (its secret, issuer and audience), and `env` on top."""
    return subprocess.run(
        [*xinzheng_command(), "token", *args], env={**service_env(database_url), **env}, capture_output=True, text=True, timeout=60
    )


def test_a_token_minted_in_dev_with_a_configured_secret_is_accepted_by_the_service(live: LiveService) -> None:
    made = token_command("--role", "bank", "--org", BANK, "--sub", "officer-9", database_url=live.database_url)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    jwt.decode(token, TEST_SECRET, algorithms=["HS256"], audience="xinzheng")  # the configured secret signed it
    answer = httpx.post(live.url, json={"query": "{ me { role org sub } }"}, headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["me"] == {"role": "bank", "org": BANK, "sub": "officer-9"}


def test_prod_refuses_to_mint_even_with_a_configured_secret() -> None:
    strong = secrets.token_urlsafe(48)  # made per run
    made = token_command("--role", "admin", database_url=NO_DATABASE, XINZHENG_ENV="prod", XINZHENG_JWT_SECRET=strong)
    assert (made.returncode, made.stdout) == (1, "")
    assert "only in dev" in made.stderr and len(made.stderr.strip().splitlines()) == 1


def test_a_service_verifying_with_a_public_key_mints_nothing_and_says_why() -> None:
    public = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    made = token_command("--role", "admin", database_url=NO_DATABASE, XINZHENG_JWT_PUBLIC_KEY=public)
    assert (made.returncode, made.stdout) == (1, "")
    assert "XINZHENG_JWT_PUBLIC_KEY" in made.stderr and len(made.stderr.strip().splitlines()) == 1


def test_a_lifetime_out_of_range_is_refused_in_one_line() -> None:
    for ttl in ("0", "-5", str(366 * 24 * 3600), "999999999999999999"):
        made = token_command("--role", "bank", "--org", BANK, "--ttl", ttl, database_url=NO_DATABASE)
        assert (made.returncode, made.stdout) == (1, ""), ttl
        assert made.stderr == "xinzheng token: --ttl must be 1 to 31536000 seconds (a year)\n", made.stderr
