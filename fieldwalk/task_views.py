"""The task page and its actions, the list of every task, and what task screens share.

Views only translate between HTTP and the domain in `fieldwalk.tasks`: who is asking becomes
an `Actor`, a form becomes keyword arguments, a `TaskError` becomes a message beside its
field. Every action is a plain POST form carrying the task's version, so it works without
JavaScript and a stale page gets a conflict (409), never a silent overwrite.
"""

import uuid
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwalk import photos as photo_pipeline
from fieldwalk.capture import photo_error_message, photo_options
from fieldwalk.categories import category_label
from fieldwalk.db import get_db, transaction
from fieldwalk.i18n import safe_next
from fieldwalk.parties import get_party, list_parties
from fieldwalk.photo_store import list_task_photos, put_task_photo, remove_unreferenced
from fieldwalk.places import get_place
from fieldwalk.render import fail, render
from fieldwalk.routing import CATEGORY_DEFAULT, ZONE
from fieldwalk.security import ENGINEER, MANAGER_ROLES, STAFF_ROLES, login_required, role_required
from fieldwalk.tasks import (
    ASSIGNEE,
    COORDINATOR,
    LEADER,
    OPEN_STATES,
    PRIORITIES,
    PROPOSED,
    TRANSITIONS,
    Actor,
    TaskError,
    VersionConflict,
    allowed_actions,
    get_task,
    list_tasks,
    related_tasks,
    suggest_for_observation,
    task_history,
    task_observations,
    transition,
)
from fieldwalk.walks import can_manage, get_walk

bp = Blueprint("tasks", __name__)

STATE_LABELS = {
    "proposed": _l("Proposed"),
    "sent": _l("Sent"),
    "accepted": _l("Accepted"),
    "in_progress": _l("In progress"),
    "done": _l("Done"),
    "verified": _l("Verified"),
    "not_ours": _l("Not ours"),
    "wont_fix": _l("Will not fix"),
    "duplicate": _l("Duplicate"),
}
ACTION_LABELS = {
    "create": _l("Created"),
    "link": _l("Observation linked"),
    "send": _l("Send to the party"),
    "accept": _l("Accept"),
    "start": _l("Start work"),
    "done": _l("Done"),
    "verify": _l("Verify"),
    "not_ours": _l("Not ours"),
    "wont_fix": _l("Will not fix"),
    "duplicate": _l("Duplicate"),
    "reopen": _l("Reopen"),
    "reroute": _l("Re-route"),
}
PRIORITY_LABELS = {
    "low": _l("Low"),
    "normal": _l("Normal"),
    "high": _l("High"),
    "urgent": _l("Urgent"),
}
LISTS = {
    "open": OPEN_STATES,
    "done": ("done", "verified"),
    "closed": ("not_ours", "wont_fix", "duplicate"),
}
# Which form field a TaskError code belongs beside, and the status it answers with.
ERROR_FIELDS = {
    "note": "note",
    "evidence": "note",
    "duplicate_of": "duplicate_of",
    "party": "party_id",
    "override_reason": "override_reason",
    "measure": "measure",
    "priority": "priority",
    "due_date": "due_date",
    "assignee": "assignee_user_id",
}
ERROR_STATUS = {"forbidden": 403, "state": 409, "conflict": 409, "not_found": 404}


def task_error_message(code: str, **detail) -> str:
    """What to tell a person whose change was refused, in their language."""
    return {
        "note": _("Write a reason; this step needs one."),
        "evidence": _("Add an after-photo or a note saying what was done."),
        "duplicate_of": _("Choose the original task: another task, not one that copies this one."),
        "party": _("Choose a responsible party."),
        "override_reason": _("Say why you chose another party than the suggestion."),
        "measure": _("Say what should be done."),
        "priority": _("Choose a priority."),
        "due_date": _("Give the due date as a date (YYYY-MM-DD)."),
        "assignee": _("The named assignee must be an engineer of the chosen party."),
        "observations": _("That observation does not exist."),
        "forbidden": _("You may not take this step on this task."),
        "state": _(
            "This step is not possible now: the task is %(state)s.",
            state=STATE_LABELS.get(detail.get("state"), detail.get("state", "")),
        ),
        "conflict": _("Someone else changed this task just now. Here is how it stands now."),
        "not_found": _("We could not find that task."),
    }.get(code, _("The change could not be made."))


def suggestion_text(suggestion: dict) -> str:
    """The routing suggestion's reason, in words."""
    party = get_party(get_db(), suggestion["party_id"]) if suggestion.get("party_id") else None
    name = party["name"] if party else ""
    if suggestion.get("reason") == ZONE:
        return _(
            "Inside zone %(zone)s, owned by %(party)s", zone=suggestion["zone_name"], party=name
        )
    if suggestion.get("reason") == CATEGORY_DEFAULT:
        return _(
            "Default for category %(category)s: %(party)s",
            category=category_label(suggestion.get("category", "")),
            party=name,
        )
    return _("No zone or default decides: goes to triage")


