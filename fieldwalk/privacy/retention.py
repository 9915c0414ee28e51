"""Kept only as long as needed: what `flask --app app purge` removes, and when.

| what | removed | setting |
|---|---|---|
| a resident's name (given when joining a walk) | 90 days after the fixes of everything they reported are closed (and the walk was) | `RETAIN_NAMES_DAYS` |
| a resident's email address, following one report ("tell me when it is fixed") | 90 days after that report's fixes are closed (and its walk was; a report without a fix: 90 days after its walk, or after the address was left) | `RETAIN_NAMES_DAYS` |
| a resident's email address, following everything they report on a walk (left when joining) | 90 days after the fixes of everything they reported there are closed (and the walk was) | `RETAIN_NAMES_DAYS` |
| ... and the same address in the log of the emails sent to it | with the follow (the record of the email stays, without the address) | `RETAIN_NAMES_DAYS` |
| a phone's device key (the link from a phone to what it reported, and to its "does the place feel safer now?" answers) | a year after the phone was last used | `RETAIN_DEVICE_DAYS` |
| the photos of an observation, and a task's after-photos | 3 years after its fixes were closed (an observation without a task: 3 years after it was observed) | `RETAIN_PHOTO_DAYS` |
| who made each change in the history (audit log) | after 3 years the entry keeps the role, not the person | `RETAIN_AUDIT_PERSON_DAYS` |
| the words of a text erased (on a person's request), changed or deleted, in the search index | at the next purge (the index is merged, and the write-ahead log emptied) | - |

What stays: the observations (category, place, position, times) and the tasks, so every
count, map and report stays the same; a forgotten phone's answers are still counted. A purge
is idempotent and cheap: run it daily. Its longest step is the merge of the search index
(3,6 s, 2,4 s CPU, at a million observations), during which writes wait for the lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

from fieldwalk import textsearch
from fieldwalk.clock import stamp
from fieldwalk.db import empty_write_ahead_log, transaction
from fieldwalk.mail import forget_recipients
from fieldwalk.observations.model import get_observation
from fieldwalk.observations.personal import (
    device_last_reports,
    drop_photo_ids,
    forget_observation_devices,
    observations_observed_before,
    participant_observations,
)
from fieldwalk.photos.files import remove_unreferenced
from fieldwalk.photos.model import delete_photos, photo_ids_of
from fieldwalk.privacy.devices import device_last_seen, forget_devices
from fieldwalk.residents.model import (
    delete_follows,
    follows_sent_keys,
    followup_last_answers,
    forget_followup_voters,
    list_follows,
)
from fieldwalk.tasks.closure import observation_fixes, tasks_closed_before
from fieldwalk.walks.model import (
    clear_participant_names,
    device_last_joins,
    forget_participant_devices,
    get_participants,
    get_walk,
    named_participants,
)


@dataclass(frozen=True)
class Retention:
    """How many days each kind of personal data is kept (see the table above)."""

    names_days: int = 90
    device_days: int = 365
    photo_days: int = 3 * 365
    audit_person_days: int = 3 * 365

    @classmethod
    def from_config(cls, config: Mapping) -> Retention:
        """The retention an app is configured with (RETAIN_* settings)."""
        return cls(
            names_days=config["RETAIN_NAMES_DAYS"],
            device_days=config["RETAIN_DEVICE_DAYS"],
            photo_days=config["RETAIN_PHOTO_DAYS"],
            audit_person_days=config["RETAIN_AUDIT_PERSON_DAYS"],
        )


def purge(
    db: Database,
    photo_dir: Path,
    rules: Retention,
    *,
    at: datetime | None = None,
    dry_run: bool = False,
) -> dict:
    """Remove what the rules say is kept no longer, as of `at` (now); with `dry_run` only
    say what that would be. Returns what was (or would be) removed."""
    moment = at or datetime.now(UTC)

    def cutoff(days: int) -> str:
        return stamp(moment - timedelta(days=days))

    fixes = observation_fixes(db)
    report = {
        "names": _names_to_clear(db, fixes, cutoff(rules.names_days)),
        "follows": _follows_to_delete(db, fixes, cutoff(rules.names_days)),
        "devices": _devices_to_forget(db, cutoff(rules.device_days)),
    }
    observations, tasks = _photos_to_delete(db, fixes, cutoff(rules.photo_days))
    owners = photo_ids_of(db, observation_ids=observations, task_ids=tasks)
    report["photos"] = sorted(p for ids in owners.values() for p in ids)
    audit_cutoff = cutoff(rules.audit_person_days)
    report["audit_entries"] = _count_audit_with_person(db, audit_cutoff)
    report["search_index"] = textsearch.written_since_merge(db)
    if dry_run:
        return report
    files: list[str] = []
    with transaction(db):
        clear_participant_names(db, report["names"])
        forget_recipients(db, follows_sent_keys(db, report["follows"]))
        delete_follows(db, report["follows"])
        forget_observation_devices(db, report["devices"])
        forget_participant_devices(db, report["devices"])
        forget_devices(db, report["devices"])
        forget_followup_voters(db, report["devices"])
        for owner, ids in owners.items():
            files += delete_photos(db, ids)
            if owner.startswith("o:"):
                drop_photo_ids(db, owner[2:], ids)
        _keep_roles_only(db, audit_cutoff)
    with transaction(db):
        textsearch.merge_segments(db, report["search_index"])
    # The pages as they were before (a text before its erasure, the index before its merge)
    # stay in the write-ahead log until it is written over: truncating it ends them. Deleted
    # content in the database file itself is zeroed as it is deleted (db.prepare_connection:
    # secure_delete).
    report["log_emptied"] = empty_write_ahead_log(db)
    remove_unreferenced(db, photo_dir, files)
    return report


def _names_to_clear(db: Database, fixes: dict, cutoff: str) -> list[int]:
    """Named participants whose walk is past and whose observations' fixes are all closed,
    the last of them before `cutoff`."""
    participants = named_participants(db)
    reported: dict[int, list[dict]] = {}
    for observation in participant_observations(db, [p["id"] for p in participants]):
        reported.setdefault(observation["participant_id"], []).append(observation)
    clear = []
    for participant in participants:
        latest = participant["starts_at"] or participant["joined_at"]
        still_open = False
        for observation in reported.get(participant["id"], []):
            open_count, closed_at = fixes.get(observation["id"], (0, None))
            still_open = still_open or open_count > 0
            latest = max(latest, closed_at or "")
        if not still_open and latest < cutoff:
            clear.append(participant["id"])
    return sorted(clear)


def _follows_to_delete(db: Database, fixes: dict, cutoff: str) -> list[int]:
    """Residents' follows (their email addresses) whose time is up, as for names: a follow
    of one observation once that observation's fixes are all closed, the last before
    `cutoff`, and its walk started before it; a participant's follow once the same holds
    for everything the participant reported and their walk. An observation without a task
    counts as closed. The follow's own creation counts as well (never gone sooner)."""
    follows = list_follows(db)
    participants = {
        p["id"]: p
        for p in get_participants(db, [f["participant_id"] for f in follows if f["participant_id"]])
    }
    reported: dict[int, list[dict]] = {}
    for observation in participant_observations(db, sorted(participants)):
        reported.setdefault(observation["participant_id"], []).append(observation)
    walk_starts: dict[int, str] = {}

    def walk_start(walk_id: int | None) -> str:
        if walk_id is None:
            return ""
        if walk_id not in walk_starts:
            walk = get_walk(db, walk_id)
            walk_starts[walk_id] = walk["starts_at"] if walk else ""
        return walk_starts[walk_id]

    delete = []
    for follow in follows:
        if follow["observation_id"] is not None:
            observation = get_observation(db, follow["observation_id"])
            observations = [observation] if observation else []
            walk_id = observation["walk_id"] if observation else None
        else:
            observations = reported.get(follow["participant_id"], [])
            participant = participants.get(follow["participant_id"])
            walk_id = participant["walk_id"] if participant else follow["walk_id"]
        latest = max(walk_start(walk_id), follow["created_at"])
        still_open = False
        for observation in observations:
            open_count, closed_at = fixes.get(observation["id"], (0, None))
            still_open = still_open or open_count > 0
            latest = max(latest, closed_at or "")
        if not still_open and latest < cutoff:
            delete.append(follow["id"])
    return delete


