"""GraphiQL over HTTP (SPEC section 5): in dev the page and its assets come from the service
itself, under a content security policy of 'self'; in prod there is neither.

tests/browser/test_graphiql.py runs the page in Chromium; these are the headers and routes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from app.main import create_app
from tests.api.conftest import ProdCity, settings_for

HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}  # a browser's
STATIC = Path(__file__).parents[2] / "app" / "graphiql" / "static"
ASSET = re.compile(r'(?:src|href)="(/graphiql/[^"]+)"')
NONCE = re.compile(r'<meta name="style-nonce" content="([^"]+)"')


async def client_for(city_database: str, env: str, keys_dir: Path | None = None) -> AsyncIterator[httpx.AsyncClient]:
    settings = dataclasses.replace(
        settings_for(city_database), env=env, dev_secret=env == "dev", signing_keys_dir=str(keys_dir) if keys_dir else None
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test") as client,
    ):
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def dev(city_database: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(city_database, "dev"):
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def prod(prod_city: ProdCity) -> AsyncIterator[httpx.AsyncClient]:
    """Prod starts only on a database that holds no private key (tests/api/conftest.py prod_city)."""
    async for client in client_for(prod_city.url, "prod", prod_city.keys_dir):
        yield client


def policy(response: httpx.Response) -> dict[str, str]:
    directives = (d.strip().split(" ", 1) for d in response.headers["content-security-policy"].split(";"))
    return {name: sources for name, sources in directives}


async def test_in_dev_the_page_loads_only_the_services_own_assets(dev: httpx.AsyncClient) -> None:
    page = await dev.get("/graphql", headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-store" and page.headers["x-content-type-options"] == "nosniff"
    assets = ASSET.findall(page.text)
    assert {Path(a).name for a in assets} == {
        "react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "start.js",
        "graphiql.min.css", "page.css",
    }  # fmt: skip
    assert "<script>" not in page.text and "<style" not in page.text and " style=" not in page.text  # nothing inline
    assert "http" not in page.text  # no other origin named anywhere


async def test_in_dev_the_policy_is_self_with_a_style_nonce_per_page(dev: httpx.AsyncClient) -> None:
    first, second = [await dev.get("/graphql", headers=HTML) for _ in range(2)]
    nonces = []
    for page in (first, second):
        nonce = NONCE.search(page.text)
        assert nonce is not None
        nonces.append(nonce.group(1))
        assert policy(page) == {
            "default-src": "'self'",
            "script-src": "'self'",
            "style-src": f"'self' 'nonce-{nonce.group(1)}'",
            "img-src": "'self' data:",
            "font-src": "'self' data:",
            "connect-src": "'self'",
            "object-src": "'none'",
            "base-uri": "'none'",
            "form-action": "'none'",
            "frame-ancestors": "'none'",
        }
    assert nonces[0] != nonces[1] and len(nonces[0]) >= 22


async def test_in_dev_the_assets_are_served_cacheable_with_their_types(dev: httpx.AsyncClient) -> None:
    page = await dev.get("/graphql", headers=HTML)
    types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
    for url in ASSET.findall(page.text):
        asset = await dev.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"] == types[Path(url).suffix], url
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable", url
        assert asset.headers["x-content-type-options"] == "nosniff", url
        assert policy(asset)["script-src"] == "'self'", url
        assert asset.content == (STATIC / Path(url).name).read_bytes(), url


async def test_in_dev_nothing_else_is_served_and_a_stale_version_is_not_found(dev: httpx.AsyncClient) -> None:
    page = await dev.get("/graphql", headers=HTML)
    base = ASSET.findall(page.text)[0].rsplit("/", 1)[0]
    for name in ("LICENSE.graphiql", "page.html", "__init__.py", "graphiql.min.js.map", "nothing.js"):
        assert (await dev.get(f"{base}/{name}")).status_code == 404, name
    stale = await dev.get("/graphiql/0000000000000000/graphiql.min.js")
    assert stale.status_code == 404 and stale.headers.get("cache-control") is None


async def test_in_prod_there_is_no_graphiql(prod: httpx.AsyncClient, dev: httpx.AsyncClient) -> None:
    dev_page = await dev.get("/graphql", headers=HTML)
    page = await prod.get("/graphql", headers=HTML)
    # The endpoint answers as it does any GET that is not a GraphQL request: no page.
    assert page.status_code >= 400 and "text/html" not in page.headers["content-type"], page.text
    assert "graphiql" not in page.text.lower()
    for url in ASSET.findall(dev_page.text):  # the very URLs dev serves
        assert (await prod.get(url)).status_code == 404, url
