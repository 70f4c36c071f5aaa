"""The /graphql endpoint: strawberry's ASGI view with the service's context and error shape."""

from __future__ import annotations

import json

import strawberry
from cross_web import HTTPException
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from app import clock
from app.auth.backend import authenticate
from app.auth.tokens import TokenVerifier
from app.context import Context
from app.db.request import RequestDatabase
from app.errors import ErrorCode, XinzhengError
from app.resolvers.loaders import Loaders
from app.schema.errors import format_errors


def error_response(code: ErrorCode, message: str, status: int) -> JSONResponse:
    """A request refused before execution, shaped like any GraphQL response."""
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code.value}}]}, status_code=status)


class GraphQLView(GraphQL):
    def __init__(self, schema: strawberry.Schema, *, engine: AsyncEngine, verifier: TokenVerifier, dev: bool) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if dev else None,
            # Queries are POSTed; GET serves GraphiQL only (in dev).
            allow_queries_via_get=False,
        )
        self.engine = engine
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # no subscriptions: nothing here streams
            response: Response = error_response(ErrorCode.BAD_USER_INPUT, "not supported", 400)
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1003})
                return
            await response(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        try:
            principal = authenticate(request, self.verifier)
        except XinzhengError as e:
            return error_response(e.code, str(e), e.http_status)
        db = RequestDatabase(self.engine)
        context = Context(
            request=request, principal=principal, db=db, loaders=Loaders.build(db), today=clock.today()
        )
        try:
            return await self.run(request, context=context)  # type: ignore[return-value]
        except HTTPException as e:
            # strawberry refuses malformed bodies with plain text; callers get a GraphQL error.
            return error_response(ErrorCode.BAD_USER_INPUT, e.reason, e.status_code)
        finally:
            await db.close()

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            response["errors"] = format_errors(result.errors)  # type: ignore[typeddict-item]
        if result.extensions:
            response["extensions"] = result.extensions
        return response

    def encode_json(self, data: object) -> bytes:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
