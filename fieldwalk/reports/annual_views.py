"""The annual follow-up's pages: one place's year (`/reports/year/places/<id>`), every drug
scene's year as one A4 document and PDF, and the forms of the joint written assessment.

Coordinators, admins and partners (the police write it with the district) read and write the
assessment; only coordinators and admins make its measures tasks.
"""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _

from fieldwalk.charts import Series, bar_chart, line_chart
from fieldwalk.dashboard.filters import local_zone
from fieldwalk.db import get_db, transaction
from fieldwalk.events.model import TYPES, type_label
from fieldwalk.measures.model import kind_label
from fieldwalk.open311.party_views import tell_parties_now
from fieldwalk.parties.model import list_party_names
from fieldwalk.places.model import get_place
from fieldwalk.render import fail, render
from fieldwalk.reports.annual import (
    annual_figures,
    assessment_timeline,
    drug_scenes,
    level_counts,
    measures_in_year,
)
from fieldwalk.reports.annual_assessment import (
    annual_versions,
    make_measure_task,
    measure_lines,
    measure_tasks,
    save_annual,
)
from fieldwalk.reports.annual_forms import AnnualForm, MeasureTaskForm
from fieldwalk.reports.assessments import LEVELS, AssessmentConflict, level_label
from fieldwalk.reports.meeting_page import party_choices
from fieldwalk.reports.periods import FIRST_YEAR, LAST_YEAR
from fieldwalk.reports.safety_index import PARTS
from fieldwalk.reports.views import WEEK_ROLES, span_text
from fieldwalk.security import MANAGER_ROLES, audit, role_required
from fieldwalk.tasks.states import Actor, TaskError
from fieldwalk.tasks.words import task_error_message
from fieldwalk.walks.protocol import html_to_pdf

bp = Blueprint("annual", __name__)


def requested_year() -> int:
    """`?year=2026`, or this year (the follow-up is written in the year's last months)."""
    text = request.args.get("year", "").strip()
    if not text:
        return datetime.now(local_zone()).year
    if not (text.isdigit() and FIRST_YEAR <= int(text) <= LAST_YEAR):
        fail(400, _("Choose a year between %(a)d and %(b)d.", a=FIRST_YEAR, b=LAST_YEAR))
    return int(text)


def path_year(year: int) -> int:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        abort(404)
    return year


def place_or_404(place_id: int) -> dict:
    place = get_place(get_db(), place_id) if 0 < place_id < 2**63 else None
    if place is None:
        abort(404)
    return place


def figure_lines(figures: dict, place_id: int, fixes: list[dict]) -> list[dict]:
    """The year in figures: a line each, this year and the year before."""
    lines = [
        {"label": _("Events"), "values": figures["event_totals"][place_id], "sub": False},
    ]
    types = figures["event_types"][place_id]
    for kind in [k for k in TYPES if k in types] + sorted(set(types) - set(TYPES)):
        lines.append({"label": type_label(kind), "values": types[kind], "sub": True})
    lines += [
        {
            "label": _("Observations"),
            "values": figures["observation_totals"][place_id],
            "sub": False,
        },
        {"label": _("Walks held"), "values": figures["walks"][place_id], "sub": False},
        {
            "label": _("Fixes done"),
            "values": [sum(p["done"][i] for p in fixes) for i in range(2)],
            "sub": False,
        },
    ]
    return lines


def month_labels(months: list[date]) -> list[str]:
    return [format_date(m, "MMM") for m in months]


def events_month_chart(place: dict, figures: dict, year: int) -> str:
    events = figures["events"][place["id"]]
    this = [sum(v[i] for v in events.values()) for i in range(12)]
    before = [sum(v[12 + i] for v in events.values()) for i in range(12)]
    return line_chart(
        _("Events per month: %(place)s", place=place["name"]),
        _("Lines for %(a)d and %(b)d; the same figures are in the table.", a=year, b=year - 1),
        month_labels(figures["months"]),
        [Series(str(year), this), Series(str(year - 1), before)],
    )


def index_chart(place: dict, index: list[dict]) -> str:
    labels = month_labels([m["month"] for m in index])
    names = index_part_labels()
    return bar_chart(
        _("Safety index per month and its parts: %(place)s", place=place["name"]),
        _("Bars for each part; higher means less safe. The same figures are in the table."),
        labels,
        [Series(names[part], [m[part] for m in index]) for part in PARTS],
    )


