"""GET /api/v1/stream (WebSocket) and /api/v1/stream/sse: the caller's live events."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect
from redis.asyncio import Redis
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.types import Receive, Scope, Send

from api.errors import ApiError, unauthenticated
from api.stream import messages
from api.stream.doorbell import BLOCK_MS, Doorbell, QuoteFeed
from api.stream.reader import Readers
from api.stream.requests import (
    MAX_MESSAGE_BYTES,
    BadRequest,
    last_seq_of,
    parse,
    symbols_of,
)
from api.stream.service import (
    SLOW_CONSUMER,
    ServerClosing,
    Session,
    SlowConsumer,
    StreamServices,
    authenticate,
)
from api.stream.shutdown import GOING_AWAY, Drain
from shared import metrics
from shared.db.engine import make_engine

log = logging.getLogger(__name__)

AUTH_TIMEOUT_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 1.0
UNAUTHORIZED = 4401
SERVER_ERROR = 1011
RECONNECT = "internal error; reconnect with last_seq"


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Start this process's doorbell and quote feed, and end its streams on SIGTERM first."""
    settings = app.state.settings
    # A pool of their own: a thousand streams polling on a starved loop wait for each other
    # (longer than a request would: see STREAM_DB_POOL_TIMEOUT_SECONDS), never for the
    # connections order entry needs.
    engine = make_engine(settings, pool_size=settings.stream_db_pool_size,
                         pool_timeout=settings.stream_db_pool_timeout_seconds)
    # Its own client: a blocking XREAD outlasts the app client's publish timeout.
    redis = Redis.from_url(settings.redis_url, socket_timeout=BLOCK_MS / 1000 + 5,
                           socket_connect_timeout=settings.publish_timeout_seconds)
    doorbell = Doorbell(redis)
    services = StreamServices(settings, engine,
                              engine.execution_options(isolation_level="AUTOCOMMIT"),
                              doorbell, QuoteFeed(engine, settings.stream_poll_seconds),
                              Drain(), Readers(engine, doorbell, settings.stream_poll_seconds))
    services.doorbell.start()
    services.quotes.start()
    app.state.stream = services
    give_back_signals = services.drain.take_signals(asyncio.get_running_loop())
    try:
        yield
    finally:
        give_back_signals()
        await services.doorbell.stop()
        await services.quotes.stop()
        await redis.aclose()
        await engine.dispose()


router = APIRouter(tags=["stream"], lifespan=lifespan)


class _Close(Exception):
    """End the WebSocket with this code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    """Stream the caller's order events (resuming after `last_seq`) and subscribed quotes."""
    services: StreamServices = websocket.app.state.stream
    await websocket.accept()
    try:
        session = await _open(websocket, services)
    except _Close as close:
        await _close(websocket, close.code, close.reason)
        return
    except WebSocketDisconnect:
        return  # gone before it was authenticated
    # The stream's edge, as api.middleware.Unexpected is the requests': a failed read
    # (PostgreSQL, Redis) ends this stream with a reason, and the client reconnects.
    except Exception as error:
        log.warning("stream not opened: %s", _one_line(error))
        await _close(websocket, SERVER_ERROR, RECONNECT)
        return
    try:
        with metrics.STREAM_CONNECTIONS.labels("websocket").track_inprogress():
            await _serve(websocket, session)
    finally:
        session.close()


async def _open(websocket: WebSocket, services: StreamServices) -> Session:
    """Authenticate by `?token=` or a first `auth` message; the session it resumes."""
    query = websocket.query_params
    token, last_seq = query.get("token"), query.get("last_seq")
    if token is None:
        try:
            async with asyncio.timeout(AUTH_TIMEOUT_SECONDS):
                first = parse(await _receive_text(websocket))
        except TimeoutError:
            raise _Close(UNAUTHORIZED, "no auth message in time") from None
        except BadRequest as error:
            raise _Close(UNAUTHORIZED, f"the first message must be an auth: {error}") from None
        token, last_seq = first.body.get("token"), last_seq or first.body.get("last_seq")
    try:
        resume = last_seq_of(last_seq)
    except BadRequest as error:
        raise _Close(1008, str(error)) from None
    host = websocket.client.host if websocket.client else None
    principal = await authenticate(services, token, host) if isinstance(token, str) else None
    if principal is None:
        raise _Close(UNAUTHORIZED, "a valid access token or API key is required")
    return await Session.open(services, principal.user_id, resume)


async def _serve(websocket: WebSocket, session: Session) -> None:
    tasks = {asyncio.create_task(coro) for coro in (
        session.pump(), session.watch(), _send(websocket, session), _receive(websocket, session))}
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        session.stop_pumping()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    error = next(iter(done)).exception()
    if error is None or isinstance(error, WebSocketDisconnect):
        return  # the client left
    code, reason = _ending(error)
    # One line, no traceback: a cut-off client, a busy pool or a lost connection is not a
    # bug to trace, and a thousand streams ending at once would each log one.
    log.log(logging.INFO if code == GOING_AWAY else logging.WARNING,
            "stream of user %s closed %d: %s", session.user_id, code,
            _one_line(error) if code == SERVER_ERROR else reason)
    await _close(websocket, code, reason)


