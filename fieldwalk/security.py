"""Who is asking, and what they may do: users, bearer tokens, residents' devices, CSRF, headers.

Roles are plain strings on the user row. `STAFF_ROLES` may see every walk; residents are
anonymous and reach a walk only through its invitation link, which ties the walk to a random
device key kept in their (long-lived, signed) session cookie.
"""

import hashlib
import secrets
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, jsonify, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect

from fieldwalk.db import get_db, now

csrf = CSRFProtect()

RESIDENT = "resident"
WALK_LEADER = "walk_leader"
COORDINATOR = "coordinator"
ADMIN = "admin"
ENGINEER = "engineer"  # belongs to a party; sees only that party's tasks
ROLES = (WALK_LEADER, COORDINATOR, ADMIN, ENGINEER)
STAFF_ROLES = (WALK_LEADER, COORDINATOR, ADMIN)
MANAGER_ROLES = (COORDINATOR, ADMIN)
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def hash_secret(value: str) -> str:
    """SHA-256 of a high-entropy secret (tokens, device keys); never used for passwords."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_token() -> str:
    """A fresh URL-safe random secret."""
    return secrets.token_urlsafe(32)


def device_key_hash(create: bool = False) -> str | None:
    """The hash of this browser's device key, creating the key when asked."""
    key = session.get("device")
    if key is None and create:
        key = session["device"] = new_token()
        session.permanent = True
    return hash_secret(key) if key else None


def load_user() -> None:
    """Set g.user from a bearer token or the session, and g.auth to how it was found."""
    g.user, g.auth = None, None
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        row = (
            get_db()
            .execute(
                """SELECT users.* FROM api_tokens JOIN users ON users.id = api_tokens.user_id
                   WHERE token_hash = ? AND revoked_at IS NULL AND users.locked_at IS NULL""",
                [hash_secret(header[7:].strip())],
            )
            .fetchone()
        )
        if row is None:
            abort(401)
        g.user, g.auth = dict(row), "bearer"
        return
    user_id = session.get("user_id")
    if user_id is None:
        return
    row = get_db().execute("SELECT * FROM users WHERE id = ?", [user_id]).fetchone()
    if row is None or row["locked_at"] or row["session_epoch"] != session.get("epoch"):
        session.pop("user_id", None)
        session.pop("epoch", None)
        return
    g.user, g.auth = dict(row), "session"


def check_csrf() -> None:
    """Every state change carries a CSRF token, unless it authenticates with a bearer token."""
    if request.method in UNSAFE_METHODS and g.get("auth") != "bearer":
        csrf.protect()


def wants_json() -> bool:
    """True for the JSON API and clients that ask for JSON."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def login_required(view: Callable) -> Callable:
    """Staff only: anonymous visitors go to the login page (or get 401 from the API)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.user is None:
            if wants_json() or request.method != "GET":
                abort(401)
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def role_required(*roles: str) -> Callable:
    """Staff with one of `roles` only; other staff get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if g.user["role"] not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def is_staff() -> bool:
    """True when the requester is a logged-in staff member."""
    return g.get("user") is not None and g.user["role"] in STAFF_ROLES


def audit(action: str, entity: str, entity_id: object, **detail: object) -> None:
    """Record a state change (who, when, what) in the audit log; call inside the write."""
    import json

    get_db().execute(
        """INSERT INTO audit_log (at, user_id, participant_id, action, entity, entity_id, detail)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        [
            now(),
            g.user["id"] if g.get("user") else None,
            g.get("participant_id"),
            action,
            entity,
            str(entity_id),
            json.dumps(detail, ensure_ascii=False, default=str),
        ],
    )


def content_security_policy(config=None) -> str:
    """The CSP: no inline script, no framing, tiles only from the configured host."""
    config = config or current_app.config
    tiles = urlsplit(config["TILE_URL"].replace("{s}", "a"))
    tile_origin = f"{tiles.scheme}://{tiles.netloc}" if tiles.netloc else ""
    tile_host = (
        tile_origin.replace("://a.", "://*.") if "{s}" in config["TILE_URL"] else tile_origin
    )
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob: {tile_host}".strip(),
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "manifest-src 'self'",
            "worker-src 'self'",
        ]
    )


def security_headers(config) -> dict[str, str]:
    """The security headers every response carries, pages and static files alike."""
    headers = {
        "Content-Security-Policy": content_security_policy(config),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "camera=(self), geolocation=(self)",
    }
    if config["SESSION_COOKIE_SECURE"]:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


def set_security_headers(response):
    """Security headers on every response Flask answers."""
    for name, value in security_headers(current_app.config).items():
        response.headers.setdefault(name, value)
    return response


def static_security_headers(config) -> Callable:
    """WhiteNoise's `add_headers_function`: static files never reach Flask's after_request."""
    values = security_headers(config)

    def add_headers(headers, _path: str, _url: str) -> None:
        for name, value in values.items():
            headers.setdefault(name, value)

    return add_headers


def init_app(app: Flask) -> None:
    """Install CSRF, user loading and the security headers."""
    csrf.init_app(app)
    app.before_request(load_user)
    app.before_request(check_csrf)
    app.after_request(set_security_headers)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        message = _(
            "Your form has expired or was sent from elsewhere. Reload the page and try again."
        )
        if wants_json():
            return jsonify(error="csrf", message=message), 400
        from fieldwalk.render import error_page

        return error_page(400, message)

    @app.context_processor
    def inject_user():
        return {"current_user": g.get("user"), "is_staff": is_staff()}
