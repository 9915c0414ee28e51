"""Signed links for parties without accounts: one party's tasks from one walk, nothing else.

A link is a row in `party_links` (party, walk, expiry, revocation) and a token signed with
the app's secret that carries only the row's id. Opening it shows that party's tasks from
that walk, where the recipient can accept, mark done (note and/or after-photo) or answer
"not ours". The link grants nothing else: it sets nothing in the session but the CSRF token
its own forms need, and every task it touches is checked against its party and walk.

Refusals: an unknown or tampered token, or a task outside the link, is 404 (nothing to see
here); an expired or revoked link is 410 Gone (it worked once; ask for a new one). A link
dies at the earlier of its own `expires_at` and the token's age passing PARTY_LINK_DAYS.
"""

import uuid
from datetime import timedelta
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, redirect, request, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlite_utils import Database

from fieldwalk import photos as photo_pipeline
from fieldwalk.capture import photo_error_message, photo_options
from fieldwalk.db import get_db, now, transaction
from fieldwalk.observations import MAX_ROW_ID, list_photos
from fieldwalk.photo_store import list_task_photos, put_task_photo, remove_unreferenced
from fieldwalk.ratelimit import client_address, enforce
from fieldwalk.render import render
from fieldwalk.security import MANAGER_ROLES, audit, role_required
from fieldwalk.tasks import (
    ASSIGNEE,
    PROPOSED,
    STATES,
    Actor,
    TaskError,
    VersionConflict,
    allowed_actions,
    get_task,
    list_tasks,
    transition,
)
from fieldwalk.walks import get_walk, get_walk_or_404

bp = Blueprint("links", __name__)

SALT = "party-link"
LINK_ACTIONS = ("accept", "done", "not_ours")
DAY = 24 * 3600
# A link reused for a new email should still work for a while after it arrives.
MIN_DAYS_LEFT_TO_REUSE = 7


class LinkRefused(Exception):
    """The token does not open anything; `status` is 404 (unknown) or 410 (expired, revoked)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def sign_link(link_id: int, secret_key: str | None = None) -> str:
    """The token for a link row."""
    return _serializer(secret_key or current_app.config["SECRET_KEY"]).dumps(link_id)


def create_party_link(
    db: Database, party_id: int, walk_id: int, created_by: int | None, days: int
) -> str:
    """Create a link to a party's tasks from a walk, valid `days` days; return its token."""
    expires = now(timedelta(days=days))
    with transaction(db):
        cursor = db.execute(
            """INSERT INTO party_links (party_id, walk_id, created_by, created_at, expires_at)
               VALUES (?, ?, ?, ?, ?)""",
            [party_id, walk_id, created_by, now(), expires],
        )
    return sign_link(cursor.lastrowid)


def ensure_party_link(
    db: Database, party_id: int, walk_id: int, days: int, created_by: int | None = None
) -> str:
    """A token for the party's active link to the walk, creating a link when none will last."""
    keep_until = now(timedelta(days=min(MIN_DAYS_LEFT_TO_REUSE, days)))
    row = db.execute(
        """SELECT id FROM party_links WHERE party_id = ? AND walk_id = ? AND revoked_at IS NULL
           AND expires_at > ? ORDER BY expires_at DESC LIMIT 1""",
        [party_id, walk_id, keep_until],
    ).fetchone()
    if row is not None:
        return sign_link(row["id"])
    return create_party_link(db, party_id, walk_id, created_by, days)


def get_link(db: Database, link_id: int) -> dict | None:
    """One link row with its party's name, or None."""
    row = db.execute(
        """SELECT party_links.*, parties.name AS party_name FROM party_links
           JOIN parties ON parties.id = party_links.party_id WHERE party_links.id = ?""",
        [link_id],
    ).fetchone()
    return dict(row) if row else None


def open_link(db: Database, token: str, secret_key: str, max_age_days: float) -> dict:
    """The link a token opens; raise LinkRefused when it is unknown, expired or revoked."""
    try:
        link_id = _serializer(secret_key).loads(token, max_age=int(max_age_days * DAY))
    except SignatureExpired as error:
        raise LinkRefused(410, "expired") from error
    except BadSignature as error:
        raise LinkRefused(404, "unknown") from error
    if not isinstance(link_id, int) or isinstance(link_id, bool):
        raise LinkRefused(404, "unknown")
    link = get_link(db, link_id)
    if link is None:
        raise LinkRefused(404, "unknown")
    if link["revoked_at"]:
        raise LinkRefused(410, "revoked")
    if link["expires_at"] <= now():
        raise LinkRefused(410, "expired")
    return link