def index_part_labels() -> dict[str, str]:
    return {
        "events": _("Events (weighted)"),
        "feeling": _("Feeling unsafe"),
        "open_fixes": _("Open fixes"),
        "total": _("Safety index"),
    }


def follow_up(db, place: dict, year: int, *, pdf: bool, posted: dict | None = None) -> dict:
    """Everything one place's annual follow-up shows."""
    place_id = place["id"]
    figures = annual_figures(db, [place_id], year, datetime.now(UTC), local_zone())
    fixes = figures["fixes"][place_id]
    timeline = assessment_timeline(db, place_id, year)
    versions = annual_versions(db, place_id, year)
    latest = versions[0] if versions else None
    index = figures["index"][place_id]
    events = figures["events"][place_id]
    tasks = measure_tasks(db, place_id, year)
    posted = posted or {}
    form = posted.get("assessment")
    if form is None:
        form = AnnualForm(
            formdata=None, data=dict(latest, finished=bool(latest["finished"])) if latest else None
        )
        form.based_on.data = str(latest["version"] if latest else 0)
    lines = measure_lines(latest["long_term_measures"]) if latest else []
    measure_forms = {}
    if not pdf and g.user["role"] in MANAGER_ROLES:
        choices = party_choices(db)
        for i, line in enumerate(lines):
            if line in tasks:
                continue
            task_form = posted.get(("measure", line)) or MeasureTaskForm(
                formdata=None, prefix=f"m{i}", data={"measure": line}
            )
            task_form.party_id.choices = choices
            if not task_form.due_date.data and not task_form.due_date.errors:
                task_form.due_date.data = datetime.now(local_zone()).date() + timedelta(days=90)
            measure_forms[line] = (task_form, f"m{i}")
    return {
        "place": place,
        "year": year,
        "figures": figures,
        "spans": [span_text(p) for p in figures["periods"]],
        "partial": figures["periods"][0].end.year == year,
        "lines": figure_lines(figures, place_id, fixes),
        "fixes": fixes,
        "event_rows": [(type_label(kind), events[kind][:12]) for kind in TYPES if kind in events],
        "events_chart": events_month_chart(place, figures, year),
        "months": month_labels(figures["months"]),
        "index": index,
        "index_chart": index_chart(place, index) if index else "",
        "timeline": timeline,
        "level_counts": level_counts(timeline),
        "measures": measures_in_year(db, [place_id], year)[place_id],
        "latest": latest,
        "versions": versions,
        "form": form,
        "measure_lines": lines,
        "measure_tasks": tasks,
        "measure_forms": measure_forms,
    }


def common(year: int, pdf: bool) -> dict:
    return {
        "pdf": pdf,
        "year": year,
        "this_year": datetime.now(local_zone()).year,
        "levels": LEVELS,
        "level_label": level_label,
        "fact_kind_label": kind_label,
        "part_labels": index_part_labels(),
        "parties": dict(list_party_names(get_db())),
        "made_at": format_datetime(datetime.now(UTC), "short"),
    }


def place_page(place: dict, year: int, status: int = 200, posted: dict | None = None):
    db = get_db()
    return render(
        "reports/annual.html",
        status=status,
        doc=follow_up(db, place, year, pdf=False, posted=posted),
        **common(year, False),
    )


@bp.get("/reports/year/places/<int:place_id>")
@role_required(*WEEK_ROLES)
def place(place_id: int):
    """One place's annual follow-up: figures, timeline, measures, the joint assessment."""
    return place_page(place_or_404(place_id), requested_year())


@bp.get("/reports/year/scenes")
@role_required(*WEEK_ROLES)
def scenes():
    """Every open drug scene's annual follow-up as one document, to print on A4."""
    year = requested_year()
    db = get_db()
    docs = [follow_up(db, p, year, pdf=True) for p in drug_scenes(db, year)]
    return render("reports/annual_scenes.html", docs=docs, **common(year, True), printable=True)


