"""From an HTTP request to a Principal: the Authorization header, or the public role."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from app.auth.tokens import PUBLIC, InvalidToken, Principal, TokenVerifier
from app.errors import Unauthenticated


def authenticate(conn: HTTPConnection, verifier: TokenVerifier) -> Principal:
    """No header: the public role. A header that is not a valid bearer token: UNAUTHENTICATED."""
    headers = conn.headers.getlist("authorization")
    if not headers:
        return PUBLIC
    if len(headers) > 1:  # which one would count is a guess a proxy and this service may make apart
        raise Unauthenticated("auth.one_header")
    header = headers[0]
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("auth.bearer")
    try:
        return verifier.verify(token.strip())
    except InvalidToken as e:
        raise Unauthenticated(e.text) from None
