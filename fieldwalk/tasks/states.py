"""The task state machine: states, who may take which action from where, and what it needs.

One table, `TRANSITIONS`: for each action, the states it may start from, the state it
leads to, who may take it, and what it needs. Pure: no database.
"""

from dataclasses import dataclass

PROPOSED, SENT, ACCEPTED, IN_PROGRESS = "proposed", "sent", "accepted", "in_progress"


DONE, VERIFIED = "done", "verified"


NOT_OURS, WONT_FIX, DUPLICATE = "not_ours", "wont_fix", "duplicate"


STATES = (PROPOSED, SENT, ACCEPTED, IN_PROGRESS, DONE, VERIFIED, NOT_OURS, WONT_FIX, DUPLICATE)


OPEN_STATES = (PROPOSED, SENT, ACCEPTED, IN_PROGRESS)
# The same, for an `IN (...)` in SQL built from constants.
OPEN_STATES_SQL = ", ".join(f"'{state}'" for state in OPEN_STATES)


WITH_PARTY = (SENT, ACCEPTED, IN_PROGRESS)


PRIORITIES = ("low", "normal", "high", "urgent")


# Who acts: a coordinator (or admin), the walk's leader, or the party the task is assigned
# to (an engineer of that party, or the holder of that party's emailed link).
COORDINATOR, LEADER, ASSIGNEE = "coordinator", "leader", "assignee"


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]
    target: str | None  # None: decided by the action (reopen, reroute)
    actors: tuple[str, ...]
    needs: tuple[str, ...] = ()  # 'note', 'evidence' (note or photo), 'duplicate_of', 'party'


TRANSITIONS: dict[str, Transition] = {
    "send": Transition((PROPOSED,), SENT, (COORDINATOR, LEADER), ("party",)),
    "accept": Transition((SENT,), ACCEPTED, (ASSIGNEE, COORDINATOR)),
    "start": Transition((SENT, ACCEPTED), IN_PROGRESS, (ASSIGNEE, COORDINATOR)),
    "done": Transition((SENT, ACCEPTED, IN_PROGRESS), DONE, (ASSIGNEE, COORDINATOR), ("evidence",)),
    "verify": Transition((DONE,), VERIFIED, (COORDINATOR,)),
    "not_ours": Transition(
        (SENT, ACCEPTED, IN_PROGRESS), NOT_OURS, (ASSIGNEE, COORDINATOR), ("note",)
    ),
    "wont_fix": Transition(
        (PROPOSED, SENT, ACCEPTED, IN_PROGRESS), WONT_FIX, (ASSIGNEE, COORDINATOR), ("note",)
    ),
    "duplicate": Transition(
        (PROPOSED, SENT, ACCEPTED, IN_PROGRESS, NOT_OURS),
        DUPLICATE,
        (COORDINATOR, LEADER),
        ("duplicate_of",),
    ),
    "reopen": Transition((DONE, VERIFIED, WONT_FIX, DUPLICATE), None, (COORDINATOR,), ("note",)),
    "reroute": Transition((PROPOSED, NOT_OURS), PROPOSED, (COORDINATOR, LEADER), ("party",)),
}


@dataclass(frozen=True)
class Actor:
    """Who is changing a task: their kind for this task, and how the audit log names them."""

    kinds: tuple[str, ...]
    user_id: int | None = None
    label: str = ""


class TaskError(Exception):
    """A change that cannot be made; `code` says why (for a message in the person's language)."""

    def __init__(self, code: str, **detail):
        super().__init__(code)
        self.code = code
        self.detail = detail


class VersionConflict(TaskError):
    """Someone else changed the task since this person loaded it."""

    def __init__(self, current: dict):
        super().__init__("conflict", current=current)
        self.current = current


def allowed_actions(task: dict, actor: Actor) -> list[str]:
    """The actions this actor may take on the task now, in the table's order."""
    return [
        name
        for name, rule in TRANSITIONS.items()
        if task["state"] in rule.sources and set(rule.actors) & set(actor.kinds)
    ]