@bp.get("/reports/year.pdf")
@role_required(*WEEK_ROLES)
def pdf():
    """The follow-up of one place (`?place=`) or of every drug scene as a PDF on A4, to attach
    to a report to the district committee."""
    year = requested_year()
    db = get_db()
    text = request.args.get("place", "").strip()
    if text:
        if not text.isdigit():
            fail(400, _("Choose a place from the list."))
        places = [place_or_404(int(text))]
        name = f"arsuppfoljning-{year}-{places[0]['slug']}.pdf"
    else:
        places = drug_scenes(db, year)
        name = f"arsuppfoljning-{year}.pdf"
    static = Path(current_app.static_folder)
    html = render_template(
        "reports/annual_pdf.html",
        print_css=(static / "css/print.css").as_uri(),
        docs=[follow_up(db, p, year, pdf=True) for p in places],
        **common(year, True),
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
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


def back_to(place_id: int, year: int, anchor: str):
    return redirect(url_for("annual.place", place_id=place_id, year=year, _anchor=anchor), 303)


@bp.post("/reports/year/<int:year>/places/<int:place_id>/assessment")
@role_required(*WEEK_ROLES)
def assess(year: int, place_id: int):
    """Save the joint written assessment: a new version, the old ones kept."""
    year = path_year(year)
    found = place_or_404(place_id)
    form = AnnualForm()
    if not form.validate_on_submit():
        return place_page(found, year, 400, {"assessment": form})
    db = get_db()
    try:
        with transaction(db):
            saved, created = save_annual(
                db,
                place_id=place_id,
                year=year,
                texts=form.texts(),
                finished=bool(form.finished.data),
                written_by=g.user["id"],
                based_on=int(form.based_on.data),
            )
            if created:
                audit("assess_year", "place", place_id, year=year, version=saved["version"])
    except AssessmentConflict as conflict:
        form.based_on.data = str(conflict.current["version"])
        form.form_errors.append(
            _(
                "%(name)s saved a newer assessment while you were writing: read it above, "
                "then save yours again.",
                name=conflict.current["written_by_name"] or _("Someone"),
            )
        )
        return place_page(found, year, 409, {"assessment": form})
    return back_to(place_id, year, "joint-assessment")


@bp.post("/reports/year/<int:year>/places/<int:place_id>/measures")
@role_required(*MANAGER_ROLES)
def measure_task(year: int, place_id: int):
    """Make a long-term measure of the written assessment a task for a party."""
    year = path_year(year)
    found = place_or_404(place_id)
    db = get_db()
    prefix = request.form.get("prefix", "")
    if not (prefix.startswith("m") and prefix[1:].isdigit() and len(prefix) < 6):
        fail(400, _("Reload the page and try again."))
    form = MeasureTaskForm(prefix=prefix)
    form.party_id.choices = party_choices(db)
    valid = form.validate_on_submit()
    today = datetime.now(local_zone()).date()
    if form.due_date.data and form.due_date.data < today:
        form.due_date.errors = [*form.due_date.errors, _("Give a date from today on.")]
        valid = False
    if not valid:
        return place_page(found, year, 400, {("measure", form.measure.data): form})
    actor = Actor(("coordinator",), g.user["id"], g.user["name"] or g.user["email"])
    try:
        with transaction(db):
            task_id, created = make_measure_task(
                db,
                place_id=place_id,
                year=year,
                measure=form.measure.data,
                party_id=form.party(),
                due_date=form.due_date.data.isoformat(),
                actor=actor,
                reason=_("Decided at the annual follow-up %(year)d", year=year),
            )
            if created:
                audit("measure_task", "place", place_id, year=year, task_id=task_id)
    except TaskError as error:
        if error.code == "measure":
            fail(400, _("That measure is not in the assessment any more: reload the page."))
        form.party_id.errors = [*form.party_id.errors, task_error_message(error.code)]
        return place_page(found, year, 400, {("measure", form.measure.data): form})
    party_id = form.party()
    if created and party_id:  # handed to a party: tell it now, as a weekly decision is
        tell_parties_now(db, {party_id})
    return back_to(place_id, year, "measures-needed")


def init_app(app: Flask) -> None:
    """Register the annual follow-up's routes (its tables use render's `decimal` filter)."""
    app.register_blueprint(bp)
