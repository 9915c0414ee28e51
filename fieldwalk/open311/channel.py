"""A party reached over Open311 instead of email: its tasks become requests in its system.

A coordinator gives the party's GeoReport v2 endpoint, jurisdiction_id, api_key and which of
its services takes each category (`*` for the rest). From then on every task sent to that
party is queued as a row of `open311_requests` (made once per task and party, with our own
name for the request, `client_id`) and posted, with the observations' text and the
face-blurred public copies of their photos as `media_url` links (a party gets them without
waiting for staff's public review, as its email would; the post waits until every photo's
blurred copy is made, so the party's server never fetches a stand-in). `sync-open311`
(cron) posts what is still waiting and reads back the status of what was posted (giving
our api_key, so a server that publishes only reviewed requests still answers): a request
the party closed marks the task done, with the party's note.

Never a second request for one task: the row exists before anything is posted, a lease
(`claimed_until`) keeps two processes from posting it at once, a posted row is never posted
again, and every retry carries the same `client_id` as `service_request_id_ext`, so a server
that stored the request but whose answer was lost (fieldwalk's own does this) answers with
the request it already has. A failure waits longer each time (one minute, doubling, at most
six hours) and is shown on the task until a later attempt succeeds.
"""

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _
from sqlite_utils import Database

from fieldwalk.categories import category_label
from fieldwalk.clock import stamp
from fieldwalk.db import transaction
from fieldwalk.open311.client import Endpoint, RemoteError, get_requests, post_request
from fieldwalk.open311.public import party_request
from fieldwalk.parties.model import get_party
from fieldwalk.tasks.model import get_task, task_observations, transition
from fieldwalk.tasks.states import ASSIGNEE, WITH_PARTY, Actor, TaskError

FIRST_WAIT = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=6)
LEASE = timedelta(minutes=2)
MAX_DESCRIPTION = 2000
SYNC_CHUNK = 50

External = Callable[..., str]  # builds an absolute URL: external(endpoint, **values)


# --- the channel -------------------------------------------------------------------------


def get_channel(db: Database, party_id: int) -> dict | None:
    """A party's Open311 channel, its service codes as a dict, or None."""
    row = db.execute("SELECT * FROM open311_channels WHERE party_id = ?", [party_id]).fetchone()
    if row is None:
        return None
    return dict(row, service_codes=json.loads(row["service_codes"]))


def channel_party_ids(db: Database) -> set[int]:
    """The parties reached over Open311."""
    return {r[0] for r in db.execute("SELECT party_id FROM open311_channels")}


def save_channel(
    db: Database,
    party_id: int,
    *,
    endpoint: str,
    jurisdiction_id: str = "",
    api_key: str | None = None,
    service_codes: dict[str, str],
) -> None:
    """Reach a party over Open311 (or change how); `api_key` None keeps the stored one.

    What waits for a retry is tried again at the next send: the change may be the fix."""
    moment = stamp(datetime.now(UTC))
    codes = json.dumps({k: v.strip() for k, v in service_codes.items() if v and v.strip()})
    with transaction(db):
        db.execute(
            """INSERT INTO open311_channels (party_id, endpoint, jurisdiction_id, api_key,
                   service_codes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(party_id) DO UPDATE SET endpoint = excluded.endpoint,
                   jurisdiction_id = excluded.jurisdiction_id,
                   api_key = CASE WHEN ? THEN excluded.api_key ELSE api_key END,
                   service_codes = excluded.service_codes, updated_at = excluded.updated_at""",
            [
                party_id,
                endpoint.strip(),
                jurisdiction_id.strip(),
                (api_key or "").strip(),
                codes,
                moment,
                moment,
                api_key is not None,
            ],
        )
        db.execute(
            """UPDATE open311_requests SET next_attempt_at = NULL
               WHERE party_id = ? AND remote_id IS NULL""",
            [party_id],
        )


def remove_channel(db: Database, party_id: int) -> None:
    """Reach a party by email again; what was posted stays recorded."""
    with transaction(db):
        db.execute("DELETE FROM open311_channels WHERE party_id = ?", [party_id])


def endpoint_of(channel: dict, timeout: float) -> Endpoint:
    """The client's view of a channel."""
    return Endpoint(channel["endpoint"], channel["jurisdiction_id"], channel["api_key"], timeout)


# --- requests, one per task and party ----------------------------------------------------


def request_for_task(db: Database, task_id: int) -> dict | None:
    """The Open311 request of a task (for the party it is with now, else the latest)."""
    row = db.execute(
        """SELECT r.*, parties.name AS party_name FROM open311_requests r
           JOIN tasks ON tasks.id = r.task_id JOIN parties ON parties.id = r.party_id
           WHERE r.task_id = ? ORDER BY r.party_id = tasks.party_id DESC, r.id DESC LIMIT 1""",
        [task_id],
    ).fetchone()
    return dict(row) if row else None


