"""The weekly meeting's decisions (beslut): short-term measures for a place, each a task.

A decision is what should be done, by which party and by when. It becomes a task like any
other (routed by the zone around the place's centre, sent to its party at once when it has
one, in triage when it has none) and is linked here to the place and the meeting's week. The
following week's page reads the tasks back: "Last week's decisions: 3 of 4 done".
"""

from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.places.model import get_place
from fieldwalk.reports.periods import parse_week, week_text
from fieldwalk.tasks.model import get_task, get_tasks, insert_task, transition
from fieldwalk.tasks.states import DONE, VERIFIED, Actor, TaskError
from fieldwalk.tasks.suggest import suggest_for_place

DONE_STATES = (DONE, VERIFIED)


def record_decision(
    db: Database,
    *,
    place_id: int,
    week: str,
    measure: str,
    party_id: int | None,
    due_date: str,
    actor: Actor,
    reason: str,
    priority: str = "normal",
    key: str | None = None,
    decided_at: str | None = None,
) -> tuple[int, bool]:
    """Make a meeting's decision a task and link it to the place and the week ('2026-W47');
    return (task id, created).

    The task is routed like any other: the suggestion is the zone around the place's centre.
    A party other than the suggestion is the meeting's choice, and `reason` (say, "Decided at
    the weekly meeting, week 47") is kept as the override's reason. With a party the task is
    sent at once; without one it waits in triage. A `key` already stored returns that
    decision's task and False, storing nothing (a form sent twice). `decided_at` (UTC text)
    is now unless given (the demo's history).
    """
    if week_text(*parse_week(week)) != week:
        raise ValueError(f"not a week as stored: {week!r}")
    with transaction(db):
        if key is not None:
            row = db.execute("SELECT task_id FROM decisions WHERE key = ?", [key]).fetchone()
            if row:
                return row[0], False
        place = get_place(db, place_id)
        if place is None:
            raise TaskError("place")
        suggestion = suggest_for_place(db, place).as_dict()
        override = reason if party_id != suggestion["party_id"] else None
        task_id = insert_task(
            db,
            observation_ids=[],
            place_id=place_id,
            measure=measure,
            party_id=party_id,
            suggestion=suggestion,
            override_reason=override,
            priority=priority,
            due_date=due_date,
            actor=actor,
        )
        if party_id is not None:
            transition(db, task_id, "send", actor, version=get_task(db, task_id)["version"])
        db.execute(
            """INSERT INTO decisions (place_id, week, task_id, key, created_by, created_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            [place_id, week, task_id, key, actor.user_id, decided_at or now()],
        )
    return task_id, True


def decisions_for_weeks(db: Database, weeks: list[str]) -> dict[tuple[int, str], list[dict]]:
    """The decisions of the given weeks' meetings, per (place_id, week), in the order they were
    made; each with its task's `measure`, `party_name`, `due_date`, `state`, `done_at`, and
    `done` (done or verified now)."""
    if not weeks:
        return {}
    rows = [
        dict(r)
        for r in db.execute(
            f"""SELECT * FROM decisions WHERE week IN ({",".join("?" * len(weeks))})
                ORDER BY place_id, week, id""",  # noqa: S608 - placeholders only
            list(weeks),
        )
    ]
    tasks = get_tasks(db, [r["task_id"] for r in rows])
    found: dict[tuple[int, str], list[dict]] = {}
    for row in rows:
        task = tasks[row["task_id"]]
        row.update(
            {key: task[key] for key in ("measure", "party_name", "due_date", "state", "done_at")}
        )
        row["done"] = task["state"] in DONE_STATES
        found.setdefault((row["place_id"], row["week"]), []).append(row)
    return found


def count_done(decisions: list[dict]) -> tuple[int, int]:
    """How many of the decisions are done, and how many there are."""
    return sum(1 for d in decisions if d["done"]), len(decisions)
