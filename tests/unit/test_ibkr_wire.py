"""IBKR's pure rules: status table, numbers, exchanges, execution corrections, relay webhooks,
and the account-id "login"."""

from __future__ import annotations

import json
import sys
from decimal import Decimal

import httpx
import pytest

from shared.brokers import signing, webhooks
from shared.brokers.catalog import Broker
from shared.brokers.ibkr import session, wire
from shared.brokers.sessions import LoginForm
from shared.brokers.types import BrokerSession, Rejected
from shared.domain.enums import OrderStatus
from shared.settings import Settings

S = OrderStatus
D = Decimal


@pytest.mark.parametrize(
    ("raw", "filled", "error", "expected"),
    [
        ("PendingSubmit", "0", None, S.SUBMITTED),
        ("ApiPending", "0", None, S.SUBMITTED),
        ("PreSubmitted", "0", None, S.ACCEPTED),
        ("Submitted", "0", None, S.ACCEPTED),
        ("ApiUpdate", "0", None, S.ACCEPTED),
        ("ValidationError", "0", None, S.ACCEPTED),
        ("Submitted", "4", None, S.PARTIALLY_FILLED),
        ("PreSubmitted", "4", None, S.PARTIALLY_FILLED),
        ("Submitted", "10", None, S.FILLED),
        ("Filled", "10", None, S.FILLED),
        ("PendingCancel", "0", None, S.PENDING_CANCEL),
        ("PendingCancel", "4", None, S.PENDING_CANCEL),
        ("Cancelled", "0", None, S.CANCELED),
        ("Cancelled", "0", 202, S.CANCELED),
        ("ApiCancelled", "0", None, S.CANCELED),
        ("Cancelled", "0", 201, S.REJECTED),
        ("ApiCancelled", "0", 201, S.REJECTED),
        ("Cancelled", "4", 201, S.CANCELED),
        ("Inactive", "0", None, S.REJECTED),
        ("Inactive", "0", 201, S.REJECTED),
        ("SomethingNew", "0", None, S.SUBMITTED),
    ],
)
def test_ib_status_strings_map_to_ours_with_fills_from_quantities(
        raw: str, filled: str, error: int | None, expected: OrderStatus) -> None:
    assert wire.order_status(raw, D(10), D(filled), error) is expected


def test_every_ib_status_string_is_mapped() -> None:
    ib_statuses = {"PendingSubmit", "ApiPending", "PreSubmitted", "Submitted", "ApiUpdate",
                   "PendingCancel", "ApiCancelled", "Cancelled", "Filled", "Inactive",
                   "ValidationError"}
    assert set(wire.STATUS_MAP) == ib_statuses


@pytest.mark.parametrize("code", [105, 110, 399, 2104, 2158])
def test_warning_codes_leave_the_order_live(code: int) -> None:
    assert wire.is_warning(code)


@pytest.mark.parametrize("code", [103, 201, 202, 10148])
def test_error_codes_are_not_warnings(code: int) -> None:
    assert not wire.is_warning(code)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (100.05, D("100.05")),
        (0.1, D("0.1")),
        (100.0, D("100")),
        (10, D("10")),
        (D("99.50"), D("99.50")),
        ("12345.67", D("12345.67")),
        ("", None),
        (None, None),
        (sys.float_info.max, None),
        (float("nan"), None),
    ],
)
def test_ib_numbers_become_exact_decimals(value: float | int | Decimal | str | None,
                                          expected: Decimal | None) -> None:
    result = wire.to_decimal(value)
    assert result == expected
    if expected is not None:
        assert str(result) == str(expected)  # no binary noise such as 100.0499999


def test_text_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="where a number belongs"):
        wire.to_decimal("n/a")


@pytest.mark.parametrize(("ours", "ib"), [("NASDAQ", "NASDAQ"), ("NYSE", "NYSE"),
                                          ("NYSEARCA", "ARCA"), ("nysearca", "ARCA")])
def test_exchanges_map_to_ib_primary_exchanges_and_back(ours: str, ib: str) -> None:
    assert wire.primary_exchange(ours) == ib
    assert wire.exchange_name(ib) == ours.upper()


