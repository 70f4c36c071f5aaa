"""The Starlette application: routes, and the engine's life from start-up to shutdown."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import graphiql
from app.audit.endpoints import audit_routes
from app.audit.keys import audit_key
from app.audit.store import AuditStore
from app.auth.tokens import TokenVerifier
from app.certificates.keys import KeyStore, check_keys_at_start, jwks
from app.certificates.publish import status_list_endpoint
from app.config import Settings
from app.db.session import create_audit_engine, create_engine, create_read_engine
from app.observability import health, metrics
from app.ratelimit import RateLimiter
from app.schema import build_schema
from app.view import GraphQLView

log = logging.getLogger("xinzheng.shutdown")
_frozen = False


def freeze_start_up_objects() -> None:
    """Take what start-up made out of the cyclic garbage collector's way, once per process.

    The modules, the schema with its plans and policy, the engines: about 140,000 objects that
    live as long as the process. Every full collection scanned them all again: under load,
    garbage collection took a noticeable share of a request's CPU, much less with them frozen
    (bench/README.md). Frozen, they are never scanned; refcounting still frees any of them that
    goes. Once per process: a process that builds many apps (the tests) freezes the first.
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


def create_app(
    settings: Settings | None = None, *, audit: bool = True, enforce_policy: bool = True, planned: bool = True
) -> Starlette:
    """The service. `audit` and `enforce_policy` are off only in the benchmark's comparisons;
    `planned` (app/execution/) only there and in the test that compares both ways."""
    settings = settings or Settings.from_env()
    engine = create_engine(settings)
    read_engine = create_read_engine(settings)
    store = (
        AuditStore(
            engine,
            audit_key(settings),
            settings.audit_checkpoint_every,
            create_audit_engine(settings),
            checkpoint_interval=settings.audit_checkpoint_seconds,
            origin=settings.audit_origin,
        )
        if audit
        else None
    )
    graphql = GraphQLView(
        build_schema(settings, enforce_policy=enforce_policy, planned=planned),
        engine=engine,
        read_engine=read_engine,
        verifier=TokenVerifier(settings),
        audit=store,
        rate_limits=RateLimiter(settings.rate_limits, redis_url=settings.redis_url, redis_prefix=settings.redis_prefix),
        dev=settings.is_dev,
        timeout=settings.request_timeout,
    )

    metrics.watch_pool("main", engine)
    for name, extra in (("reads", read_engine), ("audit", store.sync_engine if store else None)):
        if extra is not None:
            metrics.watch_pool(name, extra)

    async def readyz(request: Request) -> JSONResponse:
        return await health.readyz(engine, store)

    async def metrics_page(request: Request) -> Response:
        return await metrics.metrics_endpoint(engine, request)

    async def jwks_document(request: Request) -> JSONResponse:
        """Issuers' public keys, so anyone can verify a certificate's document offline."""
        async with engine.connect() as conn:
            keys = await jwks(conn)
        return JSONResponse(keys, headers={"cache-control": "public, max-age=300"})

    issuer_keys = KeyStore.for_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await check_keys_at_start(engine, issuer_keys)  # prod: refuses a database that holds a private key
        if store is not None:
            store.start()  # the timer that signs the head every XINZHENG_AUDIT_CHECKPOINT_SECONDS
        freeze_start_up_objects()
        yield
        # The server has stopped taking requests and answered those in flight (SIGTERM; up to
        # `serve`'s graceful timeout): their entries are written, the timer stopped, and the
        # head is signed.
        if store is not None:
            try:
                await store.shut_down()
            except Exception as e:  # the database is gone: the log stands, unsigned past its last checkpoint
                log.error("shutdown: no final checkpoint of the audit log (%s: %s)", type(e).__name__, e)
        await graphql.rate_limits.close()
        if graphql.postgres is not None:
            await graphql.postgres.close()
        await engine.dispose()
        if graphql.sqlite is not None:
            graphql.sqlite.close()
        if store is not None and store.sync_engine is not None:
            store.sync_engine.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", health.healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_page),
            Route("/.well-known/jwks.json", jwks_document),
            *(audit_routes(store) if store is not None else []),
            Route("/status-lists/{issuer}/{list_id:int}", status_list_endpoint(engine, issuer_keys)),
        ],
        lifespan=lifespan,
    )
    if settings.is_dev:  # GraphiQL's assets, served by the service itself (app/graphiql); prod has none
        app.add_route(graphiql.PREFIX + "/{version}/{name}", graphiql.asset, methods=["GET"])
    app.state.engine = engine
    app.state.read_engine = read_engine
    app.state.keys = issuer_keys  # where issuers' private keys are (app/resolvers/issuing.py signs with them)
    app.state.graphql = graphql  # the endpoint, and through it the schema and its caches (tests)
    return app
