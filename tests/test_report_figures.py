"""The report figures read from running totals, kept columns and their indexes say what a
count of the raw rows says, after a random history of writes, edits, links and deletes.

Each figure is recomputed here in Python from the rows (the definitions the reports had
before they read totals): overdue at a week's end, tasks open at month ends, counts over
periods that are not whole months (a year still running), the monthly feeling mean, the
days from a task's first observation to done and their median per party, and the
dashboard's unfiltered counts."""

import random
import statistics
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import make_event, make_place, some_row, sqlite_steps

from fieldwalk.events.model import count_events_by_period
from fieldwalk.parties.model import insert_party, list_parties
from fieldwalk.reports.figures import (
    count_by_period,
    events_by_type,
    open_tasks_at,
    period_figures,
)
from fieldwalk.reports.periods import (
    STOCKHOLM,
    Period,
    local_midnight,
    month_periods,
    week_period,
    year_periods,
)
from fieldwalk.reports.safety_index import monthly_index
from fieldwalk.reports.totals import counted_rows
from fieldwalk.tasks.durations import done_by_party, median_days_by_party
from fieldwalk.tasks.states import OPEN_STATES

START = datetime(2025, 1, 1, tzinfo=UTC)
STATES = ["proposed", "sent", "accepted", "in_progress", "done", "verified", "wont_fix"]


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def history(db):
    """Two places and 'outside', 300 observations, 200 tasks with links, due dates, states
    and done times; then a round of edits, relinks and deletes."""
    rng = random.Random(2026)
    places = [make_place(db), make_place(db, "vallingby", "Vällingby"), None]
    parties = [None, insert_party(db, "Parkförvaltningen"), insert_party(db, "Trafikkontoret")]

    def moment():
        return _at(START + timedelta(minutes=rng.randrange(0, 700 * 24 * 60)))

    db.execute("BEGIN")
    observations = []
    for _ in range(300):
        observation_id, at = str(uuid.uuid4()), moment()
        db.execute(
            """INSERT INTO observations (id, place_id, category, feeling, body_hash,
                   created_at, updated_at, observed_at) VALUES (?, ?, 'lighting', ?, 'x', ?, ?, ?)""",
            [observation_id, rng.choice(places), rng.choice([None, 1, 2, 3, 4, 5]), at, at,
             rng.choice([moment(), at, None])],
        )  # fmt: skip
        observations.append(observation_id)
    tasks = []
    for _ in range(200):
        created, state = moment(), rng.choice(STATES)
        done = moment() if state in ("done", "verified") or rng.random() < 0.1 else None
        cursor = db.execute(
            """INSERT INTO tasks (place_id, measure, state, priority, created_at, updated_at,
                   done_at, due_date, party_id) VALUES (?, 'Åtgärd', ?, 'normal', ?, ?, ?, ?, ?)""",
            [rng.choice(places), state, created, created, done,
             rng.choice([None, moment()[:10]]), rng.choice(parties)],
        )  # fmt: skip
        tasks.append(cursor.lastrowid)
        for observation_id in rng.sample(observations, rng.choice([0, 1, 1, 2, 3])):
            db.execute(
                "INSERT INTO task_observations (task_id, observation_id) VALUES (?, ?)",
                [cursor.lastrowid, observation_id],
            )
    for _ in range(60):  # edits, relinks and deletes after the fact
        kind = rng.choice(["observed", "unlink", "relink", "delete-obs", "delete-task", "state"])
        if kind == "observed":
            db.execute(
                "UPDATE observations SET observed_at = ? WHERE id = ?",
                [rng.choice([moment(), None]), rng.choice(observations)],
            )
        elif kind == "unlink":
            db.execute(
                "DELETE FROM task_observations WHERE rowid = ?",
                [some_row(db, rng, "task_observations")],
            )
        elif kind == "relink":
            db.execute(
                "UPDATE OR IGNORE task_observations SET task_id = ? WHERE rowid = ?",
                [rng.choice(tasks), some_row(db, rng, "task_observations")],
            )
        elif kind == "delete-obs":
            db.execute("DELETE FROM observations WHERE id = ?", [rng.choice(observations)])
        elif kind == "delete-task":
            db.execute("DELETE FROM tasks WHERE id = ?", [rng.choice(tasks)])
        else:
            db.execute(
                "UPDATE tasks SET state = ?, due_date = ? WHERE id = ?",
                [rng.choice(STATES), rng.choice([None, moment()[:10]]), rng.choice(tasks)],
            )
    db.execute("COMMIT")
    return [p for p in places if p is not None]


def _first_observed(db) -> dict[int, str | None]:
    firsts = {row["id"]: None for row in db.execute("SELECT id FROM tasks")}
    for row in db.execute(
        """SELECT l.task_id, o.observed_at FROM task_observations l
           JOIN observations o ON o.id = l.observation_id WHERE o.observed_at IS NOT NULL"""
    ):
        if firsts[row["task_id"]] is None or row["observed_at"] < firsts[row["task_id"]]:
            firsts[row["task_id"]] = row["observed_at"]
    return firsts


