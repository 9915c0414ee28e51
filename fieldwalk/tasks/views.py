"""The task page and its actions, the list of every task, and what task screens share.

Views only translate between HTTP and the domain in `fieldwalk.tasks`: who is asking becomes
an `Actor`, a form becomes keyword arguments, a `TaskError` becomes a message beside its
field. Every action is a plain POST form carrying the task's version, so it works without
JavaScript and a stale page gets a conflict (409), never a silent overwrite.
"""

import math
import uuid
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, redirect, request, url_for
from flask_babel import gettext as _

from fieldwalk import textsearch
from fieldwalk.dashboard.filters import parse_page
from fieldwalk.db import get_db, transaction
from fieldwalk.i18n import safe_next
from fieldwalk.open311.channel import request_for_task
from fieldwalk.open311.party_views import tell_parties_now
from fieldwalk.parties.model import list_parties
from fieldwalk.photos import pipeline as photo_pipeline
from fieldwalk.photos import public
from fieldwalk.photos.attach import PhotoSettings, store_photo
from fieldwalk.photos.files import remove_unreferenced, row_files
from fieldwalk.photos.model import list_task_photos
from fieldwalk.photos.views import photo_error_message
from fieldwalk.places.model import get_place
from fieldwalk.render import fail, render
from fieldwalk.residents.news import tell_residents
from fieldwalk.security import STAFF_ROLES, login_required, role_required
from fieldwalk.tasks.access import (
    get_task_or_404,
    may_view_task,
    observation_suggestion,
    parse_int,
    task_actor,
)
from fieldwalk.tasks.cases import format_case, parse_case
from fieldwalk.tasks.conversation import EDITORS, list_comments
from fieldwalk.tasks.mine import due_label
from fieldwalk.tasks.model import (
    count_tasks,
    get_task,
    list_engineers,
    list_tasks,
    related_task,
    related_tasks,
    task_history,
    task_observations,
    transition,
)
from fieldwalk.tasks.states import (
    OPEN_STATES,
    PRIORITIES,
    SENT,
    TRANSITIONS,
    TaskError,
    VersionConflict,
    allowed_actions,
)
from fieldwalk.tasks.words import (
    ACTION_LABELS,
    ERROR_FIELDS,
    ERROR_STATUS,
    EVENT_LABELS,
    FIELD_LABELS,
    PRIORITY_LABELS,
    STATE_LABELS,
    case_label,
    case_search,
    suggestion_text,
    task_error_message,
)
from fieldwalk.users import user_label
from fieldwalk.walks.model import get_walk

bp = Blueprint("tasks", __name__)


LISTS = {
    "open": OPEN_STATES,
    "done": ("done", "verified"),
    "closed": ("not_ours", "wont_fix", "duplicate"),
}


def task_page(
    task: dict,
    *,
    errors: dict | None = None,
    status: int = 200,
    message: str = "",
    comment_body: str = "",
):
    """The task page: what, where, who, the evidence, the conversation, the history and the
    next steps."""
    db = get_db()
    actor = task_actor(task)
    # Closing is what a phone is mostly for: "done" first, so its three taps start at the top.
    actions = sorted(allowed_actions(task, actor), key=lambda action: action != "done")
    place = get_place(db, task["place_id"]) if task["place_id"] else None
    walk = get_walk(db, task["walk_id"]) if task["walk_id"] else None
    observations = task_observations(db, task["id"])
    context = {
        "task": task,
        "actor": actor,
        "actions": actions,
        "errors": errors or {},
        "message": message,
        "place": place,
        "walk": walk,
        "observations": observations,
        "after_photos": list_task_photos(db, task["id"]),
        "history": readable_history(db, task_history(db, task["id"])),
        "open311": request_for_task(db, task["id"]),
        "assignee": db.execute(
            "SELECT name, email FROM users WHERE id = ?", [task["assignee_user_id"]]
        ).fetchone()
        if task["assignee_user_id"]
        else None,
        "original": get_task(db, task["duplicate_of"]) if task["duplicate_of"] else None,
        "ok": request.args.get("ok") if request.method == "GET" else None,
        "mail": request.args.get("mail") if request.method == "GET" else None,
        "commented": request.args.get("commented") if request.method == "GET" else None,
        "comments": list_comments(db, task["id"]),
        "comment_body": comment_body,
        "may_edit": bool(set(EDITORS) & set(actor.kinds)),
        "party_engineers": [e for e in list_engineers(db) if e["party_id"] == task["party_id"]],
    }
    if "duplicate" in actions:
        context["duplicate_candidates"] = _duplicate_candidates(task)
        context["case_example"] = format_case(current_app.config["CASE_PREFIX"], 2026, 42)
    if "reroute" in actions:
        context["parties"] = list_parties(db)
        if observations:
            suggestion = observation_suggestion(observations[0])
            context.update(suggestion=suggestion, suggestion_text=suggestion_text(suggestion))
    return render("tasks/show.html", status=status, **context)


