"""GraphQL over HTTP, as the GraphQL-over-HTTP draft specifies it: from an HTTP request to the
one GraphQL request it carries, and the media type and status of its answer.

- Requests: `POST` with an `application/json` body (a `charset` parameter, if any, UTF-8), or
  `GET` with URL-encoded `query`, `variables`, `operationName` and `extensions` (the last two
  maps as JSON text). GET runs queries only: app/view.py answers a mutation over GET 405. One
  operation per request: no array batches (one request, one audit entry).
- Answers: `application/graphql-response+json` or `application/json`, whichever the Accept
  header prefers (q-values; a named type before a wildcard; `*/*`, or no Accept at all, is
  application/json, the draft's choice for clients written before the new type); neither: 406.
- Status (`answer_status`): under application/json a well-formed request is answered 200
  whatever its GraphQL errors (the draft's rules for that media type). Under
  application/graphql-response+json a request that never reached execution (a document that
  does not parse or validate, a query over the limits, variables that do not coerce) is 400
  and its answer has no `data`. Either way, what is not a GraphQL request at all is refused
  with a 4xx (RequestRefused), and so are a bad token (401) and a caller over its rate (429).
- Hostile input: bodies past MAX_BODY_BYTES or slower than BODY_SECONDS, URLs past
  MAX_QUERY_STRING_BYTES, text a database cannot store (NUL, half of a surrogate pair) and
  nesting past MAX_VARIABLE_DEPTH are refused, in a body and in a URL alike.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request
from strawberry.http.parse_content_type import parse_content_type

from app.errors import ErrorCode, XinzhengError
from app.i18n import Text
from app.identifiers import is_text

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
# What the service writes, in the order a tie goes: application/json first (the draft's default).
MEDIA_TYPES = (JSON, GRAPHQL_RESPONSE_JSON)
ACCEPTABLE = f"{GRAPHQL_RESPONSE_JSON}, {JSON}"
UTF8 = ("utf-8", "utf8")

MAX_BODY_BYTES = 256 * 1024  # a credit query is a few hundred bytes; this is generous
BODY_SECONDS = 10.0  # a body still arriving after this is refused: a client trickling bytes holds nothing
MAX_QUERY_STRING_BYTES = 16 * 1024  # a GET's parameters, URL-encoded; longer queries belong in a POST
MAX_VARIABLE_DEPTH = 32  # the deepest input type nests a few levels; anything deeper is not a request
PARAMETERS = ("query", "variables", "operationName", "extensions")


class RequestRefused(XinzhengError):
    """The HTTP request is not a GraphQL request this endpoint takes."""

    code = ErrorCode.BAD_USER_INPUT

    def __init__(self, key: str, status: int = 400, headers: dict[str, str] | None = None, **params: object) -> None:
        super().__init__(key, **params)
        self.status = status
        self.headers = headers or {}


@dataclass(frozen=True)
class GraphQLRequest:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None = field(default=None)


def negotiate(accept: str | None) -> str | None:
    """The media type of the answer (RFC 9110 section 12.5.1): each type takes the quality of the
    most specific range that matches it; the highest quality wins, then a type named outright over
    a wildcard, then the one named first, then application/json. None when neither is acceptable
    (the view answers 406, once it knows who asked)."""
    if accept is None or not accept.strip():
        return JSON
    ranges = [r for r in (_media_range(part) for part in accept.split(",")) if r is not None]
    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    for media_type in MEDIA_TYPES:
        matches = [
            (specificity, -position, quality)
            for position, (pattern, quality) in enumerate(ranges)
            if (specificity := _specificity(pattern, media_type)) >= 0
        ]
        if not matches:
            continue
        specificity, position, quality = max(matches)  # the most specific range decides
        rank = (quality, specificity, position)
        if quality > 0 and (best is None or rank > best):
            best, chosen = rank, media_type
    return chosen


def not_acceptable() -> RequestRefused:
    return RequestRefused("request.not_acceptable", 406, acceptable=ACCEPTABLE)


def _media_range(part: str) -> tuple[str, float] | None:
    """One Accept range as (type/subtype, quality); None for one that names no type, gives a
    quality that is not a number from 0 to 1, or asks for a charset other than UTF-8."""
    pattern, params = parse_content_type(part.strip())
    params = {k.strip().lower(): v.strip() for k, v in params.items()}
    pattern = pattern.strip().lower()
    if "/" not in pattern or params.get("charset", "utf-8").lower() not in UTF8:
        return None
    try:
        quality = float(params.get("q", "1"))
    except ValueError:
        return None
    return (pattern, quality) if 0 <= quality <= 1 else None


def _specificity(pattern: str, media_type: str) -> int:
    """2 when the range names the type, 1 for `application/*`, 0 for `*/*`, -1 when it does not match."""
    if pattern == media_type:
        return 2
    if pattern == media_type.split("/")[0] + "/*":
        return 1
    return 0 if pattern == "*/*" else -1


def answer_status(media_type: str, *, executed: bool, error_codes: list[str]) -> int:
    """The status of an answer from GraphQL itself (parsed, validated, perhaps executed)."""
    if executed or media_type == JSON:
        return 200
    return 500 if ErrorCode.INTERNAL_SERVER_ERROR in error_codes else 400


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestRefused("request.body_too_large", 413, limit=MAX_BODY_BYTES)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(BODY_SECONDS):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise RequestRefused("request.body_too_large", 413, limit=MAX_BODY_BYTES)
                chunks.append(chunk)
    except TimeoutError:
        raise RequestRefused("request.body_too_slow", 408, seconds=BODY_SECONDS) from None
    except ClientDisconnect:
        raise RequestRefused("request.client_gone") from None
    return b"".join(chunks)


def parse_body(body: bytes, content_type: str) -> GraphQLRequest:
    """A POST's JSON body."""
    media_type, params = parse_content_type(content_type)
    charset = {k.strip().lower(): v.strip() for k, v in params.items()}.get("charset", "utf-8")
    if media_type.strip().lower() != JSON or charset.lower() not in UTF8:
        raise RequestRefused("request.not_json_content", 415)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestRefused("request.not_utf8") from None
    data = _json(text, Text("request.the_body"))
    if isinstance(data, list):
        raise RequestRefused("request.batched")
    if not isinstance(data, dict):
        raise RequestRefused("request.not_object")
    return graphql_request(data)


