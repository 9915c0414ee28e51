"""Getting fixes to whoever owns the ground: tasks from observations, a walk's tasks, triage.

Walk leaders (on the walks they manage) and coordinators turn observations into tasks, with
the routing rule's suggestion filled in and its reason in words. A walk's tasks are sent to
their parties together, one notification per party. What the rule could not route, and what
a party answered "not ours", waits in the coordinators' triage list.
"""

from flask import Blueprint, Flask, abort, current_app, g, redirect, request, url_for
from flask_babel import gettext as _

from fieldwalk.dashboard.filters import parse_page
from fieldwalk.db import get_db, transaction
from fieldwalk.i18n import safe_next
from fieldwalk.ids import parse_uuid
from fieldwalk.observations.duplicates import add_duplicate_hints
from fieldwalk.observations.model import get_observation
from fieldwalk.observations.moderation import (
    COUNT_AT_MOST,
    count_waiting_for_review,
    waiting_for_review,
)
from fieldwalk.open311.channel import channel_party_ids
from fieldwalk.open311.party_views import post_now, tell_parties_now
from fieldwalk.parties.model import list_parties
from fieldwalk.photos.model import list_photos, list_task_photos
from fieldwalk.render import fail, render
from fieldwalk.residents.news import tell_residents
from fieldwalk.security import MANAGER_ROLES, STAFF_ROLES, login_required, role_required
from fieldwalk.tasks.access import observation_suggestion, parse_int, task_actor, user_actor
from fieldwalk.tasks.cases import parse_case
from fieldwalk.tasks.model import (
    count_observations_without_task,
    count_tasks,
    insert_task,
    link_observation,
    list_engineers,
    list_tasks,
    observations_without_task,
    related_task,
    related_tasks,
    send_walk_tasks,
    task_observations,
    tasks_for_observation,
    transition,
)
from fieldwalk.tasks.notices import count_waiting_tasks
from fieldwalk.tasks.notify import send_notices
from fieldwalk.tasks.states import COORDINATOR, LEADER, NOT_OURS, PROPOSED, Actor, TaskError
from fieldwalk.tasks.words import ERROR_FIELDS, case_label, suggestion_text, task_error_message
from fieldwalk.walks.access import can_manage, get_walk_or_404
from fieldwalk.walks.model import get_walk

bp = Blueprint("triage", __name__)


def planner() -> Actor:
    """The requester as the one who plans tasks: a coordinator, or the walk's leader."""
    return user_actor((COORDINATOR,) if g.user["role"] in MANAGER_ROLES else (LEADER,))


def may_create_for(observation: dict) -> bool:
    """Coordinators and admins everywhere; walk leaders on the walks they manage."""
    if g.get("user") is None or g.user["role"] not in STAFF_ROLES:
        return False
    if g.user["role"] in MANAGER_ROLES:
        return True
    walk = get_walk(get_db(), observation["walk_id"]) if observation["walk_id"] else None
    return walk is not None and can_manage(walk)


def _observation_or_404(observation_id: str) -> dict:
    """The observation, when this requester may make tasks of it (staff only learn it exists)."""
    canonical = parse_uuid(observation_id)
    observation = get_observation(get_db(), canonical) if canonical else None
    if observation is None or not (g.user and g.user["role"] in STAFF_ROLES):
        abort(404)
    if not may_create_for(observation):
        abort(403)
    return observation


def create_form_context(observation: dict, values: dict | None = None) -> dict:
    """What the create form needs: parties, engineers, the suggestion and its reason."""
    db = get_db()
    suggestion = observation_suggestion(observation)
    if values is None:
        walk = get_walk(db, observation["walk_id"]) if observation["walk_id"] else None
        values = {
            "party_id": suggestion["party_id"],
            "priority": "urgent" if observation["urgent"] else "normal",
            # Once a walk's tasks went out (or with no walk to send them with), a new task
            # goes straight to its party unless the person says otherwise.
            "send_now": walk is None or bool(walk["tasks_sent_at"]),
        }
    return {
        "observation": observation,
        "values": values,
        "suggestion": suggestion,
        "suggestion_text": suggestion_text(suggestion),
        "parties": list_parties(db),
        "engineers": list_engineers(db),
        "link_candidates": link_candidates(observation),
    }


