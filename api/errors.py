"""One error shape for the whole API: {"error": {code, message, details, request_id}}."""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from shared.domain.errors import DomainError

log = logging.getLogger(__name__)


class AuthCode(StrEnum):
    """The codes of every 401 and 403 about who is calling and what they may do.

    401 says "present other credentials": no or an unusable bearer (`unauthenticated`), an
    access token past its expiry (`token_expired`: refresh it), one ended by a logout
    everywhere or a password change (`token_revoked`: log in), or a login whose password,
    code or refresh token is wrong (`invalid_credentials`). 403 says "these credentials are
    fine but may not do this".
    """

    UNAUTHENTICATED = "unauthenticated"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_REVOKED = "token_revoked"
    INVALID_CREDENTIALS = "invalid_credentials"  # also 403: a wrong *current* password
    FORBIDDEN = "forbidden"
    INSUFFICIENT_SCOPE = "insufficient_scope"  # a `read` API key that tried to change something
    LOGIN_REQUIRED = "login_required"  # an API key where only a logged-in user may act
    IP_NOT_ALLOWED = "ip_not_allowed"  # an API key used from outside its allow-list
    # REQUIRE_EMAIL_VERIFICATION: the account has not yet proven its address.
    EMAIL_UNVERIFIED = "email_unverified"


HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
STATUS_BY_KIND = {"invalid": 422, "not_found": 404, "conflict": 409, "unavailable": 503}
CODE_BY_STATUS = {
    400: "bad_request", 401: AuthCode.UNAUTHENTICATED, 403: AuthCode.FORBIDDEN,
    404: "not_found", 405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "invalid_request", 429: "too_many_requests",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    """What went wrong: a stable `code` to branch on, a message for people, and details."""

    code: str = Field(description="stable and machine-readable, e.g. `insufficient_funds`")
    message: str
    details: dict[str, Any] = Field(description="`field` names the field at fault, if any")
    request_id: str | None = Field(description="the X-Request-ID of the request, for support")


class ErrorBody(BaseModel):
    """The body of every error answer of the API."""

    error: ErrorDetail


_Answers = dict[str, dict[str, Any]]


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer", "minimum": 0}}


_RETRY_AFTER: Final = _header("seconds to wait before trying again")
# The tightest budget the request was held to (api/ratelimit.py), on every metered answer
# (none while Redis cannot count and the budgets fail open).
BUDGET_HEADERS: Final = {
    "RateLimit-Limit": _header("requests the tightest budget allows in its window"),
    "RateLimit-Remaining": _header("requests left in that budget's window"),
    "RateLimit-Reset": _header("seconds until the oldest counted request leaves the window"),
}
# What the middleware (api/middleware.py, api/ratelimit.py) may answer on any route.
EVERY_ROUTE: Final[_Answers] = {
    "503": {"description": "the process is at capacity (`overloaded`) or a store it needs is"
                           " down (`unavailable`); retry after `Retry-After` seconds",
            "headers": {"Retry-After": _RETRY_AFTER}},
    "504": {"description": "no answer within REQUEST_TIMEOUT_SECONDS (`deadline_exceeded`):"
                           " a change may or may not have happened"},
}
SECURED: Final[_Answers] = {
    "401": {"description": "no valid bearer token or API key (`unauthenticated`,"
                           " `token_expired`, `token_revoked`; see AuthCode)"},
}
# Any route that takes credentials takes an API key, which may be refused (api/deps.py).
KEY_REFUSED: Final[_Answers] = {
    "403": {"description": "an API key used from outside its allow-list (`ip_not_allowed`)"},
}
KEY_REFUSED_WRITE: Final[_Answers] = {
    "403": {"description": "a `read` API key used to change something (`insufficient_scope`),"
                           " or a key used from outside its allow-list (`ip_not_allowed`)"},
}
METERED: Final[_Answers] = {
    "429": {"description": "a request budget is spent (`rate_limited`, `details.budget` names"
                           " it; retry after `Retry-After` seconds)",
            "headers": {"Retry-After": _RETRY_AFTER, **BUDGET_HEADERS}},
}
WITH_BODY: Final[_Answers] = {
    "408": {"description": "the body did not arrive within BODY_TIMEOUT_SECONDS"
                           " (`request_timeout`)"},
    "413": {"description": "the body is larger than the API takes (`body_too_large`)"},
}
WITH_JSON_BODY: Final[_Answers] = {
    "400": {"description": "the body is not JSON (`invalid_json`: not UTF-8, unparsable or"
                           " nested too deep) or names a key twice (`duplicate_key`)"},
    "415": {"description": "the body is not declared JSON (`unsupported_media_type`): send"
                           " `Content-Type: application/json`"},
}


def document_errors(schema: dict[str, Any], metered: Callable[[str], bool]) -> None:
    """Give every error answer in an OpenAPI document the one error body, and add those
    the middleware may give (on `metered` paths, the request budgets' 429 and their headers
    on every answer) and the 401 and 403 of every route that takes credentials.

    Routes declare their own error statuses with a description each; FastAPI would also
    declare its own validation-error body for 422, which this API never sends.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(body.pop("$defs", {}))
    components[ErrorBody.__name__] = body
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            sent = operation.get("requestBody", {}).get("content", {})
            secured = bool(operation.get("security"))
            key_refused = KEY_REFUSED if method.upper() in _SAFE else KEY_REFUSED_WRITE
            for extra in (EVERY_ROUTE, METERED if metered(path) else {},
                          SECURED if secured else {}, key_refused if secured else {},
                          WITH_BODY if sent else {},
                          WITH_JSON_BODY if "application/json" in sent else {}):
                for status, answer in extra.items():
                    responses.setdefault(status, dict(answer))
                    # A route's own description of the status keeps it; the headers the
                    # middleware adds are the same whoever describes the answer.
                    responses[status].setdefault("headers", {}).update(answer.get("headers", {}))
            for status, answer in responses.items():
                if status[0] in "45" and _schema_of(answer) in _GENERATED:
                    answer["content"] = content
                if status[0] == "2" and metered(path):
                    answer.setdefault("headers", {}).update(BUDGET_HEADERS)
                if not answer.get("headers"):
                    answer.pop("headers", None)
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)


_SAFE: Final = frozenset({"GET", "HEAD", "OPTIONS"})
# What an answer is documented with unless its route names a model of its own: nothing, or
# FastAPI's validation-error body (an answer a route names a model for, like /ready's 503,
# keeps it).
_GENERATED: Final = (None, {"$ref": "#/components/schemas/HTTPValidationError"})


def _schema_of(answer: dict[str, Any]) -> Any:
    return answer.get("content", {}).get("application/json", {}).get("schema")


class ApiError(Exception):
    """An HTTP-level failure that is not a business outcome (auth, rate limits)."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or CODE_BY_STATUS.get(status, "error")
        self.details = details or {}
        self.headers = headers


def unauthenticated(message: str, code: AuthCode = AuthCode.UNAUTHENTICATED) -> ApiError:
    """A 401, with the Bearer challenge every 401 must carry (RFC 6750)."""
    return ApiError(401, message, code=code, headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str, code: AuthCode = AuthCode.FORBIDDEN,
              details: dict[str, Any] | None = None) -> ApiError:
    """A 403: the caller is known, and may not do this."""
    return ApiError(403, message, code=code, details=details)


def header_field(name: str) -> str:
    """How `details.field` names a request header: as request validation does (FastAPI's
    location `header`), so that a client reads one vocabulary whoever refused the value."""
    return f"header.{name}"


def email_unverified() -> ApiError:
    """The 403 of an account that has not proven its address (REQUIRE_EMAIL_VERIFICATION)."""
    return forbidden("confirm your e-mail address first: log in once with the code mailed to"
                     " it (POST /api/v1/auth/otp-login; POST /api/v1/auth/request-otp mails a"
                     " new one)", AuthCode.EMAIL_UNVERIFIED)


def error_document(code: str, message: str, details: dict[str, Any],
                   request_id: str | None) -> dict[str, Any]:
    """The one error shape, as JSON-ready data."""
    return {"error": {"code": code, "message": message, "details": details,
                      "request_id": request_id}}


def error_response(request: Request, status: int, code: str, message: str,
                   details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """Render the one error shape."""
    body = error_document(code, message, details or {},
                          getattr(request.state, "request_id", None))
    return JSONResponse(body, status_code=status, headers=headers)


def _field_errors(exc: RequestValidationError) -> dict[str, Any]:
    fields = []
    for err in exc.errors():
        location = [str(part) for part in err.get("loc", ()) if part not in ("body", "query")]
        fields.append({"field": ".".join(location), "message": err.get("msg", "invalid")})
    first = fields[0]["field"] if fields else None
    return {"field": first, "errors": fields}


ExpectedError = DomainError | ApiError | RequestValidationError


def error_parts(exc: ExpectedError) -> tuple[int, str, str, dict[str, Any]]:
    """The status, code, message and details an expected error answers with.

    Routes that answer for many items at once (batches, cancel-all) put these in each item.
    """
    if isinstance(exc, DomainError):
        return STATUS_BY_KIND[exc.kind], exc.code, exc.message, exc.details
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.message, exc.details
    details = _field_errors(exc)
    message = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in details["errors"])
    return 422, "invalid_request", message or "invalid request", details


def error_item(exc: ExpectedError, request_id: str | None) -> tuple[int, dict[str, Any]]:
    """An expected error as one item of a multi-status answer: (status, the inner object of
    the one error shape)."""
    status, code, message, details = error_parts(exc)
    return status, error_document(code, message, details, request_id)["error"]


def install(app: FastAPI) -> None:
    """Map every exception family to the one error shape, once."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return error_response(request, *error_parts(exc))

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, *error_parts(exc), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, *error_parts(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path only.
            headers["Allow"] = ", ".join(allowed_methods(request))
            if request.method == "OPTIONS":  # a CORS preflight never gets here (api.edge)
                return Response(status_code=204, headers=headers)
        code = CODE_BY_STATUS.get(exc.status_code, "error")
        return error_response(request, exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(sa_exc.TimeoutError)
    @app.exception_handler(sa_exc.OperationalError)
    @app.exception_handler(sa_exc.InterfaceError)
    @app.exception_handler(OSError)  # TimeoutError too: a statement or connect timed out
    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # No pooled connection in time, or PostgreSQL unreachable: the client should retry.
        return _unavailable(request, exc)

    @app.exception_handler(sa_exc.DBAPIError)
    async def _database_error(request: Request, exc: sa_exc.DBAPIError) -> JSONResponse:
        # asyncpg's lost connections and statement_timeout arrive as plain DBAPIError.
        if exc.connection_invalidated or _sqlstate_class(exc) in UNAVAILABLE_SQLSTATE_CLASSES:
            return _unavailable(request, exc)
        if getattr(exc.orig, "sqlstate", None) == NUMERIC_OUT_OF_RANGE:
            # Every input is bounded well inside the columns; only a sum of many (cash after
            # thousands of huge trades) can get here. The request's transaction is rolled back.
            log.warning("numeric overflow on %s %s", request.method, request.url.path)
            return error_response(request, 422, "amount_out_of_range",
                                  "the amounts would pass what an account can hold (16 digits "
                                  "before the point); nothing was changed")
        return await _unexpected(request, exc)

    app.add_exception_handler(Exception, _unexpected)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this request's path, OPTIONS included.

    Asked of each route through its public `matches`, method by method: routes are nested
    (included routers), and Starlette's 405 names only the first route on the path.
    """
    methods = {"OPTIONS"}
    for route in request.app.router.routes:
        if isinstance(route, Mount):  # mounted apps answer their own methods
            continue
        for method in HTTP_METHODS - methods:
            if route.matches({**request.scope, "method": method})[0] is Match.FULL:
                methods.add(method)
    return sorted(methods)


# 08 connection exception, 53 insufficient resources (too many connections), 57 operator
# intervention (57014 statement_timeout, 57P01 shutdown): the server, not the request, failed.
UNAVAILABLE_SQLSTATE_CLASSES = {"08", "53", "57"}
# 22003 numeric_value_out_of_range: a value past what its NUMERIC(24,8) column holds.
NUMERIC_OUT_OF_RANGE: Final = "22003"


def _sqlstate_class(exc: sa_exc.DBAPIError) -> str | None:
    code = getattr(exc.orig, "sqlstate", None)
    return code[:2] if isinstance(code, str) else None


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable on %s: %s: %s", request.url.path, type(exc).__name__, exc)
    return error_response(request, 503, "unavailable",
                          "the database is unavailable or saturated; retry shortly",
                          headers={"Retry-After": "1"})


INTERNAL_ERROR: Final = "an internal error occurred; quote the request id to support"


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Reached only by a failure of the middleware itself: api.middleware.Unexpected answers
    # the app's own, inside the middleware.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, "internal_error", INTERNAL_ERROR)
