"""Photo rows: one per stored image, of an observation or a task."""

import json

from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.observations.model import get_observation
from fieldwalk.photos.files import row_files


def get_photo(db: Database, photo_id: str) -> dict | None:
    """One photo row, or None."""
    row = db.execute("SELECT * FROM photos WHERE id = ?", [photo_id]).fetchone()
    return dict(row) if row else None


def list_task_photos(db: Database, task_id: int) -> list[dict]:
    """A task's after-photos, oldest first."""
    return [
        dict(r)
        for r in db.execute(
            "SELECT * FROM photos WHERE task_id = ? ORDER BY created_at, id", [task_id]
        )
    ]


def list_photos(db: Database, observation_id: str) -> list[dict]:
    """The photos received for an observation, in the order they were declared."""
    rows = [
        dict(r)
        for r in db.execute(
            "SELECT * FROM photos WHERE observation_id = ? ORDER BY created_at, id",
            [observation_id],
        )
    ]
    observation = get_observation(db, observation_id)
    order = (
        {pid: i for i, pid in enumerate(json.loads(observation["photo_ids"]))}
        if observation
        else {}
    )
    return sorted(rows, key=lambda r: order.get(r["id"], len(order)))


def photos_of_observations(db: Database, observation_ids: list[str]) -> dict[str, list[dict]]:
    """The photos of many observations at once, by observation id, oldest first."""
    found: dict[str, list[dict]] = {}
    for start in range(0, len(observation_ids), 500):
        chunk = observation_ids[start : start + 500]
        for row in db.execute(
            f"SELECT * FROM photos WHERE observation_id IN ({','.join('?' * len(chunk))})"  # noqa: S608
            " ORDER BY created_at",
            chunk,
        ):
            found.setdefault(row["observation_id"], []).append(dict(row))
    return found


def missing_photo_ids(observation: dict, photos: list[dict]) -> list[str]:
    """Declared photo UUIDs that have not arrived yet."""
    received = {p["id"] for p in photos}
    return [pid for pid in json.loads(observation["photo_ids"]) if pid not in received]


PHOTO_COLUMNS = (
    "id",
    "observation_id",
    "task_id",
    "sha256",
    "file",
    "thumb_file",
    "original_file",
    "width",
    "height",
    "bytes",
    "source_format",
    "gps_lat",
    "gps_lon",
    "taken_at",
    "created_at",
)


def insert_photo(db: Database, row: dict) -> None:
    """Insert a photo row (call inside the write that checked its files are there)."""
    values = {**row, "created_at": row.get("created_at") or now()}
    db.execute(
        f"INSERT INTO photos ({', '.join(PHOTO_COLUMNS)}) "  # noqa: S608 - fixed column names
        f"VALUES ({', '.join('?' * len(PHOTO_COLUMNS))})",
        [values.get(column) for column in PHOTO_COLUMNS],
    )


def approve_photos(db: Database, observation_id: str, at: str) -> int:
    """Mark every photo an observation has now as approved for the public pages."""
    return db.execute(
        "UPDATE photos SET approved_at = ? WHERE observation_id = ? AND approved_at IS NULL",
        [at, observation_id],
    ).rowcount


def withdraw_photo_approval(db: Database, observation_id: str) -> None:
    """No photo of this observation is approved for the public pages any more."""
    db.execute("UPDATE photos SET approved_at = NULL WHERE observation_id = ?", [observation_id])


def approved_photos(db: Database, observation_id: str) -> list[dict]:
    """The photos of an observation that staff approved for the public pages (and did not
    hide), in order."""
    return [p for p in list_photos(db, observation_id) if p["approved_at"] and not p["hidden_at"]]


def count_unapproved_photos(db: Database, observation_id: str) -> int:
    """How many of an observation's photos have not been approved for the public pages."""
    (count,) = db.execute(
        "SELECT count(*) FROM photos WHERE observation_id = ? AND approved_at IS NULL",
        [observation_id],
    ).fetchone()
    return count


def find_photos_by_file(db: Database, relative: str) -> list[tuple[dict, str]]:
    """The photos a stored file belongs to, each with which copy the file is for it:
    'public', 'display' or 'thumb' (content-addressed: the same bytes sent twice are one
    file). A file that is both (a photo with no face in it) is that photo's public copy."""
    found: dict[str, tuple[dict, str]] = {}
    for row in db.execute(
        "SELECT * FROM photos WHERE public_file = ? OR public_thumb_file = ?", [relative, relative]
    ):
        found[row["id"]] = (dict(row), "public")
    for row in db.execute(
        "SELECT * FROM photos WHERE file = ? OR thumb_file = ?", [relative, relative]
    ):
        if row["id"] not in found:
            found[row["id"]] = (dict(row), "display" if row["file"] == relative else "thumb")
    return list(found.values())