def _days(db, task) -> float:
    began = _first_observed(db)[task["id"]] or task["created_at"]
    return max((_instant(task["done_at"]) - _instant(began)).total_seconds(), 0) / 86400


def test_a_tasks_first_observed_time_follows_its_links_and_their_observed_times(db, history):
    kept = {row["id"]: row["first_observed_at"] for row in db.execute("SELECT * FROM tasks")}
    assert kept == _first_observed(db)
    assert sum(v is not None for v in kept.values()) > 50  # the history did link


def _weeks_and_running_years() -> list[Period]:
    periods = []
    day = date(2025, 1, 6)
    while day < date(2027, 1, 4):
        periods.append(week_period(*day.isocalendar()[:2]))
        day += timedelta(weeks=5)
    for moment in (datetime(2026, 3, 4, 10, 17, tzinfo=UTC), datetime(2025, 11, 30, 23, 5)):
        periods += year_periods(moment.year, moment.replace(tzinfo=UTC))
    return periods


def test_overdue_at_a_periods_end_equals_a_count_of_the_rows(db, history):
    tasks = [dict(r) for r in db.execute("SELECT * FROM tasks")]
    checked = 0
    for period in _weeks_and_running_years():
        expected: dict = {}
        for t in tasks:
            due_before = t["due_date"] is not None and t["due_date"] < period.end_date
            open_then = t["state"] in OPEN_STATES or (
                t["done_at"] is not None and t["done_at"] >= period.end_utc
            )
            if due_before and t["created_at"] < period.end_utc and open_then:
                expected[t["place_id"]] = expected.get(t["place_id"], 0) + 1
        figures = period_figures(db, period)
        kept = {p: f["overdue"] for p, f in figures.items() if f["overdue"]}
        assert kept == expected, period
        checked += sum(expected.values())
    assert checked > 100


def test_tasks_open_at_month_ends_equal_a_count_of_the_rows(db, history):
    tasks = [dict(r) for r in db.execute("SELECT * FROM tasks")]
    months = month_periods(date(2025, 1, 1), 24)
    # Month ends, and moments during a day (a month still running to now) a minute after a
    # task was opened or done, so the part of the day since midnight counts.
    ends = [m.end for m in months]
    during = [
        datetime.fromisoformat(at.replace("Z", "+00:00")) + timedelta(minutes=1)
        for t in tasks[::7]
        for at in (t["created_at"], t["done_at"])
        if at
    ]
    moments = [_at(m.astimezone(UTC)) for m in [*ends, *during]]
    found = open_tasks_at(db, history, [*ends, *during])
    for place_id in history:
        expected = [
            sum(
                1
                for t in tasks
                if t["place_id"] == place_id
                and t["created_at"] < at
                and (
                    (t["done_at"] is not None and t["done_at"] >= at)
                    or (t["done_at"] is None and t["state"] in OPEN_STATES)
                )
            )
            for at in moments
        ]
        assert found[place_id] == expected
    assert sum(found[history[0]]) > 50


@pytest.mark.parametrize("table,column", [("observations", "observed_at"), ("tasks", "done_at")])
def test_counts_over_periods_that_are_not_whole_months_equal_a_count_of_the_rows(
    db, history, table, column
):
    moment = datetime(2026, 9, 17, 13, 45, tzinfo=UTC)
    periods = [
        *year_periods(2026, moment),
        Period(local_midnight(date(2025, 3, 14)), local_midnight(date(2025, 7, 2))),
        Period(datetime(2025, 2, 3, 9, 0, tzinfo=STOCKHOLM), local_midnight(date(2025, 2, 20))),
    ]
    rows = [dict(r) for r in db.execute(f"SELECT place_id, {column} AS at FROM {table}")]  # noqa: S608
    for place_id in (None, history[0]):
        counts = count_by_period(db, table, column, periods, place_id)
        for key in {r["place_id"] for r in rows}:
            if place_id is not None and key != place_id:
                continue
            expected = [
                sum(
                    1
                    for r in rows
                    if r["place_id"] == key and r["at"] and p.start_utc <= r["at"] < p.end_utc
                )
                for p in periods
            ]
            assert counts.get(key, [0] * len(periods)) == expected, (key, column)


def test_the_monthly_feeling_mean_equals_the_rows_mean(db, history):
    months = month_periods(date(2025, 1, 1), 24)
    index = monthly_index(db, history, months)
    rows = [dict(r) for r in db.execute("SELECT place_id, feeling, observed_at FROM observations")]
    for place_id in history:
        for month, entry in zip(months, index[place_id], strict=True):
            scores = [
                r["feeling"]
                for r in rows
                if r["place_id"] == place_id
                and r["feeling"] is not None
                and r["observed_at"]
                and month.start_utc <= r["observed_at"] < month.end_utc
            ]
            assert entry["feelings"] == len(scores)
            expected = None if not scores else round(statistics.mean(scores), 2)
            assert entry["feeling_mean"] == expected


