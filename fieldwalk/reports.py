"""The lägesbild (weekly situation picture) and the annual follow-up: figures per place.

Weeks and years are local (Europe/Stockholm) periods. Each is turned into UTC bounds once, so
the queries compare the stored UTC `*_at` strings directly: a Sunday 23:30 in Stockholm is
Sunday 22:30Z and belongs to that week, Monday 00:10 is Sunday 23:10Z and belongs to the next.
"""

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, current_app, redirect, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from sqlite_utils import Database

from fieldwalk.categories import CATEGORIES, category_label
from fieldwalk.charts import Series, bar_chart, line_chart
from fieldwalk.db import get_db
from fieldwalk.render import fail, render
from fieldwalk.security import MANAGER_ROLES, role_required
from fieldwalk.tasks import OPEN_STATES

bp = Blueprint("reports", __name__)

STOCKHOLM = ZoneInfo("Europe/Stockholm")
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
FIRST_YEAR, LAST_YEAR = 2000, 2100


@dataclass(frozen=True)
class Period:
    """A span of local time: `start` inclusive, `end` exclusive (both aware datetimes)."""

    start: datetime
    end: datetime

    @property
    def start_utc(self) -> str:
        return utc_text(self.start)

    @property
    def end_utc(self) -> str:
        return utc_text(self.end)

    @property
    def end_date(self) -> str:
        """The first local day after the period: a task due before it is due within it."""
        return self.end.date().isoformat()


def utc_text(moment: datetime) -> str:
    """An aware datetime in the form the `*_at` columns hold ('2026-11-16T00:00:00Z')."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_midnight(day: date, tz: ZoneInfo = STOCKHOLM) -> datetime:
    """The start of a local calendar day."""
    return datetime.combine(day, time(), tzinfo=tz)


# --- weeks and years -----------------------------------------------------------------------


def parse_week(text: str) -> tuple[int, int]:
    """'2026-W47' (what `<input type="week">` sends) as (2026, 47); ValueError otherwise."""
    year_text, sep, week_text = text.strip().upper().partition("-W")
    if not (sep and year_text.isdigit() and week_text.isdigit() and len(year_text) == 4):
        raise ValueError(f"not an ISO week: {text!r}")
    year, week = int(year_text), int(week_text)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"year out of range: {year}")
    date.fromisocalendar(year, week, 1)  # raises ValueError for week 0, 54, or 53 when none
    return year, week


def week_text(year: int, week: int) -> str:
    """(2026, 47) as '2026-W47'."""
    return f"{year}-W{week:02d}"


def week_period(year: int, week: int, tz: ZoneInfo = STOCKHOLM) -> Period:
    """Monday 00:00 to the next Monday 00:00, local time."""
    monday = date.fromisocalendar(year, week, 1)
    return Period(local_midnight(monday, tz), local_midnight(monday + timedelta(days=7), tz))


def shift_week(year: int, week: int, weeks: int) -> tuple[int, int]:
    """The ISO week `weeks` weeks later (earlier when negative)."""
    iso = (date.fromisocalendar(year, week, 1) + timedelta(weeks=weeks)).isocalendar()
    return iso.year, iso.week


def weeks_in_year(year: int) -> int:
    """52 or 53: 28 December is always in the year's last ISO week."""
    return date(year, 12, 28).isocalendar().week


def same_week_last_year(year: int, week: int) -> tuple[int, int]:
    """The same ISO week number a year earlier (week 52 when that year has no week 53)."""
    return year - 1, min(week, weeks_in_year(year - 1))


def last_complete_week(moment: datetime, tz: ZoneInfo = STOCKHOLM) -> tuple[int, int]:
    """The last ISO week (Monday to Sunday, local time) that had ended at `moment`."""
    today = moment.astimezone(tz).date()
    iso = (today - timedelta(days=today.weekday() + 7)).isocalendar()
    return iso.year, iso.week


def year_periods(year: int, moment: datetime, tz: ZoneInfo = STOCKHOLM) -> tuple[Period, Period]:
    """The year and the year before; a year not yet over runs to `moment`, compared with the
    same stretch of the year before (1 January to the same day and time)."""
    start, end = local_midnight(date(year, 1, 1), tz), local_midnight(date(year + 1, 1, 1), tz)
    local_now = moment.astimezone(tz)
    if start <= local_now < end:
        end = local_now
    before_end = end.replace(year=year, day=28) if (end.month, end.day) == (2, 29) else end
    before_end = before_end.replace(year=before_end.year - 1)
    return Period(start, end), Period(start.replace(year=year - 1), before_end)


def month_starts(first: date, count: int) -> list[date]:
    """The first days of `count` months from `first`'s month on."""
    months, year, month = [], first.year, first.month
    for _i in range(count):
        months.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def month_periods(first: date, count: int, tz: ZoneInfo = STOCKHOLM) -> list[Period]:
    """`count` local calendar months from `first`'s month on."""
    starts = month_starts(first, count + 1)
    return [
        Period(local_midnight(a, tz), local_midnight(b, tz))
        for a, b in zip(starts, starts[1:], strict=False)
    ]


