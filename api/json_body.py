"""The one JSON body parser of the API, and the route class that makes FastAPI use it.

`json.loads` alone keeps the last of duplicate keys, turns numbers into floats, reads `NaN`,
and raises RecursionError on deep nesting. Every JSON request body goes through `parse_body`
instead: duplicates, non-standard constants and nesting deeper than MAX_DEPTH are a 400,
and numbers keep every digit as Decimal (or int).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from decimal import Decimal
from itertools import accumulate
from typing import Any, Final

from fastapi import APIRouter, params
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from api.errors import ApiError, header_field

MAX_DEPTH: Final = 32
_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS: Final = bytes(range(256)).translate(None, b"[]{}")
_STEPS: Final = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # as signed bytes: +1, -1
# int() is quadratic in the number of digits and refuses more than 4300; a longer integer is
# kept as a Decimal so that the schema can say it is out of range.
_LONG_INTEGER: Final = 64


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _integer(text: str) -> int | Decimal:
    return int(text) if len(text) <= _LONG_INTEGER else Decimal(text)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def _invalid_json(reason: str, **details: Any) -> ApiError:
    return ApiError(400, f"the request body is not valid JSON: {reason}", code="invalid_json",
                    details=details)


def _depth(raw: bytes) -> int:
    """The deepest nesting of containers in valid JSON text, found at C speed.

    Strings are cut out (their brackets are text), the brackets kept as +1 / -1 steps, and
    the largest running sum is the depth: about 35 ms for a megabyte of brackets.
    """
    skeleton = _STRING.sub(b"", raw) if b'"' in raw else raw
    steps = skeleton.translate(_STEPS, _NOT_BRACKETS)
    return max(accumulate(memoryview(steps).cast("b")), default=0)


def parse_body(raw: bytes) -> Any:
    """Parse a request body as strict JSON; raise ApiError 400 naming what is wrong."""
    try:
        # UTF-8 only (RFC 8259), which also keeps the byte-level depth count below exact.
        value = json.loads(raw.decode(), object_pairs_hook=_unique_object, parse_float=Decimal,
                           parse_int=_integer, parse_constant=_no_constant)
    except _DuplicateKey as dup:
        raise ApiError(400, f'the request body has the key "{dup.key}" more than once',
                       code="duplicate_key", details={"field": dup.key}) from None
    except RecursionError:
        raise _invalid_json(f"it nests deeper than {MAX_DEPTH} levels",
                            max_depth=MAX_DEPTH) from None
    except json.JSONDecodeError as exc:
        raise _invalid_json(f"{exc.msg} at line {exc.lineno} column {exc.colno}",
                            line=exc.lineno, column=exc.colno) from None
    except UnicodeDecodeError:
        raise _invalid_json("it is not UTF-8") from None
    except ValueError as exc:  # NaN or Infinity
        raise _invalid_json(str(exc)) from None
    # PostgreSQL text holds neither a NUL nor a lone surrogate (no UTF-8 can encode one);
    # only a body that escapes one can have one.
    if _UNSTORABLE_ESCAPE.search(raw) and (field := _unstorable_in(value)) is not None:
        raise ApiError(422, f"{field or 'body'}: a NUL character or a lone surrogate (\\u0000,"
                            " \\ud800-\\udfff) is not allowed",
                       code="invalid_request", details={"field": field})
    # Counting is cheap, and only a body with enough brackets can nest too deep.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth(raw) > MAX_DEPTH:
        raise _invalid_json(f"it nests deeper than {MAX_DEPTH} levels", max_depth=MAX_DEPTH)
    return value


# The escapes of a NUL and of a surrogate: a body without one holds neither.
_UNSTORABLE_ESCAPE: Final = re.compile(rb"\\u(0000|[dD][89abcdefABCDEF])")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _storable(text: str) -> bool:
    return "\x00" not in text and not _SURROGATE.search(text)


def _unstorable_in(value: Any, at: str = "") -> str | None:
    """The dotted path of the first key or string PostgreSQL cannot store, if any."""
    if isinstance(value, str):
        return None if _storable(value) else at
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        here = f"{at}.{key}" if at else str(key)
        if not _storable(str(key)):
            return here
        found = _unstorable_in(item, here)
        if found is not None:
            return found
    return None


def _declares_json(request: Request) -> bool:
    """The rule FastAPI uses to decide that a body is JSON (application/json or +json)."""
    content_type = request.headers.get("content-type")
    if content_type is None:
        return False
    main, _, sub = content_type.partition(";")[0].strip().lower().partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


class StrictJsonRequest(Request):
    """A request whose `.json()` is `parse_body`."""

    async def json(self) -> Any:
        if not hasattr(self, "_strict_json"):
            self._strict_json = parse_body(await self.body())
        return self._strict_json


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is parsed by `parse_body` before FastAPI validates it, and
    refused with 415 `unsupported_media_type` unless its Content-Type says JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not self._takes_json():
            return handler
        validated = self.body_field is not None  # else the endpoint parses the body itself

        async def strict_json_handler(request: Request) -> Response:
            strict = StrictJsonRequest(request.scope, request.receive)
            if await strict.body():
                if not _declares_json(strict):
                    raise _unsupported(strict.headers.get("content-type"))
                if validated:
                    # Parsed here, outside FastAPI's catch-all around body parsing, so that
                    # our 400s keep their codes; FastAPI's `await request.json()` gets it.
                    await strict.json()
            return await handler(strict)

        return strict_json_handler

    def _takes_json(self) -> bool:
        """A JSON body: a model FastAPI validates, or one the route documents and reads."""
        if self.body_field is not None:
            return not isinstance(self.body_field.field_info, params.Form)
        content = (self.openapi_extra or {}).get("requestBody", {}).get("content", {})
        return "application/json" in content


def _unsupported(content_type: str | None) -> ApiError:
    named = f"the Content-Type {content_type!r}" if content_type else "no Content-Type"
    return ApiError(415, f"this route takes a JSON body (Content-Type: application/json),"
                         f" sent with {named}", code="unsupported_media_type",
                    details={"field": header_field("Content-Type"), "content_type": content_type})


def strict_json(router: APIRouter) -> APIRouter:
    """Make every route of `router` parse its JSON body with `parse_body`."""
    for route in router.routes:
        if isinstance(route, APIRoute) and not isinstance(route, StrictJsonRoute):
            # The routers are built in their own modules with the default route class; the
            # app builds each route's handler when it includes the router, after this swap.
            route.__class__ = StrictJsonRoute
        # FastAPI keeps a router included in another as that router (its private
        # _IncludedRouter): its routes are swapped where they live.
        included = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            strict_json(included)
    return router
