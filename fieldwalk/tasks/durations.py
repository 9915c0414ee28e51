"""Task figures for the annual follow-up and the place page: fixes done per party with their
days to done (how many were open at given moments is a running total, reports/totals.py).

A task's days to done run from its first observation's `observed_at` to its `done_at`; a
task with no observation (a meeting's decision) counts from when it was opened. The first
observed time is kept on the task (`tasks.first_observed_at`) by triggers on its links and
on the observations' observed time (`FIRST_OBSERVED_TRIGGERS`, m035), so the figures read
one row per task, and an index of the days (`tasks_done_days`) gives a place's median per
party from an index walk instead of every task it ever had.
"""

import statistics
from collections import defaultdict
from collections.abc import Sequence

from sqlite_utils import Database

from fieldwalk.tasks.states import OPEN_STATES_SQL

_FIRST_OBSERVED = """(SELECT min(o.observed_at) FROM task_observations l
    JOIN observations o ON o.id = l.observation_id WHERE l.task_id = {task})"""


def _refresh(task: str) -> str:
    first = _FIRST_OBSERVED.format(task=task)
    return f"UPDATE tasks SET first_observed_at = {first} WHERE id = {task};"  # noqa: S608


FIRST_OBSERVED_TRIGGERS = (
    f"""CREATE TRIGGER tasks_first_observed_link AFTER INSERT ON task_observations
        BEGIN {_refresh("NEW.task_id")} END""",
    f"""CREATE TRIGGER tasks_first_observed_unlink AFTER DELETE ON task_observations
        BEGIN {_refresh("OLD.task_id")} END""",
    f"""CREATE TRIGGER tasks_first_observed_relink AFTER UPDATE ON task_observations
        BEGIN {_refresh("OLD.task_id")} {_refresh("NEW.task_id")} END""",
    f"""CREATE TRIGGER tasks_first_observed_moved AFTER UPDATE OF observed_at ON observations
        WHEN OLD.observed_at IS NOT NEW.observed_at BEGIN
        UPDATE tasks SET first_observed_at = {_FIRST_OBSERVED.format(task="tasks.id")}
        WHERE id IN (SELECT task_id FROM task_observations WHERE observation_id = NEW.id);
        END""",  # noqa: S608 - constants
)
# Days from the first observation (else the opening) to done, never below zero: the same
# expression in the index and in the queries that read it, or SQLite will not use it.
DONE_DAYS = "max(0, julianday(done_at) - julianday(coalesce(first_observed_at, created_at)))"
DONE_DAYS_INDEX = f"""CREATE INDEX tasks_done_days
    ON tasks(place_id, party_id, {DONE_DAYS}) WHERE done_at IS NOT NULL"""


def recount_first_observed(db: Database) -> int:
    """Set every task's first observed time from its links (in the caller's transaction);
    return how many tasks changed."""
    before = db.execute("SELECT total_changes()").fetchone()[0]
    db.execute(
        f"""UPDATE tasks SET first_observed_at = {_FIRST_OBSERVED.format(task="tasks.id")}
            WHERE first_observed_at IS NOT {_FIRST_OBSERVED.format(task="tasks.id")}"""  # noqa: S608
    )
    return db.execute("SELECT total_changes()").fetchone()[0] - before


def done_by_party(
    db: Database, place_ids: Sequence[int], start_utc: str, end_utc: str
) -> dict[int, dict[int | None, dict]]:
    """Per place and party (None: no party), the tasks done from `start_utc` to `end_utc`
    (UTC text, end excluded): {place_id: {party_id: {"name", "done", "median_days"}}}. A
    task's days run from its first observation's `observed_at` to `done_at`; a task with no
    observation (a meeting's decision) counts from when it was opened.

    The days come from the index of done times alone (m035), bare numbers, and the party
    names once each: a year of a busy place's fixes is a few thousand floats."""
    if not place_ids:
        return {}
    days: dict[tuple[int, int | None], list[float]] = defaultdict(list)
    for place_id, party_id, done_days in db.execute(
        f"""SELECT place_id, party_id, {DONE_DAYS} FROM tasks
            WHERE done_at >= ? AND done_at < ?
              AND place_id IN ({",".join("?" * len(place_ids))})""",  # noqa: S608 - placeholders
        [start_utc, end_utc, *place_ids],
    ):
        days[place_id, party_id].append(done_days)
    party_ids = sorted({party_id for _place, party_id in days if party_id is not None})
    names: dict[int | None, str | None] = {None: None}
    names.update(
        db.execute(
            f"SELECT id, name FROM parties WHERE id IN ({','.join('?' * len(party_ids))})",  # noqa: S608
            party_ids,
        ).fetchall()
    )
    found: dict[int, dict[int | None, dict]] = {}
    for (place_id, party_id), values in days.items():
        found.setdefault(place_id, {})[party_id] = {
            "name": names.get(party_id),
            "done": len(values),
            "median_days": statistics.median(values),
        }
    return found


def median_days_by_party(db: Database, place_id: int) -> dict[int | None, tuple[int, float]]:
    """Per party id (None: no party), the place's done tasks: how many, and the median of
    their days to done, walked from the index of the days (`tasks_done_days`)."""
    found: dict[int | None, tuple[int, float]] = {}
    counts = db.execute(
        """SELECT party_id, count(*) FROM tasks INDEXED BY tasks_done_days
           WHERE place_id = ? AND done_at IS NOT NULL GROUP BY party_id""",
        [place_id],
    ).fetchall()
    for party_id, count in counts:
        middle = [
            row[0]
            for row in db.execute(
                f"""SELECT {DONE_DAYS} AS days FROM tasks INDEXED BY tasks_done_days
                    WHERE place_id = ? AND party_id IS ? AND done_at IS NOT NULL
                    ORDER BY {DONE_DAYS} LIMIT ? OFFSET ?""",  # noqa: S608 - a constant
                [place_id, party_id, 2 - count % 2, (count - 1) // 2],
            )
        ]
        found[party_id] = (count, sum(middle) / len(middle))
    return found


# The indexes m035 made: tasks by place and done time (with what the days to done need, so
# done_by_party reads a year's fixes from the index alone), and the tasks open now (which
# the open-at-month-end figures read until the running steps of m037 took their place).
OPEN_AT_INDEXES = (
    """CREATE INDEX tasks_place_done
        ON tasks(place_id, done_at, created_at, party_id, first_observed_at)""",
    f"""CREATE INDEX tasks_place_open ON tasks(place_id, created_at)
        WHERE done_at IS NULL AND state IN ({OPEN_STATES_SQL})""",
)