def link_candidates(observation: dict) -> list[dict]:
    """The nearest tasks of the same walk or place this observation may join: not already
    its own, and only tasks this person may change (a walk leader, those of walks they
    manage)."""
    db = get_db()
    own = tuple(task["id"] for task in tasks_for_observation(db, observation["id"]))
    near = (observation["lat"], observation["lon"]) if observation["lat"] is not None else None
    # A walk leader may change the tasks of the walks they made: the nearest of those.
    leader = None if g.user["role"] in MANAGER_ROLES else g.user["id"]
    related = related_tasks(
        db, observation["walk_id"], observation["place_id"], near, without=own, walks_of=leader
    )
    return [task for task in related if task_actor(task).kinds]


def observation_task_panel(observation: dict) -> dict:
    """The observation page's Tasks section: its tasks with after-photos, and the create form."""
    db = get_db()
    tasks = tasks_for_observation(db, observation["id"])
    for task in tasks:
        task["after_photos"] = list_task_photos(db, task["id"])
    user = g.get("user")
    panel = {"tasks": tasks, "can_open": bool(user and user["role"] in STAFF_ROLES)}
    if may_create_for(observation):
        panel["form"] = create_form_context(observation)
    return panel


@bp.get("/observations/<observation_id>/tasks/new")
@login_required
def new(observation_id: str):
    """The create-task form on its own page."""
    observation = _observation_or_404(observation_id)
    return render(
        "tasks/new.html",
        errors={},
        next=request.args.get("next", ""),
        create=create_form_context(observation),
    )


@bp.post("/observations/<observation_id>/tasks")
@login_required
def create(observation_id: str):
    """Create a task for an observation; the suggestion is worked out here, never trusted."""
    observation = _observation_or_404(observation_id)
    form = request.form
    values = {
        k: form.get(k, "").strip()
        for k in (
            "measure",
            "party_id",
            "override_reason",
            "priority",
            "due_date",
            "assignee_user_id",
        )
    }
    values["send_now"] = bool(form.get("send_now"))
    suggestion = observation_suggestion(observation)
    actor = planner()
    db = get_db()
    party_id = parse_int(values["party_id"])
    try:
        if values["party_id"] and party_id is None:
            raise TaskError("party")
        if values["assignee_user_id"] and parse_int(values["assignee_user_id"]) is None:
            raise TaskError("assignee")
        with transaction(db):  # created and sent together, or not at all
            task_id = insert_task(
                db,
                observation_ids=[observation["id"]],
                measure=values["measure"],
                party_id=party_id,
                suggestion=suggestion,
                override_reason=values["override_reason"],
                priority=values["priority"] or "normal",
                due_date=values["due_date"] or None,
                assignee_user_id=parse_int(values["assignee_user_id"]),
                actor=actor,
            )
            if values["send_now"] and party_id is not None:
                transition(db, task_id, "send", actor, version=1)
    except TaskError as error:
        errors = {ERROR_FIELDS.get(error.code, "_"): task_error_message(error.code)}
        return render(
            "tasks/new.html",
            status=400,
            errors=errors,
            next=form.get("next", ""),
            create=create_form_context(observation, values),
        )
    if values["send_now"] and party_id is not None:
        tell_parties_now(db, {party_id})
        tell_residents(db, request.url_root.rstrip("/"))
    target = url_for("capture.show", observation_id=observation["id"])
    return redirect(safe_next(form.get("next"), target), code=303)


@bp.post("/observations/<observation_id>/tasks/link")
@login_required
def link(observation_id: str):
    """Point this observation at an existing task of the same walk or place."""
    observation = _observation_or_404(observation_id)
    db = get_db()
    case_text = (request.form.get("task_case") or "").strip()
    case = parse_case(case_text, current_app.config.get("CASE_PREFIX", ""))
    task = (
        None
        if case_text and case is None
        else related_task(
            db,
            observation["walk_id"],
            observation["place_id"],
            parse_int(request.form.get("task_id")),
            case,
        )
    )
    own = {t["id"] for t in tasks_for_observation(db, observation["id"])}
    if task is None or task["id"] in own or not task_actor(task).kinds:
        fail(400, _("Choose a task from the same walk or place."))
    task_id = task["id"]
    actor = planner()
    link_observation(db, task_id, observation["id"], actor)
    return redirect(url_for("capture.show", observation_id=observation["id"]), code=303)


