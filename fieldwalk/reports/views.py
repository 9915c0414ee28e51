"""The lägesbild (weekly situation picture) and the annual follow-up: figures per place.

Weeks and years are local (Europe/Stockholm) periods. Each is turned into UTC bounds once, so
the queries compare the stored UTC `*_at` strings directly: a Sunday 23:30 in Stockholm is
Sunday 22:30Z and belongs to that week, Monday 00:10 is Sunday 23:10Z and belongs to the next.
"""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date, format_datetime, get_locale
from flask_babel import gettext as _

from fieldwalk.categories import CATEGORIES, category_label
from fieldwalk.charts import Series, bar_chart, line_chart
from fieldwalk.db import get_db
from fieldwalk.render import fail, render
from fieldwalk.reports.annual import drug_scenes
from fieldwalk.reports.annual_assessment import latest_annual
from fieldwalk.reports.figures import DISTRICT, FIGURES, week_report, year_report
from fieldwalk.reports.meeting_page import event_csv_labels, event_csv_lines, meeting_context
from fieldwalk.reports.periods import (
    FIRST_YEAR,
    LAST_YEAR,
    Period,
    last_complete_week,
    month_starts,
    parse_week,
    shift_week,
    week_text,
)
from fieldwalk.security import MANAGER_ROLES, PARTNER, role_required
from fieldwalk.spreadsheet import (
    COMMA,
    CSV_CONTENT_TYPE,
    CsvDialect,
    csv_chunks,
    dialect_for,
    neutralise,
)
from fieldwalk.walks.protocol import html_to_pdf

bp = Blueprint("reports", __name__)

# The weekly meeting's page: coordinators and admins, and the police and guards who take part.
WEEK_ROLES = (*MANAGER_ROLES, PARTNER)


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
    """What each figure is called, in the person's language (looked up once a request: the
    weekly page asks for every place's table and chart)."""
    if "figure_labels" not in g:
        g.figure_labels = _figure_labels()
    return g.figure_labels


def _figure_labels() -> dict[str, str]:
    return {
        "observations": _("New observations"),
        "works_well": _("of which feel safe"),
        "urgent_observations": _("Urgent observations"),
        "tasks_opened": _("Tasks opened"),
        "urgent_tasks": _("Urgent tasks opened"),
        "tasks_done": _("Tasks done"),
        "overdue": _("Overdue tasks at the end of the period"),
    }


def csv_text(
    rows: list[dict], headers: list[str], lead: list[str], dialect: CsvDialect = COMMA
) -> str:
    """The report's tables as CSV in the reader's dialect (`spreadsheet.csv_chunks`): UTF-8
    with a BOM, so Excel reads å, ä and ö right; text a spreadsheet would run as a formula
    (a place named "=...") is neutralised."""
    lines = []
    event_labels = event_csv_labels()
    for row in rows:
        for line in figure_lines(row["figures"]):
            values = line["values"]
            changes = [values[0] - v for v in values[1:]]
            cells = [
                values[0],
                *[x for pair in zip(values[1:], changes, strict=True) for x in pair],
            ]
            text = [*lead, place_name(row), line["label"]]
            lines.append([*(neutralise(t) for t in text), *cells])
        if "events" in row:
            for label, values in event_csv_lines(row["events"], event_labels):
                changes = [values[0] - v for v in values[1:]]
                cells = [
                    values[0],
                    *[x for pair in zip(values[1:], changes, strict=True) for x in pair],
                ]
                text = [*lead, place_name(row), label]
                lines.append([*(neutralise(t) for t in text), *cells])
    return "".join(csv_chunks([neutralise(h) for h in headers], [lines], dialect))


def place_name(row: dict) -> str:
    """A report row's heading."""
    if row["place_id"] == DISTRICT:
        return _("Whole district")
    return row["name"] or _("Outside every place")


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