# --- queries -------------------------------------------------------------------------------


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
           FROM observations WHERE created_at >= ? AND created_at < ?
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
        """SELECT o.id, o.place_id, o.category, o.description, o.created_at, o.walk_id,
                  walks.title AS walk_title
           FROM observations o LEFT JOIN walks ON walks.id = o.walk_id
           WHERE o.urgent = 1 AND o.created_at >= ? AND o.created_at < ?
           ORDER BY o.created_at, o.id""",
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


COUNTED = {("observations", "created_at"), ("tasks", "created_at"), ("tasks", "done_at")}


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


def figure_lines(figures: list[dict]) -> list[dict]:
    """The table of one place: a line per figure, each with its value in every period. Under
    the new observations, indented: those that feel safe, then each category that occurs."""
    labels = figure_labels()
    lines = [
        {"key": "observations", "label": labels["observations"], "sub": False},
        {"key": "works_well", "label": labels["works_well"], "sub": True},
    ]
    used = {code for f in figures for code, n in f["categories"].items() if n}
    for code in [c for c in CATEGORIES if c in used] + sorted(used - set(CATEGORIES)):
        lines.append({"key": code, "label": category_label(code), "sub": True, "category": True})
    lines += [{"key": k, "label": labels[k], "sub": False} for k in FIGURES[2:]]
    for line in lines:
        line["values"] = [
            f["categories"].get(line["key"], 0) if line.get("category") else f[line["key"]]
            for f in figures
        ]
    return lines


def figure_labels() -> dict[str, str]:
    """What each figure is called, in the person's language."""
    return {
        "observations": _("New observations"),
        "works_well": _("of which feel safe"),
        "urgent_observations": _("Urgent observations"),
        "tasks_opened": _("Tasks opened"),
        "urgent_tasks": _("Urgent tasks opened"),
        "tasks_done": _("Tasks done"),
        "overdue": _("Overdue tasks at the end of the period"),
    }


def csv_text(rows: list[dict], headers: list[str], lead: list[str]) -> str:
    """The report's tables as CSV: UTF-8 with a BOM, so Excel reads å, ä and ö right; text
    a spreadsheet would run as a formula (a place named "=...") is neutralised."""
    from fieldwalk.exports import neutralise  # exports -> observations -> places -> reports

    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([neutralise(h) for h in headers])
    for row in rows:
        for line in figure_lines(row["figures"]):
            values = line["values"]
            changes = [values[0] - v for v in values[1:]]
            cells = [
                values[0],
                *[x for pair in zip(values[1:], changes, strict=True) for x in pair],
            ]
            text = [*lead, place_name(row), line["label"]]
            writer.writerow([*(neutralise(t) for t in text), *cells])
    return out.getvalue()


def place_name(row: dict) -> str:
    """A report row's heading."""
    if row["place_id"] == DISTRICT:
        return _("Whole district")
    return row["name"] or _("Outside every place")


# --- routes --------------------------------------------------------------------------------


def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Europe/Stockholm"))


def requested_week() -> tuple[int, int]:
    """The week asked for (`?week=2026-W47`), or the last complete one; 400 when unreadable."""
    text = request.args.get("week", "").strip()
    if not text:
        return last_complete_week(datetime.now(UTC), _tz())
    try:
        return parse_week(text)
    except ValueError:
        fail(400, _("Choose a week, such as %(example)s.", example="2026-W47"))


def requested_year() -> int:
    """The year asked for (`?year=2026`), or the last complete one; 400 when unreadable."""
    text = request.args.get("year", "").strip()
    if not text:
        return datetime.now(_tz()).year - 1
    if not (text.isdigit() and FIRST_YEAR <= int(text) <= LAST_YEAR):
        fail(400, _("Choose a year between %(a)d and %(b)d.", a=FIRST_YEAR, b=LAST_YEAR))
    return int(text)


def week_title(year: int, week: int) -> str:
    """'Week 47, 2026' in the person's language."""
    return _("Week %(week)d, %(year)d", week=week, year=year)


def span_text(period: Period) -> str:
    """The period's first and last day ('16 nov.–22 nov. 2026')."""
    last = (period.end - timedelta(microseconds=1)).date()
    return f"{format_date(period.start.date(), 'd MMM')}–{format_date(last, 'd MMM y')}"


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


def comparison_chart(rows: list[dict], columns: list[str]) -> str:
    """New observations per place in each period, as grouped bars."""
    places = [r for r in rows if r["place_id"] != DISTRICT]
    return bar_chart(
        _("New observations per place"),
        _(
            "Bars for %(periods)s; the same figures are in the tables below.",
            periods=", ".join(columns),
        ),
        [place_name(r) for r in places],
        [
            Series(column, [r["figures"][i]["observations"] for r in places])
            for i, column in enumerate(columns)
        ],
    )