def readable_history(db, history: list[dict]) -> list[dict]:
    """History entries, an edit's changes in words (a named engineer by name)."""
    for entry in history:
        if entry["action"] != "edit":
            continue
        entry["change_list"] = [
            (str(FIELD_LABELS.get(field, field)), _value(db, field, old), _value(db, field, new))
            for field, (old, new) in (entry.get("changes") or {}).items()
        ]
    return history


def _value(db, field: str, value) -> str:
    if value in (None, ""):
        return "–"
    if field == "assignee_user_id":
        return user_label(db, value) or "–"
    if field == "priority":
        return str(PRIORITY_LABELS.get(value, value))
    if field == "due_date":
        return due_label(value)
    return str(value)


def _duplicate_candidates(task: dict) -> list[dict]:
    """The tasks the duplicate form offers: the nearest of the same walk or place."""
    near = (task["lat"], task["lon"]) if task["lat"] is not None else None
    db = get_db()
    return related_tasks(db, task["walk_id"], task["place_id"], near, without=(task["id"],))


def _named_case(text: str | None) -> tuple[int, int] | None:
    """The (year, number) a form's case-number field names; TaskError when it names none."""
    case = parse_case(text or "", current_app.config.get("CASE_PREFIX", ""))
    if case is None:
        raise TaskError("duplicate_of")
    return case


@bp.get("/tasks/<int:task_id>")
@login_required
def show(task_id: int):
    """One task."""
    return task_page(get_task_or_404(task_id))