def events_chart(rows: list[dict], columns: list[str]) -> str:
    """Events per place in each period, as grouped bars."""
    places = [r for r in rows if r["place_id"] != DISTRICT]
    return bar_chart(
        _("Events per place"),
        _(
            "Bars for %(periods)s; the same figures are in the tables below.",
            periods=", ".join(columns),
        ),
        [place_name(r) for r in places],
        [
            Series(column, [r["events"][i]["total"] for r in places])
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
@role_required(*WEEK_ROLES)
def index():
    """The reports start at the lägesbild."""
    return redirect(url_for("reports.week"))


def week_context(year: int, number: int, *, pdf: bool = False, posted: dict | None = None):
    """The meeting's page (or its PDF): the lägesbild of a week with the meeting's parts."""
    db = get_db()
    report = week_report(db, year, number, _tz())
    columns = [week_title(y, w) for y, w in report["weeks"]]
    running = shift_week(*last_complete_week(datetime.now(UTC), _tz()), 1)
    return {
        "report": report,
        "columns": columns,
        "short_columns": [
            _("w. %(n)d", n=w) if y == year else f"{_('w. %(n)d', n=w)} {y}"
            for y, w in report["weeks"]
        ],
        "spans": [span_text(p) for p in report["periods"]],
        "week_value": week_text(year, number),
        "previous": week_text(*shift_week(year, number, -1)),
        "following": week_text(*shift_week(year, number, 1)),
        "ongoing": (year, number) >= running,
        "show_following": shift_week(year, number, 1) <= running,
        "overview": comparison_chart(report["rows"], columns),
        "events_overview": events_chart(report["rows"], columns),
        "category_chart": lambda row: category_chart(row, columns),
        "place_name": place_name,
        "figure_lines": figure_lines,
        "pdf": pdf,
        "made_at": format_datetime(datetime.now(UTC), "short"),
        **meeting_context(db, report, pdf=pdf, posted=posted),
    }


def week_page(year: int, number: int, *, status: int = 200, posted: dict | None = None):
    """The meeting's page; `posted` holds a form sent back with its errors."""
    return render("reports/week.html", status=status, **week_context(year, number, posted=posted))


@bp.get("/reports/week")
@role_required(*WEEK_ROLES)
def week():
    """The lägesbild: per place, the week against the week before and the same week last year,
    the events, the joint assessment and the decisions; the weekly meeting's page."""
    return week_page(*requested_week())


@bp.get("/reports/week.pdf")
@role_required(*WEEK_ROLES)
def week_pdf():
    """The meeting's page as a PDF on A4 (WeasyPrint, local files only), to send and file."""
    year, number = requested_week()
    static = Path(current_app.static_folder)
    html = render_template(
        "reports/week_pdf.html",
        print_css=(static / "css/print.css").as_uri(),
        **week_context(year, number, pdf=True),
    )
    try:
        data = html_to_pdf(html, [static])
    except OSError:  # Pango missing: `make pdf-libs` installs it
        current_app.logger.exception("WeasyPrint could not start")
        fail(503, _("PDFs cannot be made on this server right now. Print the page instead."))
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="lagesbild-{week_text(year, number)}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.get("/reports/week.csv")
@role_required(*WEEK_ROLES)
def week_csv():
    """The lägesbild's tables as CSV: the figures, then the events by type and by source."""
    year, number = requested_week()
    report = week_report(get_db(), year, number, _tz())
    headers = [_("Week"), _("Place"), _("Figure"), _("This week"), _("Week before"), _("Change")]
    headers += [_("Same week last year"), _("Change")]
    text = csv_text(report["rows"], headers, [week_text(year, number)], reader_dialect())
    return _csv_response(text, f"lagesbild-{week_text(year, number)}.csv")


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
    """The annual follow-up: the drug scenes' follow-ups with the police, then per place the
    year against the year before. `?place=` goes to that place's follow-up."""
    number = requested_year()
    place = request.args.get("place", "").strip()
    if place.isdigit():
        return redirect(url_for("annual.place", place_id=int(place), year=number))
    moment = datetime.now(UTC)
    db = get_db()
    report = year_report(db, number, moment, _tz())
    scenes = [(scene, latest_annual(db, scene["id"], number)) for scene in drug_scenes(db, number)]
    partial = report["periods"][0].end.year == number
    columns = [str(number), str(number - 1)]
    if partial:
        columns = [_("%(year)d so far", year=number), _("%(year)d, same stretch", year=number - 1)]
    return render(
        "reports/year.html",
        report=report,
        scenes=scenes,
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
        csv_text(report["rows"], headers, [str(number)], reader_dialect()),
        f"uppfoljning-{number}.csv",
    )


def reader_dialect() -> CsvDialect:
    """Semicolons and decimal commas for a Swedish reader, commas for others."""
    locale = get_locale()
    return dialect_for(locale.language if locale else None)


def _csv_response(text: str, filename: str) -> Response:
    return Response(
        text.encode("utf-8"),
        content_type=CSV_CONTENT_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def init_app(app: Flask) -> None:
    """Register the report routes."""
    app.register_blueprint(bp)
