"""Bulk work from triage and the dashboard's list: one form, checkboxes beside each row.

The checkboxes sit in the rows (which carry forms of their own) and join the bulk form
through their `form` attribute, so it all works without JavaScript. With htmx the dashboard's
form posts in the background: success redirects to the list the person was looking at,
which comes back as the list fragment; a refusal comes back as the list of problems, put
where the form shows them (HX-Retarget), with nothing changed.
"""

from flask import Blueprint, Flask, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from fieldwalk.categories import category_label
from fieldwalk.db import get_db
from fieldwalk.i18n import safe_next
from fieldwalk.ids import parse_uuid
from fieldwalk.observations.model import get_observation
from fieldwalk.open311.party_views import tell_parties_now
from fieldwalk.render import fail, render
from fieldwalk.residents.news import tell_residents
from fieldwalk.security import MANAGER_ROLES, role_required
from fieldwalk.tasks.access import parse_int, user_actor
from fieldwalk.tasks.bulk import ACTIONS, BulkRefused, apply_bulk
from fieldwalk.tasks.model import get_task, list_tasks
from fieldwalk.tasks.states import COORDINATOR
from fieldwalk.tasks.words import case_label, case_search, task_error_message

bp = Blueprint("bulk", __name__)


MAX_CHOSEN = 500


def problem_message(code: str, detail: dict) -> str:
    """Why one row (or the whole request) was refused, in words."""
    own = {
        "nothing_chosen": _("Choose at least one task or observation."),
        "unknown_action": _("Choose what to do with the chosen ones."),
        "no_task": _("It has no task yet: assign it to a party first."),
        "has_task": _("It has a task already."),
        "works_well": _("It is something that works well, not a problem to fix."),
        "original_itself": _("It is the original itself."),
        "duplicate_of": _("Give the case number of the original task (such as %(case)s).", case=detail.get("example", "")),
    }  # fmt: skip
    return own.get(code) or task_error_message(code, **detail)


def _row_name(kind: str, key) -> str:
    db = get_db()
    if kind == "task":
        task = get_task(db, key)
        return f"{case_label(task)} {task['measure'][:60]}" if task else str(key)
    if kind == "observation":
        observation = get_observation(db, key)
        return category_label(observation["category"]) if observation else str(key)
    return ""


def _original(text: str) -> int | None:
    """The task a case number names (the original of duplicates), or None."""
    case = case_search(text) if text else None
    found = list_tasks(get_db(), case=case) if case else []
    return found[0]["id"] if found else None


@bp.post("/tasks/bulk")
@role_required(*MANAGER_ROLES)
def apply():
    """Apply one step to the chosen tasks and observations, all or nothing."""
    form = request.form
    next_url = safe_next(form.get("next"), url_for("triage.triage"))
    raw_tasks, raw_observations = form.getlist("task_ids"), form.getlist("observation_ids")
    if len(raw_tasks) + len(raw_observations) > MAX_CHOSEN:
        fail(400, _("Choose at most %(n)d at a time.", n=MAX_CHOSEN))
    task_ids = [parse_int(v) for v in raw_tasks]
    observation_ids = [parse_uuid(v) for v in raw_observations]
    if None in task_ids or None in observation_ids:
        fail(400, _("The request could not be understood."))
    action = form.get("action", "")
    db = get_db()
    measures = {}
    for observation_id in observation_ids:
        observation = get_observation(db, observation_id)
        if observation:
            measures[observation_id] = observation["description"] or category_label(
                observation["category"]
            )
    original_text = form.get("original", "").strip()
    try:
        outcome = apply_bulk(
            db,
            action if action in ACTIONS else "",
            user_actor((COORDINATOR,)),
            task_ids=task_ids,
            observation_ids=observation_ids,
            measures=measures,
            party_id=parse_int(form.get("party_id")),
            note=form.get("note", "").strip(),
            due_date=form.get("due_date", "").strip() or None,
            send_now=bool(form.get("send_now")),
            original_id=_original(original_text),
        )
    except BulkRefused as refused:
        example = case_label({"case_year": 2026, "case_seq": 42})
        problems = [
            {
                "name": _row_name(kind, key),
                "message": problem_message(code, {**detail, "example": example}),
            }
            for kind, key, code, detail in refused.problems
        ]
        response = render(
            "tasks/bulk.html",
            "tasks/_bulk_problems.html",
            status=400,
            problems=problems,
            next=next_url,
        )
        response.headers["HX-Retarget"] = "#bulk-problems"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    if outcome.told:
        results = tell_parties_now(db, outcome.told)
        unreached = sum(1 for r in results if r["status"] != "sent")
        if unreached:
            flash(_("%(n)d party(ies) could not be emailed: check their email addresses and contacts.", n=unreached))  # fmt: skip
    tell_residents(db, request.url_root.rstrip("/"))
    flash(summary(outcome))
    return redirect(next_url, code=303)


def summary(outcome) -> str:
    """What a bulk step did, in one sentence or two."""
    parts = []
    if outcome.changed:
        parts.append(
            ngettext("%(num)d task changed.", "%(num)d tasks changed.", len(outcome.changed))
        )
    if outcome.created:
        parts.append(
            ngettext("%(num)d task created.", "%(num)d tasks created.", len(outcome.created))
        )
    if outcome.linked:
        parts.append(ngettext("%(num)d observation joined the original task.", "%(num)d observations joined the original task.", len(outcome.linked)))  # fmt: skip
    return " ".join(parts)


def init_app(app: Flask) -> None:
    """Register the bulk route."""
    app.register_blueprint(bp)
