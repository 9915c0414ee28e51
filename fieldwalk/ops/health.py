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


def run_checks(database_path: str, photo_path: str) -> dict[str, str]:
    """The two checks /healthz answers with, each "ok" or "error"."""
    return {
        "database": "ok" if database_answers(database_path) else "error",
        "photos": "ok" if photos_writable(photo_path) else "error",
    }


@bp.get("/healthz")
def healthz():
    """Is the database answering and the photo folder writable? 200 or 503, no details.

    HealthAnswer answers first, in front of Flask; this view is reached only without it.
    """
    config = current_app.config
    return _health_response(run_checks(config["DATABASE_PATH"], config["PHOTO_PATH"]))


class HealthAnswer:
    """WSGI middleware that answers GET /healthz before Flask does anything for a request.

    A load balancer asks every second or so, and a pool busy with pages must still answer
    at once: no session, user loading, CSRF or template, just the two checks. A good result
    is reused for HEALTH_CACHE_SECONDS (a failure never is), so a burst of checks costs one
    database connection and one file in the photo folder per worker and second. Logs its
    line in the request log's form.
    """

    def __init__(self, app: Flask, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self._good_until: dict[tuple[str, str], float] = {}

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != "/healthz" or environ.get("REQUEST_METHOD") not in (
            "GET",
            "HEAD",
        ):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        config = self.app.config
        key = (config["DATABASE_PATH"], config["PHOTO_PATH"])
        if self._good_until.get(key, 0) > time.monotonic():
            checks = {"database": "ok", "photos": "ok"}
        else:
            checks = run_checks(*key)
            if all(v == "ok" for v in checks.values()):
                seconds = config["HEALTH_CACHE_SECONDS"]
                self._good_until = {key: time.monotonic() + seconds}
        ok = all(v == "ok" for v in checks.values())
        body = json.dumps({"status": "ok" if ok else "error", **checks}).encode()
        status = 200 if ok else 503
        start_response(
            "200 OK" if ok else "503 Service Unavailable",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        if config.get("REQUEST_LOG", True):
            line = {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "method": environ["REQUEST_METHOD"],
                "path": "/healthz",
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "user": "anonymous",
                "remote_addr": environ.get("REMOTE_ADDR"),
            }
            request_log.info(json.dumps(line, ensure_ascii=False))
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]


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
    """Register /healthz (answered in front of Flask by HealthAnswer) and the request log."""
    app.register_blueprint(bp)
    init_request_log(app)
    app.wsgi_app = HealthAnswer(app, app.wsgi_app)