@bp.get("/walks/<int:walk_id>/tasks")
@role_required(*STAFF_ROLES)
def walk_tasks(walk_id: int):
    """A walk's tasks by party, the ones waiting in triage, and what still has no task."""
    walk = get_walk_or_404(walk_id, manage=True)
    db = get_db()
    tasks = list_tasks(db, walk_id=walk_id)
    groups: dict = {}
    for task in sorted(tasks, key=lambda t: (t["party_name"] is not None, t["party_name"] or "")):
        groups.setdefault(task["party_name"], []).append(task)
    return render(
        "tasks/walk.html",
        walk=walk,
        groups=groups,
        # Proposed tasks with a party, and tasks with a party that has not been told yet
        # (sent after a re-route whose email could not go, say): the next round sends both.
        to_send=sum(1 for t in tasks if t["state"] == PROPOSED and t["party_id"] is not None)
        + count_waiting_tasks(db, walk_id),
        untasked=observations_without_task(db, walk_id),
        sent=request.args.get("sent", type=int),
        emailed=request.args.get("emailed", type=int),
        unreached=request.args.get("unreached", type=int),
        posted=request.args.get("posted", type=int),
        unposted=request.args.get("unposted", type=int),
    )


@bp.post("/walks/<int:walk_id>/tasks/send")
@role_required(*STAFF_ROLES)
def send(walk_id: int):
    """Send every proposed task with a party, then tell each party once, in one email with
    every task waiting to be told to it (these, and any whose email could not go before)."""
    walk = get_walk_or_404(walk_id, manage=True)
    db = get_db()
    sent = send_walk_tasks(db, walk["id"], planner())
    summary = {"sent": sum(len(ids) for ids in sent.values())}
    # Parties reached over Open311 get their tasks posted to their system, not an email
    # (the sending round leaves them out).
    over_open311 = channel_party_ids(db) & set(sent)
    results = send_notices(db, request.url_root.rstrip("/"), walk_id=walk["id"])
    tell_residents(db, request.url_root.rstrip("/"))
    if results:
        summary["emailed"] = sum(1 for r in results if r.get("status") == "sent")
        summary["unreached"] = sum(
            1 for r in results if r.get("status") in ("no_recipients", "failed")
        )
    if over_open311:
        posted = post_now(db, over_open311)
        summary["posted"] = sum(1 for r in posted if r["status"] == "sent")
        summary["unposted"] = sum(1 for r in posted if r["status"] == "failed")
    return redirect(url_for("triage.walk_tasks", walk_id=walk_id, **summary), code=303)


@bp.get("/tasks/triage")
@role_required(*MANAGER_ROLES)
def triage():
    """Coordinators' triage: tasks without a party, tasks answered "not ours", untasked observations."""
    db = get_db()
    size = current_app.config["TRIAGE_PAGE_SIZE"]
    # The first few waiting, most urgent first: those without a party, then those a party
    # answered "not ours"; the rest come up as these are routed.
    queues = ({"states": (PROPOSED,), "without_party": True}, {"states": (NOT_OURS,)})
    waiting: list[dict] = []
    waiting_total = 0
    for queue in queues:
        kept = count_tasks(db, **queue)
        waiting_total += kept
        if len(waiting) < size:
            waiting += list_tasks(db, limit=size - len(waiting), kept=kept, **queue)
    for task in waiting:
        observations = task_observations(db, task["id"])
        task["suggestion"] = (
            observation_suggestion(observations[0]) if observations else {"party_id": None}
        )
        task["suggestion_text"] = suggestion_text(task["suggestion"])
        task["walk_sent"] = bool(
            task["walk_id"] is None or (get_walk(db, task["walk_id"]) or {}).get("tasks_sent_at")
        )
    page = parse_page(request.args)
    if page is None:
        abort(400)
    total = count_observations_without_task(db)
    untasked = observations_without_task(db, limit=size, offset=(page - 1) * size)
    for observation in untasked:
        walk = get_walk(db, observation["walk_id"]) if observation["walk_id"] else None
        observation["send_now"] = walk is None or bool(walk["tasks_sent_at"])
        observation["suggestion"] = observation_suggestion(observation)
        observation["suggestion_text"] = suggestion_text(observation["suggestion"])
    add_duplicate_hints(db, untasked)
    review = waiting_for_review(db, limit=size)
    for observation in review:
        observation["photos"] = list_photos(db, observation["id"])
    return render(
        "tasks/triage.html",
        review=review,
        review_total=count_waiting_for_review(db),
        review_at_most=COUNT_AT_MOST,
        waiting=waiting,
        waiting_total=waiting_total,
        untasked=untasked,
        untasked_total=total,
        page_number=page,
        pages=max(1, -(-total // size)),
        parties=list_parties(db),
        case_example=case_label({"case_year": 2026, "case_seq": 42}),
    )


def init_app(app: Flask) -> None:
    """Register the planning screens; the observation page asks for its Tasks section."""
    app.register_blueprint(bp)
    app.jinja_env.globals["observation_task_panel"] = observation_task_panel
