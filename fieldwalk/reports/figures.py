"""The figures of the weekly lägesbild and the annual follow-up, per place and period."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from fieldwalk.reports.periods import (
    STOCKHOLM,
    Period,
    month_periods,
    same_week_last_year,
    shift_week,
    week_period,
    year_periods,
)
from fieldwalk.tasks.states import OPEN_STATES

FIGURES = (
    "observations",
    "works_well",
    "urgent_observations",
    "tasks_opened",
    "urgent_tasks",
    "tasks_done",
    "overdue",
)


DISTRICT = "district"  # the row that sums every place


def empty_figures() -> dict:
    """Every figure at zero."""
    return {**dict.fromkeys(FIGURES, 0), "categories": {}}


def period_figures(db: Database, period: Period) -> dict[int | None, dict]:
    """Per place id (None: outside every place): observations by category, tasks opened,
    done and overdue, urgent observations and urgent tasks, within the period.

    Overdue counts the tasks still open at the period's end whose due date had passed: created
    before the end, due before its last day ended, and open now or done only after the end.
    Tasks closed without a date (will not fix, duplicate) are left out, as are tasks answered
    "not ours" (they wait in triage).
    """
    figures: dict[int | None, dict] = {}
    span = [period.start_utc, period.end_utc]
    rows = db.execute(
        """SELECT place_id, category, count(*) AS n, sum(works_well) AS good,
                  sum(urgent) AS urgent
           FROM observations WHERE observed_at >= ? AND observed_at < ?
           GROUP BY place_id, category""",
        span,
    )
    for row in rows:
        entry = figures.setdefault(row["place_id"], empty_figures())
        entry["categories"][row["category"]] = row["n"]
        entry["observations"] += row["n"]
        entry["works_well"] += row["good"]
        entry["urgent_observations"] += row["urgent"]
    open_states = ",".join(f"'{state}'" for state in OPEN_STATES)
    # Only the tasks that can count are aggregated: a third of the time on a big database.
    rows = db.execute(
        f"""SELECT place_id,
                  coalesce(sum(created_at >= :s), 0) AS tasks_opened,
                  coalesce(sum(created_at >= :s AND priority = 'urgent'), 0) AS urgent_tasks,
                  coalesce(sum(done_at >= :s AND done_at < :e), 0) AS tasks_done,
                  coalesce(sum(due_date < :due
                               AND (state IN ({open_states}) OR done_at >= :e)), 0) AS overdue
           FROM tasks WHERE created_at < :e
             AND (created_at >= :s OR done_at >= :s
                  OR (due_date < :due AND (state IN ({open_states}) OR done_at >= :e)))
           GROUP BY place_id""",  # noqa: S608 - constants
        {"s": period.start_utc, "e": period.end_utc, "due": period.end_date},
    )
    for row in rows:
        entry = figures.setdefault(row["place_id"], empty_figures())
        for key in ("tasks_opened", "urgent_tasks", "tasks_done", "overdue"):
            entry[key] = row[key]
    return figures


def urgent_items(db: Database, period: Period) -> dict[int | None, dict]:
    """Per place id: the urgent observations and the urgent tasks that came in during the
    period, oldest first."""
    items: dict[int | None, dict] = {}
    span = [period.start_utc, period.end_utc]
    for row in db.execute(
        """SELECT o.id, o.place_id, o.category, o.description, o.observed_at, o.walk_id,
                  walks.title AS walk_title
           FROM observations o LEFT JOIN walks ON walks.id = o.walk_id
           WHERE o.urgent = 1 AND o.observed_at >= ? AND o.observed_at < ?
           ORDER BY o.observed_at, o.id""",
        span,
    ):
        items.setdefault(row["place_id"], {"observations": [], "tasks": []})
        items[row["place_id"]]["observations"].append(dict(row))
    for row in db.execute(
        """SELECT tasks.id, tasks.place_id, tasks.measure, tasks.state, tasks.due_date,
                  tasks.created_at, parties.name AS party_name
           FROM tasks LEFT JOIN parties ON parties.id = tasks.party_id
           WHERE tasks.priority = 'urgent' AND tasks.created_at >= ? AND tasks.created_at < ?
           ORDER BY tasks.created_at, tasks.id""",
        span,
    ):
        items.setdefault(row["place_id"], {"observations": [], "tasks": []})
        items[row["place_id"]]["tasks"].append(dict(row))
    return items


# Observations count when they were observed; tasks when they were opened or done.
COUNTED = {("observations", "observed_at"), ("tasks", "created_at"), ("tasks", "done_at")}


def count_by_period(
    db: Database, table: str, column: str, periods: list[Period], place_id: int | None = None
) -> dict[int | None, list[int]]:
    """How many rows of `table` have `column` in each period, per place id (one place only
    when `place_id` is given)."""
    if (table, column) not in COUNTED or not periods:
        raise ValueError(f"cannot count {table}.{column}")
    values = ",".join("(?, ?, ?)" for _p in periods)
    params: list = [v for i, p in enumerate(periods) for v in (i, p.start_utc, p.end_utc)]
    params += [min(p.start_utc for p in periods), max(p.end_utc for p in periods)]
    where = ""
    if place_id is not None:
        where, params = " AND t.place_id = ?", [*params, place_id]
    rows = db.execute(
        f"""WITH spans(i, s, e) AS (VALUES {values})
            SELECT t.place_id, spans.i, count(*) AS n FROM {table} t
            JOIN spans ON t.{column} >= spans.s AND t.{column} < spans.e
            WHERE t.{column} >= ? AND t.{column} < ?{where}
            GROUP BY t.place_id, spans.i""",  # noqa: S608 - table and column from COUNTED
        params,
    )
    counts: dict[int | None, list[int]] = {}
    for row in rows:
        counts.setdefault(row["place_id"], [0] * len(periods))[row["i"]] = row["n"]
    return counts


def compare_places(db: Database, periods: list[Period]) -> tuple[list[dict], list[str]]:
    """One row per place with activity, the whole district first: `figures` for each period.

    Observations outside every place form a row of their own (`place_id` None); places with
    nothing in any period are left out (their names are in `quiet`).
    """
    per_period = [period_figures(db, period) for period in periods]
    names = {r["id"]: r["name"] for r in db.execute("SELECT id, name FROM places")}
    ids = set().union(*per_period)
    district = [empty_figures() for _p in periods]
    rows = []
    for place_id in sorted(ids, key=lambda i: (i is None, names.get(i, "").lower(), i or 0)):
        figures = [found.get(place_id) or empty_figures() for found in per_period]
        for total, part in zip(district, figures, strict=True):
            for key in FIGURES:
                total[key] += part[key]
            for code, n in part["categories"].items():
                total["categories"][code] = total["categories"].get(code, 0) + n
        rows.append({"place_id": place_id, "name": names.get(place_id), "figures": figures})
    quiet = sorted((n for i, n in names.items() if i not in ids), key=str.lower)
    return [{"place_id": DISTRICT, "name": None, "figures": district}, *rows], quiet


def week_report(db: Database, year: int, week: int, tz: ZoneInfo = STOCKHOLM) -> dict:
    """Everything the lägesbild shows for one week, against the week before and last year."""
    weeks = [(year, week), shift_week(year, week, -1), same_week_last_year(year, week)]
    periods = [week_period(y, w, tz) for y, w in weeks]
    rows, quiet = compare_places(db, periods)
    return {
        "year": year,
        "week": week,
        "weeks": weeks,
        "periods": periods,
        "rows": rows,
        "quiet": quiet,
        "urgent": urgent_items(db, periods[0]),
    }


def year_report(db: Database, year: int, moment: datetime, tz: ZoneInfo = STOCKHOLM) -> dict:
    """Everything the annual follow-up shows for one year against the year before."""
    periods = list(year_periods(year, moment, tz))
    rows, quiet = compare_places(db, periods)
    months = [month_periods(date(y, 1, 1), 12, tz) for y in (year, year - 1)]
    monthly = count_by_period(db, "observations", "observed_at", months[0] + months[1])
    return {"year": year, "periods": periods, "rows": rows, "quiet": quiet, "monthly": monthly}
