"""Administration of staff accounts: the list of users, locking and unlocking them
(inviting, roles and password links: `fieldwalk.staff`).

Locking ends every session of the account at once and makes its API tokens answer 401 (the
token check reads `locked_at`), until an admin unlocks it; the tokens themselves are kept.
"""

from flask import Blueprint, Flask, abort, flash, g, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import get_db, transaction
from fieldwalk.parties.model import list_parties
from fieldwalk.render import fail, render
from fieldwalk.security import (
    ADMIN,
    COORDINATOR,
    ENGINEER,
    PARTNER,
    WALK_LEADER,
    audit,
    revoke_user_sessions,
    role_required,
)

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_LABELS = {
    WALK_LEADER: _l("Walk leader"),
    COORDINATOR: _l("Coordinator"),
    ADMIN: _l("Administrator"),
    ENGINEER: _l("Engineer"),
    PARTNER: _l("Partner (police, guards)"),
}


def list_users(db: Database) -> list[dict]:
    """Every staff account with how many live sessions it has, when it was last seen, when
    it last logged in (the newest session, ended or not), its party, and whether it has a
    password yet (an invited person sets it from the emailed link)."""
    rows = db.execute(
        """SELECT users.id, users.email, users.name, users.role, users.locked_at,
                  users.party_id, parties.name AS party_name,
                  users.password_hash IS NOT NULL AS has_password,
                  count(sessions.id) AS live_sessions, max(sessions.last_seen_at) AS last_seen_at,
                  (SELECT max(created_at) FROM sessions s WHERE s.user_id = users.id)
                      AS last_login_at
           FROM users LEFT JOIN sessions
             ON sessions.user_id = users.id AND sessions.revoked_at IS NULL
           LEFT JOIN parties ON parties.id = users.party_id
           GROUP BY users.id ORDER BY users.locked_at IS NOT NULL, lower(users.email)"""
    )
    return [dict(r) for r in rows]


def get_user(db: Database, user_id: int) -> dict | None:
    """One user row, or None."""
    if not 0 < user_id < 2**63:
        return None
    row = db.execute("SELECT * FROM users WHERE id = ?", [user_id]).fetchone()
    return dict(row) if row else None


def lock_user(db: Database, user_id: int) -> int:
    """Lock an account and end all its sessions; return how many sessions ended."""
    with transaction(db):
        db.execute(
            "UPDATE users SET locked_at = ? WHERE id = ? AND locked_at IS NULL", [now(), user_id]
        )
        return revoke_user_sessions(db, user_id)


def unlock_user(db: Database, user_id: int) -> None:
    """Unlock an account: its owner can log in again and its API tokens work again."""
    with transaction(db):
        db.execute("UPDATE users SET locked_at = NULL WHERE id = ?", [user_id])


def _user_or_404(user_id: int) -> dict:
    user = get_user(get_db(), user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/users")
@role_required(ADMIN)
def users():
    """The staff accounts: invite, role and party, password links, lock and unlock."""
    db = get_db()
    return render(
        "admin/users.html", users=list_users(db), role_labels=ROLE_LABELS, parties=list_parties(db)
    )


@bp.post("/users/<int:user_id>/lock")
@role_required(ADMIN)
def lock(user_id: int):
    """Lock an account: logged out everywhere, API tokens refused."""
    user = _user_or_404(user_id)
    if user["id"] == g.user["id"]:
        fail(400, _("You cannot lock your own account."))
    db = get_db()
    with transaction(db):
        ended = lock_user(db, user["id"])
        audit("lock", "user", user["id"], sessions_ended=ended)
    flash(_("%(email)s is locked and logged out everywhere.", email=user["email"]))
    return redirect(url_for("admin.users"), code=303)


@bp.post("/users/<int:user_id>/unlock")
@role_required(ADMIN)
def unlock(user_id: int):
    """Unlock an account."""
    user = _user_or_404(user_id)
    db = get_db()
    with transaction(db):
        unlock_user(db, user["id"])
        audit("unlock", "user", user["id"])
    flash(_("%(email)s can log in again.", email=user["email"]))
    return redirect(url_for("admin.users"), code=303)


def init_app(app: Flask) -> None:
    """Register the admin routes."""
    app.register_blueprint(bp)
