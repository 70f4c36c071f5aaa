"""GraphiQL in dev, with no internet: the page and every asset it loads come from this service.

`GET /graphql` (dev, `Accept: text/html`) answers `page()`; the assets are served by `asset` at
`/graphiql/<version>/<name>`, where `<version>` is a digest of their contents, so that they may be
cached for a year and a changed file is fetched anew. In prod neither is served: the view has no
IDE and `app.main` adds no asset route.

The assets in static/ are GraphiQL's UMD build and React's, vendored unchanged from npm with their
licences (VENDORED.md says which versions, their hashes, and how to update them), plus our own
start-up script and style sheet: the page's content security policy allows scripts and styles
from the service alone, so nothing on the page is inline. One exception, as narrow as it can be:
GraphiQL's dialogs (Radix, through react-remove-scroll) add a <style> element while open, which
the policy admits by a nonce made for each page; start.js hands it to them (`__webpack_nonce__`,
the hook their get-nonce reads). Style attributes and every other inline style stay refused.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

HERE = Path(__file__).parent
STATIC = HERE / "static"
PREFIX = "/graphiql"


def content_security_policy(style_nonce: str | None = None) -> str:
    """Scripts, styles, requests and frames: the service alone; on the page, style elements that
    carry its nonce too. GraphiQL's style sheet embeds its fonts and CodeMirror's lint icons as
    data: URLs, hence `data:` for fonts and images (and nothing else)."""
    styles = f"'self' 'nonce-{style_nonce}'" if style_nonce else "'self'"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            f"style-src {styles}",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(style_nonce: str | None = None) -> dict[str, str]:
    return {
        "content-security-policy": content_security_policy(style_nonce),
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
    }


# What the page loads, in order, with each file's content type. Nothing else in static/ is served.
CONTENT_TYPES = {
    "react.production.min.js": "text/javascript; charset=utf-8",
    "react-dom.production.min.js": "text/javascript; charset=utf-8",
    "graphiql.min.js": "text/javascript; charset=utf-8",
    "start.js": "text/javascript; charset=utf-8",
    "graphiql.min.css": "text/css; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
}
ONE_YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class Assets:
    files: dict[str, bytes]
    version: str  # a digest of every file: it changes whenever one does

    @property
    def base(self) -> str:
        return f"{PREFIX}/{self.version}"


@cache
def assets() -> Assets:
    """The asset files, read once, on the first dev request that needs them."""
    files = {name: (STATIC / name).read_bytes() for name in CONTENT_TYPES}
    digest = hashlib.sha256()
    for name, content in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return Assets(files, digest.hexdigest()[:16])


@cache
def _page_template() -> Template:
    return Template(Template((HERE / "page.html").read_text(encoding="utf-8")).safe_substitute(assets=assets().base))


def page() -> Response:
    """The GraphiQL page (dev only; the view decides when), with a nonce of its own."""
    nonce = secrets.token_urlsafe(18)
    return HTMLResponse(
        _page_template().substitute(style_nonce=nonce),
        headers={**security_headers(nonce), "cache-control": "no-store"},
    )


async def asset(request: Request) -> Response:
    """`GET /graphiql/<version>/<name>`: one of the page's assets, cacheable for a year."""
    current = assets()
    name = request.path_params["name"]
    if request.path_params["version"] != current.version or name not in current.files:
        return PlainTextResponse("not found", status_code=404, headers=security_headers())
    return Response(
        current.files[name],
        media_type=CONTENT_TYPES[name],
        headers={**security_headers(), "cache-control": f"public, max-age={ONE_YEAR}, immutable"},
    )
