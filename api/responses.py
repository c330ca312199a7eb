"""The error answers routes declare in the OpenAPI document, shared by the routers.

Each is a description; api.errors.document_errors gives every one the API's error body.
"""

from __future__ import annotations

from typing import Any, Final

Responses = dict[int | str, dict[str, Any]]

_UNAUTHORIZED: Final = {"description": "no valid access token or API key (`unauthenticated`),"
                                       " an expired access token (`token_expired`: refresh it)"
                                       " or one ended by a logout everywhere (`token_revoked`)"}
# Any route a key may call: the caller's token or key, and a key's IP allow-list.
READ: Final[Responses] = {
    401: _UNAUTHORIZED,
    403: {"description": "an API key used from outside its allow-list (`ip_not_allowed`)"},
}
# A route that writes: a `read` key is refused too.
SCOPED: Final[Responses] = {
    401: _UNAUTHORIZED,
    403: {"description": "a `read` API key used to change something (`insufficient_scope`),"
                         " or a key used from outside its allow-list (`ip_not_allowed`)"},
}
# A route that places orders (api.deps.limit_placement): also an unproven address.
PLACEMENT: Final[Responses] = {
    401: _UNAUTHORIZED,
    403: {"description": "a `read` API key (`insufficient_scope`), a key used from outside its"
                         " allow-list (`ip_not_allowed`), or an account whose e-mail address is"
                         " not yet proven (`email_unverified`, REQUIRE_EMAIL_VERIFICATION)"},
}
# A route only a logged-in user may call (api.deps.login_only).
LOGIN_ONLY: Final[Responses] = {
    401: _UNAUTHORIZED,
    403: {"description": "called with an API key (`login_required`: log in instead), or from"
                         " outside its allow-list (`ip_not_allowed`)"},
}
MALFORMED_BODY: Final[Responses] = {
    400: {"description": "malformed JSON, or a key given twice (`duplicate_key`)"},
}
# An admin route (api.deps.require_admin).
ADMIN: Final[Responses] = {
    401: _UNAUTHORIZED,
    403: {"description": "the caller is not an admin (`forbidden`), or is an admin calling with"
                         " an API key (`login_required`: API keys never carry admin rights), or"
                         " a key used from outside its allow-list (`ip_not_allowed`)"},
}
