"""Enumerations shared by the API, the worker and the database (values equal names)."""

from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"
    TRAILING_STOP = "TRAILING_STOP"


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTD = "GTD"  # good till `expire_at`


class OrderStatus(StrEnum):
    PENDING_NEW = "PENDING_NEW"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    TRIGGERED = "TRIGGERED"  # a stop was hit: it now works as a MARKET or LIMIT order
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    PENDING_REPLACE = "PENDING_REPLACE"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class OrderClass(StrEnum):
    """How an order is tied to others (Alpaca's names)."""

    SIMPLE = "simple"
    BRACKET = "bracket"  # entry + take-profit LIMIT + stop-loss STOP/STOP_LIMIT
    OCO = "oco"  # one cancels the other
    OTO = "oto"  # one triggers the other


class Placement(StrEnum):
    """Where a real-broker order's place call stands (paper orders have none)."""

    IN_FLIGHT = "in_flight"  # being placed, or the outcome is unknown: look it up, never re-place
    NOT_SENT = "not_sent"  # certainly never received: may be placed again with the same tag
    PLACED = "placed"


class Role(StrEnum):
    """What a user may do beyond their own trading: an admin also runs the deployment."""

    USER = "user"
    ADMIN = "admin"
