"""Observations: what participants saw, where, and how safe it felt.

An observation's identity is a UUID made by the client, so the same observation sent twice
(a retry, a second tab, an outbox replay) is stored once: the first PUT creates it, an
identical repeat is answered with what is stored, and different content under the same UUID
is a conflict.
"""

import hashlib
import json
from datetime import datetime

from flask_babel import gettext as _
from sqlite_utils import Database

from fieldwalk import clock
from fieldwalk.categories import CATEGORIES, LOCATION_SOURCES
from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.ids import parse_id, parse_uuid
from fieldwalk.places.model import get_place, place_for_point, place_geometry
from fieldwalk.places.nearness import distance_from_place

CLIENT_FIELDS = (
    "category",
    "works_well",
    "description",
    "feeling",
    "urgent",
    "walk_id",
    "lat",
    "lon",
    "accuracy_m",
    "location_source",
    "captured_at",
    "photos",
)


class Invalid(Exception):
    """The body breaks the rules; `errors` maps each field to a message for the person."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


class Conflict(Exception):
    """The UUID is already used by different content."""


class PhotoIdsTaken(Exception):
    """Photo UUIDs this observation declares already belong to another observation."""

    def __init__(self, photo_ids: list[str]):
        super().__init__(photo_ids)
        self.photo_ids = photo_ids


def _number(value, field, errors, low=None, high=None):
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        errors[field] = _("Must be a number.")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # JSON integers may be past any float
        errors[field] = _("Must be a number.")
        return None
    if (
        number != number
        or (low is not None and number < low)
        or (high is not None and number > high)
    ):
        errors[field] = _("Out of range.")
        return None
    return number


def _encodable(text: str) -> bool:
    # JSON may carry lone surrogates ("\ud800"), which no UTF-8 database column can hold.
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _flag(value, field, errors) -> bool:
    if value in (None, "", False, 0, "0", "false", "off"):
        return False
    if value in (True, 1, "1", "true", "on", "yes"):
        return True
    errors[field] = _("Must be yes or no.")
    return False


def validate(body: object, max_description: int, max_photos: int) -> dict:
    """Check a client body and return its clean form; raise Invalid with per-field messages."""
    if not isinstance(body, dict):
        raise Invalid({"_": _("Expected a JSON object.")})
    errors: dict[str, str] = {}
    clean: dict = {}

    category = body.get("category")
    if not category:
        errors["category"] = _("Choose a category.")
    elif not isinstance(category, str) or category not in CATEGORIES:
        errors["category"] = _("Unknown category.")
    clean["category"] = category
    clean["works_well"] = _flag(body.get("works_well"), "works_well", errors)
    clean["urgent"] = _flag(body.get("urgent"), "urgent", errors)

    description = body.get("description") or ""
    if not isinstance(description, str) or not _encodable(description):
        errors["description"] = _("Must be text.")
        description = ""
    description = description.strip().replace("\x00", "")
    if len(description) > max_description:
        errors["description"] = _("At most %(n)d characters.", n=max_description)
    clean["description"] = description

    feeling = body.get("feeling")
    if feeling in (None, ""):
        clean["feeling"] = None
    elif isinstance(feeling, bool) or str(feeling) not in {"1", "2", "3", "4", "5"}:
        errors["feeling"] = _("Choose a value from 1 to 5.")
        clean["feeling"] = None
    else:
        clean["feeling"] = int(feeling)

    walk_id = body.get("walk_id")
    if walk_id in (None, ""):
        clean["walk_id"] = None
    elif parse_id(walk_id) is None:
        errors["walk_id"] = _("Unknown walk.")
        clean["walk_id"] = None
    else:
        clean["walk_id"] = parse_id(walk_id)

    lat = _number(body.get("lat"), "lat", errors, -90, 90)
    lon = _number(body.get("lon"), "lon", errors, -180, 180)
    if (lat is None) != (lon is None) and "lat" not in errors and "lon" not in errors:
        errors["lat" if lat is None else "lon"] = _("Give both latitude and longitude.")
    clean["lat"], clean["lon"] = lat, lon
    clean["accuracy_m"] = _number(body.get("accuracy_m"), "accuracy_m", errors, 0, 100_000)
    source = body.get("location_source") or None
    if source is not None and source not in LOCATION_SOURCES:
        errors["location_source"] = _("Unknown location source.")
    if lat is not None and source is None:
        source = "device"
    clean["location_source"] = source if lat is not None else None

    captured_at = body.get("captured_at") or None
    if captured_at is not None:
        try:
            datetime.fromisoformat(str(captured_at).replace("Z", "+00:00"))
        except ValueError:
            errors["captured_at"] = _("Not a valid date and time.")
        if len(str(captured_at)) > 40:
            errors["captured_at"] = _("Not a valid date and time.")
    clean["captured_at"] = captured_at

    photos = body.get("photos") or []
    if not isinstance(photos, list):
        errors["photos"] = _("Expected a list of photo identifiers.")
        photos = []
    if len(photos) > max_photos:  # before a single item is looked at
        errors["photos"] = _("At most %(n)d photos.", n=max_photos)
        photos = []
    ids = [parse_uuid(p) for p in photos]
    if any(p is None for p in ids):
        errors["photos"] = _("Every photo needs a UUID.")
    elif len(set(ids)) != len(ids):
        errors["photos"] = _("A photo is listed twice.")
    clean["photos"] = [p for p in ids if p]

    if errors:
        raise Invalid(errors)
    return clean


def body_hash(clean: dict) -> str:
    """A fingerprint of the client's content, to tell an identical repeat from a conflict."""
    canonical = json.dumps({k: clean.get(k) for k in CLIENT_FIELDS}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def get_observation(db: Database, observation_id: str) -> dict | None:
    """One observation row, or None."""
    row = db.execute("SELECT * FROM observations WHERE id = ?", [observation_id]).fetchone()
    return dict(row) if row else None


def declared_elsewhere(db: Database, photo_ids: list[str]) -> list[str]:
    """Those of these photo UUIDs that an observation has already declared."""
    if not photo_ids:
        return []
    rows = db.execute(
        f"SELECT photo_id FROM photo_declarations WHERE photo_id IN ({','.join('?' * len(photo_ids))})",  # noqa: S608
        photo_ids,
    )
    return [row["photo_id"] for row in rows]


def observation_place_geometry(db: Database, owner: dict) -> dict | None:
    """The geometry of the place an observation (or a walk) belongs to, if any."""
    place = get_place(db, owner["place_id"]) if owner.get("place_id") else None
    return place_geometry(place) if place else None


def put_observation(
    db: Database,
    observation_id: str,
    clean: dict,
    *,
    walk: dict | None,
    user_id: int | None = None,
    participant_id: int | None = None,
    device_key_hash: str | None = None,
) -> tuple[dict, bool]:
    """Store an observation once; return (row, created). Raise Conflict on other content.

    On a walk it belongs to the walk's place, and its distance from that place is kept (the
    far-from-the-place warning); outside a walk, to the smallest place around its position.
    Called by `observations.record.record_observation`, which stores its photos too.
    """
    digest = body_hash(clean)
    geometry = observation_place_geometry(db, walk) if walk else None
    distance = distance_from_place(geometry, clean["lat"], clean["lon"])
    with transaction(db):
        existing = get_observation(db, observation_id)
        if existing is not None:
            if existing["body_hash"] != digest:
                raise Conflict(observation_id)
            return existing, False
        taken = declared_elsewhere(db, clean["photos"])
        if taken:
            raise PhotoIdsTaken(taken)
        place_id = walk["place_id"] if walk else None
        if place_id is None and clean["lat"] is not None:
            place = place_for_point(db, clean["lat"], clean["lon"])
            place_id = place["id"] if place else None
        stamp = now()
        observed_at, observed_source = clock.observed_time(stamp, clean["captured_at"])
        db.execute(
            """INSERT INTO observations (id, walk_id, place_id, participant_id, user_id,
                   device_key_hash, category, works_well, description, feeling, urgent, lat, lon,
                   accuracy_m, location_source, distance_m, captured_at, photo_ids, body_hash,
                   observed_at, observed_source, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                observation_id,
                clean["walk_id"],
                place_id,
                participant_id,
                user_id,
                device_key_hash,
                clean["category"],
                int(clean["works_well"]),
                clean["description"],
                clean["feeling"],
                int(clean["urgent"]),
                clean["lat"],
                clean["lon"],
                clean["accuracy_m"],
                clean["location_source"],
                distance,
                clean["captured_at"] or stamp,
                json.dumps(clean["photos"]),
                digest,
                observed_at,
                observed_source,
                stamp,
                stamp,
            ],
        )
        db.conn.executemany(
            "INSERT INTO photo_declarations (photo_id, observation_id) VALUES (?, ?)",
            [(photo_id, observation_id) for photo_id in clean["photos"]],
        )
        db.execute(
            """INSERT INTO audit_log (at, user_id, participant_id, action, entity, entity_id, detail)
               VALUES (?, ?, ?, 'create', 'observation', ?, ?)""",
            [
                stamp,
                user_id,
                participant_id,
                observation_id,
                json.dumps({"walk_id": clean["walk_id"]}),
            ],
        )
        return get_observation(db, observation_id), True


def list_walk_observations(
    db: Database, walk_id: int, limit: int = -1, *, oldest_first: bool = False
) -> list[dict]:
    """A walk's observations, newest first (the newest `limit`, or all) or oldest first,
    with their photo counts and first thumbnail."""
    order = "o.observed_at, o.id" if oldest_first else "o.observed_at DESC, o.id"
    rows = db.execute(
        f"""SELECT o.*, p.display_name AS participant_name,
                  (SELECT count(*) FROM photos WHERE observation_id = o.id) AS photos_received,
                  json_array_length(o.photo_ids) AS photos_declared,
                  (SELECT thumb_file FROM photos WHERE observation_id = o.id
                   ORDER BY created_at LIMIT 1) AS first_thumb
           FROM observations o LEFT JOIN walk_participants p ON p.id = o.participant_id
           WHERE o.walk_id = ? ORDER BY {order} LIMIT ?""",  # noqa: S608 - fixed orders
        [walk_id, limit],
    )
    return [dict(r) for r in rows]


def walk_observation_points(db: Database, walk_id: int) -> list[dict]:
    """What the walk's map needs of every observation (see render.observation_points)."""
    rows = db.execute(
        """SELECT id, lat, lon, category, urgent, works_well FROM observations
           WHERE walk_id = ? AND lat IS NOT NULL ORDER BY observed_at DESC, id""",
        [walk_id],
    )
    return [dict(r) for r in rows]


def walk_list(db: Database, walk_id: int, limit: int | None) -> dict:
    """The template context of a walk's live list: the newest `limit` observations (all when
    None), how many there are in all, and every one's map point."""
    observations = list_walk_observations(db, walk_id, -1 if limit is None else limit)
    if limit is None or len(observations) < limit:
        return {"observations": observations, "total": len(observations), "points": observations}
    (total,) = db.execute(
        "SELECT count(*) FROM observations WHERE walk_id = ?", [walk_id]
    ).fetchone()
    return {
        "observations": observations,
        "total": total,
        "points": walk_observation_points(db, walk_id) if total > limit else observations,
    }


def walk_version(db: Database, walk_id: int) -> str:
    """Changes whenever an observation or photo of the walk arrives; cheap to poll."""
    row = db.execute(
        """SELECT count(*), max(o.updated_at),
                  (SELECT count(*) FROM photos ph JOIN observations o2 ON o2.id = ph.observation_id
                   WHERE o2.walk_id = ?)
           FROM observations o WHERE o.walk_id = ?""",
        [walk_id, walk_id],
    ).fetchone()
    return hashlib.sha1(repr(tuple(row)).encode(), usedforsecurity=False).hexdigest()[:12]


def list_device_observations(db: Database, device_key_hash: str) -> list[dict]:
    """Everything reported from one phone, newest first."""
    rows = db.execute(
        """SELECT o.*, w.title AS walk_title, pl.name AS place_name,
                  (SELECT thumb_file FROM photos WHERE observation_id = o.id
                   ORDER BY created_at LIMIT 1) AS first_thumb
           FROM observations o LEFT JOIN walks w ON w.id = o.walk_id
           LEFT JOIN places pl ON pl.id = o.place_id
           WHERE o.device_key_hash = ? ORDER BY o.observed_at DESC""",
        [device_key_hash],
    )
    return [dict(r) for r in rows]


def touch_observation(db: Database, observation_id: str) -> None:
    """Mark an observation changed (a photo arrived): the walk's live list polls for this."""
    db.execute("UPDATE observations SET updated_at = ? WHERE id = ?", [now(), observation_id])


def set_time_from_photo(db: Database, observation: dict, taken_at: str | None) -> None:
    """Date an observation the phone gave no time by its photo's (inside the write)."""
    if observation["observed_source"] != clock.RECEIVED or not taken_at:
        return
    observed_at, source = clock.observed_time(observation["created_at"], None, taken_at)
    if source == clock.PHOTO:
        db.execute(
            """UPDATE observations SET observed_at = ?, observed_source = ?, updated_at = ?
               WHERE id = ? AND observed_source = ?""",
            [observed_at, source, now(), observation["id"], clock.RECEIVED],
        )


def set_location_from_photo(db: Database, observation_id: str, lat: float, lon: float) -> None:
    """Give a position-less observation its photo's position (inside the write)."""
    db.execute(
        """UPDATE observations SET lat = ?, lon = ?, location_source = 'photo', updated_at = ?
           WHERE id = ? AND lat IS NULL""",
        [lat, lon, now(), observation_id],
    )


def count_walk_observations(db: Database, walk_id: int) -> int:
    """How many observations a walk has."""
    (count,) = db.execute(
        "SELECT count(*) FROM observations WHERE walk_id = ?", [walk_id]
    ).fetchone()
    return count


def participants_observation_ids(db: Database, participant_ids: list[int]) -> dict[int, list[str]]:
    """The ids of the observations each walk participant made, by participant."""
    found: dict[int, list[str]] = {p: [] for p in participant_ids}
    for start in range(0, len(participant_ids), 500):
        chunk = participant_ids[start : start + 500]
        rows = db.execute(
            f"""SELECT participant_id, id FROM observations
                WHERE participant_id IN ({",".join("?" * len(chunk))})
                ORDER BY participant_id, id""",  # noqa: S608 - placeholders only
            chunk,
        )
        for participant_id, observation_id in rows:
            found[participant_id].append(observation_id)
    return found


def find_observations(
    db: Database,
    *,
    walk_id: int | None = None,
    device: tuple[str, list[int]] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    since: str | None = None,
    limit: int = 5000,
) -> list[dict]:
    """Observations of a walk, or those a phone may see (`device`: its key hash and the walks
    it joined), inside `bbox` (min_lon, min_lat, max_lon, max_lat), changed after `since`."""
    where, params = [], []
    if walk_id is not None:
        where.append("walk_id = ?")
        params.append(walk_id)
    if device is not None:
        key, walk_ids = device
        where.append(
            f"(device_key_hash = ? OR walk_id IN ({','.join('?' * len(walk_ids)) or 'NULL'}))"
        )
        params += [key, *walk_ids]
    if bbox is not None:
        where.append("lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?")
        params += [bbox[0], bbox[2], bbox[1], bbox[3]]
    if since is not None:
        where.append("updated_at > ?")
        params.append(since)
    sql = "SELECT * FROM observations"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [dict(r) for r in db.execute(sql + " ORDER BY observed_at LIMIT ?", [*params, limit])]
