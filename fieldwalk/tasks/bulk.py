"""Bulk work: one step for several tasks and observations without a task, all or nothing.

Four steps, chosen in triage or the dashboard's list:

- assign: tasks waiting for a party (proposed, or answered "not ours") go to the chosen
  party (a re-route, with the reason when it is not the routing rule's suggestion);
  observations without a task get a task for that party. Optionally with a due date, and
  sent at once.
- due: the tasks get a due date.
- send: proposed tasks with a party are sent to it.
- duplicate: tasks are closed as duplicates of one original task; observations without a
  task join the original (the same problem seen again).

Everything is checked and changed in one transaction: one refusal and nothing changes, and
every refusal is reported (the task or observation, and why).
"""

from dataclasses import dataclass, field

from sqlite_utils import Database

from fieldwalk.db import transaction
from fieldwalk.observations.model import get_observation
from fieldwalk.tasks.conversation import update_task
from fieldwalk.tasks.model import (
    get_task,
    insert_task,
    is_date,
    link_observation,
    task_observations,
    transition,
)
from fieldwalk.tasks.states import NOT_OURS, PROPOSED, Actor, TaskError
from fieldwalk.tasks.suggest import suggest_for_observation

ACTIONS = ("assign", "due", "send", "duplicate")


@dataclass
class BulkOutcome:
    """What a bulk step changed; `told` are the parties with tasks just sent to them."""

    changed: list[int] = field(default_factory=list)
    created: list[int] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)
    told: set[int] = field(default_factory=set)


class BulkRefused(Exception):
    """Nothing was changed; `problems` lists (kind, id, code, detail) for each refusal."""

    def __init__(self, problems: list[tuple[str, object, str, dict]]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


def suggestion_for(db: Database, observation: dict) -> dict:
    """The routing suggestion stored with a task made from this observation."""
    suggestion = suggest_for_observation(db, observation).as_dict()
    suggestion["category"] = observation["category"]
    return suggestion


def apply_bulk(
    db: Database,
    action: str,
    actor: Actor,
    *,
    task_ids: list[int],
    observation_ids: list[str],
    measures: dict[str, str] | None = None,
    party_id: int | None = None,
    note: str = "",
    due_date: str | None = None,
    send_now: bool = False,
    original_id: int | None = None,
) -> BulkOutcome:
    """Apply one step to every chosen task and observation, or raise BulkRefused.

    `measures` gives the measure of the task made for each observation ("assign").
    """
    if action not in ACTIONS:
        raise BulkRefused([("request", None, "unknown_action", {})])
    if not task_ids and not observation_ids:
        raise BulkRefused([("request", None, "nothing_chosen", {})])
    general = _check_options(action, party_id, due_date, original_id)
    if general:
        raise BulkRefused(general)
    outcome, problems = BulkOutcome(), []
    with transaction(db):
        for task_id in dict.fromkeys(task_ids):
            try:
                _task_step(db, task_id, action, actor, outcome, party_id, note, due_date,
                           send_now, original_id)  # fmt: skip
            except TaskError as error:
                problems.append(("task", task_id, error.code, error.detail))
        for observation_id in dict.fromkeys(observation_ids):
            try:
                _observation_step(db, observation_id, action, actor, outcome, measures or {},
                                  party_id, note, due_date, send_now, original_id)  # fmt: skip
            except TaskError as error:
                problems.append(("observation", observation_id, error.code, error.detail))
        if problems:
            raise BulkRefused(problems)  # rolls the whole step back
    return outcome


def _check_options(action, party_id, due_date, original_id) -> list:
    if action == "assign" and party_id is None:
        return [("request", None, "party", {})]
    if action == "due" and not due_date:
        return [("request", None, "due_date", {})]
    if due_date and not is_date(due_date):
        return [("request", None, "due_date", {})]
    if action == "duplicate" and original_id is None:
        return [("request", None, "duplicate_of", {})]
    return []


def _task_step(db, task_id, action, actor, outcome, party_id, note, due_date, send_now, original):
    task = get_task(db, task_id)
    if task is None:
        raise TaskError("not_found")
    if action == "assign":
        if task["state"] not in (PROPOSED, NOT_OURS):
            raise TaskError("state", state=task["state"])
        observations = task_observations(db, task_id)
        suggestion = suggestion_for(db, observations[0]) if observations else None
        task = transition(db, task_id, "reroute", actor, version=task["version"], note=note,
                          party_id=party_id, suggestion=suggestion)  # fmt: skip
        if due_date:
            task = update_task(db, task_id, actor, version=task["version"], due_date=due_date)
        if send_now:
            transition(db, task_id, "send", actor, version=task["version"])
            outcome.told.add(party_id)
    elif action == "due":
        update_task(db, task_id, actor, version=task["version"], due_date=due_date)
    elif action == "send":
        transition(db, task_id, "send", actor, version=task["version"])
        outcome.told.add(task["party_id"])
    elif action == "duplicate":
        if task_id == original:
            raise TaskError("original_itself")
        transition(db, task_id, "duplicate", actor, version=task["version"], duplicate_of=original)
    outcome.changed.append(task_id)


def _observation_step(
    db, observation_id, action, actor, outcome, measures, party_id, note, due_date, send_now,
    original,
):  # fmt: skip
    observation = get_observation(db, observation_id)
    if observation is None:
        raise TaskError("observations")
    if observation["works_well"]:
        raise TaskError("works_well")
    if db.execute(
        "SELECT 1 FROM task_observations WHERE observation_id = ?", [observation_id]
    ).fetchone():
        raise TaskError("has_task")
    if action in ("due", "send"):
        raise TaskError("no_task")
    if action == "duplicate":
        if get_task(db, original) is None:
            raise TaskError("duplicate_of")
        link_observation(db, original, observation_id, actor)
        outcome.linked.append(observation_id)
        return
    task_id = insert_task(
        db,
        observation_ids=[observation_id],
        measure=measures.get(observation_id) or observation["description"],
        party_id=party_id,
        suggestion=suggestion_for(db, observation),
        override_reason=note,
        priority="urgent" if observation["urgent"] else "normal",
        due_date=due_date or None,
        actor=actor,
    )
    if send_now:
        transition(db, task_id, "send", actor, version=1)
        outcome.told.add(party_id)
    outcome.created.append(task_id)
