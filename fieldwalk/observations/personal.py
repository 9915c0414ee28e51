"""The personal parts of observations: who reported them (a phone's key) and their text.

Used by the retention rules (fieldwalk/privacy/retention.py) and by a resident's own
export and erasure (fieldwalk/privacy/export.py). What stays after an erasure is what the
district needs for the fix and the figures: category, place, position, times, urgency.
"""

import json

from sqlite_utils import Database


def device_observations(db: Database, key_hash: str) -> list[dict]:
    """Every observation reported from one phone, oldest first, as stored."""
    rows = db.execute(
        "SELECT * FROM observations WHERE device_key_hash = ? ORDER BY observed_at, id",
        [key_hash],
    )
    return [dict(r) for r in rows]


def participant_observations(db: Database, participant_ids: list[int]) -> list[dict]:
    """Every observation these walk participants reported."""
    if not participant_ids:
        return []
    marks = ",".join("?" * len(participant_ids))
    rows = db.execute(
        f"SELECT * FROM observations WHERE participant_id IN ({marks}) ORDER BY observed_at",  # noqa: S608
        participant_ids,
    )
    return [dict(r) for r in rows]


def device_last_reports(db: Database) -> dict[str, str]:
    """Each phone's latest observation (its receipt), by device key hash."""
    rows = db.execute(
        """SELECT device_key_hash, max(created_at) FROM observations
           WHERE device_key_hash IS NOT NULL GROUP BY device_key_hash"""
    )
    return {r[0]: r[1] for r in rows}


def forget_observation_devices(db: Database, key_hashes: list[str]) -> int:
    """Unlink these phones from what they reported (inside a write); how many observations."""
    count = 0
    for start in range(0, len(key_hashes), 500):
        chunk = key_hashes[start : start + 500]
        count += db.execute(
            f"UPDATE observations SET device_key_hash = NULL WHERE device_key_hash IN ({','.join('?' * len(chunk))})",  # noqa: S608
            chunk,
        ).rowcount
    return count


def erase_texts(db: Database, observation_ids: list[str]) -> int:
    """Remove what people wrote in these observations (and any approved copy of it)."""
    count = 0
    for observation_id in observation_ids:
        count += db.execute(
            """UPDATE observations SET description = '', public_description = NULL
               WHERE id = ? AND (description != '' OR public_description IS NOT NULL)""",
            [observation_id],
        ).rowcount
    return count


def drop_photo_ids(db: Database, observation_id: str, photo_ids: list[str]) -> None:
    """Stop declaring photos that were deleted, so none of them is waited for."""
    row = db.execute("SELECT photo_ids FROM observations WHERE id = ?", [observation_id]).fetchone()
    if row is None:
        return
    kept = [p for p in json.loads(row[0]) if p not in set(photo_ids)]
    db.execute(
        "UPDATE observations SET photo_ids = ? WHERE id = ?", [json.dumps(kept), observation_id]
    )


def observations_observed_before(db: Database, cutoff: str) -> list[dict]:
    """Observations (id, observed_at) observed before `cutoff` that still have photos."""
    rows = db.execute(
        """SELECT o.id, o.observed_at FROM observations o WHERE o.observed_at < ?
           AND EXISTS (SELECT 1 FROM photos p WHERE p.observation_id = o.id)""",
        [cutoff],
    )
    return [dict(r) for r in rows]
