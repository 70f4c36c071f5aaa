"""The /graphql endpoint: one request in, one audit entry written, one answer out.

Every request, whatever its fate (a bad token, a malformed body, a syntax error, a denial, an
answer), ends in `_finish`, which writes the audit entry before anything leaves. If the entry
cannot be written the caller gets AUDIT_UNAVAILABLE (HTTP 503) and no data, and a mutation's
writes are rolled back with it: they commit together with their entry or not at all. How a
request is read, and which media type and status its answer gets, is app/transport.py's. The
answer's words (its error messages, a score factor's description) are in the language its
Accept-Language asks for (app/i18n), read once here and kept on the Context.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import orjson
import strawberry
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app import clock, graphiql
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
from app.i18n import Language, Text, language_of, render
from app.observability.logs import bind_request_id
from app.observability.request import observe
from app.ratelimit import RateLimiter, RateLimitExceeded
from app.resolvers.loaders import Loaders
from app.schema.errors import INTERNAL_MESSAGE, format_errors
from app.transport import (
    JSON,
    RequestRefused,
    answer_status,
    negotiate,
    not_acceptable,
    parse_body,
    parse_query_string,
    read_body,
)

log = logging.getLogger("xinzheng.audit")

# What each method may run (the GraphQL-over-HTTP draft: GET never runs a mutation).
ALLOWED_OPERATIONS = {"GET": {OperationType.QUERY}, "POST": {OperationType.QUERY, OperationType.MUTATION}}


def error_body(code: ErrorCode, message: Text, language: Language) -> dict[str, Any]:
    return {"errors": [{"message": render(message, language), "extensions": {"code": code.value}}]}


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
        super().__init__(schema, graphql_ide="graphiql" if dev else None, allow_queries_via_get=True)
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
        if (
            request.method == "GET"
            and self.graphql_ide
            and "text/html" in request.headers.get("accept", "")
            and "query" not in request.query_params
        ):
            response: Response = await self.render_graphql_ide(request)  # dev only; carries no query
        else:
            response = await self.handle(request)
        await response(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        """strawberry's hook for the IDE page: ours loads its assets from this service (app/graphiql)."""
        return graphiql.page()

    async def handle(self, request: Request) -> Response:
        record = AuditRecord(
            request_id=request_id_from(request.headers.get("x-request-id")),
            at=clock.now(),
            client_address=request.client.host if request.client else None,
        )
        bind_request_id(record.request_id)
        language = language_of(request.headers.get("accept-language"))  # of every text the answer holds
        db = RequestDatabase(
            self.engine, write_turn=self.audit.turn if self.audit else None, sqlite=self.sqlite, postgres=self.postgres
        )
        context: Context | None = None
        media = JSON  # the answer's media type, until the Accept header is read
        try:
            try:
                accepted = negotiate(request.headers.get("accept"))
                media = accepted or JSON
                record.principal = authenticate(request, self.verifier)
                await self.organisations.check(record.principal, db)
                if accepted is None:
                    raise not_acceptable()
                if request.method not in ALLOWED_OPERATIONS:
                    raise RequestRefused("request.method", 405, {"allow": "GET, POST"})
                # Counted before the request is read: a caller over its limit costs no parsing.
                await self.rate_limits.check(record.principal, record.client_address)
                if request.method == "GET":
                    graphql_request = parse_query_string(request.scope["query_string"])
                else:
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
                    language=language,
                )
                async with asyncio.timeout(self.timeout):
                    result = await self.schema.execute(
                        graphql_request.query,
                        variable_values=graphql_request.variables,
                        context_value=context,
                        operation_name=graphql_request.operation_name,
                        allowed_operation_types=ALLOWED_OPERATIONS[request.method],
                        operation_extensions=graphql_request.extensions,
                    )
            except RequestRefused as e:
                body = error_body(e.code, e.text, language)
                return await self._finish(record, db, context, body, e.status, executed=False, headers=e.headers, media_type=media, language=language)
            except RateLimitExceeded as e:
                body = error_body(e.code, e.text, language)
                return await self._finish(record, db, context, body, e.http_status, executed=False, headers=e.headers, media_type=media, language=language)
            except XinzhengError as e:
                body = error_body(e.code, e.text, language)
                return await self._finish(record, db, context, body, e.http_status, executed=False, media_type=media, language=language)
            except InvalidOperationTypeError as e:
                record.operation(e.operation_type.value, None, ())  # refused: none of its variables is kept
                if e.operation_type is OperationType.MUTATION:  # over GET: never run, and the draft says 405
                    body = error_body(ErrorCode.BAD_USER_INPUT, Text("request.mutation_over_get"), language)
                    return await self._finish(record, db, context, body, 405, executed=False, headers={"allow": "POST"}, media_type=media, language=language)
                body = error_body(ErrorCode.BAD_USER_INPUT, Text("request.operation_not_runnable"), language)
                return await self._finish(record, db, context, body, 400, executed=False, media_type=media, language=language)
            except (MissingQueryError, CannotGetOperationTypeError) as e:
                message = Text("request.no_query_found" if isinstance(e, MissingQueryError) else "request.operation_not_runnable")
                return await self._finish(record, db, context, error_body(ErrorCode.BAD_USER_INPUT, message, language), 400, executed=False, media_type=media, language=language)
            except TimeoutError:
                # Stopped (a lock held in the database, say): nothing it wrote stands, and like
                # every request it is in the audit log. Not the caller's fault: no 4xx.
                log.warning("request %s stopped after %g s", record.request_id, self.timeout)
                await db.stop_reads()
                await db.discard_writes()
                body = error_body(ErrorCode.INTERNAL_SERVER_ERROR, Text("server.timeout", {"seconds": self.timeout}), language)
                return await self._finish(record, db, context, body, 503, executed=True, media_type=media, language=language)
            except Exception:
                # A fault of ours outside execution (execution's own are in the result): logged,
                # answered without detail, and like every request, in the audit log.
                log.exception("request %s failed outside execution", record.request_id)
                await db.discard_writes()
                body = error_body(ErrorCode.INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE, language)
                return await self._finish(record, db, context, body, 500, executed=False, media_type=media, language=language)
            ran = executed(result)
            body = result_body(result, ran, language)
            status = answer_status(media, executed=ran, error_codes=[e["extensions"]["code"] for e in body.get("errors", [])])
            return await self._finish(record, db, context, body, status, executed=ran, media_type=media, language=language)
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
        media_type: str = JSON,
        language: Language,
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
                body, status = error_body(ErrorCode.AUDIT_UNAVAILABLE, Text("server.audit_unavailable"), language), 503
            observe(fields, seq, status, audited=seq is not None, started=record.started)  # metrics, the request's log line
        body.setdefault("extensions", {}).update({"requestId": record.request_id, "auditSeq": seq})
        return Response(
            encode(body),
            status_code=status,
            media_type=media_type,
            # Answers carry personal data: no cache between the service and the caller keeps them.
            headers={"x-request-id": record.request_id, "cache-control": "no-store", "content-language": language, **(headers or {})},
        )


def encode(body: dict[str, Any]) -> bytes:
    """The answer as compact UTF-8 JSON. orjson writes the same bytes as the json module's
    `dumps(ensure_ascii=False, separators=(",", ":"))` for the answers GraphQL gives (string
    keys, finite numbers), many times faster (bench/README.md); for anything it does not take,
    the json module writes it."""
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError: an integer past 64 bits, a key not a string
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def result_body(result: ExecutionResult, ran: bool, language: Language) -> dict[str, Any]:
    """The GraphQL response: `data` only when execution started (GraphQL spec, section 7.1)."""
    body: dict[str, Any] = {"data": result.data} if ran else {}
    if result.errors:
        body["errors"] = format_errors(result.errors, language)
    if result.extensions:
        body["extensions"] = dict(result.extensions)
    return body


def executed(result: ExecutionResult) -> bool:
    """Did execution start? Errors without a path come before it (syntax, validation, variables)."""
    return result.data is not None or any(e.path is not None for e in result.errors or [])