def test_days_to_done_and_their_median_per_party_equal_the_rows(db, history):
    tasks = [dict(r) for r in db.execute("SELECT * FROM tasks WHERE done_at IS NOT NULL")]
    for place_id in history:
        mine = [t for t in tasks if t["place_id"] == place_id]
        medians = median_days_by_party(db, place_id)
        for party_id in {t["party_id"] for t in mine}:
            days = [_days(db, t) for t in mine if t["party_id"] == party_id]
            count, median = medians[party_id]
            assert count == len(days)
            assert median == pytest.approx(statistics.median(days), abs=1e-6)
        # A Stockholm year and its first months (one year's walk), a UTC year (two years',
        # sorted), and half a year from the summer of one to that of the next.
        for period in (
            *year_periods(2025, datetime(2025, 9, 30, 12, tzinfo=UTC)),
            Period(datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
            Period(local_midnight(date(2025, 7, 1)), local_midnight(date(2026, 7, 1))),
        ):
            start, end = period.start_utc, period.end_utc
            done = done_by_party(db, [place_id], period).get(place_id, {})
            assert set(done) == {t["party_id"] for t in mine if start <= t["done_at"] < end}
            for party_id, entry in done.items():
                days = [
                    _days(db, t)
                    for t in mine
                    if t["party_id"] == party_id and start <= t["done_at"] < end
                ]
                assert entry["done"] == len(days)
                assert entry["median_days"] == pytest.approx(statistics.median(days), abs=1e-6)


def test_the_medians_walk_the_index_of_the_days(db, history):
    plan = " ".join(
        row[3]
        for row in db.execute(
            """EXPLAIN QUERY PLAN SELECT max(0, julianday(done_at)
                   - julianday(coalesce(first_observed_at, created_at))) AS days
               FROM tasks WHERE place_id = ? AND party_id IS ? AND done_at IS NOT NULL
               ORDER BY max(0, julianday(done_at)
                   - julianday(coalesce(first_observed_at, created_at))) LIMIT 2 OFFSET 3""",
            [history[0], None],
        )
    )
    assert "tasks_done_days" in plan and "TEMP B-TREE" not in plan


def test_a_years_medians_walk_that_year_whatever_history_the_place_has(db):
    """The year page's fixes per party cost the year's fixes: four more years of them at the
    same place and party leave the SQLite steps of the year's figures as they were."""
    place_id, party_id = make_place(db), insert_party(db, "Parkförvaltningen")
    rng = random.Random(4)

    def add_fixes(year: int, n: int) -> None:
        for _ in range(n):
            created = datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=rng.uniform(0, 300))
            done = created + timedelta(days=rng.uniform(0, 60))
            db.execute(
                """INSERT INTO tasks (place_id, party_id, measure, state, priority, created_at,
                       updated_at, done_at) VALUES (?, ?, 'Åtgärd', 'done', 'normal', ?, ?, ?)""",
                [place_id, party_id, _at(created), _at(created), _at(done)],
            )

    add_fixes(2026, 400)
    period = year_periods(2026, datetime(2026, 12, 4, tzinfo=UTC))[0]
    figures = done_by_party(db, [place_id], period)
    before = sqlite_steps(db, lambda: done_by_party(db, [place_id], period))
    for year in (2021, 2022, 2023, 2024):
        add_fixes(year, 2000)
    assert done_by_party(db, [place_id], period) == figures
    assert sqlite_steps(db, lambda: done_by_party(db, [place_id], period)) <= before * 1.1 + 1


def test_the_dashboards_unfiltered_counts_equal_the_rows(db, history):
    assert counted_rows(db) == {
        "observations": db.execute("SELECT count(*) FROM observations").fetchone()[0],
        "tasks": db.execute("SELECT count(*) FROM tasks").fetchone()[0],
    }


def test_events_by_type_per_month_from_the_totals_equal_a_count_of_the_rows(db, history):
    rng = random.Random(5)
    for _ in range(150):
        make_event(
            db,
            rng.choice(history),
            occurred_at=_at(START + timedelta(minutes=rng.randrange(0, 700 * 24 * 60))),
            type=rng.choice(["violence", "vandalism", "drug_dealing"]),
            source=rng.choice(["police", "staff"]),
        )
    months = month_periods(date(2025, 1, 1), 24)
    for place_id in history:
        raw = count_events_by_period(
            db, [(m.start, m.end) for m in months], by=("type",), place_id=place_id
        )
        assert events_by_type(db, place_id, months) == {k: v for (k,), v in raw.items()}
        assert sum(map(sum, raw.values())) > 10


def test_each_partys_open_tasks_from_the_totals_equal_a_count_of_the_rows(db, history):
    expected = dict(
        db.execute(
            """SELECT party_id, count(*) FROM tasks WHERE party_id IS NOT NULL
               AND state IN ('sent', 'accepted', 'in_progress') GROUP BY party_id"""
        ).fetchall()
    )
    parties = list_parties(db)
    assert {p["id"]: p["open_tasks"] for p in parties if p["open_tasks"]} == expected
    assert sum(expected.values()) > 20
