"""What is stored about one resident, to hand it to them (registerutdrag) or erase it.

A resident has no account: they are known by their phone's device key (kept hashed) and, on
each walk they joined, a participant row with the name they gave (if any). An email address
they left to hear back (a follow) hangs on their reports or their participant rows; their
"does the place feel safer now?" answers on their phone's key hash. A request comes
from the phone itself, or through staff, who find the person by a report's address (its
UUID) or the name they gave. `Subject` is that person: the key's hash, if known, and their
participant rows.

Erasing removes their contact details (the names and email addresses), what they wrote, their photos, and the
link from their phone to all of it; what stays is what the district needs for the fix and
its figures: category, place, position, times and urgency of each report, and the tasks;
their answers about places are still counted, no longer linked to the phone.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.mail import forget_recipients
from fieldwalk.observations.model import get_observation
from fieldwalk.observations.personal import (
    device_observations,
    drop_photo_ids,
    erase_texts,
    forget_observation_devices,
    participant_observations,
)
from fieldwalk.photos.files import remove_unreferenced
from fieldwalk.photos.model import delete_photos, list_photos
from fieldwalk.privacy.devices import forget_devices
from fieldwalk.residents.model import (
    delete_follows,
    device_followups,
    follows_sent_keys,
    forget_followup_voters,
    subject_follows,
)
from fieldwalk.tasks.model import tasks_for_observation
from fieldwalk.walks.model import (
    clear_participant_names,
    device_participants,
    forget_participant_devices,
    get_participants,
)

# The observation fields handed over: everything stored about a report but the internal
# keys (the phone's key hash, the body's hash).
OBSERVATION_FIELDS = (
    "id",
    "walk_id",
    "category",
    "works_well",
    "description",
    "feeling",
    "urgent",
    "lat",
    "lon",
    "accuracy_m",
    "location_source",
    "observed_at",
    "created_at",
    "public_review",
)


@dataclass
class Subject:
    """One resident: their phone's key hash (if known) and their participant rows."""

    key_hash: str | None = None
    participant_ids: list[int] = field(default_factory=list)


def subject_of_observation(db: Database, observation_id: str) -> Subject | None:
    """The resident who reported an observation (by its phone, else its participant row)."""
    observation = get_observation(db, observation_id)
    if observation is None:
        return None
    participants = [observation["participant_id"]] if observation["participant_id"] else []
    if observation["device_key_hash"] is None and not participants:
        return None  # reported by staff, or already erased
    return Subject(observation["device_key_hash"], participants)


def subject_of_participant(db: Database, participant_id: int) -> Subject | None:
    """The resident behind a participant row."""
    rows = get_participants(db, [participant_id])
    if not rows or rows[0]["user_id"] is not None:
        return None
    return Subject(rows[0]["device_key_hash"], [participant_id])


def _participants(db: Database, subject: Subject) -> list[dict]:
    rows = (
        {p["id"]: p for p in device_participants(db, subject.key_hash)} if subject.key_hash else {}
    )
    for p in get_participants(db, subject.participant_ids):
        rows.setdefault(p["id"], p)
    return sorted(rows.values(), key=lambda p: p["joined_at"])


def _observations(db: Database, subject: Subject, participants: list[dict]) -> list[dict]:
    rows = (
        {o["id"]: o for o in device_observations(db, subject.key_hash)} if subject.key_hash else {}
    )
    for o in participant_observations(db, [p["id"] for p in participants]):
        rows.setdefault(o["id"], o)
    return sorted(rows.values(), key=lambda o: (o["observed_at"], o["id"]))


