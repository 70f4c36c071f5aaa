"""The /graphql endpoint: one request in, one audit entry written, one answer out.

Every POST, whatever its fate (a bad token, a malformed body, a syntax error, a denial, an
answer), ends in `_finish`, which writes the audit entry before anything leaves. If the entry
cannot be written the caller gets AUDIT_UNAVAILABLE (HTTP 503) and no data, and a mutation's
writes are rolled back with it: they commit together with their entry or not at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import orjson
import strawberry
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app import clock
from app.audit.record import AuditRecord, outcome_of, request_id_from
from app.audit.store import AuditStore, AuditWriteFailed
from app.auth.backend import authenticate
from app.auth.organisations import Organisations
from app.auth.enforce import Disclosure
from app.auth.tokens import TokenVerifier
from app.context import Context
from app.db.request import PostgresReader, RequestDatabase, SQLiteReader
from app.db.session import READ_CONNECTIONS
from app.errors import ErrorCode, XinzhengError
from app.identifiers import NOT_TEXT
from app.ratelimit import RateLimiter, RateLimitExceeded
from app.resolvers.loaders import Loaders
from app.schema.errors import INTERNAL_MESSAGE, format_errors

log = logging.getLogger("xinzheng.audit")

MAX_BODY_BYTES = 256 * 1024  # a credit query is a few hundred bytes; this is generous
BODY_SECONDS = 10.0  # a body still arriving after this is refused: a client trickling bytes holds nothing
MAX_VARIABLE_DEPTH = 32  # the deepest input type nests a few levels; anything deeper is not a request
ALLOWED_OPERATIONS = {OperationType.QUERY, OperationType.MUTATION}


class BodyRefused(XinzhengError):
    """The HTTP body is not a GraphQL request this endpoint takes."""

    code = ErrorCode.BAD_USER_INPUT

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class GraphQLRequest:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


def error_body(code: ErrorCode, message: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code.value}}]}


class GraphQLView(GraphQL):
    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        engine: AsyncEngine,
        read_engine: Engine | None = None,
        verifier: TokenVerifier,
        audit: AuditStore | None,
        rate_limits: RateLimiter,
        dev: bool,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql" if dev else None, allow_queries_via_get=False)
        self.timeout = timeout  # seconds a request may run (SPEC section 9)
        self.organisations = Organisations()
        self.engine = engine
        self.sqlite = SQLiteReader(read_engine) if read_engine is not None else None
        self.postgres = PostgresReader(engine, READ_CONNECTIONS) if read_engine is None else None
        self.verifier = verifier
        self.audit = audit  # None only for the benchmark's audit-off comparison
        self.rate_limits = rate_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # no subscriptions: nothing here streams
            await send({"type": "websocket.close", "code": 1003})
            return
        request = Request(scope, receive)
        if request.method == "GET" and self.graphql_ide and "text/html" in request.headers.get("accept", ""):
            response: Response = await self.render_graphql_ide(request)  # dev only; carries no query
        else:
            response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        record = AuditRecord(
            request_id=request_id_from(request.headers.get("x-request-id")),
            at=clock.now(),
            client_address=request.client.host if request.client else None,
        )
        db = RequestDatabase(
            self.engine, write_turn=self.audit.turn if self.audit else None, sqlite=self.sqlite, postgres=self.postgres
        )
        context: Context | None = None
        try:
            try:
                record.principal = authenticate(request, self.verifier)
                await self.organisations.check(record.principal, db)
                if request.method != "POST":
                    raise BodyRefused("send GraphQL requests as POST with a JSON body", 405)
                # Counted before the body is read: a caller over its limit costs no parsing.
                await self.rate_limits.check(record.principal, record.client_address)
                graphql_request = parse_body(await read_body(request), request.headers.get("content-type", ""))
                record.request(graphql_request.query, graphql_request.variables, graphql_request.operation_name)
                context = Context(
                    request=request,
                    principal=record.principal,
                    db=db,
                    loaders=Loaders(db),
                    today=clock.today(),
                    audit=record,
                    audit_store=self.audit,
                    operation_name=graphql_request.operation_name,
                )
                async with asyncio.timeout(self.timeout):
                    result = await self.schema.execute(
                        graphql_request.query,
                        variable_values=graphql_request.variables,
                        context_value=context,
                        operation_name=graphql_request.operation_name,
                        allowed_operation_types=ALLOWED_OPERATIONS,
                    )
            except BodyRefused as e:
                return await self._finish(record, db, context, error_body(e.code, str(e)), e.status, executed=False)
            except RateLimitExceeded as e:
                body = error_body(e.code, str(e))
                return await self._finish(record, db, context, body, e.http_status, executed=False, headers=e.headers)
            except XinzhengError as e:
                return await self._finish(record, db, context, error_body(e.code, str(e)), e.http_status, executed=False)
            except (MissingQueryError, InvalidOperationTypeError, CannotGetOperationTypeError) as e:
                message = "no GraphQL query found" if isinstance(e, MissingQueryError) else "that operation cannot be run here"
                return await self._finish(record, db, context, error_body(ErrorCode.BAD_USER_INPUT, message), 400, executed=False)
            except TimeoutError:
                # Stopped (a lock held in the database, say): nothing it wrote stands, and like
                # every request it is in the audit log. Not the caller's fault: no 4xx.
                log.warning("request %s stopped after %g s", record.request_id, self.timeout)
                await db.discard_writes()
                body = error_body(ErrorCode.INTERNAL_SERVER_ERROR, f"the request took longer than {self.timeout:g} s and was stopped")
                return await self._finish(record, db, context, body, 503, executed=True)
            except Exception:
                # A fault of ours outside execution (execution's own are in the result): logged,
                # answered without detail, and like every request, in the audit log.
                log.exception("request %s failed outside execution", record.request_id)
                await db.discard_writes()
                body = error_body(ErrorCode.INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE)
                return await self._finish(record, db, context, body, 500, executed=False)
            return await self._finish(record, db, context, result_body(result), 200, executed=executed(result))
        finally:
            await db.close()

    async def _finish(
        self,
        record: AuditRecord,
        db: RequestDatabase,
        context: Context | None,
        body: dict[str, Any],
        status: int,
        *,
        executed: bool,
        headers: dict[str, str] | None = None,
    ) -> Response:
        await db.release_reads()
        codes = [e["extensions"]["code"] for e in body.get("errors", [])]
        disclosure = context.disclosure if context is not None else Disclosure()
        seq: int | None = None
        if self.audit is not None:
            fields = record.entry(
                outcome=outcome_of(body.get("data"), codes, executed=executed),
                error_codes=codes,
                masked=disclosure.masked,
                denied=disclosure.denied,
            )
            try:
                seq = await self.audit.append(fields, record.access_records(), conn=db.writer)
            except AuditWriteFailed as e:
                # Fail closed: no entry, no answer, and a mutation's writes roll back with it.
                log.error("audit entry for request %s not written: %s", record.request_id, e)
                body, status = error_body(ErrorCode.AUDIT_UNAVAILABLE, "the audit log cannot be written; nothing was done"), 503
        body.setdefault("extensions", {}).update({"requestId": record.request_id, "auditSeq": seq})
        return Response(
            encode(body),
            status_code=status,
            media_type="application/json",
            # Answers carry personal data: no cache between the service and the caller keeps them.
            headers={"x-request-id": record.request_id, "cache-control": "no-store", **(headers or {})},
        )


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyRefused(f"the request body is larger than {MAX_BODY_BYTES} bytes", 413)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(BODY_SECONDS):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise BodyRefused(f"the request body is larger than {MAX_BODY_BYTES} bytes", 413)
                chunks.append(chunk)
    except TimeoutError:
        raise BodyRefused(f"the request body did not arrive within {BODY_SECONDS:g} s", 408) from None
    except ClientDisconnect:
        raise BodyRefused("the client went away before its request body arrived") from None
    return b"".join(chunks)


def parse_body(body: bytes, content_type: str) -> GraphQLRequest:
    """A GraphQL-over-HTTP JSON body. No batches: one operation per request, one audit entry."""
    if "json" not in content_type.lower():
        raise BodyRefused("the body must be JSON (Content-Type: application/json)", 415)
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise BodyRefused("the body is not valid JSON") from None
    except RecursionError:  # arrays or objects nested thousands deep: JSON, but not a request
        raise BodyRefused("the body is nested too deeply") from None
    if isinstance(data, list):
        raise BodyRefused("batched operations are not accepted: send one operation per request")
    if not isinstance(data, dict):
        raise BodyRefused("the body must be a JSON object")
    query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise BodyRefused("the body names no GraphQL query")
    if variables is not None and not isinstance(variables, dict):
        raise BodyRefused("variables must be a JSON object")
    if name is not None and not isinstance(name, str):
        raise BodyRefused("operationName must be a string")
    check_text(data)
    return GraphQLRequest(query, variables, name)


def check_text(data: Any) -> None:
    """Every string of the request is text a database can store (no NUL, no half of a surrogate
    pair, which JSON's \\u escapes can spell), and nothing is nested deeper than any input is."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_VARIABLE_DEPTH:
            raise BodyRefused(f"the request is nested more than {MAX_VARIABLE_DEPTH} levels deep")
        if isinstance(value, str):
            if NOT_TEXT.search(value):
                raise BodyRefused("the request holds a character that is not text (NUL, or half of a surrogate pair)")
        elif isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (Python's parser takes them; the database would not)."""
    raise ValueError(f"{name} is not JSON")


def encode(body: dict[str, Any]) -> bytes:
    """The answer as compact UTF-8 JSON. orjson writes the same bytes as the json module's
    `dumps(ensure_ascii=False, separators=(",", ":"))` for the answers GraphQL gives (string
    keys, finite numbers), many times faster (bench/README.md); for anything it does not take,
    the json module writes it."""
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError: an integer past 64 bits, a key not a string
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def result_body(result: ExecutionResult) -> dict[str, Any]:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = format_errors(result.errors)
    if result.extensions:
        body["extensions"] = dict(result.extensions)
    return body


def executed(result: ExecutionResult) -> bool:
    """Did execution start? Errors without a path come before it (syntax, validation, variables)."""
    return result.data is not None or any(e.path is not None for e in result.errors or [])

