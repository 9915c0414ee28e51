"""Walks: planned around a place, joined by link or QR code; their rows and participants."""

import json
import secrets

from flask_babel import lazy_gettext as _l
from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.ids import MAX_ROW_ID
from fieldwalk.security import (
    audit,
    new_token,
)

STATES = ("planned", "ongoing", "finished")


NEXT_STATE = {"planned": "ongoing", "ongoing": "finished"}


PARTICIPANT_ROLES = {
    "resident": _l("Resident"),
    "staff": _l("Staff"),
    "police": _l("Police"),
    "property_owner": _l("Property owner"),
    "other": _l("Other"),
}


def state_label(state: str) -> str:
    """The translated name of a walk state."""
    return str(
        {"planned": _l("Planned"), "ongoing": _l("Ongoing"), "finished": _l("Finished")}.get(
            state, state
        )
    )


def insert_walk(db: Database, values: dict, created_by: int | None) -> int:
    """Create a walk with a fresh invitation token; return its id."""
    stamp = now()
    with transaction(db):
        cursor = db.execute(
            """INSERT INTO walks (place_id, title, starts_at, meeting_point, meeting_lat,
                   meeting_lon, route, invitation_text, state, invite_token, created_by,
                   created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                values["place_id"],
                values["title"],
                values["starts_at"],
                values.get("meeting_point", ""),
                values.get("meeting_lat"),
                values.get("meeting_lon"),
                values.get("route"),
                values.get("invitation_text", ""),
                values.get("state", "planned"),
                new_token(),
                created_by,
                stamp,
                stamp,
            ],
        )
        db.execute(
            """INSERT INTO audit_log (at, user_id, action, entity, entity_id, detail)
               VALUES (?, ?, 'create', 'walk', ?, ?)""",
            [stamp, created_by, cursor.lastrowid, json.dumps({"title": values["title"]})],
        )
    return cursor.lastrowid


def get_walk(db: Database, walk_id: int) -> dict | None:
    """One walk with its place's name, or None."""
    if not 0 < walk_id <= MAX_ROW_ID:  # a URL can carry any int; SQLite cannot bind it
        return None
    row = db.execute(
        """SELECT walks.*, places.name AS place_name FROM walks
           JOIN places ON places.id = walks.place_id WHERE walks.id = ?""",
        [walk_id],
    ).fetchone()
    return dict(row) if row else None


def list_walks(db: Database, walk_ids: list[int] | None = None) -> list[dict]:
    """Walks, soonest planned first, then the rest newest first; only `walk_ids` if given."""
    where, params = "", []
    if walk_ids is not None:
        if not walk_ids:
            return []
        where = f"WHERE walks.id IN ({','.join('?' * len(walk_ids))})"
        params = list(walk_ids)
    rows = db.execute(
        f"""SELECT walks.*, places.name AS place_name,
                   (SELECT count(*) FROM observations WHERE walk_id = walks.id) AS observation_count,
                   (SELECT count(*) FROM walk_participants WHERE walk_id = walks.id) AS participant_count
            FROM walks JOIN places ON places.id = walks.place_id {where}
            ORDER BY walks.state = 'finished', CASE WHEN walks.state = 'finished'
                     THEN '' ELSE walks.starts_at END, walks.starts_at DESC""",  # noqa: S608
        params,
    )
    return [dict(r) for r in rows]


def join_walk(
    db: Database,
    walk_id: int,
    *,
    device_hash: str | None,
    user_id: int | None,
    display_name: str,
    participant_role: str,
) -> int:
    """Add a participant (or return the existing one for this device or user)."""
    with transaction(db):
        existing = find_participant(db, walk_id, device_hash=device_hash, user_id=user_id)
        if existing:
            return existing["id"]
        cursor = db.execute(
            """INSERT INTO walk_participants (walk_id, user_id, device_key_hash, display_name,
                   participant_role, joined_at) VALUES (?, ?, ?, ?, ?, ?)""",
            [walk_id, user_id, device_hash, display_name, participant_role, now()],
        )
        return cursor.lastrowid


def find_participant(
    db: Database, walk_id: int, *, device_hash: str | None = None, user_id: int | None = None
) -> dict | None:
    """The participant row of this user or device on the walk, or None."""
    if user_id is not None:
        row = db.execute(
            "SELECT * FROM walk_participants WHERE walk_id = ? AND user_id = ?", [walk_id, user_id]
        ).fetchone()
        if row:
            return dict(row)
    if device_hash is not None:
        row = db.execute(
            "SELECT * FROM walk_participants WHERE walk_id = ? AND device_key_hash = ?",
            [walk_id, device_hash],
        ).fetchone()
        if row:
            return dict(row)
    return None


def device_walk_ids(db: Database, device_hash: str | None) -> list[int]:
    """The walks this phone has joined."""
    if not device_hash:
        return []
    return [
        r[0]
        for r in db.execute(
            "SELECT walk_id FROM walk_participants WHERE device_key_hash = ?", [device_hash]
        )
    ]


def set_walk_state(db: Database, walk: dict, state: str) -> None:
    """Move a walk to a new state, with an audit entry."""
    with transaction(db):
        db.execute(
            "UPDATE walks SET state = ?, updated_at = ? WHERE id = ?", [state, now(), walk["id"]]
        )
        audit("state", "walk", walk["id"], **{"from": walk["state"], "to": state})


def ensure_public_token(db: Database, walk_id: int) -> str | None:
    """The walk's public page token, made on first use; None when there is no such walk."""
    row = db.execute("SELECT public_token FROM walks WHERE id = ?", [walk_id]).fetchone()
    if row is None:
        return None
    if row["public_token"]:
        return row["public_token"]
    with transaction(db):
        db.execute(
            "UPDATE walks SET public_token = ? WHERE id = ? AND public_token IS NULL",
            [secrets.token_urlsafe(16), walk_id],
        )
        return db.execute("SELECT public_token FROM walks WHERE id = ?", [walk_id]).fetchone()[0]


def find_walk_by_public_token(db: Database, token: str) -> dict | None:
    """The walk whose public page has this token (with its place's name), or None."""
    row = db.execute(
        """SELECT walks.*, places.name AS place_name FROM walks
           JOIN places ON places.id = walks.place_id WHERE walks.public_token = ?""",
        [token],
    ).fetchone()
    return dict(row) if row else None


def named_participants(db: Database) -> list[dict]:
    """Participants who gave a name, with their walk's start (residents and staff alike)."""
    rows = db.execute(
        """SELECT p.id, p.walk_id, p.device_key_hash, p.display_name, p.joined_at,
                  w.starts_at FROM walk_participants p JOIN walks w ON w.id = p.walk_id
           WHERE p.display_name != '' AND p.user_id IS NULL"""
    )
    return [dict(r) for r in rows]


def clear_participant_names(db: Database, participant_ids: list[int]) -> None:
    """Remove these participants' names (inside a write)."""
    for participant_id in participant_ids:
        db.execute("UPDATE walk_participants SET display_name = '' WHERE id = ?", [participant_id])


def device_participants(db: Database, key_hash: str) -> list[dict]:
    """A phone's participation in walks, with each walk's title."""
    rows = db.execute(
        """SELECT p.*, w.title AS walk_title FROM walk_participants p
           JOIN walks w ON w.id = p.walk_id WHERE p.device_key_hash = ? ORDER BY p.joined_at""",
        [key_hash],
    )
    return [dict(r) for r in rows]


def device_last_joins(db: Database) -> dict[str, str]:
    """Each phone's latest joining of a walk, by device key hash."""
    rows = db.execute(
        """SELECT device_key_hash, max(joined_at) FROM walk_participants
           WHERE device_key_hash IS NOT NULL GROUP BY device_key_hash"""
    )
    return {r[0]: r[1] for r in rows}


def forget_participant_devices(db: Database, key_hashes: list[str]) -> None:
    """Unlink these phones from the walks they joined (inside a write)."""
    for key_hash in key_hashes:
        db.execute(
            "UPDATE walk_participants SET device_key_hash = NULL WHERE device_key_hash = ?",
            [key_hash],
        )


def get_participants(db: Database, participant_ids: list[int]) -> list[dict]:
    """These participant rows, with each walk's title."""
    rows = [
        db.execute(
            """SELECT p.*, w.title AS walk_title FROM walk_participants p
               JOIN walks w ON w.id = p.walk_id WHERE p.id = ?""",
            [participant_id],
        ).fetchone()
        for participant_id in participant_ids
    ]
    return [dict(r) for r in rows if r]


def find_participants_by_name(db: Database, name: str, limit: int = 50) -> list[dict]:
    """Residents whose given name contains `name` (staff's search for a person's request)."""
    rows = db.execute(
        """SELECT p.*, w.title AS walk_title FROM walk_participants p
           JOIN walks w ON w.id = p.walk_id
           WHERE p.user_id IS NULL AND p.display_name != '' AND p.display_name LIKE ?
           ORDER BY p.joined_at DESC LIMIT ?""",
        [f"%{name}%", limit],
    )
    return [dict(r) for r in rows]


def count_walks_held(
    db: Database, place_ids: list[int], spans: list[tuple[str, str]]
) -> dict[int, list[int]]:
    """Per place, the walks held (begun or finished, not only planned) in each span of local
    time ('2026-01-01T00:00' to '2027-01-01T00:00', end excluded: `starts_at` is local)."""
    found: dict[int, list[int]] = {p: [0] * len(spans) for p in place_ids}
    if not place_ids:
        return found
    for i, (start, end) in enumerate(spans):
        rows = db.execute(
            f"""SELECT place_id, count(*) FROM walks
                WHERE state != 'planned' AND starts_at >= ? AND starts_at < ?
                  AND place_id IN ({",".join("?" * len(place_ids))})
                GROUP BY place_id""",  # noqa: S608 - placeholders only
            [start, end, *place_ids],
        )
        for place_id, n in rows:
            found[place_id][i] = n
    return found
