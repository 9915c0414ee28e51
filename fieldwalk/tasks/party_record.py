"""A party's record: how fast and how reliably it deals with the tasks sent to it.

Over the tasks it holds that were sent to it in a period (the last 12 months, on its page):
the median days from sent to accepted (the first "accept" after sending) and from sent to
done, the share of tasks with a due date that went past it (done late, or still open after
it), and its open tasks by how long ago they were sent.
"""

import statistics
from datetime import UTC, datetime

from sqlite_utils import Database

from fieldwalk.tasks.states import WITH_PARTY

DAY = 86400.0


# Open tasks by days since they were sent: (label key, first day, last day or None).
AGE_BANDS = (("0-7", 0, 7), ("8-30", 8, 30), ("31-90", 31, 90), ("90+", 91, None))


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _days(start: str, end: str) -> float:
    return (_moment(end) - _moment(start)).total_seconds() / DAY


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def party_record(db: Database, party_id: int, since: str, now: str, today: str) -> dict:
    """The party's figures for tasks sent to it from `since` (a UTC stamp) until `now`.

    `today` is the local date due dates are compared with. Returns `sent`, `accepted_days`
    and `done_days` (medians, None without any), `accepted_count`, `done_count`, `with_due`,
    `overdue`, `overdue_share` (None without due dates) and `open_by_age` (band -> count).
    """
    rows = db.execute(
        """SELECT id, state, sent_at, done_at, due_date FROM tasks
           WHERE party_id = ? AND sent_at IS NOT NULL AND sent_at >= ? AND sent_at <= ?""",
        [party_id, since, now],
    ).fetchall()
    tasks = [dict(r) for r in rows]
    accepted = _first_accepts(db, tasks)
    accepted_days = [_days(t["sent_at"], accepted[t["id"]]) for t in tasks if t["id"] in accepted]
    done_days = [_days(t["sent_at"], t["done_at"]) for t in tasks if t["done_at"]]
    with_due = [t for t in tasks if t["due_date"]]
    overdue = [t for t in with_due if _overdue(t, today)]
    open_by_age = {band: 0 for band, _first, _last in AGE_BANDS}
    for task in tasks:
        if task["state"] in WITH_PARTY:
            age = int(_days(task["sent_at"], now))
            for band, first, last in AGE_BANDS:
                if age >= first and (last is None or age <= last):
                    open_by_age[band] += 1
    return {
        "sent": len(tasks),
        "accepted_days": _median(accepted_days),
        "accepted_count": len(accepted_days),
        "done_days": _median(done_days),
        "done_count": len(done_days),
        "with_due": len(with_due),
        "overdue": len(overdue),
        "overdue_share": len(overdue) / len(with_due) if with_due else None,
        "open_by_age": open_by_age,
        "open": sum(open_by_age.values()),
    }


def _overdue(task: dict, today: str) -> bool:
    """Done after its due date, or still with the party after it."""
    if task["done_at"]:
        # The due date is a local date: done on it is in time; compare dates, not moments.
        return task["done_at"][:10] > task["due_date"]
    return task["state"] in WITH_PARTY and today > task["due_date"]


def _first_accepts(db: Database, tasks: list[dict]) -> dict[int, str]:
    """Each task's first "accept" at or after it was sent to its party."""
    found: dict[int, str] = {}
    by_id = {str(t["id"]): t for t in tasks}
    if not by_id:
        return found
    marks = ",".join("?" * len(by_id))
    rows = db.execute(
        f"""SELECT entity_id, at FROM audit_log WHERE entity = 'task'
            AND action = 'accept' AND entity_id IN ({marks}) ORDER BY at""",  # noqa: S608
        list(by_id),
    )
    for entity_id, at in rows:
        task = by_id[entity_id]
        if at >= task["sent_at"] and task["id"] not in found:
            found[task["id"]] = at
    return found


def year_ago(now: datetime) -> str:
    """The UTC stamp 365 days before `now`."""
    moment = now.astimezone(UTC).timestamp() - 365 * DAY
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