@bp.post("/tasks/<int:task_id>/<action>")
@login_required
def act(task_id: int, action: str):
    """Take one step on a task: the form names the version it was loaded at.

    `done` may carry an after-photo: it is stored in the same transaction as the change, so
    a refused photo leaves the task as it was and no file behind.
    """
    if action not in TRANSITIONS:
        abort(404)
    task = get_task_or_404(task_id)
    actor = task_actor(task)
    if not actor.kinds:
        fail(403, task_error_message("forbidden"))
    form = request.form
    version = parse_int(form.get("version"))
    if version is None:
        abort(400)
    upload = request.files.get("photo") if action == "done" else None
    data = (
        upload.read(current_app.config["MAX_PHOTO_BYTES"] + 1)
        if upload and upload.filename
        else b""
    )
    db = get_db()
    photo_dir = Path(current_app.config["PHOTO_PATH"])
    settings = PhotoSettings.from_config(current_app.config)
    written: list[str] = []
    try:
        with transaction(db):
            options = {"note": form.get("note"), "has_photo": bool(data)}
            if action == "duplicate":
                case_text = (form.get("duplicate_case") or "").strip()
                original = related_task(
                    db,
                    task["walk_id"],
                    task["place_id"],
                    parse_int(form.get("duplicate_of")),
                    _named_case(case_text) if case_text else None,
                )
                if original is None or original["id"] == task["id"]:
                    raise TaskError("duplicate_of")
                options["duplicate_of"] = original["id"]
            if action == "reroute":
                options["party_id"] = parse_int(form.get("party_id"))
                observations = task_observations(db, task_id)
                if observations:
                    options["suggestion"] = observation_suggestion(observations[0])
            changed = transition(db, task_id, action, actor, version=version, **options)
            if data:
                row, _created = store_photo(
                    db, photo_dir, str(uuid.uuid4()), data, settings, task_id=task_id
                )
                written += row_files(row)
            if (
                action == "reroute"
                and form.get("send_now")
                and "send" in allowed_actions(changed, actor)
            ):
                transition(db, task_id, "send", actor, version=changed["version"])
    except VersionConflict as conflict:
        if not may_view_task(conflict.current):  # re-routed away from this engineer's party
            fail(409, task_error_message("conflict"))
        return task_page(conflict.current, status=409, message=task_error_message("conflict"))
    except TaskError as error:
        status = ERROR_STATUS.get(error.code, 400)
        if status == 403:
            fail(403, task_error_message("forbidden"))
        field = ERROR_FIELDS.get(error.code, "_")
        errors = {"action": action, field: task_error_message(error.code, **error.detail)}
        return task_page(get_task(db, task_id), errors=errors, status=status)
    except photo_pipeline.PhotoError as error:
        errors = {"action": action, "photo": photo_error_message(error)}
        return task_page(get_task(db, task_id), errors=errors, status=error.status)
    except BaseException:
        remove_unreferenced(db, photo_dir, written)
        raise
    mail = None
    tell_residents(db, request.url_root.rstrip("/"))
    if data:
        public.wake()  # the after-photo's blurred copies, now that it is committed
    after = get_task(db, task_id)
    if after["state"] == SENT:
        # Handed to a party: a sending round for that party, now (its email also carries
        # any other task still waiting to be told to it). A party reached over Open311
        # gets a request in its system instead; the round leaves it out.
        results = tell_parties_now(db, {after["party_id"]})
        if results:
            mail = "sent" if all(r["status"] == "sent" for r in results) else "unreached"
    target = url_for("tasks.show", task_id=task_id, ok=action, mail=mail)
    return redirect(safe_next(form.get("next"), target), code=303)


# Tasks on a page of the list.
PAGE_SIZE = 50


@bp.get("/tasks")
@role_required(*STAFF_ROLES)
def index():
    """Every task, open ones first, a page at a time; coordinators also reach triage from
    here."""
    which = request.args.get("list", "open")
    states = LISTS.get(which)
    q = request.args.get("q", "").strip()[:200]
    case = case_search(q) if q else None
    page = parse_page(request.args)
    error = None
    if page is None:
        error, page = _("Choose a page number."), 1
    if q and not case and not textsearch.searchable(q):
        error = _("Search with at least %(n)d characters.", n=textsearch.SHORTEST)
        q = ""
    db = get_db()
    filters = {"states": states, "case": case, "text": "" if case else q}
    total = count_tasks(db, **filters)
    offset = (page - 1) * PAGE_SIZE
    return render(
        "tasks/index.html",
        status=400 if error else 200,
        tasks=list_tasks(db, limit=PAGE_SIZE, offset=offset, kept=total, **filters),
        total=total,
        page_number=page,
        pages=max(1, math.ceil(total / PAGE_SIZE)),
        error=error,
        which=which if states else "all",
        q=request.args.get("q", "").strip()[:200],
        case_example=format_case(current_app.config["CASE_PREFIX"], 2026, 42),
    )


def init_app(app: Flask) -> None:
    """Register the task screens and the helpers their templates use."""
    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        task_state_label=lambda state: str(STATE_LABELS.get(state, state)),
        task_action_label=lambda action: str(ACTION_LABELS.get(action, action)),
        task_event_label=lambda action: str(EVENT_LABELS.get(action, action)),
        task_priority_label=lambda priority: str(PRIORITY_LABELS.get(priority, priority)),
        task_priorities=PRIORITIES,
        case_number=case_label,
    )
