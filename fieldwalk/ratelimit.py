"""Rate limits: fixed-window counters kept in SQLite, so they hold across gunicorn workers.

Each (key, window) row counts the requests in one window; `window` holds the second the
window ends, so expired rows can be pruned without knowing which period each key uses. A key
is meant to be used with one period; name keys by what they limit ("link:12", "link-addr:…").
"""

import math
import time
from collections.abc import Callable
from functools import wraps

from flask import Flask, current_app, make_response, request
from flask_babel import gettext as _
from sqlite_utils import Database
from werkzeug.exceptions import TooManyRequests

from fieldwalk.db import get_db, transaction


class RateLimited(TooManyRequests):
    """429 with a Retry-After header, answered by the handler in `init_app`."""

    def __init__(self, retry_after: int):
        super().__init__(retry_after=retry_after)
        self.retry_seconds = retry_after


def count_hit(db: Database, key: str, per_seconds: int, at: float | None = None) -> tuple[int, int]:
    """Count one request against `key`; return (requests in this window, window's end)."""
    at = time.time() if at is None else at
    window_end = (int(at // per_seconds) + 1) * per_seconds
    with transaction(db):
        (count,) = db.execute(
            """INSERT INTO rate_limits (key, window, count) VALUES (?, ?, 1)
               ON CONFLICT(key, window) DO UPDATE SET count = count + 1 RETURNING count""",
            [key, window_end],
        ).fetchone()
        if count == 1:
            # A new window started for this key: a good moment to forget finished ones.
            db.execute("DELETE FROM rate_limits WHERE window <= ?", [int(at)])
    return count, window_end


def hit(db: Database, key: str, limit: int, per_seconds: int, at: float | None = None) -> bool:
    """Count a request; True when it is within `limit` requests per `per_seconds`."""
    count, _end = count_hit(db, key, per_seconds, at)
    return count <= limit


def enforce(key: str, limit: int, per_seconds: int) -> None:
    """Count a request of this one; abort with 429 and Retry-After when over the limit."""
    at = time.time()
    count, window_end = count_hit(get_db(), key, per_seconds, at)
    if count > limit:
        raise RateLimited(max(1, math.ceil(window_end - at)))


def client_address() -> str:
    """The requester's address (the proxy's view, through ProxyFix when configured)."""
    return request.remote_addr or "unknown"


def rate_limit(
    scope: str, limit_setting: str, window_setting: str, key: Callable[[], str] = client_address
) -> Callable:
    """Decorate a view: at most config[limit_setting] requests per config[window_setting]
    seconds for each `key()` (the client's address by default), counted under `scope`."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            config = current_app.config
            enforce(f"{scope}:{key()}", config[limit_setting], config[window_setting])
            return view(*args, **kwargs)

        return wrapped

    return decorator


def init_app(app: Flask) -> None:
    """Answer RateLimited with the error page (or JSON) and a Retry-After header."""

    @app.errorhandler(RateLimited)
    def too_many_requests(error: RateLimited):
        from fieldwalk.render import error_page

        message = _("Too many requests. Please wait a moment and try again.")
        response = make_response(error_page(429, message))
        response.headers["Retry-After"] = str(error.retry_seconds)
        return response
