"""Signed links for parties without accounts: one party's tasks from one walk, nothing else.

A link is a row in `party_links` (party, walk, expiry, revocation) and a token signed with
the app's secret that carries only the row's id. Opening it shows that party's tasks from
that walk (or, for a link without a walk, the party's tasks on observations made outside a
walk), where the recipient can accept, mark done (note and/or after-photo) or answer
"not ours". The link grants nothing else: it sets nothing in the session but the CSRF token
its own forms need, and every task it touches is checked against its party and walk.

Refusals: an unknown or tampered token, or a task outside the link, is 404 (nothing to see
here); an expired or revoked link is 410 Gone (it worked once; ask for a new one). A link
dies at the earlier of its own `expires_at` and the token's age passing PARTY_LINK_DAYS.
"""

from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.photos.model import list_photos, list_task_photos
from fieldwalk.security import audit
from fieldwalk.tasks.model import list_tasks
from fieldwalk.tasks.states import ASSIGNEE, PROPOSED, STATES, WITH_PARTY, Actor

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
    db: Database, party_id: int, walk_id: int | None, created_by: int | None, days: int
) -> str:
    """Create a link to a party's tasks from a walk (None: from outside any walk), valid
    `days` days; return its token."""
    expires = now(timedelta(days=days))
    with transaction(db):
        cursor = db.execute(
            """INSERT INTO party_links (party_id, walk_id, created_by, created_at, expires_at)
               VALUES (?, ?, ?, ?, ?)""",
            [party_id, walk_id, created_by, now(), expires],
        )
    return sign_link(cursor.lastrowid)


def ensure_party_link(
    db: Database, party_id: int, walk_id: int | None, days: int, created_by: int | None = None
) -> str:
    """A token for the party's active link to the walk (None: to its tasks from outside any
    walk), creating a link when none will last; a withdrawn link is never handed out again."""
    keep_until = now(timedelta(days=min(MIN_DAYS_LEFT_TO_REUSE, days)))
    row = db.execute(
        """SELECT id FROM party_links WHERE party_id = ? AND walk_id IS ? AND revoked_at IS NULL
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
    """The link's party's tasks from the link's walk (or from outside a walk), once sent."""
    shown = tuple(s for s in STATES if s != PROPOSED)
    tasks = list_tasks(
        db,
        party_id=link["party_id"],
        walk_id=link["walk_id"],
        without_walk=link["walk_id"] is None,
        states=shown,
    )
    return with_observations(db, tasks)


def open_tasks_for_link(db: Database, party_id: int, walk_id: int | None) -> list[dict]:
    """The tasks a party holds now from a walk (None: from outside a walk): what a new link
    is for."""
    return list_tasks(
        db, party_id=party_id, walk_id=walk_id, without_walk=walk_id is None, states=WITH_PARTY
    )


def list_party_links(db: Database, party_id: int) -> list[dict]:
    """A party's links, newest first, with the walk's title and the creator's name."""
    rows = db.execute(
        """SELECT party_links.*, parties.name AS party_name, walks.title AS walk_title,
                  coalesce(nullif(users.name, ''), users.email) AS created_by_name
           FROM party_links JOIN parties ON parties.id = party_links.party_id
           LEFT JOIN walks ON walks.id = party_links.walk_id
           LEFT JOIN users ON users.id = party_links.created_by
           WHERE party_links.party_id = ? ORDER BY party_links.id DESC""",
        [party_id],
    )
    return [dict(r) for r in rows]


def walk_party_holders(db: Database, walk_id: int) -> list[dict]:
    """The parties holding open tasks from a walk, by name, with how many: who a new link
    may be sent to."""
    rows = db.execute(
        f"""SELECT parties.id, parties.name, count(*) AS open_tasks FROM tasks
            JOIN parties ON parties.id = tasks.party_id
            WHERE tasks.walk_id = ? AND tasks.state IN ({",".join("?" * len(WITH_PARTY))})
            GROUP BY parties.id ORDER BY parties.name""",  # noqa: S608 (placeholders only)
        [walk_id, *WITH_PARTY],
    )
    return [dict(r) for r in rows]


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


def revoke_link(db: Database, link_id: int) -> bool:
    """Revoke a link; True when it was active and is now revoked."""
    with transaction(db):
        link = get_link(db, link_id)
        cursor = db.execute(
            "UPDATE party_links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            [now(), link_id],
        )
        if cursor.rowcount == 1:
            audit(
                "revoke", "party_link", link_id, walk_id=link["walk_id"], party_id=link["party_id"]
            )
    return cursor.rowcount == 1


def map_url(lat: float | None, lon: float | None) -> str:
    """A link that opens a map (and, on a phone, the map app) at a position."""
    if lat is None or lon is None:
        return ""
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=18/{lat:.6f}/{lon:.6f}"
    )
