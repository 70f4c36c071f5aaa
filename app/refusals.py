"""The plain HTTP endpoints' refusals (`/audit/*`, `/status-lists/*`; GraphQL's are app/view.py's):
`{"error": words}`, the words in the request's language as every text of the service's own is
(SPEC section 5: Simplified Chinese, English on `Accept-Language: en`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from app.i18n import Text, language_of


def refusal(request: Request, text: Text, status_code: int) -> JSONResponse:
    language = language_of(request.headers.get("accept-language"))
    return JSONResponse(
        {"error": text.render(language)},
        status_code=status_code,
        headers={"content-language": language, "vary": "Accept-Language", "cache-control": "no-store"},
    )
