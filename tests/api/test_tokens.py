"""Who the service thinks is calling (SPEC section 8: tokens)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import subprocess
import sys

import jwt

from app.auth.roles import Role
from tests.api import city
from tests.api.conftest import TEST_SECRET, Api

ME = "{ me { role sub org idNumber } }"


async def test_no_token_is_the_public_role(api: Api) -> None:
    body = await api.graphql(ME)
    assert body["data"]["me"] == {"role": "public", "sub": None, "org": None, "idNumber": None}


async def test_me_tells_a_bank_who_it_is(api: Api) -> None:
    token = api.tokens.make(Role.BANK, org=city.BANK, sub="officer-7")
    body = await api.graphql(ME, token=token)
    assert body["data"]["me"] == {"role": "bank", "sub": "officer-7", "org": city.BANK, "idNumber": None}


async def test_me_tells_a_citizen_their_id_number(api: Api) -> None:
    body = await api.graphql(ME, token=api.tokens.citizen)
    assert body["data"]["me"]["idNumber"] == city.CITIZEN


def _claims(**over: object) -> dict[str, object]:
    now = dt.datetime.now(dt.UTC)
    claims: dict[str, object] = {
        "sub": "x", "role": "bank", "org": city.BANK, "iss": "xinzheng-test", "aud": "xinzheng",
        "exp": now + dt.timedelta(minutes=5),
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


async def _refused(api: Api, token: str) -> str:
    response = await api.post({"query": ME}, token=token)
    assert response.status_code == 401, response.text
    body = response.json()
    assert "data" not in body or body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    message: str = body["errors"][0]["message"]
    return message


async def test_alg_none_is_refused(api: Api) -> None:
    await _refused(api, jwt.encode(_claims(), None, algorithm="none"))


async def test_a_bad_signature_is_refused(api: Api) -> None:
    await _refused(api, jwt.encode(_claims(), "another-secret-of-sufficient-length-0000", algorithm="HS256"))


async def test_another_algorithm_is_refused(api: Api) -> None:
    await _refused(api, jwt.encode(_claims(), TEST_SECRET, algorithm="HS512"))


async def test_an_expired_token_is_refused(api: Api) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    assert "expired" in await _refused(api, jwt.encode(_claims(exp=past), TEST_SECRET, algorithm="HS256"))


async def test_a_token_without_expiry_is_refused(api: Api) -> None:
    claims = _claims()
    del claims["exp"]
    await _refused(api, jwt.encode(claims, TEST_SECRET, algorithm="HS256"))


async def test_a_wrong_issuer_is_refused(api: Api) -> None:
    await _refused(api, jwt.encode(_claims(iss="someone-else"), TEST_SECRET, algorithm="HS256"))


async def test_a_wrong_audience_is_refused(api: Api) -> None:
    await _refused(api, jwt.encode(_claims(aud="another-service"), TEST_SECRET, algorithm="HS256"))


async def test_an_unknown_role_is_refused(api: Api) -> None:
    await _refused(api, jwt.encode(_claims(role="superuser"), TEST_SECRET, algorithm="HS256"))


async def test_a_bank_token_without_org_is_refused(api: Api) -> None:
    await _refused(api, jwt.encode(_claims(org=None), TEST_SECRET, algorithm="HS256"))


async def test_a_header_that_is_not_bearer_is_refused(api: Api) -> None:
    response = await api.post({"query": ME}, headers={"authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_the_token_command_prints_a_token_the_service_accepts(tmp_path: object) -> None:
    """`xinzheng token` in dev, then the service started with the same environment accepts it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINZHENG_")}
    made = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "--role", "bank", "--org", city.BANK, "--sub", "officer-1"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    from app.auth.tokens import TokenVerifier
    from app.config import Settings

    principal = TokenVerifier(Settings.from_env(env)).verify(token)
    assert (principal.role, principal.org, principal.sub) == (Role.BANK, city.BANK, "officer-1")


def test_the_token_command_refuses_to_mint_in_prod() -> None:
    env = {**os.environ, "XINZHENG_ENV": "prod", "XINZHENG_JWT_SECRET": secrets.token_urlsafe(48)}  # made per run
    made = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "--role", "admin"], env=env, capture_output=True, text=True, timeout=60
    )
    assert made.returncode != 0
    assert made.stdout == ""
    assert "only in dev" in made.stderr and len(made.stderr.strip().splitlines()) == 1


def test_the_token_command_refuses_a_citizen_without_id_number() -> None:
    made = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "--role", "citizen"], capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 1
    assert "id_number" in made.stderr


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    """Verified tokens are remembered for speed; never past their expiry (on the verifier's clock)."""
    import pytest

    from app.auth.tokens import InvalidToken, TokenVerifier, mint
    from tests.api.conftest import settings_for

    settings = settings_for("sqlite+aiosqlite:///unused.db")
    issued = dt.datetime(2020, 1, 1, 9, 0, tzinfo=dt.UTC)  # long past: no claim is in the future
    now = [issued.timestamp()]
    verifier = TokenVerifier(settings, clock=lambda: now[0])
    token = mint(settings, role=Role.BANK, org=city.BANK, ttl=dt.timedelta(minutes=5), now=issued)
    assert verifier.verify(token).org == city.BANK
    now[0] += 299
    assert verifier.verify(token).org == city.BANK  # remembered, still in time
    now[0] += 1
    for _ in range(2):  # refused, and refused again once it is no longer remembered
        with pytest.raises(InvalidToken, match="expired"):
            verifier.verify(token)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(InvalidToken, match="not valid"):
        TokenVerifier(settings, clock=lambda: issued.timestamp()).verify(tampered)
