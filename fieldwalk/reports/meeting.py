"""The weekly meeting's forms on the lägesbild: a place's joint assessment (staff and partners)
and the meeting's decisions (coordinators and admins), each for a place and a week.

Both are plain POST forms that work without JavaScript and answer with a redirect back to the
place on the page. A form with errors gets the whole page back (400) with the errors beside
its fields and everything typed kept; a stale assessment (someone saved a newer one since the
page was loaded) gets 409 and the newer one to read before writing again.
"""

from datetime import UTC, datetime

from flask import Blueprint, Flask, abort, g, redirect, url_for
from flask_babel import gettext as _

from fieldwalk.dashboard.filters import local_zone
from fieldwalk.db import get_db, transaction
from fieldwalk.open311.party_views import tell_parties_now
from fieldwalk.places.model import get_place
from fieldwalk.reports.assessments import AssessmentConflict, save_assessment
from fieldwalk.reports.decisions import record_decision
from fieldwalk.reports.forms import AssessmentForm, DecisionForm, prefix
from fieldwalk.reports.meeting_page import party_choices
from fieldwalk.reports.periods import last_complete_week, parse_week, shift_week, week_text
from fieldwalk.reports.views import WEEK_ROLES, week_page
from fieldwalk.security import MANAGER_ROLES, audit, role_required
from fieldwalk.tasks.states import Actor, TaskError
from fieldwalk.tasks.words import task_error_message

bp = Blueprint("meeting", __name__)


def meeting_week(text: str) -> tuple[int, int]:
    """The week in the address, as stored ('2026-W47'); 404 for anything else, and for a week
    that has not begun yet (nothing to assess or decide on)."""
    try:
        year, number = parse_week(text)
    except ValueError:
        abort(404)
    if week_text(year, number) != text:
        abort(404)
    running = shift_week(*last_complete_week(datetime.now(UTC), local_zone()), 1)
    if (year, number) > running:
        abort(404)
    return year, number


def place_or_404(place_id: int) -> dict:
    place = get_place(get_db(), place_id) if 0 < place_id < 2**63 else None
    if place is None:
        abort(404)
    return place


def back_to(week: str, place_id: int):
    """Back to the place on the meeting's page."""
    target = url_for("reports.week", week=week, _anchor=f"place-{place_id}")
    return redirect(target, code=303)


@bp.post("/reports/week/<week>/places/<int:place_id>/assessment")
@role_required(*WEEK_ROLES)
def assess(week: str, place_id: int):
    """Save the place's joint assessment for the week: a new version, the old ones kept."""
    year, number = meeting_week(week)
    place_or_404(place_id)
    form = AssessmentForm(prefix=prefix(place_id))
    if not form.validate_on_submit():
        return week_page(year, number, status=400, posted={("assessment", place_id): form})
    db = get_db()
    try:
        with transaction(db):
            saved, created = save_assessment(
                db,
                place_id=place_id,
                week=week,
                level=form.level.data,
                text=form.text.data or "",
                written_by=g.user["id"],
                based_on=form.version_seen(),
            )
            if created:
                audit("assess", "place", place_id, week=week, version=saved["version"])
    except AssessmentConflict as conflict:
        form.based_on.data = str(conflict.current["version"])
        form.form_errors.append(
            _(
                "%(name)s saved a newer assessment while you were writing: read it above, "
                "then save yours again.",
                name=conflict.current["written_by_name"] or _("Someone"),
            )
        )
        return week_page(year, number, status=409, posted={("assessment", place_id): form})
    return back_to(week, place_id)


@bp.post("/reports/week/<week>/places/<int:place_id>/decisions")
@role_required(*MANAGER_ROLES)
def decide(week: str, place_id: int):
    """Record a decision of the meeting: it becomes a task for the place, routed and sent."""
    year, number = meeting_week(week)
    place_or_404(place_id)
    db = get_db()
    form = DecisionForm(prefix=prefix(place_id))
    form.party_id.choices = party_choices(db)
    today = datetime.now(local_zone()).date()
    valid = form.validate_on_submit()
    if form.due_date.data and form.due_date.data < today:
        form.due_date.errors = [*form.due_date.errors, _("Give a date from today on.")]
        valid = False
    if not valid:
        return week_page(year, number, status=400, posted={("decision", place_id): form})
    actor = Actor(("coordinator",), g.user["id"], g.user["name"] or g.user["email"])
    try:
        with transaction(db):
            task_id, created = record_decision(
                db,
                place_id=place_id,
                week=week,
                measure=form.measure.data,
                party_id=form.party(),
                due_date=form.due_date.data.isoformat(),
                actor=actor,
                reason=_("Decided at the weekly meeting, week %(week)d", week=number),
                key=form.key.data,
            )
            if created:
                audit("decide", "place", place_id, week=week, task_id=task_id)
    except TaskError as error:  # the party was removed while the form was open
        form.party_id.errors = [*form.party_id.errors, task_error_message(error.code)]
        return week_page(year, number, status=400, posted={("decision", place_id): form})
    party_id = form.party()
    if created and party_id is not None:
        # Sent at once: the party hears of it now, in its system or by email.
        tell_parties_now(db, {party_id})
    return back_to(week, place_id)


def init_app(app: Flask) -> None:
    """Register the meeting's forms."""
    app.register_blueprint(bp)
