"""Telling the other side of a task's conversation about a new comment, by email.

A comment by staff goes to the party holding the task (its address, its contacts and its
engineers: the named one, or all of them), with the party's link; a comment from the party
side (an engineer, or the link holder) goes to the coordinators and the task's creator, with
the task page's address. Each comment is emailed at most once (`comment:<id>`).
"""

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlite_utils import Database

from fieldwalk.mail import header_text, render_email, send_once, url_builder
from fieldwalk.parties.model import get_party, party_recipients
from fieldwalk.tasks.conversation import (
    STAFF_SIDE,
    get_comment,
    party_may_see_comments,
)
from fieldwalk.tasks.links import ensure_party_link
from fieldwalk.tasks.model import get_task
from fieldwalk.tasks.words import case_label
from fieldwalk.users import coordinator_emails, party_engineer_emails, user_emails


def comment_recipients(db: Database, task: dict, side: str) -> list[str]:
    """Who hears about a comment written by `side`: the other side."""
    if side == STAFF_SIDE:
        if not party_may_see_comments(task):
            return []
        engineers = (
            user_emails(db, [task["assignee_user_id"]])
            if task["assignee_user_id"]
            else party_engineer_emails(db, task["party_id"])
        )
        return [*party_recipients(db, task["party_id"]), *engineers]
    creator = [task["created_by"]] if task["created_by"] else []
    return [*user_emails(db, creator), *coordinator_emails(db)]


def notify_comment(db: Database, comment_id: int, base_url: str) -> dict:
    """Email the other side about a comment; return the result (status "sent",
    "no_recipients", "already_sent" or "failed")."""
    comment = get_comment(db, comment_id)
    task = get_task(db, comment["task_id"]) if comment else None
    if task is None:
        return {"status": "no_recipients"}
    recipients = comment_recipients(db, task, comment["side"])
    external = url_builder(base_url)
    if comment["side"] == STAFF_SIDE:
        days = current_app.config["PARTY_LINK_DAYS"]
        token = ensure_party_link(db, task["party_id"], task["walk_id"], days)
        url = external("links.tasks_page", token=token, _anchor=f"task-{task['id']}")
    else:
        url = external("tasks.show", task_id=task["id"], _anchor="conversation")
    party = get_party(db, task["party_id"]) if task["party_id"] else None
    case = case_label(task)

    def compose():
        context = {
            "comment": comment,
            "task": task,
            "party": party,
            "url": url,
            "case": case,
            "to_party": comment["side"] == STAFF_SIDE,
        }
        subject = _(
            "New comment on %(task)s from %(author)s",
            task=case or header_text(task["measure"], 50),
            author=header_text(comment["author"], 60),
        )
        return (
            subject,
            render_email("email/comment.txt", **context),
            render_email("email/comment.html", **context),
        )

    with force_locale(current_app.config["MAIL_LOCALE"]):
        return send_once(
            db,
            "comment",
            f"comment:{comment_id}",
            recipients,
            compose,
            party_id=task["party_id"] if comment["side"] == STAFF_SIDE else None,
        )
