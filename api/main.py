"""The FastAPI application: thin, async, and the only HTTP edge of ordergate.

Served with `uvicorn api.main:create_app --factory`: nothing is built at import time.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from redis.asyncio import Redis
from starlette.middleware.gzip import GZipMiddleware
from uvicorn.config import STARTUP_FAILURE

from api import errors
from api.accounts.halt import router as halt_router
from api.accounts.router import router as accounts_router
from api.admin.router import router as admin_router
from api.apikeys.router import router as api_keys_router
from api.auth.me import router as me_router
from api.auth.router import router as auth_router
from api.brokers.router import router as brokers_router
from api.console import router as console
from api.deps import login_only
from api.edge import Cors, SecurityHeaders, TrustedHosts
from api.health.router import router as health_router
from api.json_body import strict_json
from api.market.router import router as market_router
from api.market.service import InstrumentCache
from api.market.trending import TrendingCache
from api.metrics.middleware import Observe
from api.metrics.router import router as metrics_router
from api.middleware import (
    MAX_BODY_BYTES,
    Deadline,
    InFlight,
    ReadBody,
    RefuseNul,
    RequestContext,
    Unexpected,
)
from api.orders.bulk import router as bulk_orders_router
from api.orders.bulk_schemas import PlaceBatch
from api.orders.router import router as orders_router
from api.orders.schemas import PlaceOrder
from api.portfolio.dashboard import router as dashboard_router
from api.portfolio.holdings import router as holdings_router
from api.portfolio.portfolios import router as portfolios_router
from api.portfolio.reports import router as reports_router
from api.portfolio.trades import router as trades_router
from api.positions.router import router as positions_router
from api.quality.router import router as quality_router
from api.ratelimit import Limiter, RateLimits, is_metered
from api.settings_routes.router import router as settings_router
from api.stream.router import router as stream_router
from api.watchlists.router import router as watchlists_router
from api.webhooks.router import router as webhooks_router
from shared import logs, metrics
from shared.db.engine import make_engine
from shared.messaging.enqueue import OrderDispatcher
from shared.settings import Settings, settings_or_exit

DESCRIPTION = """
Submit stock orders, follow them to a fill, and read fills, positions, cash and P&L.

Every error has one shape: `{"error": {"code", "message", "details", "request_id"}}`.
Amounts are decimal strings in responses and are accepted as strings or JSON numbers.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the lifespan opens the database pool, Redis and the order dispatcher."""
    # uvicorn's code for a worker that cannot start: its supervisor stops rather than retry.
    settings = settings or settings_or_exit(STARTUP_FAILURE)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics.drop_live_gauges()
        app.state.settings = settings
        app.state.engine = make_engine(settings)
        app.state.autocommit_engine = app.state.engine.execution_options(
            isolation_level="AUTOCOMMIT")
        app.state.instruments = InstrumentCache(app.state.engine)
        app.state.trending = TrendingCache()
        app.state.redis = Redis.from_url(
            settings.redis_url, socket_timeout=settings.publish_timeout_seconds,
            socket_connect_timeout=settings.publish_timeout_seconds,
        )
        app.state.dispatcher = OrderDispatcher(
            app.state.redis, max_pending=settings.max_pending_dispatch,
            timeout=settings.publish_timeout_seconds,
        )
        app.state.dispatcher.start()
        app.state.limiter = Limiter(settings)
        try:
            yield
        finally:
            metrics.drop_live_gauges()
            await app.state.limiter.aclose()
            await app.state.dispatcher.stop()
            await app.state.redis.aclose()
            await app.state.engine.dispose()

    logs.configure(settings.log_level)
    app = FastAPI(title="ordergate", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    errors.install(app)
    for router in (auth_router, orders_router, bulk_orders_router, positions_router,
                   market_router, webhooks_router, quality_router, api_keys_router,
                   watchlists_router, me_router, admin_router, dashboard_router,
                   trades_router, reports_router, portfolios_router, holdings_router):
        app.include_router(strict_json(_summarized(router)), prefix="/api/v1")
    # An API key may read these but never change broker logins, risk limits or settings, nor
    # lift the kill switch (halting stays open to a `trade` key).
    for router, guard in ((accounts_router, login_only()), (brokers_router, login_only()),
                          (settings_router, login_only()),
                          (halt_router, login_only(frozenset({"DELETE"})))):
        app.include_router(strict_json(_summarized(router)), prefix="/api/v1",
                           dependencies=[guard])
    app.include_router(strict_json(_summarized(health_router)))
    app.include_router(_summarized(metrics_router))
    app.include_router(_summarized(stream_router), prefix="/api/v1")  # its lifespan: doorbells
    console.install(app)
    _add_edge(app, settings)
    app.openapi = functools.partial(_openapi, app)  # type: ignore[method-assign]
    return app


def _add_edge(app: FastAPI, settings: Settings) -> None:
    """The middleware every request passes, outermost first (each add wraps the ones before):

    Observe          times each answer by its route template, logs one line for it
    RequestContext   names the request: every answer below, errors included, carries its id
    SecurityHeaders  on every answer, the refusals of the layers below too
    Cors             (CORS_ORIGINS set) a listed origin can read every answer, errors too
    TrustedHosts     a foreign Host is refused before any work
    GZipMiddleware   compresses what the app answers; SSE (text/event-stream) passes as is
    RefuseNul        a NUL in the path (404) or a query parameter (422), which no column holds
    RateLimits       a client past its budget is refused before its body is read
    ReadBody         the whole body, bounded in size (413) and time (408), before a slot
    InFlight         one of the process's slots, from a read body until the answer starts
    Deadline         the handler's time until its answer starts (504)
    Unexpected       an exception no handler took: 500 `internal_error`, answered in here
    """
    app.add_middleware(Unexpected)
    app.add_middleware(Deadline, seconds=settings.request_timeout_seconds)
    app.add_middleware(InFlight, max_inflight=settings.max_inflight_requests)
    # Webhooks hold their bodies to their own, smaller limit.
    app.add_middleware(ReadBody, max_bytes=max(MAX_BODY_BYTES, settings.webhook_max_body_bytes),
                       timeout=settings.body_timeout_seconds)
    app.add_middleware(RateLimits)
    app.add_middleware(RefuseNul)
    # Level 4: a day of 1m OHLC bars (178 kB of JSON) takes 0.98 ms and 22.2 kB, against
    # 2.14 ms and 21.6 kB at zlib's default 6 (and 9 costs far more for a few bytes less).
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=4)
    app.add_middleware(TrustedHosts, hosts=settings.allowed_hosts)
    if settings.cors_origins:
        app.add_middleware(
            Cors, allow_origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Location", "Retry-After", "Idempotent-Replayed",
                            "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"])
    app.add_middleware(SecurityHeaders,
                       hsts=settings.public_base_url.startswith("https://"))
    app.add_middleware(RequestContext)
    app.add_middleware(Observe)  # outermost: times the answers of every middleware inside


def _summarized(router: APIRouter) -> APIRouter:
    """Use each route's one-line docstring as its OpenAPI summary."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.description and not route.summary:
            route.summary = route.description.strip().splitlines()[0].rstrip(".")
    return router


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema plus the bodies that routes parse themselves."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (PlaceOrder, PlaceBatch):
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[model.__name__] = body
        errors.document_errors(schema, is_metered)
        app.openapi_schema = schema
    return app.openapi_schema