def photos_without_public_copies(db: Database, limit: int = 100) -> list[dict]:
    """Photos whose blurred public copies are not made yet, oldest first."""
    rows = db.execute(
        "SELECT * FROM photos WHERE public_file IS NULL ORDER BY created_at LIMIT ?", [limit]
    )
    return [dict(r) for r in rows]


def claim_for_blur(db: Database, photo_id: str, at: str, stale_before: str) -> bool:
    """Claim a photo for making its public copies (no other process is at it, or one that
    was has been at it since before `stale_before`); False when someone else has it."""
    return (
        db.execute(
            """UPDATE photos SET blur_started_at = ? WHERE id = ? AND public_file IS NULL
                   AND (blur_started_at IS NULL OR blur_started_at < ?)""",
            [at, photo_id, stale_before],
        ).rowcount
        == 1
    )


def release_blur_claim(db: Database, photo_id: str, at: str) -> None:
    """Give back the claim taken `at` on a photo, for the next run to take at once."""
    db.execute(
        "UPDATE photos SET blur_started_at = NULL WHERE id = ? AND blur_started_at = ?",
        [photo_id, at],
    )


def set_public_copies(
    db: Database, photo_id: str, made_from: str, public_file: str, public_thumb: str, faces: int
) -> bool:
    """Record a photo's public copies, made from its display file `made_from`; False (and
    nothing changed) when that file was replaced meanwhile (a redaction)."""
    return (
        db.execute(
            """UPDATE photos SET public_file = ?, public_thumb_file = ?, faces = ?,
                   blur_started_at = NULL WHERE id = ? AND file = ?""",
            [public_file, public_thumb, faces, photo_id, made_from],
        ).rowcount
        == 1
    )


def replace_photo_files(
    db: Database, photo_id: str, file: str, thumb_file: str, width: int, height: int, boxes: int
) -> None:
    """Point a photo at its redacted copies; its public copies are made again from them."""
    db.execute(
        """UPDATE photos SET file = ?, thumb_file = ?, width = ?, height = ?,
               redactions = redactions + ?, public_file = NULL, public_thumb_file = NULL,
               faces = NULL, blur_started_at = NULL WHERE id = ?""",
        [file, thumb_file, width, height, boxes, photo_id],
    )


def set_photo_hidden(db: Database, photo_id: str, hidden: bool, user_id: int | None, at: str):
    """Hide a photo from everyone but staff, or show it again."""
    db.execute(
        "UPDATE photos SET hidden_at = ?, hidden_by = ? WHERE id = ?",
        [at if hidden else None, user_id if hidden else None, photo_id],
    )


def photo_history(db: Database, photo_id: str) -> list[dict]:
    """What was done to a photo by hand (blurred, turned, hidden), by whom, oldest first."""
    rows = db.execute(
        """SELECT audit_log.*, users.name AS user_name, users.email AS user_email
           FROM audit_log LEFT JOIN users ON users.id = audit_log.user_id
           WHERE entity = 'photo' AND entity_id = ? ORDER BY audit_log.id""",
        [photo_id],
    )
    return [dict(r) for r in rows]


def delete_photos(db: Database, photo_ids: list[str]) -> list[str]:
    """Delete these photo rows (inside a write); return the files they referred to."""
    files: list[str] = []
    for photo_id in photo_ids:
        row = get_photo(db, photo_id)
        if row is None:
            continue
        files += row_files(row)
        db.execute("DELETE FROM photos WHERE id = ?", [photo_id])
    return files


def photo_ids_of(db: Database, *, observation_ids=(), task_ids=()) -> dict[str, list[str]]:
    """The photo ids of these observations and tasks, by owner ('o:<id>' or 't:<id>')."""
    found: dict[str, list[str]] = {}
    for observation_id in observation_ids:
        ids = [
            r[0]
            for r in db.execute("SELECT id FROM photos WHERE observation_id = ?", [observation_id])
        ]
        if ids:
            found[f"o:{observation_id}"] = ids
    for task_id in task_ids:
        ids = [r[0] for r in db.execute("SELECT id FROM photos WHERE task_id = ?", [task_id])]
        if ids:
            found[f"t:{task_id}"] = ids
    return found
