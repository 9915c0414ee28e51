"""Public only after review: which observations' text and photos staff let onto public pages.

Until staff approve an observation ("Visa publikt"), its public status page and its walk's
public page say only what was reported (category, place, date) and how its fixes stand; the
text and the photos stay with the resident who reported them, staff, and the parties that
must act on a fix. Staff may instead keep one private for good. Approval covers the text as
it was approved and the photos there were then: a photo that arrives later waits for a look
of its own, and the observation is back in the review list until it gets one.
"""

import json

from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.photos.model import approve_photos, withdraw_photo_approval

APPROVED, PRIVATE = "approved", "private"


DECISIONS = (APPROVED, PRIVATE)


# Waiting for review: never reviewed and with something to withhold (a text or a photo), or
# approved while a photo arrived since. Each part is read in time order off the index on
# (public_review, observed_at).
NEVER_REVIEWED = """o.public_review IS NULL AND (o.description != ''
        OR EXISTS (SELECT 1 FROM photos p WHERE p.observation_id = o.id))"""
NEW_PHOTO = """o.public_review = 'approved' AND EXISTS (SELECT 1 FROM photos p
        WHERE p.observation_id = o.id AND p.approved_at IS NULL)"""
WAITING = f"(({NEVER_REVIEWED}) OR ({NEW_PHOTO}))"

# The count of what waits is exact up to this many, then "more than" (a page shows the oldest).
COUNT_AT_MOST = 1000


def is_approved(observation: dict) -> bool:
    """True when staff let the observation's text and photos onto the public pages."""
    return observation.get("public_review") == APPROVED


def review(
    db: Database, observation_id: str, decision: str, *, user_id: int | None, actor: str = ""
) -> None:
    """Approve an observation's text and present photos for the public pages, or keep it
    private (which also withdraws an earlier approval); recorded in the history."""
    if decision not in DECISIONS:
        raise ValueError(decision)
    stamp = now()
    with transaction(db):
        db.execute(
            """UPDATE observations SET public_review = ?, reviewed_at = ?, reviewed_by = ?,
                   public_description = CASE WHEN ? = 'approved' THEN description END
               WHERE id = ?""",
            [decision, stamp, user_id, decision, observation_id],
        )
        if decision == APPROVED:
            photos = approve_photos(db, observation_id, stamp)
        else:
            withdraw_photo_approval(db, observation_id)
            photos = 0
        db.execute(
            """INSERT INTO audit_log (at, user_id, action, entity, entity_id, detail, actor)
               VALUES (?, ?, ?, 'observation', ?, ?, ?)""",
            [
                stamp,
                user_id,
                "public_" + decision,
                observation_id,
                json.dumps({"photos": photos}),
                actor,
            ],
        )


def waiting_for_review(db: Database, limit: int = -1, offset: int = 0) -> list[dict]:
    """Observations whose text or photos wait for staff's review, oldest first: the page is
    picked from each part's rows up to its end, then its details are read."""
    end = -1 if limit < 0 else limit + offset
    parts = " UNION ALL ".join(
        f"""SELECT * FROM (SELECT o.id, o.observed_at FROM observations o WHERE {part}
               ORDER BY o.observed_at, o.id LIMIT ?)"""  # noqa: S608 - fixed fragments
        for part in (NEVER_REVIEWED, NEW_PHOTO)
    )
    picked = [
        row[0]
        for row in db.execute(
            f"{parts} ORDER BY observed_at, id LIMIT ? OFFSET ?", [end, end, limit, offset]
        )
    ]
    if not picked:
        return []
    rows = db.execute(
        f"""SELECT o.*, places.name AS place_name, walks.title AS walk_title,
                   (SELECT count(*) FROM photos p WHERE p.observation_id = o.id) AS photo_count
            FROM observations o LEFT JOIN places ON places.id = o.place_id
            LEFT JOIN walks ON walks.id = o.walk_id
            WHERE o.id IN ({",".join("?" * len(picked))})""",  # noqa: S608
        picked,
    )
    by_id = {row["id"]: dict(row) for row in rows}
    return [by_id[observation_id] for observation_id in picked]


def count_waiting_for_review(db: Database, at_most: int = COUNT_AT_MOST) -> int:
    """How many observations wait for staff's review, counted up to `at_most` + 1 (more
    than `at_most`: there are more)."""
    (count,) = db.execute(
        f"""SELECT count(*) FROM (
                SELECT * FROM (SELECT 1 FROM observations o WHERE {NEVER_REVIEWED} LIMIT ?)
                UNION ALL
                SELECT * FROM (SELECT 1 FROM observations o WHERE {NEW_PHOTO} LIMIT ?))""",  # noqa: S608
        [at_most + 1, at_most + 1],
    ).fetchone()
    return min(count, at_most + 1)
