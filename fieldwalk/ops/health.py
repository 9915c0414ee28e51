"""`/healthz` for the load balancer and one log line per request."""

import json
import logging
import re
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from flask import Blueprint, Flask, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from fieldwalk.ops.sqlite import open_sqlite
from fieldwalk.photos.files import TEMP_PREFIX

bp = Blueprint("ops", __name__)

request_log = logging.getLogger("fieldwalk.request")

HEALTH_TIMEOUT_SECONDS = 2


# Invitation (/j/), party (/l/) and public walk (/w/) links carry their secret in the path.
TOKEN_PATH = re.compile(r"^/([jlw])/[^/]+")


def database_answers(path: str) -> bool:
    """A trivial query on a fresh connection with a short timeout; never creates the file."""
    try:
        conn = open_sqlite(Path(path), "rw", timeout=HEALTH_TIMEOUT_SECONDS)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except (sqlite3.Error, OSError, ValueError):
        return False
    return True


def photos_writable(path: str) -> bool:
    """Create and delete a file in the photo folder (a leftover is an orphan check-photos finds)."""
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=f"{TEMP_PREFIX}healthz-") as f:
            f.write(b"ok")
            f.flush()
    except OSError:
        return False
    return True


def _health_response(checks: dict[str, str]):
    ok = all(value == "ok" for value in checks.values())
    response = jsonify(status="ok" if ok else "error", **checks)
    response.status_code = 200 if ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz():
    """Is the database answering and the photo folder writable? 200 or 503, no details."""
    config = current_app.config
    return _health_response(
        {
            "database": "ok" if database_answers(config["DATABASE_PATH"]) else "error",
            "photos": "ok" if photos_writable(config["PHOTO_PATH"]) else "error",
        }
    )


@bp.errorhandler(Exception)
def _health_failed(error: Exception):
    # Another hook failing on the way (loading a user from a broken database, say) is a 503.
    if isinstance(error, HTTPException):
        return error
    current_app.logger.exception("health check failed")
    return _health_response({"database": "unknown", "photos": "unknown"})


class _StderrHandler(logging.StreamHandler):
    """Writes to the current sys.stderr: servers and test runners replace it."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def loggable_path(path: str) -> str:
    """The request path with link tokens replaced; the query string is never logged."""
    return TOKEN_PATH.sub(r"/\1/[redacted]", path)


def _start_clock() -> None:
    g.request_started = time.perf_counter()


def _write_request_line(status: int) -> None:
    if not current_app.config.get("REQUEST_LOG", True) or g.get("request_logged"):
        return
    g.request_logged = True
    started = g.get("request_started")
    user = g.get("user")
    line = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "method": request.method,
        "path": loggable_path(request.path),
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        "user": user["id"] if user else "anonymous",
        "remote_addr": request.remote_addr,
    }
    request_log.info(json.dumps(line, ensure_ascii=False))


def _log_response(response):
    _write_request_line(response.status_code)
    return response


def _log_unhandled(error: BaseException | None) -> None:
    # Reached without a response only when an exception escapes every error handler.
    if error is not None:
        _write_request_line(500)


def init_request_log(app: Flask) -> None:
    """Log one JSON line per request Flask answers (static files go through WhiteNoise)."""
    app.config.setdefault("REQUEST_LOG", True)
    if not request_log.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        request_log.addHandler(handler)
        request_log.setLevel(logging.INFO)
        # The line is complete as it is: not again through Flask's prefixed "fieldwalk" handler.
        request_log.propagate = False
    # First, so the clock runs even when a later hook (user loading, CSRF) answers early.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_clock)
    app.after_request(_log_response)
    app.teardown_request(_log_unhandled)


def init_app(app: Flask) -> None:
    """Register /healthz and the request log."""
    app.register_blueprint(bp)
    init_request_log(app)