def queue_tasks(db: Database, moment: datetime) -> int:
    """Make the row of every task with a party reached over Open311 that has none yet;
    return how many were made."""
    states = ",".join("?" * len(WITH_PARTY))
    rows = db.execute(
        f"""SELECT tasks.id, tasks.party_id FROM tasks
            JOIN open311_channels c ON c.party_id = tasks.party_id
            WHERE tasks.state IN ({states}) AND NOT EXISTS (SELECT 1 FROM open311_requests r
                WHERE r.task_id = tasks.id AND r.party_id = tasks.party_id)""",  # noqa: S608
        list(WITH_PARTY),
    ).fetchall()
    made = 0
    with transaction(db):
        for task_id, party_id in rows:
            cursor = db.execute(
                """INSERT OR IGNORE INTO open311_requests (task_id, party_id, client_id,
                       created_at, updated_at) VALUES (?, ?, ?, ?, ?)""",
                [task_id, party_id, f"fieldwalk-{uuid.uuid4()}", stamp(moment), stamp(moment)],
            )
            made += cursor.rowcount
    return made


def wait_after(attempts: int) -> timedelta:
    """How long a request waits after its `attempts`-th failure: 1, 2, 4 … minutes, at most
    six hours."""
    return min(FIRST_WAIT * 2 ** max(0, attempts - 1), LONGEST_WAIT)


def _due(db: Database, moment: datetime, party_ids: set[int] | None) -> list[dict]:
    states = ",".join("?" * len(WITH_PARTY))
    rows = db.execute(
        f"""SELECT r.* FROM open311_requests r JOIN tasks ON tasks.id = r.task_id
            JOIN open311_channels c ON c.party_id = r.party_id
            WHERE r.remote_id IS NULL AND tasks.party_id = r.party_id
              AND tasks.state IN ({states})
              AND (r.next_attempt_at IS NULL OR r.next_attempt_at <= ?)
            ORDER BY r.id""",  # noqa: S608 - placeholders only
        [*WITH_PARTY, stamp(moment)],
    )
    return [dict(r) for r in rows if party_ids is None or r["party_id"] in party_ids]


def _claim(db: Database, row_id: int, moment: datetime) -> bool:
    """Take the lease on a row to post it; False when another process holds it or it was
    posted meanwhile."""
    with transaction(db):
        cursor = db.execute(
            """UPDATE open311_requests SET claimed_until = ?
               WHERE id = ? AND remote_id IS NULL
                 AND (claimed_until IS NULL OR claimed_until < ?)""",
            [stamp(moment + LEASE), row_id, stamp(moment)],
        )
    return cursor.rowcount == 1


class NotSendable(Exception):
    """The task cannot be put into the party's terms (no service for its category, no
    position); the message says what to fix."""


def compose(db: Database, task: dict, channel: dict, external: External) -> tuple[dict, list]:
    """The fields and media_urls of a task's service request."""
    observations = task_observations(db, task["id"])
    category = observations[0]["category"] if observations else "other"
    codes = channel["service_codes"]
    code = codes.get(category) or codes.get("*")
    if not code:
        raise NotSendable(
            _(
                "No service of the party takes %(category)s: add its service code to the party's Open311 settings.",
                category=category_label(category),
            )
        )
    if task["lat"] is None or task["lon"] is None:
        raise NotSendable(_("The task has no position, which Open311 needs."))
    lines, media = [task["measure"]], []
    for observation in observations:
        shown = party_request(db, observation)
        if shown["pending"]:
            raise NotSendable(
                _(
                    "The faces in its photos are still being blurred; the task is sent once they are."
                )
            )
        text = f"{category_label(observation['category'])}: {shown['description']}".rstrip(": ")
        lines += ["", text, external("status.observation", observation_id=observation["id"])]
        media += [external("photo_files.serve", relative=file) for file in shown["photos"]]
    description = "\n".join(lines)
    if len(description) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 1].rstrip() + "…"
    fields = {
        "service_code": code,
        "lat": f"{task['lat']:.6f}",
        "long": f"{task['lon']:.6f}",
        "description": description,
        "service_request_id_ext": "",
    }
    return fields, media


def _record(db: Database, row_id: int, moment: datetime, **changes) -> None:
    changes.update(updated_at=stamp(moment), claimed_until=None)
    assignments = ", ".join(f"{column} = ?" for column in changes)
    with transaction(db):
        db.execute(
            f"UPDATE open311_requests SET {assignments} WHERE id = ?",  # noqa: S608 - fixed names
            [*changes.values(), row_id],
        )