def parse_query_string(raw: bytes) -> GraphQLRequest:
    """A GET's URL parameters (`application/x-www-form-urlencoded`, UTF-8)."""
    if len(raw) > MAX_QUERY_STRING_BYTES:
        raise RequestRefused("request.url_too_long", 414, limit=MAX_QUERY_STRING_BYTES)
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        raise RequestRefused("request.url_not_encoded") from None
    data: dict[str, Any] = {}
    for name, value in pairs:
        if name in PARAMETERS:
            if name in data:
                raise RequestRefused("request.url_repeated", name=name)
            data[name] = value
    for name in ("variables", "extensions"):
        if data.get(name) == "":
            del data[name]  # `variables=` says none
        elif name in data:
            data[name] = _json(data[name], name)
    return graphql_request(data)


def graphql_request(data: dict[str, Any]) -> GraphQLRequest:
    """The request's parameters, whether from a body or a URL."""
    query, variables, name, extensions = (data.get(p) for p in PARAMETERS)
    if not isinstance(query, str) or not query.strip():
        raise RequestRefused("request.no_query")
    if variables is not None and not isinstance(variables, dict):
        raise RequestRefused("request.variables_not_object")
    if name is not None and not isinstance(name, str):
        raise RequestRefused("request.operation_name_not_string")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestRefused("request.extensions_not_object")
    check_text(data)
    return GraphQLRequest(query, variables, name, extensions)


def check_text(data: Any) -> None:
    """Every string of the request is text a database can store (no NUL, no half of a surrogate
    pair, which JSON's \\u escapes can spell), and nothing is nested deeper than any input is."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_VARIABLE_DEPTH:
            raise RequestRefused("request.too_deep", depth=MAX_VARIABLE_DEPTH)
        if isinstance(value, str):
            if not is_text(value):
                raise RequestRefused("request.not_text")
        elif isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def _json(text: str, what: Text | str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        raise RequestRefused("request.json_invalid", what=what) from None
    except RecursionError:  # arrays or objects nested thousands deep: JSON, but not a request
        raise RequestRefused("request.json_too_deep", what=what) from None


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (Python's parser takes them; the database would not)."""
    raise ValueError(f"{name} is not JSON")