def test_an_exchange_ib_orders_do_not_support_is_refused() -> None:
    with pytest.raises(ValueError, match="NSE"):
        wire.primary_exchange("NSE")


def test_a_correction_shares_its_originals_execution_key() -> None:
    original, correction = "0000e0d5.6553a6b1.01.01", "0000e0d5.6553a6b1.01.02"
    assert wire.execution_key(original) == wire.execution_key(correction)
    assert wire.execution_key(original) == "0000e0d5.6553a6b1.01"
    assert wire.execution_key("plainid") == "plainid"


def test_only_the_latest_correction_of_each_execution_is_kept() -> None:
    ids = ["0000e0d5.00000001.01.01", "0000e0d5.00000002.01.01", "0000e0d5.00000001.01.02"]
    assert wire.latest_executions(ids) == {"0000e0d5.00000002.01.01", "0000e0d5.00000001.01.02"}
    assert wire.latest_executions(reversed(ids)) == wire.latest_executions(ids)


def test_a_relay_webhook_names_the_order_by_perm_id_and_ref() -> None:
    body = json.dumps({"perm_id": 1234567890, "order_ref": "ord-1", "status": "Filled",
                       "account": "DU1234567"}).encode()
    trigger = wire.parse_webhook(body)
    assert trigger.broker_order_id == "1234567890"
    assert trigger.tag == "ord-1"
    assert trigger.raw_status == "Filled"
    assert trigger.broker_user_id == "DU1234567"


def test_a_relay_webhook_may_name_the_order_by_order_id_or_ref_alone() -> None:
    assert wire.parse_webhook(b'{"order_id": "42"}').broker_order_id == "42"
    by_ref = wire.parse_webhook(b'{"order_ref": "ord-2", "status": "Cancelled"}')
    assert (by_ref.broker_order_id, by_ref.tag) == (None, "ord-2")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[]", "JSON object"),
        (b"{}", "must name perm_id"),
        (b'{"perm_id": 1.5}', "positive whole number"),
        (b'{"perm_id": true}', "positive whole number"),
        (b'{"perm_id": "abc"}', "positive whole number"),
        (b'{"order_ref": 7}', "order_ref must be a string"),
        (b"not json", "Expecting value"),  # json.JSONDecodeError is a ValueError
    ],
)
def test_a_malformed_relay_webhook_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        wire.parse_webhook(body)


def test_a_signed_relay_webhook_is_verified_and_a_forged_one_refused() -> None:
    body = b'{"perm_id": 1234567890, "order_ref": "ord-1", "status": "Filled"}'
    now = 1_700_000_000

    def verify(headers: dict[str, str]) -> webhooks.Verified | None:
        return webhooks.authenticate(Broker.IBKR, body=body, headers=headers, path_token=None,
                                     candidates=[], secrets=["relay-secret-0123456789"],
                                     now=now, tolerance_seconds=300)

    verified = verify(signing.signed_headers("relay-secret-0123456789", now, body, "d-1"))
    assert verified is not None
    assert verified.trigger.broker_order_id == "1234567890"
    assert verify(signing.signed_headers("another-secret-0123456789", now, body, "d-1")) is None


async def test_activation_takes_the_ib_account_id() -> None:
    async with httpx.AsyncClient() as client:
        made = await session.activate(client, Settings(), LoginForm(client_code=" du1234567 "))
    assert made == BrokerSession(broker_user_id="DU1234567")


@pytest.mark.parametrize("code", ["", "1234567", "DU", "DU12-3456", "TOOLONG1234567"])
async def test_activation_refuses_what_is_not_an_ib_account_id(code: str) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(Rejected, match="DU1234567") as raised:
            await session.activate(client, Settings(), LoginForm(client_code=code))
    assert raised.value.code == "invalid_account"


async def test_refresh_keeps_the_current_session() -> None:
    current = BrokerSession(broker_user_id="U7654321")
    async with httpx.AsyncClient() as client:
        assert await session.refresh(client, Settings(), current, LoginForm()) is current