def send_due(
    db: Database,
    external: External,
    moment: datetime,
    *,
    party_ids: set[int] | None = None,
    timeout: float = 10.0,
    post=post_request,
) -> list[dict]:
    """Queue what is new, then post every request that is due (of `party_ids`, or all);
    return one result per attempt: the task, "sent" with the remote id or "failed" with the
    error."""
    queue_tasks(db, moment)
    results = []
    for row in _due(db, moment, party_ids):
        if not _claim(db, row["id"], moment):
            continue
        task = get_task(db, row["task_id"])
        channel = get_channel(db, row["party_id"])
        try:
            fields, media = compose(db, task, channel, external)
            fields["service_request_id_ext"] = row["client_id"]
            remote_id = post(endpoint_of(channel, timeout), fields, media)
        except (RemoteError, NotSendable) as error:
            attempts = row["attempts"] + 1
            _record(
                db,
                row["id"],
                moment,
                attempts=attempts,
                next_attempt_at=stamp(moment + wait_after(attempts)),
                last_error=str(error)[:500],
                last_error_at=stamp(moment),
            )
            results.append({"task_id": task["id"], "status": "failed", "error": str(error)})
            continue
        except BaseException:
            _record(db, row["id"], moment)  # let the lease go; the next run tries again
            raise
        _record(
            db,
            row["id"],
            moment,
            attempts=row["attempts"] + 1,
            remote_id=remote_id,
            remote_status="open",
            sent_at=stamp(moment),
            next_attempt_at=None,
            last_error=None,
            last_error_at=None,
        )
        results.append({"task_id": task["id"], "status": "sent", "remote_id": remote_id})
    return results


# --- reading back ------------------------------------------------------------------------


def _open_posted(db: Database) -> list[dict]:
    """Posted requests whose task is still with the same party and not done."""
    states = ",".join("?" * len(WITH_PARTY))
    rows = db.execute(
        f"""SELECT r.* FROM open311_requests r JOIN tasks ON tasks.id = r.task_id
            WHERE r.remote_id IS NOT NULL AND tasks.party_id = r.party_id
              AND tasks.state IN ({states}) ORDER BY r.party_id, r.id""",  # noqa: S608
        list(WITH_PARTY),
    )
    return [dict(r) for r in rows]


def sync_statuses(
    db: Database, moment: datetime, *, timeout: float = 10.0, get=get_requests
) -> list[dict]:
    """Read back the status of every open posted request; a closed one marks its task done
    with the party's note. Returns one result per task closed or per party that failed."""
    results = []
    by_party: dict[int, list[dict]] = {}
    for row in _open_posted(db):
        by_party.setdefault(row["party_id"], []).append(row)
    for party_id, rows in by_party.items():
        channel = get_channel(db, party_id)
        party = get_party(db, party_id)
        if channel is None or party is None:
            continue
        for start in range(0, len(rows), SYNC_CHUNK):
            chunk = rows[start : start + SYNC_CHUNK]
            try:
                found = get(endpoint_of(channel, timeout), [r["remote_id"] for r in chunk])
            except RemoteError as error:
                _sync_failed(db, party_id, chunk, moment, str(error))
                results.append({"party_id": party_id, "status": "failed", "error": str(error)})
                break
            answers = {str(item.get("service_request_id")): item for item in found}
            for row in chunk:
                answer = answers.get(row["remote_id"])
                if answer is not None:
                    results += _apply(db, row, answer, party, moment)
        else:
            with transaction(db):
                db.execute(
                    """UPDATE open311_channels SET synced_at = ?, sync_error = NULL
                       WHERE party_id = ?""",
                    [stamp(moment), party_id],
                )
    return results


def _sync_failed(db, party_id: int, rows: list[dict], moment: datetime, error: str) -> None:
    with transaction(db):
        db.execute(
            "UPDATE open311_channels SET sync_error = ? WHERE party_id = ?", [error[:500], party_id]
        )
        for row in rows:
            db.execute(
                """UPDATE open311_requests SET last_error = ?, last_error_at = ?, updated_at = ?
                   WHERE id = ?""",
                [error[:500], stamp(moment), stamp(moment), row["id"]],
            )


def _apply(db: Database, row: dict, answer: dict, party: dict, moment: datetime) -> list[dict]:
    """Record what the party's server says of a request; close the task when it is closed."""
    status = str(answer.get("status") or "").strip().lower()
    note = str(answer.get("status_notes") or "").strip()[:2000] or None
    _record(
        db,
        row["id"],
        moment,
        remote_status=status or None,
        remote_note=note,
        last_error=None,
        last_error_at=None,
    )
    if status != "closed" or row["remote_status"] == "closed":
        return []  # closed there before: a task reopened here since stays open
    task = get_task(db, row["task_id"])
    actor = Actor((ASSIGNEE,), None, f"Open311: {party['name']}")
    text = note or _("Closed in the party's system (Open311 request %(id)s).", id=row["remote_id"])
    try:
        transition(db, task["id"], "done", actor, version=task["version"], note=text)
    except TaskError:  # changed here meanwhile: the next run looks again
        return []
    return [{"task_id": task["id"], "status": "closed", "note": text}]


def sync_all(
    db: Database, external: External, moment: datetime | None = None, *, timeout: float = 10.0,
    post=post_request, get=get_requests,
) -> dict:  # fmt: skip
    """Post what is due, then read back every open request: what `sync-open311` does."""
    moment = moment or datetime.now(UTC)
    sent = send_due(db, external, moment, timeout=timeout, post=post)
    closed = sync_statuses(db, moment, timeout=timeout, get=get)
    return {"sent": sent, "synced": closed}