def _ending(error: BaseException) -> tuple[int, str]:
    """The close code and reason a stream that ended with this error is given."""
    if isinstance(error, SlowConsumer):
        return SLOW_CONSUMER, str(error)
    if isinstance(error, ServerClosing):
        return GOING_AWAY, str(error)
    if isinstance(error, _Close):
        return error.code, error.reason
    return SERVER_ERROR, RECONNECT


def _one_line(error: BaseException) -> str:
    """The error's kind and the first line of its message (a driver's may add its SQL)."""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0] if message else ''}"


async def _send(websocket: WebSocket, session: Session) -> None:
    timeout = session.settings.stream_send_timeout_seconds
    while True:
        message = await session.next_message()
        try:
            async with asyncio.timeout(timeout):
                await websocket.send_text(json.dumps(message))
        except TimeoutError:
            raise SlowConsumer(f"slow consumer: a message waited more than {timeout:g} s"
                               " to be sent") from None


async def _receive(websocket: WebSocket, session: Session) -> None:
    while True:
        raw = await _receive_text(websocket)
        try:
            request = parse(raw)
            if request.action == "subscribe":
                reply = await session.subscribe(symbols_of(request))
            elif request.action == "unsubscribe":
                reply = session.unsubscribe(symbols_of(request))
            else:
                reply = messages.error("already_authenticated", "this stream is authenticated")
        except BadRequest as error:
            reply = messages.error(error.code, str(error))
        session.offer(reply)


async def _receive_text(websocket: WebSocket) -> str:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    data = message.get("text")
    if data is None:
        data = (message.get("bytes") or b"").decode("utf-8", errors="replace")
    if len(data) > MAX_MESSAGE_BYTES:
        raise _Close(1009, f"a message may be at most {MAX_MESSAGE_BYTES} bytes,"
                           f" this one was {len(data)}")
    return str(data)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with a reason, unless the client is gone or too jammed to take the frame."""
    with suppress(TimeoutError, RuntimeError, WebSocketDisconnect):
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await websocket.close(code, reason)


@router.get("/stream/sse", response_class=EventSourceResponse,
            responses={401: {"description": "no valid access token or API key"}})
async def stream_sse(
    request: Request,
    token: Annotated[str | None, Query(description="for EventSource, which cannot send an"
                                                   " Authorization header")] = None,
    last_seq: Annotated[str | None, Query(description="resume after this seq")] = None,
    symbols: Annotated[str | None, Query(description="comma-separated symbols to quote")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Stream the same events as the WebSocket, as Server-Sent Events (id = seq)."""
    services: StreamServices = request.app.state.stream
    bearer = request.headers.get("authorization", "")
    credential = token or (bearer[7:] if bearer[:7].lower() == "bearer " else None)
    host = request.client.host if request.client else None
    principal = await authenticate(services, credential, host) if credential else None
    if principal is None:
        raise unauthenticated("a valid bearer access token or API key is required")
    try:
        resume = last_seq_of(last_event_id or last_seq)
    except BadRequest as error:
        raise ApiError(422, str(error), code=error.code) from None
    session = await Session.open(services, principal.user_id, resume)
    if symbols:
        reply = await session.subscribe([s.strip().upper() for s in symbols.split(",")])
        session.offer(reply)
    return _Events(session, services.settings.stream_send_timeout_seconds)


class _Events(EventSourceResponse):
    """A session's events; a client that takes none for the send timeout is cut off with one
    warning line, as a WebSocket's slow consumer is: sse-starlette raises SendTimeoutError,
    which reached the server as an unhandled error with its traceback."""

    def __init__(self, session: Session, send_timeout: float) -> None:
        super().__init__(_sse_events(session), send_timeout=send_timeout)
        self._user_id = session.user_id
        self._send_timeout = send_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except* SendTimeoutError:
            log.warning("SSE stream of user %s closed: slow consumer: an event waited more"
                        " than %g s to be sent", self._user_id, self._send_timeout)


async def _sse_events(session: Session) -> AsyncIterator[dict[str, str]]:
    tasks = [asyncio.create_task(session.pump()), asyncio.create_task(session.watch())]
    try:
        with metrics.STREAM_CONNECTIONS.labels("sse").track_inprogress():
            while not any(task.done() for task in tasks):
                message = await session.next_message()
                event = {"event": message["type"], "data": json.dumps(message)}
                if message["type"] in ("order", "fill"):
                    event["id"] = str(message["seq"])
                yield event
    finally:
        session.stop_pumping()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        session.close()
