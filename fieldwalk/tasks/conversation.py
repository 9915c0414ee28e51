"""A task's conversation and its edits: comments between the two sides, and changes to what
the task asks for, each kept in the task's history.

Two sides talk about a task: "staff" (coordinators, admins, walk leaders) and "party" (the
party holding the task: its engineers, or whoever holds its emailed link). Editing changes
the measure, the due date, the priority or the named engineer; each change goes into the
audit log with the old and the new value, and bumps the task's version like any step.
"""

import json

from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.tasks.model import check_assignee, get_task, is_date, log_change
from fieldwalk.tasks.states import (
    COORDINATOR,
    LEADER,
    PRIORITIES,
    PROPOSED,
    Actor,
    TaskError,
    VersionConflict,
)

STAFF_SIDE, PARTY_SIDE = "staff", "party"


# Who may edit a task: those who plan tasks.
EDITORS = (COORDINATOR, LEADER)


EDITABLE = ("measure", "due_date", "priority", "assignee_user_id")


MAX_COMMENT_LENGTH = 2000


def add_comment(
    db: Database,
    task_id: int,
    side: str,
    author: str,
    body: str,
    *,
    user_id: int | None = None,
    party_id: int | None = None,
) -> int:
    """Add a comment to a task's conversation; return its id. Raise TaskError("comment")
    for an empty or too long one."""
    body = (body or "").strip()
    if not body or len(body) > MAX_COMMENT_LENGTH:
        raise TaskError("comment")
    if side not in (STAFF_SIDE, PARTY_SIDE):
        raise ValueError(f"unknown side {side!r}")
    with transaction(db):
        if get_task(db, task_id) is None:
            raise TaskError("not_found")
        cursor = db.execute(
            """INSERT INTO task_comments (task_id, side, user_id, party_id, author, body,
                   created_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [task_id, side, user_id, party_id, author, body, now()],
        )
    return cursor.lastrowid


def get_comment(db: Database, comment_id: int) -> dict | None:
    """One comment, or None."""
    row = db.execute("SELECT * FROM task_comments WHERE id = ?", [comment_id]).fetchone()
    return dict(row) if row else None


def list_comments(db: Database, task_id: int) -> list[dict]:
    """A task's conversation, oldest first."""
    rows = db.execute(
        "SELECT * FROM task_comments WHERE task_id = ? ORDER BY id", [task_id]
    ).fetchall()
    return [dict(r) for r in rows]


def comment_counts(db: Database, task_ids: list[int]) -> dict[int, int]:
    """How many comments each of some tasks has."""
    if not task_ids:
        return {}
    marks = ",".join("?" * len(task_ids))
    rows = db.execute(
        f"""SELECT task_id, count(*) FROM task_comments WHERE task_id IN ({marks})
            GROUP BY task_id""",  # noqa: S608 (placeholders only)
        task_ids,
    )
    return {r[0]: r[1] for r in rows}


def party_may_see_comments(task: dict) -> bool:
    """The party side sees and joins a task's conversation once the task was sent to it."""
    return task["party_id"] is not None and task["state"] != PROPOSED


def update_task(db: Database, task_id: int, actor: Actor, *, version: int, **values) -> dict:
    """Change a task's measure, due date, priority or named engineer; return the task.

    Only the fields given are changed, each change logged with its old and new value.
    Raise TaskError (bad value, not allowed) or VersionConflict (changed meanwhile).
    """
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    if not set(EDITORS) & set(actor.kinds):
        raise TaskError("forbidden")
    clean: dict = {}
    if "measure" in values:
        clean["measure"] = (values["measure"] or "").strip()
        if not clean["measure"]:
            raise TaskError("measure")
    if "priority" in values:
        if values["priority"] not in PRIORITIES:
            raise TaskError("priority")
        clean["priority"] = values["priority"]
    if "due_date" in values:
        clean["due_date"] = values["due_date"] or None
        if clean["due_date"] is not None and not is_date(clean["due_date"]):
            raise TaskError("due_date")
    if "assignee_user_id" in values:
        clean["assignee_user_id"] = values["assignee_user_id"]
    with transaction(db):
        task = get_task(db, task_id)
        if task is None:
            raise TaskError("not_found")
        if task["version"] != version:
            raise VersionConflict(task)
        if "assignee_user_id" in clean:
            check_assignee(db, task["party_id"], clean["assignee_user_id"])
        changes = {k: [task[k], v] for k, v in clean.items() if task[k] != v}
        if not changes:
            return task
        assignments = ", ".join(f"{column} = ?" for column in changes)
        db.execute(
            f"""UPDATE tasks SET {assignments}, version = version + 1, updated_at = ?
                WHERE id = ? AND version = ?""",  # noqa: S608 (column names from EDITABLE)
            [*(new for _old, new in changes.values()), now(), task_id, version],
        )
        log_change(db, actor, task_id, "edit", changes=changes)
        return get_task(db, task_id)


def edit_summary(entry: dict) -> list[tuple[str, object, object]]:
    """The (field, old, new) changes of an "edit" history entry."""
    changes = entry.get("changes") or {}
    if isinstance(changes, str):
        changes = json.loads(changes)
    return [(field, old, new) for field, (old, new) in changes.items()]