def link_actor(link: dict) -> Actor:
    """How a link holder acts on tasks, and how the audit log names them."""
    return Actor(kinds=(ASSIGNEE,), user_id=None, label=f"link:{link['party_name']}")


def with_observations(db: Database, tasks: list[dict]) -> list[dict]:
    """Each task with the observations it fixes (with their photos) and its after-photos."""
    for task in tasks:
        rows = db.execute(
            """SELECT o.id, o.category, o.description, o.works_well, o.created_at
               FROM task_observations t JOIN observations o ON o.id = t.observation_id
               WHERE t.task_id = ? ORDER BY t.rowid""",
            [task["id"]],
        ).fetchall()
        task["observations"] = [dict(r, photos=list_photos(db, r["id"])) for r in rows]
        task["after_photos"] = list_task_photos(db, task["id"])
    return tasks


def link_tasks(db: Database, link: dict) -> list[dict]:
    """The link's party's tasks from the link's walk, once sent to them."""
    shown = tuple(s for s in STATES if s != PROPOSED)
    tasks = list_tasks(db, party_id=link["party_id"], walk_id=link["walk_id"], states=shown)
    return with_observations(db, tasks)


def list_walk_links(db: Database, walk_id: int) -> list[dict]:
    """A walk's links, newest first, with party and creator names."""
    rows = db.execute(
        """SELECT party_links.*, parties.name AS party_name,
                  coalesce(nullif(users.name, ''), users.email) AS created_by_name
           FROM party_links JOIN parties ON parties.id = party_links.party_id
           LEFT JOIN users ON users.id = party_links.created_by
           WHERE party_links.walk_id = ? ORDER BY party_links.id DESC""",
        [walk_id],
    )
    return [dict(r) for r in rows]


def revoke_link(db: Database, walk_id: int, link_id: int) -> bool:
    """Revoke a walk's link; True when it was active and is now revoked."""
    with transaction(db):
        cursor = db.execute(
            """UPDATE party_links SET revoked_at = ? WHERE id = ? AND walk_id = ?
               AND revoked_at IS NULL""",
            [now(), link_id, walk_id],
        )
        if cursor.rowcount == 1:
            audit("revoke", "party_link", link_id, walk_id=walk_id)
    return cursor.rowcount == 1


def map_url(lat: float | None, lon: float | None) -> str:
    """A link that opens a map (and, on a phone, the map app) at a position."""
    if lat is None or lon is None:
        return ""
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=18/{lat:.6f}/{lon:.6f}"
    )


# --- routes ------------------------------------------------------------------------------


def _refused_page(refused: LinkRefused):
    messages = {
        "unknown": _("This link does not work. Check that the whole address was copied."),
        "expired": _("This link has expired. Ask the coordinator who sent it for a new one."),
        "revoked": _(
            "This link has been withdrawn. Ask the coordinator who sent it for a new one."
        ),
    }
    response = render("links/refused.html", status=refused.status, message=messages[refused.reason])
    return _private(response)


def _private(response):
    # The token is in the address: keep it out of caches and Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _open(token: str) -> dict:
    """The request's link, counted against the per-address and per-link limits."""
    config = current_app.config
    window = config["LINK_RATE_WINDOW_SECONDS"]
    enforce(f"link-addr:{client_address()}", config["LINK_RATE_LIMIT_PER_ADDRESS"], window)
    link = open_link(get_db(), token, config["SECRET_KEY"], config["PARTY_LINK_DAYS"])
    enforce(f"link:{link['id']}", config["LINK_RATE_LIMIT"], window)
    return link


def _tasks_page(token: str, link: dict, errors=None, values=None, saved=None, status=200):
    db = get_db()
    tasks = link_tasks(db, link)
    actor = link_actor(link)
    for task in tasks:
        task["actions"] = [a for a in allowed_actions(task, actor) if a in LINK_ACTIONS]
    response = render(
        "links/tasks.html",
        status=status,
        token=token,
        link=link,
        walk=get_walk(db, link["walk_id"]),
        tasks=tasks,
        errors=errors or {},
        values=values or {},
        saved=saved,
    )
    return _private(response)


