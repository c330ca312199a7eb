"""Broker webhooks: verify, store the raw delivery once, queue it; the worker does the rest.

Nothing is applied here. A verified delivery is stored under a unique delivery id (a
redelivery is answered 200 and changes nothing) and queued on its broker's queue; the worker
re-fetches the order from the broker before applying anything.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from api.brokers.schemas import BrokerName
from api.deps import EngineDep, RedisDep, SettingsDep
from api.errors import ApiError
from shared.brokers import signing, webhooks
from shared.brokers.catalog import Broker, queue_for
from shared.credentials import CredentialBox, CredentialsError
from shared.db.repositories import connections
from shared.db.repositories import webhooks as deliveries
from shared.messaging import tasks
from shared.messaging.enqueue import send
from shared.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "a delivery already received: nothing changes"},
    401: {"description": "unsigned, badly signed or stale (`invalid_signature`), or signed in"
                         " the retired version 1 format (`signature_version_unsupported`):"
                         " nothing is stored"},
    404: {"description": "no webhook endpoint for this broker"},
    413: {"description": "the body is larger than WEBHOOK_MAX_BODY_BYTES"},
}


@router.post("/webhooks/{broker}", status_code=202, responses=_RESPONSES)
async def receive(broker: BrokerName, request: Request, engine: EngineDep, redis: RedisDep,
                  settings: SettingsDep) -> Response:
    """Receive a broker's signed webhook (Kite postbacks, or the X-Broker-Signature scheme)."""
    return await _receive(_broker(broker), None, request, engine, redis, settings)


@router.post("/webhooks/{broker}/{token}", status_code=202, responses=_RESPONSES)
async def receive_with_token(broker: BrokerName, token: str, request: Request, engine: EngineDep,
                             redis: RedisDep, settings: SettingsDep) -> Response:
    """Receive an unsigned webhook (Upstox) at a connection's secret URL."""
    return await _receive(_broker(broker), token, request, engine, redis, settings)


def _broker(name: str) -> Broker:
    try:
        broker = Broker(name.lower())
    except ValueError:
        broker = Broker.PAPER
    if broker is Broker.PAPER:
        raise ApiError(404, f"no webhook endpoint for broker {name!r}", code="not_found")
    return broker


async def _receive(broker: Broker, token: str | None, request: Request, engine: EngineDep,
                   redis: RedisDep, settings: Settings) -> Response:
    body = await _body(request, settings.webhook_max_body_bytes)
    async with engine.connect() as conn:
        verified = await _verify(conn, broker, token, body, dict(request.headers), settings)
    if verified is None:
        raise ApiError(401, "the webhook signature is missing, invalid or stale",
                       code="invalid_signature")
    delivery_id = (request.headers.get(signing.DELIVERY_ID_HEADER)
                   or hashlib.sha256(body).hexdigest())
    async with engine.begin() as conn:
        event_id = await deliveries.store(
            conn, broker=broker.value, delivery_id=delivery_id[:128],
            account_id=verified.account_id,
            broker_order_id=verified.trigger.broker_order_id, body=body.decode())
    if event_id is None:
        return JSONResponse({"status": "duplicate", "delivery_id": delivery_id})
    await _queue(redis, broker, event_id)
    return JSONResponse({"status": "queued", "delivery_id": delivery_id}, status_code=202)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the body is larger than {limit} bytes", code="body_too_large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"the body is larger than {limit} bytes", code="body_too_large")
    try:
        body.decode()
    except UnicodeDecodeError:
        raise ApiError(401, "the webhook signature is missing, invalid or stale",
                       code="invalid_signature") from None
    return body


async def _verify(conn: Any, broker: Broker, token: str | None, body: bytes,
                  headers: dict[str, str], settings: Settings) -> webhooks.Verified | None:
    trigger = webhooks.parse(broker, body)
    rows: list[Any] = []
    if broker is Broker.ZERODHA and trigger is not None and trigger.broker_user_id:
        rows = list(await connections.webhook_candidates(
            conn, broker, broker_user_id=trigger.broker_user_id))
    elif broker is Broker.UPSTOX and token:
        rows = list(await connections.webhook_candidates(conn, broker, webhook_token=token))
    try:
        return webhooks.authenticate(
            broker, body=body, headers=headers, path_token=token,
            candidates=_candidates(rows, settings), secrets=settings.webhook_secrets,
            now=time.time(), tolerance_seconds=settings.webhook_tolerance_seconds)
    except signing.OutdatedSignature as exc:
        raise ApiError(401, str(exc), code="signature_version_unsupported") from None


def _candidates(rows: list[Any], settings: Settings) -> list[webhooks.Candidate]:
    box = CredentialBox.from_settings(settings)
    found = []
    for row in rows:
        try:
            session = box.open(row["credentials"], user_id=row["user_id"], broker=row["broker"],
                               account_id=row["id"])
        except CredentialsError:
            log.warning("connection %s has unreadable credentials", row["id"])
            continue
        found.append(webhooks.Candidate(row["id"], session, row["webhook_token"]))
    return found


async def _queue(redis: RedisDep, broker: Broker, event_id: uuid.UUID) -> None:
    try:
        await send(redis, tasks.WEBHOOK_PROCESS, [str(event_id)], queue_for(broker))
    except Exception as exc:  # noqa: BLE001 - the reconciler re-queues stored deliveries
        log.warning("could not queue webhook delivery %s now: %s", event_id, exc)
