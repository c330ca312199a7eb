"""Access tokens: verified once per process, but never accepted past their expiry."""

import time
import uuid

from api.security import issue_access_token, verify_access_token
from shared.settings import Settings


def test_a_cached_token_stops_working_when_it_expires() -> None:
    settings = Settings(access_token_ttl_seconds=1)
    user = uuid.uuid4()
    token = issue_access_token(settings, user)
    first = verify_access_token(settings, token)
    assert first is not None
    assert first.user_id == user
    assert verify_access_token(settings, token) == first  # served from the cache
    time.sleep(2.1)
    assert verify_access_token(settings, token) is None


def test_a_token_signed_with_another_secret_is_refused_even_after_a_valid_one() -> None:
    ours = Settings(jwt_secret="a" * 40)
    theirs = Settings(jwt_secret="b" * 40)
    token = issue_access_token(theirs, uuid.uuid4())
    assert verify_access_token(theirs, token) is not None
    assert verify_access_token(ours, token) is None