@bp.get("/l/<token>")
def tasks_page(token: str):
    """A party's tasks from one walk, opened from the emailed link."""
    try:
        link = _open(token)
    except LinkRefused as refused:
        return _refused_page(refused)
    return _tasks_page(token, link, saved=request.args.get("saved", type=int))


def task_error_message(error: TaskError) -> tuple[str, int]:
    """What to tell a link holder whose change was refused, and the status to answer with."""
    if isinstance(error, VersionConflict):
        return _(
            "Someone else changed this task at the same time. This is how it stands now; "
            "check it and try again."
        ), 409
    messages = {
        "note": (_("Write a reason."), 400),
        "evidence": (_("Add a note or a photo that shows what was done."), 400),
        "state": (_("This task cannot be changed that way any more."), 409),
    }
    return messages.get(error.code, (_("This change is not possible."), 400))


@bp.post("/l/<token>/tasks/<int:task_id>")
def act(token: str, task_id: int):
    """Accept a task, mark it done (note and/or after-photo) or answer "not ours"."""
    try:
        link = _open(token)
    except LinkRefused as refused:
        return _refused_page(refused)
    db = get_db()
    task = get_task(db, task_id) if 0 < task_id <= MAX_ROW_ID else None
    if (
        task is None
        or task["party_id"] != link["party_id"]
        or task["walk_id"] != link["walk_id"]
        or task["state"] == PROPOSED
    ):
        return _refused_page(LinkRefused(404, "unknown"))
    action = request.form.get("action", "")
    version = request.form.get("version", type=int)
    if action not in LINK_ACTIONS or version is None:
        abort(400)
    config = current_app.config
    note = request.form.get("note", "").strip()
    values = {task_id: {"note": note, "action": action}}
    if len(note) > config["MAX_DESCRIPTION_LENGTH"]:
        message = _("At most %(n)d characters.", n=config["MAX_DESCRIPTION_LENGTH"])
        return _tasks_page(token, link, errors={task_id: message}, values=values, status=400)
    upload = request.files.get("photo") if action == "done" else None
    data = upload.read(config["MAX_PHOTO_BYTES"] + 1) if upload and upload.filename else b""

    photo_dir = Path(config["PHOTO_PATH"])
    stored: list[str] = []
    try:
        # One transaction: the after-photo and the state change are kept together or not at all.
        with transaction(db):
            transition(
                db,
                task_id,
                action,
                link_actor(link),
                version=version,
                note=note,
                has_photo=bool(data),
            )
            if data:
                row, _created = put_task_photo(
                    db, photo_dir, task_id, str(uuid.uuid4()), data, **photo_options()
                )
                stored += [row["file"], row["thumb_file"]]
    except TaskError as error:
        message, status = task_error_message(error)
        return _tasks_page(token, link, errors={task_id: message}, values=values, status=status)
    except photo_pipeline.PhotoError as error:
        message = photo_error_message(error)
        return _tasks_page(
            token, link, errors={task_id: message}, values=values, status=error.status
        )
    except BaseException:
        remove_unreferenced(db, photo_dir, stored)
        raise
    target = url_for("links.tasks_page", token=token, saved=task_id)
    return _private(redirect(f"{target}#task-{task_id}", code=303))


@bp.get("/walks/<int:walk_id>/links")
@role_required(*MANAGER_ROLES)
def walk_links(walk_id: int):
    """The links sent to parties for a walk, and whether each still works."""
    walk = get_walk_or_404(walk_id, manage=True)
    return render("links/list.html", walk=walk, links=list_walk_links(get_db(), walk_id), now=now())


@bp.post("/walks/<int:walk_id>/links/<int:link_id>/revoke")
@role_required(*MANAGER_ROLES)
def revoke(walk_id: int, link_id: int):
    """Withdraw a link: it stops working at once."""
    get_walk_or_404(walk_id, manage=True)
    db = get_db()
    link = get_link(db, link_id) if 0 < link_id <= MAX_ROW_ID else None
    if link is None or link["walk_id"] != walk_id:
        abort(404)
    revoke_link(db, walk_id, link_id)
    return redirect(url_for("links.walk_links", walk_id=walk_id), code=303)


def init_app(app: Flask) -> None:
    """Register the link pages and the coordinators' link list."""
    app.register_blueprint(bp)
    app.jinja_env.globals["map_url"] = map_url
