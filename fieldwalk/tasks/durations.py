"""Task figures for the annual follow-up, the place page and the safety index: fixes done
per party with their days to done, and how many were open at given moments.

A task's days to done run from its first observation's `observed_at` to its `done_at`; a
task with no observation (a meeting's decision) counts from when it was opened. The first
observed time is kept on the task (`tasks.first_observed_at`) by triggers on its links and
on the observations' observed time (`FIRST_OBSERVED_TRIGGERS`, m035), so the figures read
one row per task, and an index of the days (`tasks_done_days`) gives a place's median per
party from an index walk instead of every task it ever had.
"""

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
_DONE_DAYS = (
    "max(0, julianday({t}done_at) - julianday(coalesce({t}first_observed_at, {t}created_at)))"
)
DONE_DAYS = _DONE_DAYS.format(t="")
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
    (UTC text, end excluded): {place_id: {party_id: {"name", "days": [...]}}}. A task's days
    run from its first observation's `observed_at` to `done_at`; a task with no observation
    (a meeting's decision) counts from when it was opened."""
    if not place_ids:
        return {}
    rows = db.execute(
        f"""SELECT tasks.place_id, tasks.party_id, parties.name AS party_name,
                   {_DONE_DAYS.format(t="tasks.")} AS days
            FROM tasks LEFT JOIN parties ON parties.id = tasks.party_id
            WHERE tasks.done_at >= ? AND tasks.done_at < ?
              AND tasks.place_id IN ({",".join("?" * len(place_ids))})""",  # noqa: S608
        [start_utc, end_utc, *place_ids],
    )
    found: dict[int, dict[int | None, dict]] = {}
    for row in rows:
        entry = found.setdefault(row["place_id"], {}).setdefault(
            row["party_id"], {"name": row["party_name"], "days": []}
        )
        entry["days"].append(row["days"])
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


def open_at(db: Database, place_ids: Sequence[int], moments: Sequence[str]) -> dict[int, list[int]]:
    """Per place, how many of its tasks were open at each moment (UTC text): opened before
    it, and neither done by then nor closed without a date since (will not fix, duplicate
    and "not ours" tasks that have no `done_at` count as open only while still open now).

    Two passes per place, each over an index of its own (m035): the tasks done since the
    earliest moment, and the tasks open now; never the tasks closed before every moment."""
    if not place_ids or not moments:
        return {}
    done_later = ", ".join("sum(created_at < ? AND done_at >= ?)" for _m in moments)
    open_now = ", ".join("sum(created_at < ?)" for _m in moments)
    found: dict[int, list[int]] = {}
    for place_id in place_ids:
        later = db.execute(
            f"""SELECT {done_later} FROM tasks INDEXED BY tasks_place_done
                WHERE place_id = ? AND done_at >= ?""",  # noqa: S608 - placeholders
            [*(v for m in moments for v in (m, m)), place_id, min(moments)],
        ).fetchone()
        still = db.execute(
            f"""SELECT {open_now} FROM tasks INDEXED BY tasks_place_open
                WHERE place_id = ? AND done_at IS NULL AND state IN ({OPEN_STATES_SQL})""",  # noqa: S608
            [*moments, place_id],
        ).fetchone()
        found[place_id] = [(a or 0) + (b or 0) for a, b in zip(later, still, strict=True)]
    return found


# The indexes open_at and done_by_party read (m035): tasks by place and done time (with what
# the days to done need, so a year's fixes are read from the index alone), and the tasks
# open now.
OPEN_AT_INDEXES = (
    """CREATE INDEX tasks_place_done
        ON tasks(place_id, done_at, created_at, party_id, first_observed_at)""",
    f"""CREATE INDEX tasks_place_open ON tasks(place_id, created_at)
        WHERE done_at IS NULL AND state IN ({OPEN_STATES_SQL})""",
)