def _devices_to_forget(db: Database, cutoff: str) -> list[str]:
    """Phones whose last use (a page, a report, a join, an answer about a place) was before
    `cutoff`."""
    last: dict[str, str] = {}
    sources = (
        device_last_seen(db),
        device_last_reports(db),
        device_last_joins(db),
        followup_last_answers(db),
    )
    for source in sources:
        for key, value in source.items():
            last[key] = max(last.get(key, ""), value or "")
    return sorted(key for key, value in last.items() if value < cutoff)


def _photos_to_delete(db: Database, fixes: dict, cutoff: str) -> tuple[list[str], list[int]]:
    """Observations whose photos go (fixes all closed before `cutoff`, or no fix and observed
    before it) and tasks whose after-photos go (closed before it)."""
    observations = []
    for row in observations_observed_before(db, cutoff):
        open_count, closed_at = fixes.get(row["id"], (0, None))
        if row["id"] not in fixes or (open_count == 0 and (closed_at or "") < cutoff):
            observations.append(row["id"])
    return observations, tasks_closed_before(db, cutoff)


# The audit log is written by every noun (fieldwalk.security.audit, the tasks' and
# observations' own entries); its retention lives here, with the rule it serves.


def _count_audit_with_person(db: Database, cutoff: str) -> int:
    (count,) = db.execute(
        """SELECT count(*) FROM audit_log WHERE at < ?
           AND (user_id IS NOT NULL OR participant_id IS NOT NULL)""",
        [cutoff],
    ).fetchone()
    return count


def _keep_roles_only(db: Database, cutoff: str) -> None:
    """Entries older than `cutoff` keep the role that acted, not the person."""
    db.execute(
        """UPDATE audit_log SET
               actor = COALESCE((SELECT role FROM users WHERE users.id = audit_log.user_id),
                                CASE WHEN participant_id IS NOT NULL THEN 'resident' END, actor),
               user_id = NULL, participant_id = NULL
           WHERE at < ? AND (user_id IS NOT NULL OR participant_id IS NOT NULL)""",
        [cutoff],
    )
