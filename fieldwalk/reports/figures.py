"""The figures of the weekly lägesbild and the annual follow-up, per place and period."""

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from fieldwalk.events.model import count_events_by_period
from fieldwalk.observations.figures import feeling_by_period
from fieldwalk.reports.assessments import assessments_for_weeks
from fieldwalk.reports.decisions import decisions_for_weeks
from fieldwalk.reports.periods import (
    STOCKHOLM,
    Period,
    local_midnight,
    month_periods,
    next_month,
    same_week_last_year,
    shift_week,
    utc_text,
    week_period,
    week_text,
    year_periods,
)
from fieldwalk.reports.totals import (
    MONTH,
    counts_per_bucket,
    event_counts,
    event_type_counts,
    feeling_counts,
    observation_counts,
    open_at,
    overdue_at,
    spans_of,
    task_counts,
)
from fieldwalk.tasks.states import OPEN_STATES_SQL

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

    Whole weeks and months are read from the running totals (fieldwalk/reports/totals.py);
    other periods (a year still running) count the rows.

    Overdue counts the tasks still open at the period's end whose due date had passed: created
    before the end, due before its last day ended, and open now or done only after the end.
    Tasks closed without a date (will not fix, duplicate) are left out, as are tasks answered
    "not ours" (they wait in triage).
    """
    buckets = spans_of(period)
    figures = _totalled_figures(db, *buckets) if buckets else _counted_figures(db, period)
    for place_id, count in _overdue(db, period).items():
        if count:
            figures.setdefault(place_id, empty_figures())["overdue"] = count
    return figures


def open_tasks_at(
    db: Database, place_ids: Sequence[int], moments: Sequence[datetime]
) -> dict[int, list[int]]:
    """Per place, how many of its tasks were open at each moment (aware datetimes): opened
    before it, and done then or later or never done and open now (will not fix, duplicate
    and "not ours" tasks without a done time never count). From the running steps per day
    (totals.open_at); a moment during a day (a month still running to now) also counts the
    tasks opened or done since that day began."""
    found = {place_id: [0] * len(moments) for place_id in place_ids}
    if not place_ids:
        return found
    marks = ",".join(f":p{n}" for n in range(len(place_ids)))
    for i, moment in enumerate(moments):
        day = moment.astimezone(STOCKHOLM).date()
        for place_id, count in open_at(db, place_ids, day.isoformat()).items():
            found[place_id][i] = count
        midnight = local_midnight(day)
        if moment == midnight:
            continue
        rows = db.execute(
            f"""SELECT place_id, sum(change) FROM (
                  SELECT place_id, 1 AS change FROM tasks INDEXED BY tasks_created
                  WHERE created_at >= :m AND created_at < :e AND place_id IN ({marks})
                    AND (done_at >= :e OR (done_at IS NULL AND state IN ({OPEN_STATES_SQL})))
                  UNION ALL
                  SELECT place_id, -1 FROM tasks INDEXED BY tasks_done_at
                  WHERE done_at >= :m AND done_at < :e AND created_at < :m
                    AND place_id IN ({marks}))
               GROUP BY place_id""",  # noqa: S608 - placeholders and constants
            {"m": utc_text(midnight), "e": utc_text(moment)}
            | {f"p{n}": place_id for n, place_id in enumerate(place_ids)},
        )
        for place_id, change in rows:
            found[place_id][i] += change
    return found


def _overdue(db: Database, period: Period) -> dict[int | None, int]:
    """Per place id, the tasks overdue at the period's end, from the running deltas per day
    (totals.overdue_at); a period that ends during a day (a year still running to now) also
    counts the tasks opened or done since that day began."""
    end_day = period.end.date()
    overdue = overdue_at(db, end_day.isoformat())
    midnight = local_midnight(end_day, period.end.tzinfo)
    if period.end == midnight:
        return overdue
    rows = db.execute(
        f"""SELECT place_id, sum(change) FROM (
              SELECT place_id, 1 AS change FROM tasks INDEXED BY tasks_created
              WHERE created_at >= :m AND created_at < :e AND due_date < :day
                AND (state IN ({OPEN_STATES_SQL}) OR done_at >= :e)
              UNION ALL
              SELECT place_id, -1 FROM tasks INDEXED BY tasks_done_at
              WHERE done_at >= :m AND done_at < :e AND created_at < :m AND due_date < :day
                AND state NOT IN ({OPEN_STATES_SQL}))
           GROUP BY place_id""",  # noqa: S608 - constants
        {"m": utc_text(midnight), "e": period.end_utc, "day": end_day.isoformat()},
    )
    for place_id, change in rows:
        overdue[place_id] = overdue.get(place_id, 0) + change
    return overdue


def _totalled_figures(db: Database, span: str, starts: list[str]) -> dict[int | None, dict]:
    figures: dict[int | None, dict] = {}
    for place_id, categories in observation_counts(db, span, starts).items():
        entry = figures.setdefault(place_id, empty_figures())
        for category, counts in categories.items():
            if counts["observations"]:
                entry["categories"][category] = counts["observations"]
            entry["observations"] += counts["observations"]
            entry["works_well"] += counts["works_well"]
            entry["urgent_observations"] += counts["urgent"]
    for place_id, counts in task_counts(db, span, starts).items():
        entry = figures.setdefault(place_id, empty_figures())
        entry["tasks_opened"] = counts["opened"]
        entry["urgent_tasks"] = counts["urgent"]
        entry["tasks_done"] = counts["done"]
    return figures


def _counted_figures(db: Database, period: Period) -> dict[int | None, dict]:
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
    rows = db.execute(
        """SELECT place_id, sum(opened) AS tasks_opened, sum(urgent) AS urgent_tasks,
                  sum(done) AS tasks_done FROM (
              SELECT place_id, 1 AS opened, priority = 'urgent' AS urgent, 0 AS done
              FROM tasks WHERE created_at >= :s AND created_at < :e
              UNION ALL
              SELECT place_id, 0, 0, 1 FROM tasks
              WHERE done_at >= :s AND done_at < :e AND created_at < :e)
           GROUP BY place_id""",
        {"s": period.start_utc, "e": period.end_utc},
    )
    for row in rows:
        entry = figures.setdefault(row["place_id"], empty_figures())
        for key in ("tasks_opened", "urgent_tasks", "tasks_done"):
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
# What the running totals call each: totals.counts_per_bucket's `what`.
MEASURES = {"observed_at": "observations", "created_at": "opened", "done_at": "done"}


def count_by_period(
    db: Database, table: str, column: str, periods: list[Period], place_id: int | None = None
) -> dict[int | None, list[int]]:
    """How many rows of `table` have `column` in each period, per place id (one place only
    when `place_id` is given)."""
    if (table, column) not in COUNTED or not periods:
        raise ValueError(f"cannot count {table}.{column}")
    buckets = _same_span(periods)
    if buckets is not None:
        return counts_per_bucket(db, MEASURES[column], *buckets, place_id=place_id)
    # Otherwise (a year still running, a span of days): the whole local months inside each
    # period from the totals, the days before and after them counted from the rows.
    split = [_whole_months(p) for p in periods]
    counts: dict[int | None, list[int]] = {}
    starts = sorted({m for months, _parts in split for m in months})
    if starts:
        monthly = counts_per_bucket(db, MEASURES[column], MONTH, starts, place_id=place_id)
        index = {start: i for i, start in enumerate(starts)}
        for key, values in monthly.items():
            entry = counts.setdefault(key, [0] * len(periods))
            for i, (months, _parts) in enumerate(split):
                entry[i] += sum(values[index[m]] for m in months)
    parts = [(i, s, e) for i, (_months, spans) in enumerate(split) for s, e in spans]
    if parts:
        for key, values in _count_spans(db, table, column, parts, len(periods), place_id).items():
            entry = counts.setdefault(key, [0] * len(periods))
            for i, n in enumerate(values):
                entry[i] += n
    return counts


def _whole_months(period: Period) -> tuple[list[str], list[tuple[str, str]]]:
    """The whole local months inside `period` (their first days) and the UTC spans of what
    is left before and after them."""
    tz = period.start.tzinfo
    day = period.start.date().replace(day=1)
    if local_midnight(day, tz) < period.start:
        day = next_month(day)
    months = []
    while local_midnight(next_month(day), tz) <= period.end:
        months.append(day.isoformat())
        day = next_month(day)
    if not months:
        return [], [(period.start_utc, period.end_utc)]
    first = local_midnight(date.fromisoformat(months[0]), tz)
    after = local_midnight(next_month(date.fromisoformat(months[-1])), tz)
    spans = []
    if period.start < first:
        spans.append((period.start_utc, utc_text(first)))
    if after < period.end:
        spans.append((utc_text(after), period.end_utc))
    return months, spans


def _count_spans(
    db: Database,
    table: str,
    column: str,
    spans: list[tuple[int, str, str]],
    size: int,
    place_id: int | None,
) -> dict[int | None, list[int]]:
    """Per place id, `size` counts: the rows of `table` with `column` in each (i, start,
    end) UTC span, added to count i; each span read from its own index range."""
    where = " AND t.place_id = ?" if place_id is not None else ""
    counts: dict[int | None, list[int]] = {}
    for i, start, end in spans:
        rows = db.execute(
            f"""SELECT t.place_id, count(*) FROM {table} t
                WHERE t.{column} >= ? AND t.{column} < ?{where} GROUP BY t.place_id""",  # noqa: S608 - table and column from COUNTED
            [start, end, *([place_id] if place_id is not None else [])],
        )
        for key, n in rows:
            counts.setdefault(key, [0] * size)[i] += n
    return counts


def events_by_type(db: Database, place_id: int, periods: list[Period]) -> dict[str, list[int]]:
    """Per event type, a place's events in each period: from the running totals when every
    period is one whole week, or every one a whole month; else counted from the rows."""
    buckets = _same_span(periods)
    if buckets is not None:
        return event_type_counts(db, *buckets, place_id=place_id)
    spans = [(p.start, p.end) for p in periods]
    counts = count_events_by_period(db, spans, by=("type",), place_id=place_id)
    return {kind: values for (kind,), values in counts.items()}


def feeling_means(
    db: Database, place_ids: Sequence[int], periods: list[Period]
) -> dict[int, list[tuple[int, float | None]]]:
    """Per place, for each period, the feeling scores given and their mean (None when none
    did): from the running totals when every period is one whole week, or every one a whole
    month (the annual follow-up's months are); else counted from the rows."""
    buckets = _same_span(periods)
    if buckets is not None:
        sums = feeling_counts(db, *buckets, place_ids)
        return {
            place_id: [(n, total / n if n else None) for n, total in values]
            for place_id, values in sums.items()
        }
    return feeling_by_period(db, place_ids, [(p.start_utc, p.end_utc) for p in periods])


def _same_span(periods: list[Period]) -> tuple[str, list[str]] | None:
    """(span, first days) when every period is one whole week, or every one a whole month:
    what the running totals can answer; None otherwise."""
    found = [spans_of(p) for p in periods]
    if any(f is None or len(f[1]) != 1 for f in found) or len({f[0] for f in found}) != 1:
        return None
    return found[0][0], [f[1][0] for f in found]


def compare_places(
    db: Database, periods: list[Period], also: set = frozenset()
) -> tuple[list[dict], list[str]]:
    """One row per place with activity, the whole district first: `figures` for each period.

    Observations outside every place form a row of their own (`place_id` None); places with
    nothing in any period are left out (their names are in `quiet`), unless their ids are in
    `also` (places with events, an assessment or a decision).
    """
    per_period = [period_figures(db, period) for period in periods]
    names = {r["id"]: r["name"] for r in db.execute("SELECT id, name FROM places")}
    ids = set().union(*per_period, also)
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


def empty_events() -> dict:
    """No events: the total, by type and by source."""
    return {"total": 0, "types": {}, "sources": {}}


def event_figures(db: Database, periods: list[Period]) -> dict[int | None, list[dict]]:
    """Per place id (None: events with a point outside every place), the events in each
    period: the total, by type and by source. One query for every place and period."""
    buckets = _same_span(periods)
    if buckets is None:
        counts = count_events_by_period(
            db, [(p.start, p.end) for p in periods], by=("place_id", "type", "source")
        )
    else:
        counts = {}
        for i, start in enumerate(buckets[1]):
            for key, n in event_counts(db, buckets[0], [start]).items():
                counts.setdefault(key, [0] * len(periods))[i] = n
    figures: dict[int | None, list[dict]] = {}
    for (place_id, kind, source), values in counts.items():
        entry = figures.setdefault(place_id, [empty_events() for _p in periods])
        for part, n in zip(entry, values, strict=True):
            if n:
                part["total"] += n
                part["types"][kind] = part["types"].get(kind, 0) + n
                part["sources"][source] = part["sources"].get(source, 0) + n
    return figures


def week_report(db: Database, year: int, week: int, tz: ZoneInfo = STOCKHOLM) -> dict:
    """Everything the lägesbild shows for one week, against the week before and last year:
    per place the figures and the events of the three weeks, and the meeting's assessments
    and decisions of this week and the week before (`assessments`, `decisions`: per place id,
    `this` and `before`)."""
    weeks = [(year, week), shift_week(year, week, -1), same_week_last_year(year, week)]
    periods = [week_period(y, w, tz) for y, w in weeks]
    events = event_figures(db, periods)
    this, before = week_text(*weeks[0]), week_text(*weeks[1])
    assessed = assessments_for_weeks(db, [this, before])
    decided = decisions_for_weeks(db, [this, before])
    also = set(events) | {place_id for place_id, _w in (*assessed, *decided)}
    rows, quiet = compare_places(db, periods, also)
    district = [empty_events() for _p in periods]
    for row in rows[1:]:
        row["events"] = events.get(row["place_id"]) or [empty_events() for _p in periods]
        for total, part in zip(district, row["events"], strict=True):
            total["total"] += part["total"]
            for key in ("types", "sources"):
                for code, n in part[key].items():
                    total[key][code] = total[key].get(code, 0) + n
    rows[0]["events"] = district
    return {
        "year": year,
        "week": week,
        "weeks": weeks,
        "week_texts": [week_text(y, w) for y, w in weeks],
        "periods": periods,
        "rows": rows,
        "quiet": quiet,
        "urgent": urgent_items(db, periods[0]),
        "assessments": {
            place_id: {
                "this": assessed.get((place_id, this), []),
                "before": assessed.get((place_id, before), []),
            }
            for place_id in {place_id for place_id, _w in assessed}
        },
        "decisions": {
            place_id: {
                "this": decided.get((place_id, this), []),
                "before": decided.get((place_id, before), []),
            }
            for place_id in {place_id for place_id, _w in decided}
        },
    }


def year_report(db: Database, year: int, moment: datetime, tz: ZoneInfo = STOCKHOLM) -> dict:
    """Everything the annual follow-up shows for one year against the year before."""
    periods = list(year_periods(year, moment, tz))
    rows, quiet = compare_places(db, periods)
    months = [month_periods(date(y, 1, 1), 12, tz) for y in (year, year - 1)]
    monthly = count_by_period(db, "observations", "observed_at", months[0] + months[1])
    return {"year": year, "periods": periods, "rows": rows, "quiet": quiet, "monthly": monthly}