def gather(db: Database, subject: Subject) -> dict:
    """Everything stored about the resident, as plain data (the extract's data.json)."""
    participants = _participants(db, subject)
    observations = _observations(db, subject, participants)
    reports = []
    for o in observations:
        photos = list_photos(db, o["id"])
        reports.append(
            {
                **{k: o[k] for k in OBSERVATION_FIELDS},
                "photos": [
                    {
                        "id": p["id"],
                        "file": f"photos/{p['id']}.jpg",
                        "width": p["width"],
                        "height": p["height"],
                        "taken_at": p["taken_at"],
                        "gps": [p["gps_lat"], p["gps_lon"]] if p["gps_lat"] is not None else None,
                        "received_at": p["created_at"],
                    }
                    for p in photos
                ],
                "fixes": [
                    {"measure": t["measure"], "party": t["party_name"], "state": t["state"]}
                    for t in tasks_for_observation(db, o["id"])
                ],
            }
        )
    follows = subject_follows(db, [o["id"] for o in observations], [p["id"] for p in participants])
    walks = {p["id"]: p["walk_title"] for p in participants}
    return {
        "made_at": now(),
        "about": "Everything fieldwalk stores about the person who used this phone or link.",
        "device_key": "stored as a one-way hash only" if subject.key_hash else None,
        "walks": [
            {
                "walk_id": p["walk_id"],
                "walk": p["walk_title"],
                "name_given": p["display_name"],
                "role": p["participant_role"],
                "joined_at": p["joined_at"],
            }
            for p in participants
        ],
        "observations": reports,
        "email_follows": [
            {
                "email": f["email"],
                "follows": (
                    f"observation {f['observation_id']}"
                    if f["observation_id"]
                    else f"everything reported on the walk {walks.get(f['participant_id'], '')}"
                ),
                "observation_id": f["observation_id"],
                "walk_id": f["walk_id"],
                "walk": walks.get(f["participant_id"]),
                "given_at": f["created_at"],
                "unsubscribed_at": f["unsubscribed_at"],
            }
            for f in follows
        ],
        "place_answers": [
            {
                "observation_id": a["observation_id"],
                "question": "Does the place feel safer now?",
                "answer": a["answer"],
                "answered_at": a["created_at"],
                "changed_at": a["updated_at"],
            }
            for a in (device_followups(db, subject.key_hash) if subject.key_hash else [])
        ],
    }


def export_zip(db: Database, photo_dir: Path, subject: Subject) -> bytes:
    """The extract as a ZIP: data.json and each photo as they sent it (metadata stripped)."""
    data = gather(db, subject)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2))
        for report in data["observations"]:
            for photo in report["photos"]:
                row = next(p for p in list_photos(db, report["id"]) if p["id"] == photo["id"])
                path = photo_dir / row["file"]
                if path.exists():
                    archive.write(path, photo["file"])
    return out.getvalue()


def erase(
    db: Database, photo_dir: Path, subject: Subject, *, user_id: int | None, actor: str
) -> dict:
    """Erase the resident's contact details and their reports' personal parts; return
    how much was erased. Recorded in the audit log (counts only)."""
    participants = _participants(db, subject)
    observations = _observations(db, subject, participants)
    summary = {
        "names": 0,
        "emails": 0,
        "texts": 0,
        "photos": 0,
        "answers_unlinked": 0,
        "observations": len(observations),
    }
    follows = subject_follows(db, [o["id"] for o in observations], [p["id"] for p in participants])
    files: list[str] = []
    with transaction(db):
        named = [p["id"] for p in participants if p["display_name"]]
        clear_participant_names(db, named)
        summary["names"] = len(named)
        follow_ids = [f["id"] for f in follows]
        forget_recipients(db, follows_sent_keys(db, follow_ids))
        summary["emails"] = delete_follows(db, follow_ids)
        ids = [o["id"] for o in observations]
        summary["texts"] = erase_texts(db, ids)
        for o in observations:
            photo_ids = [p["id"] for p in list_photos(db, o["id"])]
            if photo_ids:
                files += delete_photos(db, photo_ids)
                drop_photo_ids(db, o["id"], photo_ids)
                summary["photos"] += len(photo_ids)
        if subject.key_hash:
            forget_observation_devices(db, [subject.key_hash])
            forget_participant_devices(db, [subject.key_hash])
            forget_devices(db, [subject.key_hash])
            summary["answers_unlinked"] = forget_followup_voters(db, [subject.key_hash])
        db.execute(
            """INSERT INTO audit_log (at, user_id, action, entity, entity_id, detail, actor)
               VALUES (?, ?, 'erase_personal', 'resident', ?, ?, ?)""",
            [
                now(),
                user_id,
                ",".join(str(p["id"]) for p in participants) or "-",
                json.dumps(summary),
                actor,
            ],
        )
    remove_unreferenced(db, photo_dir, files)
    return summary


def log_extract(db: Database, subject: Subject, *, user_id: int | None, actor: str) -> None:
    """Record that an extract was handed out (who asked, for which participant rows)."""
    participants = _participants(db, subject)
    with transaction(db):
        db.execute(
            """INSERT INTO audit_log (at, user_id, action, entity, entity_id, detail, actor)
               VALUES (?, ?, 'register_extract', 'resident', ?, '{}', ?)""",
            [now(), user_id, ",".join(str(p["id"]) for p in participants) or "-", actor],
        )
