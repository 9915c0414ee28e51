"""Who is acting on a task, and whether they may see it, from the request's user."""

from flask import abort, g

from fieldwalk.db import get_db
from fieldwalk.security import ENGINEER, MANAGER_ROLES, STAFF_ROLES
from fieldwalk.tasks.model import get_task
from fieldwalk.tasks.states import ASSIGNEE, COORDINATOR, LEADER, PROPOSED, Actor
from fieldwalk.tasks.suggest import suggest_for_observation
from fieldwalk.walks.access import can_manage
from fieldwalk.walks.model import get_walk


def observation_suggestion(observation: dict) -> dict:
    """The routing suggestion for an observation as stored with a task (with its category)."""
    suggestion = suggest_for_observation(get_db(), observation).as_dict()
    suggestion["category"] = observation["category"]
    return suggestion


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
