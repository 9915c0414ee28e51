"""Task figures for the annual follow-up and the place page: fixes done per party with their
days to done (how many were open at given moments is a running total, reports/totals.py).

A task's days to done run from its first observation's `observed_at` to its `done_at`; a
task with no observation (a meeting's decision) counts from when it was opened. The first
observed time is kept on the task (`tasks.first_observed_at`) by triggers on its links and
on the observations' observed time (`FIRST_OBSERVED_TRIGGERS`, m035), so the figures read
one row per task. Medians are read from an index ordered by the days, two rows in the
middle of a walk of SQLite's, never every value in Python: per place and party
(`tasks_done_days`) for the place page, and per place, party and local year
(`tasks_done_year`) for the year pages, so a year's median walks that year's fixes only.
"""

from collections.abc import Sequence
from datetime import timedelta

from sqlite_utils import Database

from fieldwalk.clock import STOCKHOLM
from fieldwalk.reports.periods import Period
from fieldwalk.reports.totals import stockholm_local_sql
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
    f"""CREATE TRIGGER tasks_first_observed_relink
        AFTER UPDATE OF task_id, observation_id ON task_observations
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
# The Stockholm year a task was done in (the year pages' years), and the index of the days
# per place, party and year (m040), with the columns the days are computed from.
DONE_YEAR = f"substr({stockholm_local_sql('done_at')}, 1, 4)"
DONE_YEAR_INDEX = f"""CREATE INDEX tasks_done_year ON tasks(place_id, party_id, {DONE_YEAR},
    {DONE_DAYS}, done_at, first_observed_at, created_at) WHERE done_at IS NOT NULL"""


def recount_first_observed(db: Database) -> int:
    """Set every task's first observed time from its links (in the caller's transaction);
    return how many tasks changed."""
    before = db.execute("SELECT total_changes()").fetchone()[0]
    db.execute(
        f"""UPDATE tasks SET first_observed_at = {_FIRST_OBSERVED.format(task="tasks.id")}
            WHERE first_observed_at IS NOT {_FIRST_OBSERVED.format(task="tasks.id")}"""  # noqa: S608
    )
    return db.execute("SELECT total_changes()").fetchone()[0] - before


def _median(db: Database, index: str, where: str, params: list, count: int) -> float:
    """The median days to done of the `count` tasks `where` selects, from the middle one or
    two of a walk of `index` in the order of the days."""
    middle = [
        row[0]
        for row in db.execute(
            f"""SELECT {DONE_DAYS} FROM tasks INDEXED BY {index} WHERE {where}
                ORDER BY {DONE_DAYS} LIMIT ? OFFSET ?""",  # noqa: S608 - constants
            [*params, 2 - count % 2, (count - 1) // 2],
        )
    ]
    return sum(middle) / len(middle)


def done_by_party(
    db: Database, place_ids: Sequence[int], period: Period
) -> dict[int, dict[int | None, dict]]:
    """Per place and party (None: no party), the tasks done in `period`: {place_id:
    {party_id: {"name", "done", "median_days"}}}. A task's days run from its first
    observation's `observed_at` to `done_at`; a task with no observation (a meeting's
    decision) counts from when it was opened.

    Each place and party with tasks (from the running totals of their states) is counted and
    its median walked in the index of its year (`tasks_done_year`): a year page's period lies
    in one Stockholm year, so the walk is in order; a period over several years is sorted."""
    if not place_ids:
        return {}
    first, last = (
        str(moment.astimezone(STOCKHOLM).year)
        for moment in (period.start, period.end - timedelta(microseconds=1))
    )
    key, years = ("= ?", [first]) if first == last else ("BETWEEN ? AND ?", [first, last])
    where = f"""place_id = ? AND party_id IS ? AND {DONE_YEAR} {key} AND done_at IS NOT NULL
        AND done_at >= ? AND done_at < ?"""
    pairs = db.execute(
        f"""SELECT DISTINCT place_id, party_id FROM task_state_totals
            WHERE place_id IN ({",".join("?" * len(place_ids))})""",  # noqa: S608 - placeholders
        list(place_ids),
    ).fetchall()
    done: dict[tuple[int, int | None], tuple[int, float]] = {}
    for place_id, party in pairs:
        params = [place_id, party or None, *years, period.start_utc, period.end_utc]
        count = db.execute(
            f"SELECT count(*) FROM tasks INDEXED BY tasks_done_year WHERE {where}",  # noqa: S608
            params,
        ).fetchone()[0]
        if count:
            done[place_id, party or None] = (
                count,
                _median(db, "tasks_done_year", where, params, count),
            )
    party_ids = sorted({party_id for _place, party_id in done if party_id is not None})
    names: dict[int | None, str | None] = {None: None}
    names.update(
        db.execute(
            f"SELECT id, name FROM parties WHERE id IN ({','.join('?' * len(party_ids))})",  # noqa: S608
            party_ids,
        ).fetchall()
    )
    found: dict[int, dict[int | None, dict]] = {}
    for (place_id, party_id), (count, median) in done.items():
        found.setdefault(place_id, {})[party_id] = {
            "name": names.get(party_id),
            "done": count,
            "median_days": median,
        }
    return found


def median_days_by_party(db: Database, place_id: int) -> dict[int | None, tuple[int, float]]:
    """Per party id (None: no party), the place's done tasks: how many, and the median of
    their days to done, walked from the index of the days (`tasks_done_days`)."""
    counts = db.execute(
        """SELECT party_id, count(*) FROM tasks INDEXED BY tasks_done_days
           WHERE place_id = ? AND done_at IS NOT NULL GROUP BY party_id""",
        [place_id],
    ).fetchall()
    where = "place_id = ? AND party_id IS ? AND done_at IS NOT NULL"
    return {
        party_id: (count, _median(db, "tasks_done_days", where, [place_id, party_id], count))
        for party_id, count in counts
    }


# The indexes m035 made: tasks by place and done time (with what the days to done need, so
# done_by_party reads a year's fixes from the index alone), and the tasks open now (which
# the open-at-month-end figures read until the running steps of m037 took their place).
OPEN_AT_INDEXES = (
    """CREATE INDEX tasks_place_done
        ON tasks(place_id, done_at, created_at, party_id, first_observed_at)""",
    f"""CREATE INDEX tasks_place_open ON tasks(place_id, created_at)
        WHERE done_at IS NULL AND state IN ({OPEN_STATES_SQL})""",
)
