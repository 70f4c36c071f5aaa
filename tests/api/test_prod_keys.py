"""Issuer keys in prod: private keys only in XINZHENG_SIGNING_KEYS_DIR, never in the database, never
returned; the service refuses to start while the database holds one (SPEC section 8)."""

from __future__ import annotations

import dataclasses
import os
import stat
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.certificates.keys import KeyConfigError
from app.config import Settings
from app.db.models import SigningKey
from app.main import create_app
from tests.api import city
from tests.api.certs import ISSUE, issue_input, verify_offline
from tests.api.conftest import TEST_SECRET, ProdCity, Tokens, settings_for


def prod_settings(url: str, keys_dir: str | None) -> Settings:
    return dataclasses.replace(settings_for(url), env="prod", dev_secret=False, signing_keys_dir=keys_dir)


async def stored_private_keys(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(SigningKey.__table__.c.private_pem))).scalars().all()
    finally:
        await engine.dispose()
    return sum(1 for pem in rows if pem)


async def test_prod_refuses_to_start_while_the_database_holds_a_private_key(city_database: str) -> None:
    assert await stored_private_keys(city_database) > 0  # the dev city: keys made at first use
    app = create_app(prod_settings(city_database, None))
    with pytest.raises(KeyConfigError, match="private signing key"):
        async with app.router.lifespan_context(app):
            pass


async def test_prod_signs_with_keys_from_the_directory_and_stores_none(prod_city: ProdCity) -> None:
    app = create_app(prod_settings(prod_city.url, str(prod_city.keys_dir)))
    tokens = Tokens(settings_for(prod_city.url))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test"
    ) as client:
        response = await client.post(
            "/graphql",
            json={"query": ISSUE, "variables": {"in": issue_input()}},
            headers={"authorization": f"Bearer {tokens.issuer(city.POLICE)}"},
        )
        body = response.json()
        assert "errors" not in body, body
        jwks = (await client.get("/.well-known/jwks.json")).json()
        listing = await client.get(verify_offline(body["data"]["issueCertificate"]["document"], jwks)["status"]["status_list"]["uri"])
    assert listing.status_code == 200
    assert all("d" not in k for k in jwks["keys"])
    assert await stored_private_keys(prod_city.url) == 0


async def test_rotating_in_prod_writes_the_new_key_to_the_directory_only(prod_city: ProdCity) -> None:
    env = {"XINZHENG_ENV": "prod", "XINZHENG_SIGNING_KEYS_DIR": str(prod_city.keys_dir)}
    before = set(os.listdir(prod_city.keys_dir))
    done = run_cli_env(["keys", "rotate", "--authority", city.MARKET_REGULATOR], prod_city.url, env)
    assert done.returncode == 0, done.stderr
    (new,) = set(os.listdir(prod_city.keys_dir)) - before
    assert new.startswith(city.MARKET_REGULATOR + ".") and new.endswith(".pem")
    assert stat.S_IMODE(os.stat(prod_city.keys_dir / new).st_mode) == 0o600
    assert await stored_private_keys(prod_city.url) == 0


def run_cli_env(args: list[str], url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`xinzheng` as prod runs it: its database, its environment (the suite's test-only secret)."""
    environment = {**os.environ, **env, "XINZHENG_DATABASE_URL": url, "XINZHENG_JWT_SECRET": TEST_SECRET}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=environment, capture_output=True, text=True, timeout=120)