def observation_suggestion(observation: dict) -> dict:
    """The routing suggestion for an observation as stored with a task (with its category)."""
    suggestion = suggest_for_observation(get_db(), observation).as_dict()
    suggestion["category"] = observation["category"]
    return suggestion


# --- who is asking -----------------------------------------------------------------------


def user_actor(kinds: tuple[str, ...]) -> Actor:
    return Actor(kinds, g.user["id"], g.user["name"] or g.user["email"])


def task_actor(task: dict) -> Actor:
    """The requester as an actor on this task; no kinds means they may look but not act."""
    role = g.user["role"]
    if role in MANAGER_ROLES:
        return user_actor((COORDINATOR,))
    if role == ENGINEER:
        same_party = g.user["party_id"] is not None and g.user["party_id"] == task["party_id"]
        return user_actor((ASSIGNEE,) if same_party else ())
    walk = get_walk(get_db(), task["walk_id"]) if task["walk_id"] else None
    return user_actor((LEADER,) if walk and can_manage(walk) else ())


def may_view_task(task: dict) -> bool:
    """Staff see every task; an engineer only their party's, once sent to it."""
    if g.user["role"] in STAFF_ROLES:
        return True
    return (
        g.user["role"] == ENGINEER
        and g.user["party_id"] is not None
        and g.user["party_id"] == task["party_id"]
        and task["state"] != PROPOSED
    )


def get_task_or_404(task_id: int) -> dict:
    """The task, if this requester may see it (others do not learn that it exists)."""
    task = get_task(get_db(), task_id)
    if task is None or not may_view_task(task):
        abort(404)
    return task


def parse_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- the task page and its actions -------------------------------------------------------


def task_page(task: dict, *, errors: dict | None = None, status: int = 200, message: str = ""):
    """The task page: what, where, who, the evidence, the history and the next steps."""
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
        "history": task_history(db, task["id"]),
        "assignee": db.execute(
            "SELECT name, email FROM users WHERE id = ?", [task["assignee_user_id"]]
        ).fetchone()
        if task["assignee_user_id"]
        else None,
        "original": get_task(db, task["duplicate_of"]) if task["duplicate_of"] else None,
        "ok": request.args.get("ok") if request.method == "GET" else None,
    }
    if "duplicate" in actions:
        context["duplicate_candidates"] = _duplicate_candidates(task)
    if "reroute" in actions:
        context["parties"] = list_parties(db)
        if observations:
            suggestion = observation_suggestion(observations[0])
            context.update(suggestion=suggestion, suggestion_text=suggestion_text(suggestion))
    return render("tasks/show.html", status=status, **context)


def _duplicate_candidates(task: dict) -> list[dict]:
    return [
        t
        for t in related_tasks(get_db(), task["walk_id"], task["place_id"])
        if t["id"] != task["id"] and t["state"] != "duplicate"
    ]


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
    written: list[str] = []
    try:
        with transaction(db):
            options = {"note": form.get("note"), "has_photo": bool(data)}
            if action == "duplicate":
                original = parse_int(form.get("duplicate_of"))
                if original not in {t["id"] for t in _duplicate_candidates(task)}:
                    raise TaskError("duplicate_of")
                options["duplicate_of"] = original
            if action == "reroute":
                options["party_id"] = parse_int(form.get("party_id"))
                observations = task_observations(db, task_id)
                if observations:
                    options["suggestion"] = observation_suggestion(observations[0])
            changed = transition(db, task_id, action, actor, version=version, **options)
            if data:
                row, _created = put_task_photo(
                    db, photo_dir, task_id, str(uuid.uuid4()), data, **photo_options()
                )
                written += [row["file"], row["thumb_file"]]
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
    target = url_for("tasks.show", task_id=task_id, ok=action)
    return redirect(safe_next(form.get("next"), target), code=303)


# --- every task ---------------------------------------------------------------------------


@bp.get("/tasks")
@role_required(*STAFF_ROLES)
def index():
    """Every task, open ones first; coordinators also reach triage from here."""
    which = request.args.get("list", "open")
    states = LISTS.get(which)
    return render(
        "tasks/index.html",
        tasks=list_tasks(get_db(), states=states),
        which=which if states else "all",
    )


def init_app(app: Flask) -> None:
    """Register the task screens and the helpers their templates use."""
    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        task_state_label=lambda state: str(STATE_LABELS.get(state, state)),
        task_action_label=lambda action: str(ACTION_LABELS.get(action, action)),
        task_priority_label=lambda priority: str(PRIORITY_LABELS.get(priority, priority)),
        task_priorities=PRIORITIES,
    )
