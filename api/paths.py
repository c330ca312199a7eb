"""Path parameters of a fixed shape, registered with Starlette before any route uses them.

A route of an id answers only ids: without this "/orders/batch" is also an
"/orders/{order_id}" (and "/trades/import" a "/trades/{trade_id}"), so OPTIONS on it named
GET, PATCH and DELETE, which it does not take; and a path whose id is no id is a 404 before
its body or headers are validated (a 422 about them would answer a question nobody asked).
"""

from __future__ import annotations

from typing import Final

from starlette.convertors import Convertor, register_url_convertor

UUID_TEXT: Final = "uuid_text"


class UuidText(Convertor[str]):
    """A UUID in its 8-4-4-4-12 form, any case, handed to the route as the text it was; the
    route parses it (an id that is no UUID is simply not found)."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor(UUID_TEXT, UuidText())


def uuid_segment(name: str) -> str:
    """A path segment `{name}` that only a UUID matches."""
    return "{" + name + ":" + UUID_TEXT + "}"


ORDER_ID: Final = uuid_segment("order_id")
TRADE_ID: Final = uuid_segment("trade_id")
USER_ID: Final = uuid_segment("user_id")
KEY_ID: Final = uuid_segment("key_id")
WATCHLIST_ID: Final = uuid_segment("watchlist_id")
CONNECTION_ID: Final = uuid_segment("connection_id")
PORTFOLIO_ID: Final = uuid_segment("portfolio_id")