def category_chart(row: dict, columns: list[str]) -> str:
    """One place's new observations by category in each period."""
    lines = [line for line in figure_lines(row["figures"]) if line.get("category")]
    return bar_chart(
        _("New observations by category: %(place)s", place=place_name(row)),
        _("Bars for %(periods)s; the same figures are in the table.", periods=", ".join(columns)),
        [line["label"] for line in lines],
        [Series(column, [line["values"][i] for line in lines]) for i, column in enumerate(columns)],
    )


@bp.get("/reports")
@role_required(*MANAGER_ROLES)
def index():
    """The reports start at the lägesbild."""
    return redirect(url_for("reports.week"))


@bp.get("/reports/week")
@role_required(*MANAGER_ROLES)
def week():
    """The lägesbild: per place, the week against the week before and the same week last year."""
    year, number = requested_week()
    report = week_report(get_db(), year, number, _tz())
    columns = [week_title(y, w) for y, w in report["weeks"]]
    running = shift_week(*last_complete_week(datetime.now(UTC), _tz()), 1)
    return render(
        "reports/week.html",
        report=report,
        columns=columns,
        spans=[span_text(p) for p in report["periods"]],
        week_value=week_text(year, number),
        previous=week_text(*shift_week(year, number, -1)),
        following=week_text(*shift_week(year, number, 1)),
        ongoing=(year, number) >= running,
        show_following=shift_week(year, number, 1) <= running,
        overview=comparison_chart(report["rows"], columns),
        category_chart=lambda row: category_chart(row, columns),
        place_name=place_name,
        figure_lines=figure_lines,
    )


@bp.get("/reports/week.csv")
@role_required(*MANAGER_ROLES)
def week_csv():
    """The lägesbild's tables as CSV."""
    year, number = requested_week()
    report = week_report(get_db(), year, number, _tz())
    headers = [_("Week"), _("Place"), _("Figure"), _("This week"), _("Week before"), _("Change")]
    headers += [_("Same week last year"), _("Change")]
    text = csv_text(report["rows"], headers, [week_text(year, number)])
    return _csv_response(text, f"lagesbild-{week_text(year, number)}.csv")


def year_report(db: Database, year: int, moment: datetime, tz: ZoneInfo = STOCKHOLM) -> dict:
    """Everything the annual follow-up shows for one year against the year before."""
    periods = list(year_periods(year, moment, tz))
    rows, quiet = compare_places(db, periods)
    months = [month_periods(date(y, 1, 1), 12, tz) for y in (year, year - 1)]
    monthly = count_by_period(db, "observations", "created_at", months[0] + months[1])
    return {"year": year, "periods": periods, "rows": rows, "quiet": quiet, "monthly": monthly}


def monthly_chart(row: dict, monthly: dict, year: int) -> str:
    """One place's (or the district's) new observations per month, this year and the last."""
    if row["place_id"] == DISTRICT:
        counts = [sum(c[i] for c in monthly.values()) for i in range(24)]
    else:
        counts = monthly.get(row["place_id"], [0] * 24)
    labels = [format_date(m, "MMM") for m in month_starts(date(year, 1, 1), 12)]
    return line_chart(
        _("New observations per month: %(place)s", place=place_name(row)),
        _("Lines for %(a)d and %(b)d.", a=year, b=year - 1),
        labels,
        [Series(str(year), counts[:12]), Series(str(year - 1), counts[12:])],
    )


@bp.get("/reports/year")
@role_required(*MANAGER_ROLES)
def year():
    """The annual follow-up: per place, the year against the year before."""
    number = requested_year()
    moment = datetime.now(UTC)
    report = year_report(get_db(), number, moment, _tz())
    partial = report["periods"][0].end.year == number
    columns = [str(number), str(number - 1)]
    if partial:
        columns = [_("%(year)d so far", year=number), _("%(year)d, same stretch", year=number - 1)]
    return render(
        "reports/year.html",
        report=report,
        columns=columns,
        partial=partial,
        spans=[span_text(p) for p in report["periods"]],
        overview=comparison_chart(report["rows"], columns),
        monthly_chart=lambda row: monthly_chart(row, report["monthly"], number),
        place_name=place_name,
        figure_lines=figure_lines,
        this_year=datetime.now(_tz()).year,
    )


@bp.get("/reports/year.csv")
@role_required(*MANAGER_ROLES)
def year_csv():
    """The annual follow-up's tables as CSV."""
    number = requested_year()
    report = year_report(get_db(), number, datetime.now(UTC), _tz())
    headers = [_("Year"), _("Place"), _("Figure"), str(number), str(number - 1), _("Change")]
    return _csv_response(
        csv_text(report["rows"], headers, [str(number)]), f"uppfoljning-{number}.csv"
    )


def _csv_response(text: str, filename: str) -> Response:
    return Response(
        text.encode("utf-8"),
        mimetype="text/csv",
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


def init_app(app: Flask) -> None:
    """Register the report routes."""
    app.register_blueprint(bp)
