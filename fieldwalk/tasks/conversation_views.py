"""A task's conversation and edits from the task page: comment, and change what it asks for.

Everyone who may see a task may comment on it: staff on the staff side, a party's engineers
on the party side (the link holder comments from the link page, `link_views`). Each comment
emails the other side once it is stored. Those who plan tasks (coordinators, the walk's
leader) may edit the measure, due date, priority and named engineer; each change goes into
the task's history.
"""

from flask import Blueprint, Flask, g, redirect, request, url_for

from fieldwalk.db import get_db
from fieldwalk.render import fail
from fieldwalk.security import ENGINEER, login_required
from fieldwalk.tasks.access import get_task_or_404, may_view_task, parse_int, task_actor
from fieldwalk.tasks.comment_mail import notify_comment
from fieldwalk.tasks.conversation import (
    MAX_COMMENT_LENGTH,
    PARTY_SIDE,
    STAFF_SIDE,
    add_comment,
    update_task,
)
from fieldwalk.tasks.model import get_task
from fieldwalk.tasks.states import TaskError, VersionConflict
from fieldwalk.tasks.views import task_page
from fieldwalk.tasks.words import ERROR_FIELDS, ERROR_STATUS, task_error_message

bp = Blueprint("conversation", __name__)


@bp.post("/tasks/<int:task_id>/comments")
@login_required
def comment(task_id: int):
    """Add a comment to the task's conversation and tell the other side."""
    task = get_task_or_404(task_id)
    db = get_db()
    side = PARTY_SIDE if g.user["role"] == ENGINEER else STAFF_SIDE
    body = request.form.get("body", "")
    try:
        comment_id = add_comment(
            db,
            task_id,
            side,
            g.user["name"] or g.user["email"],
            body,
            user_id=g.user["id"],
            party_id=g.user["party_id"] if side == PARTY_SIDE else None,
        )
    except TaskError as error:
        errors = {"action": "comment", "body": comment_error(error.code)}
        return task_page(task, errors=errors, status=400, comment_body=body)
    result = notify_comment(db, comment_id, request.url_root.rstrip("/"))
    told = "sent" if result["status"] in ("sent", "already_sent") else "unreached"
    target = url_for("tasks.show", task_id=task_id, commented=told, _anchor="conversation")
    return redirect(target, code=303)


def comment_error(code: str) -> str:
    """A refused comment's message."""
    if code == "comment":
        return task_error_message("comment", limit=MAX_COMMENT_LENGTH)
    return task_error_message(code)


@bp.post("/tasks/<int:task_id>/edit")
@login_required
def edit(task_id: int):
    """Change the task's measure, due date, priority or named engineer."""
    task = get_task_or_404(task_id)
    actor = task_actor(task)
    form = request.form
    version = parse_int(form.get("version"))
    if version is None:
        fail(400, task_error_message("conflict"))
    values = {
        "measure": form.get("measure", ""),
        "priority": form.get("priority", ""),
        "due_date": form.get("due_date", "").strip() or None,
        "assignee_user_id": parse_int(form.get("assignee_user_id")),
    }
    if form.get("assignee_user_id") and values["assignee_user_id"] is None:
        errors = {"action": "edit", "assignee_user_id": task_error_message("assignee")}
        return task_page(task, errors=errors, status=400)
    db = get_db()
    try:
        update_task(db, task_id, actor, version=version, **values)
    except VersionConflict as conflict:
        if not may_view_task(conflict.current):
            fail(409, task_error_message("conflict"))
        return task_page(conflict.current, status=409, message=task_error_message("conflict"))
    except TaskError as error:
        status = ERROR_STATUS.get(error.code, 400)
        if status == 403:
            fail(403, task_error_message("forbidden"))
        field = ERROR_FIELDS.get(error.code, "_")
        errors = {"action": "edit", field: task_error_message(error.code)}
        return task_page(get_task(db, task_id), errors=errors, status=status)
    return redirect(url_for("tasks.show", task_id=task_id, ok="edit"), code=303)


def init_app(app: Flask) -> None:
    """Register the conversation and edit routes."""
    app.register_blueprint(bp)
