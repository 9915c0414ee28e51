"""Who is asking, and what they may do: users, bearer tokens, residents' devices, CSRF, headers.

Roles are plain strings on the user row. `STAFF_ROLES` may see every walk; residents are
anonymous and reach a walk only through its invitation link, which ties the walk to a random
device key kept in their (long-lived, signed) session cookie.

A staff login is a row in `sessions`, named in the signed cookie by a random id whose hash is
the row's key. The cookie alone is not enough: a revoked row (logout, a password change
elsewhere, a locked account) turns the same cookie back into an anonymous visitor's.
"""

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps

from flask import (
    Flask,
    abort,
    current_app,
    flash,
    g,
    has_app_context,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import get_db, transaction
from fieldwalk.headers import set_security_headers
from fieldwalk.render import error_page, htmx, wants_json

csrf = CSRFProtect()


RESIDENT = "resident"


WALK_LEADER = "walk_leader"


COORDINATOR = "coordinator"


ADMIN = "admin"


ENGINEER = "engineer"  # belongs to a party; sees only that party's tasks
# Police and security companies: enter, import and read events; never a resident's details.
PARTNER = "partner"
ROLES = (WALK_LEADER, COORDINATOR, ADMIN, ENGINEER, PARTNER)
STAFF_ROLES = (WALK_LEADER, COORDINATOR, ADMIN)


MANAGER_ROLES = (COORDINATOR, ADMIN)
EVENT_ROLES = (*STAFF_ROLES, PARTNER)  # who enters, imports and reads events
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


# A session's last_seen_at is written at most this often: not a write per page view.
SEEN_EVERY_SECONDS = 60


# An ended session's row is kept this long (a person asking "was that me?" about a recent
# logout or lock), then deleted; so is a row whose cookie can no longer log anyone in.
ENDED_SESSIONS_KEPT = timedelta(days=30)


def hash_secret(value: str) -> str:
    """SHA-256 of a high-entropy secret (tokens, device keys); never used for passwords."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_token() -> str:
    """A fresh URL-safe random secret, never starting with "-": pasted after a command
    (`flask revoke-token <token>`), one that did (1 in 64) was taken for an option."""
    while True:
        token = secrets.token_urlsafe(32)
        if not token.startswith("-"):
            return token


def device_key_hash(create: bool = False) -> str | None:
    """The hash of this browser's device key, creating the key when asked."""
    key = session.get("device")
    if key is None and create:
        key = session["device"] = new_token()
        session.permanent = True
    return hash_secret(key) if key else None


_BROWSERS = (
    ("Edg", "Edge"),
    ("OPR", "Opera"),
    ("SamsungBrowser", "Samsung Internet"),
    ("FxiOS", "Firefox"),
    ("Firefox", "Firefox"),
    ("CriOS", "Chrome"),
    ("Chrome", "Chrome"),
    ("Safari", "Safari"),
)


_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def summarize_user_agent(user_agent: str) -> str:
    """'Firefox · Android' from a User-Agent header: enough to tell one's devices apart."""
    browser = next((name for key, name in _BROWSERS if f"{key}/" in user_agent), "")
    system = next((name for key, name in _SYSTEMS if key in user_agent), "")
    summary = " · ".join(part for part in (browser, system) if part)
    return summary or re.sub(r"[\x00-\x1f\x7f]", "", user_agent)[:60]


def start_session(db: Database, user_id: int, user_agent: str = "") -> str:
    """Record a new login; return the random session id for the cookie (stored hashed)."""
    session_id = new_token()
    stamp = now()
    with transaction(db):
        db.execute(
            """INSERT INTO sessions (id, user_id, created_at, last_seen_at, user_agent)
               VALUES (?, ?, ?, ?, ?)""",
            [hash_secret(session_id), user_id, stamp, stamp, summarize_user_agent(user_agent)],
        )
        purge_sessions(db)
    return session_id


def purge_sessions(db: Database) -> int:
    """Delete the rows of sessions that can never log in again: ended longer ago than
    ENDED_SESSIONS_KEPT, or unseen for longer than a cookie lives. Runs at each login (a
    small table, one statement); returns how many went."""
    lifetime = (
        current_app.config["PERMANENT_SESSION_LIFETIME"] if has_app_context() else timedelta(0)
    ) or timedelta(days=365)
    cursor = db.execute(
        """DELETE FROM sessions
           WHERE (revoked_at IS NOT NULL AND revoked_at < ?) OR last_seen_at < ?""",
        [now(-ENDED_SESSIONS_KEPT), now(-lifetime)],
    )
    return cursor.rowcount


def revoke_session(db: Database, session_id: str) -> None:
    """End one session, named by the id in its cookie."""
    with transaction(db):
        db.execute(
            "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            [now(), hash_secret(session_id)],
        )


def revoke_user_sessions(db: Database, user_id: int, keep: str | None = None) -> int:
    """End every live session of a user except the one whose cookie id is `keep`; return
    how many were ended."""
    with transaction(db):
        cursor = db.execute(
            """UPDATE sessions SET revoked_at = ?
               WHERE user_id = ? AND revoked_at IS NULL AND id IS NOT ?""",
            [now(), user_id, hash_secret(keep) if keep else None],
        )
    return cursor.rowcount


def list_live_sessions(db: Database, user_id: int) -> list[dict]:
    """A user's sessions that still log them in, most recently seen first."""
    rows = db.execute(
        """SELECT * FROM sessions WHERE user_id = ? AND revoked_at IS NULL
           ORDER BY last_seen_at DESC, created_at DESC""",
        [user_id],
    )
    return [dict(r) for r in rows if not session_expired(r["created_at"], r["last_seen_at"])]


def session_expired(created_at: str, last_seen_at: str) -> bool:
    """True when a staff session has been unused longer than STAFF_SESSION_IDLE_SECONDS or
    began longer than STAFF_SESSION_LIFETIME_SECONDS ago."""
    config = current_app.config
    moment = datetime.fromisoformat(now())
    idle = moment - datetime.fromisoformat(last_seen_at)
    age = moment - datetime.fromisoformat(created_at)
    return (
        idle.total_seconds() > config["STAFF_SESSION_IDLE_SECONDS"]
        or age.total_seconds() > config["STAFF_SESSION_LIFETIME_SECONDS"]
    )


def _seen(db: Database, session_hash: str, last_seen_at: str) -> None:
    """Move last_seen_at forward, at most once a SEEN_EVERY_SECONDS."""
    stamp = now()
    elapsed = datetime.fromisoformat(stamp) - datetime.fromisoformat(last_seen_at)
    if elapsed.total_seconds() >= SEEN_EVERY_SECONDS:
        with transaction(db):
            db.execute("UPDATE sessions SET last_seen_at = ? WHERE id = ?", [stamp, session_hash])


def forget_login() -> None:
    """Drop the staff login from this browser's cookie; its device key and language stay."""
    session.pop("user_id", None)
    session.pop("sid", None)
    session.pop("epoch", None)  # cookies from before sessions were rows


def user_for_token(db: Database, token: str) -> dict | None:
    """The user an API token (from `create-token`) belongs to, unless it is revoked or the
    account is locked."""
    if not token:
        return None
    row = db.execute(
        """SELECT users.* FROM api_tokens JOIN users ON users.id = api_tokens.user_id
           WHERE token_hash = ? AND revoked_at IS NULL AND users.locked_at IS NULL""",
        [hash_secret(token)],
    ).fetchone()
    return dict(row) if row else None


def load_user() -> None:
    """Set g.user from a bearer token or the session, and g.auth to how it was found."""
    g.user, g.auth, g.session_id = None, None, None
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        user = user_for_token(get_db(), header[7:].strip())
        if user is None:
            abort(401)
        g.user, g.auth = user, "bearer"
        return
    user_id, session_id = session.get("user_id"), session.get("sid")
    if user_id is None:
        return
    db = get_db()
    row = None
    if isinstance(session_id, str):
        row = db.execute(
            """SELECT sessions.last_seen_at AS session_seen_at,
                      sessions.created_at AS session_created_at, users.* FROM sessions
               JOIN users ON users.id = sessions.user_id
               WHERE sessions.id = ? AND sessions.revoked_at IS NULL
                 AND users.locked_at IS NULL""",
            [hash_secret(session_id)],
        ).fetchone()
    if row is None or row["id"] != user_id:
        forget_login()
        return
    user = dict(row)
    if session_expired(user.pop("session_created_at"), user["session_seen_at"]):
        return _end_expired_session(db, session_id)
    _seen(db, hash_secret(session_id), user.pop("session_seen_at"))
    g.user, g.auth, g.session_id = user, "session", session_id


def _end_expired_session(db: Database, session_id: str):
    """End an expired staff session on the server; the browser goes on as a visitor (its
    resident device key stays), and a page view is sent to log in again, told why."""
    revoke_session(db, session_id)
    forget_login()
    if wants_json():
        return None  # the API answers a visitor as it always does (401 where it must)
    flash(_("Your login has expired. Please log in again."))
    if request.method != "GET" or request.endpoint == "auth.login":
        return None
    login_url = url_for("auth.login", next=request.full_path.rstrip("?"))
    if htmx:  # a fragment request: the whole page goes to the login form, not a fragment
        response = current_app.response_class(status=204)
        response.headers["HX-Redirect"] = login_url
        return response
    return redirect(login_url)


def check_query_string() -> None:
    """400 for a query string that is not UTF-8 (raw bytes; browsers percent-encode), which
    Werkzeug would otherwise fail to decode inside whichever view first reads request.args."""
    try:
        request.query_string.decode()
    except UnicodeDecodeError:
        abort(400)


# Blueprints whose state changes authenticate each request by a key in its body (Open311's
# api_key) and never act on the session cookie's login: no cookie, so no forgery to stop.
KEY_AUTHENTICATED_BLUEPRINTS: set[str] = set()


def check_csrf() -> None:
    """Every state change carries a CSRF token, unless it authenticates with a bearer token
    or a key of its own (KEY_AUTHENTICATED_BLUEPRINTS)."""
    if request.blueprint in KEY_AUTHENTICATED_BLUEPRINTS:
        return
    if request.method in UNSAFE_METHODS and g.get("auth") != "bearer":
        csrf.protect()


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


def init_app(app: Flask) -> None:
    """Install CSRF, user loading and the security headers."""
    csrf.init_app(app)
    app.before_request(check_query_string)
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
        return error_page(400, message)

    @app.context_processor
    def inject_user():
        return {"current_user": g.get("user"), "is_staff": is_staff()}
