"""Days and instants in query strings: ISO 8601 text, as the OpenAPI schema says.

Pydantic reads a number ("0", "1767225600.5") as a Unix time, so `?until=0.5` was taken as
1970; a query parameter of these types refuses it with a 422 naming the parameter.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Final

from pydantic import AwareDatetime, BeforeValidator

_NUMBER: Final = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _iso_text(value: Any) -> Any:
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        raise ValueError(f"must be an ISO 8601 date or date-time, not a number: {value!r}")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_text)]
IsoDatetime = Annotated[datetime, BeforeValidator(_iso_text)]
IsoAwareDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
