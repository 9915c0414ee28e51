"""Rate limits: fixed-window counters kept in SQLite, so they hold across gunicorn workers.

The counters have a database file of their own (RATE_LIMIT_DATABASE in the instance folder),
beside the app's: every resident's observation and photo is counted, and in the app's file
each count was a write transaction of its own, taking turns at the one write lock with the
records themselves and waiting for the disk at its commit. Here counting never holds up a
record, and commits do not wait for the disk (a power cut may forget the last moments'
counts, which is harmless). The file is made when first used.

Each (key, window) row counts the requests in one window; `window` holds the second the
window ends, so expired rows can be pruned without knowing which period each key uses. A key
is meant to be used with one period; name keys by what they limit ("link:12", "link-addr:…").

Every worker counts in the same rows, so a limit is the same with one gunicorn worker or
eight. What is limited: staff login attempts and joining a walk, per address; residents'
writes (observations, photos, the no-JavaScript form), per phone and per address. Logged-in
staff are not limited on writes: they are few and their accounts can be locked.
"""

import math
import time
from collections.abc import Callable
from functools import wraps

from flask import Flask, current_app, g, make_response, request
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlite_utils import Database
from werkzeug.exceptions import TooManyRequests

from fieldwalk.db import kept_connection
from fieldwalk.render import error_page
from fieldwalk.security import device_key_hash


class RateLimited(TooManyRequests):
    """429 with a Retry-After header, answered by the handler in `init_app`.

    `kind` picks the message: "login", "join", "write", or None for the general one.
    """

    def __init__(self, retry_after: int, kind: str | None = None):
        super().__init__(retry_after=retry_after)
        self.retry_seconds = retry_after
        self.kind = kind


SCHEMA = """
    CREATE TABLE IF NOT EXISTS rate_limits (
        key TEXT NOT NULL,
        window INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (key, window)
    );
"""


def counters() -> Database:
    """This thread's connection to the counters' database, its table made if it is new."""
    path = current_app.config["RATE_LIMIT_DATABASE_PATH"]
    return kept_connection(path, "counters", durable=False, schema=SCHEMA)


def _count(db: Database, key: str, window_end: int, at: float) -> int:
    """Count one more request against `key` in the window ending at `window_end`; the
    window's count now (concurrent counts included: never less than this request's place).

    Each statement commits on its own, holding the counters' write lock only while SQLite
    runs it. In a transaction the lock was also held across the Python between statements,
    and a thread of the photo pool waiting for its process's GIL, or for a core, kept every
    worker waiting to count (bench/load.py --burst)."""
    db.execute(
        """INSERT INTO rate_limits (key, window, count) VALUES (?, ?, 1)
           ON CONFLICT(key, window) DO UPDATE SET count = count + 1""",
        [key, window_end],
    )
    (count,) = db.execute(
        "SELECT count FROM rate_limits WHERE key = ? AND window = ?", [key, window_end]
    ).fetchone()
    if count == 1:
        # A new window started for this key: a good moment to forget finished ones.
        db.execute("DELETE FROM rate_limits WHERE window <= ?", [int(at)])
    return count


def count_hit(db: Database, key: str, per_seconds: int, at: float | None = None) -> tuple[int, int]:
    """Count one request against `key`; return (requests in this window, window's end)."""
    at = time.time() if at is None else at
    window_end = (int(at // per_seconds) + 1) * per_seconds
    return _count(db, key, window_end, at), window_end


def hit(db: Database, key: str, limit: int, per_seconds: int, at: float | None = None) -> bool:
    """Count a request; True when it is within `limit` requests per `per_seconds`."""
    count, _end = count_hit(db, key, per_seconds, at)
    return count <= limit


def enforce(key: str, limit: int, per_seconds: int, kind: str | None = None) -> None:
    """Count a request of this one; abort with 429 and Retry-After when over the limit."""
    enforce_all([(key, limit, per_seconds)], kind)


def enforce_all(limits: list[tuple[str, int, int]], kind: str | None = None) -> None:
    """Count this request against each (key, limit, per_seconds); abort with 429 and the
    longest Retry-After of the limits it is over."""
    at = time.time()
    over = []
    db = counters()
    for key, limit, per_seconds in limits:
        count, window_end = count_hit(db, key, per_seconds, at)
        if count > limit:
            over.append(window_end)
    if over:
        raise RateLimited(max(1, math.ceil(max(over) - at)), kind)


def client_address() -> str:
    """The requester's address (the proxy's view, through ProxyFix when configured)."""
    return request.remote_addr or "unknown"


def limit_resident_writes() -> None:
    """Count a write by someone not logged in, per phone (device key) and per address."""
    if g.get("user") is not None:
        return
    config = current_app.config
    window = config["WRITE_RATE_WINDOW_SECONDS"]
    limits = [(f"write-addr:{client_address()}", config["WRITE_RATE_LIMIT_PER_ADDRESS"], window)]
    device = device_key_hash()
    if device is not None:
        limits.append((f"write-device:{device}", config["WRITE_RATE_LIMIT_PER_DEVICE"], window))
    enforce_all(limits, "write")


def limited_message(kind: str | None, retry_seconds: int) -> str:
    """What to tell a person who was refused for going over a limit."""
    minutes = max(1, math.ceil(retry_seconds / 60))
    if kind == "login":
        return ngettext(
            "Too many login attempts from your network. Please wait %(num)d minute and try again.",
            "Too many login attempts from your network. Please wait %(num)d minutes and try again.",
            minutes,
        )
    if kind == "join":
        return ngettext(
            "Too many people joined walks from your network just now. Please wait %(num)d minute and try again.",
            "Too many people joined walks from your network just now. Please wait %(num)d minutes and try again.",
            minutes,
        )
    if kind == "write":
        return ngettext(
            "Too much was sent from this phone or network just now. Please wait %(num)d minute and try again.",
            "Too much was sent from this phone or network just now. Please wait %(num)d minutes and try again.",
            minutes,
        )
    return _("Too many requests. Please wait a moment and try again.")


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
        message = limited_message(error.kind, error.retry_seconds)
        response = make_response(error_page(429, message))
        response.headers["Retry-After"] = str(error.retry_seconds)
        return response
