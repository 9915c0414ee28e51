"""The pages a party's signed link opens: its tasks from one walk, and the walk's links for staff."""

import uuid
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, g, redirect, request, url_for
from flask_babel import gettext as _

from fieldwalk.clock import now
from fieldwalk.db import get_db, transaction
from fieldwalk.ids import MAX_ROW_ID
from fieldwalk.parties.model import get_party
from fieldwalk.photos import pipeline as photo_pipeline
from fieldwalk.photos import public
from fieldwalk.photos.attach import PhotoSettings, store_photo
from fieldwalk.photos.files import remove_unreferenced, row_files
from fieldwalk.photos.views import photo_error_message
from fieldwalk.ratelimit import client_address, enforce
from fieldwalk.render import render
from fieldwalk.residents.news import tell_residents
from fieldwalk.security import MANAGER_ROLES, role_required
from fieldwalk.tasks.access import parse_int
from fieldwalk.tasks.comment_mail import notify_comment
from fieldwalk.tasks.conversation import (
    MAX_COMMENT_LENGTH,
    PARTY_SIDE,
    add_comment,
    list_comments,
)
from fieldwalk.tasks.links import (
    LINK_ACTIONS,
    LinkRefused,
    get_link,
    link_actor,
    link_tasks,
    list_party_links,
    list_walk_links,
    map_url,
    open_link,
    open_tasks_for_link,
    revoke_link,
    walk_party_holders,
)
from fieldwalk.tasks.model import get_task, transition
from fieldwalk.tasks.notify import send_party_link
from fieldwalk.tasks.states import (
    PROPOSED,
    TaskError,
    allowed_actions,
)
from fieldwalk.tasks.words import ERROR_STATUS, task_error_message
from fieldwalk.walks.access import get_walk_or_404
from fieldwalk.walks.model import get_walk

bp = Blueprint("links", __name__)


def _refused_page(refused: LinkRefused):
    messages = {
        "unknown": _("This link does not work. Check that the whole address was copied."),
        "expired": _("This link has expired. Ask the coordinator who sent it for a new one."),
        "revoked": _(
            "This link has been withdrawn. Ask the coordinator who sent it for a new one."
        ),
    }
    response = render("links/refused.html", status=refused.status, message=messages[refused.reason])
    return _private(response)


def _private(response):
    # The token is in the address: keep it out of caches and Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _open(token: str) -> dict:
    """The request's link, counted against the per-address and per-link limits."""
    config = current_app.config
    window = config["LINK_RATE_WINDOW_SECONDS"]
    enforce(f"link-addr:{client_address()}", config["LINK_RATE_LIMIT_PER_ADDRESS"], window)
    link = open_link(get_db(), token, config["SECRET_KEY"], config["PARTY_LINK_DAYS"])
    enforce(f"link:{link['id']}", config["LINK_RATE_LIMIT"], window)
    return link


def _tasks_page(
    token: str,
    link: dict,
    errors=None,
    values=None,
    saved=None,
    status=200,
    comment_errors=None,
):
    db = get_db()
    tasks = link_tasks(db, link)
    actor = link_actor(link)
    for task in tasks:
        task["actions"] = [a for a in allowed_actions(task, actor) if a in LINK_ACTIONS]
        task["comments"] = list_comments(db, task["id"])
    response = render(
        "links/tasks.html",
        status=status,
        token=token,
        link=link,
        walk=get_walk(db, link["walk_id"]) if link["walk_id"] is not None else None,
        tasks=tasks,
        errors=errors or {},
        values=values or {},
        saved=saved,
        comment_errors=comment_errors or {},
        commented=request.args.get("commented", type=int),
    )
    return _private(response)


@bp.get("/l/<token>")
def tasks_page(token: str):
    """A party's tasks from one walk, opened from the emailed link."""
    try:
        link = _open(token)
    except LinkRefused as refused:
        return _refused_page(refused)
    return _tasks_page(token, link, saved=request.args.get("saved", type=int))


def _link_task(link: dict, task_id: int) -> dict | None:
    """The task, when the link reaches it (its party, its walk, sent); else None."""
    task = get_task(get_db(), task_id) if 0 < task_id <= MAX_ROW_ID else None
    if (
        task is None
        or task["party_id"] != link["party_id"]
        or task["walk_id"] != link["walk_id"]
        or task["state"] == PROPOSED
    ):
        return None
    return task


@bp.post("/l/<token>/tasks/<int:task_id>/comments")
def comment(token: str, task_id: int):
    """The link holder comments on one of its tasks; the coordinators are told."""
    try:
        link = _open(token)
    except LinkRefused as refused:
        return _refused_page(refused)
    if _link_task(link, task_id) is None:
        return _refused_page(LinkRefused(404, "unknown"))
    db = get_db()
    body = request.form.get("body", "")
    try:
        comment_id = add_comment(
            db, task_id, PARTY_SIDE, link["party_name"], body, party_id=link["party_id"]
        )
    except TaskError:
        message = task_error_message("comment", limit=MAX_COMMENT_LENGTH)
        values = {task_id: {"comment": body}}
        return _tasks_page(
            token, link, values=values, comment_errors={task_id: message}, status=400
        )
    notify_comment(db, comment_id, request.url_root.rstrip("/"))
    target = url_for("links.tasks_page", token=token, commented=task_id)
    return _private(redirect(f"{target}#task-{task_id}", code=303))


@bp.post("/l/<token>/tasks/<int:task_id>")
def act(token: str, task_id: int):
    """Accept a task, mark it done (note and/or after-photo) or answer "not ours"."""
    try:
        link = _open(token)
    except LinkRefused as refused:
        return _refused_page(refused)
    db = get_db()
    if _link_task(link, task_id) is None:
        return _refused_page(LinkRefused(404, "unknown"))
    action = request.form.get("action", "")
    version = request.form.get("version", type=int)
    if action not in LINK_ACTIONS or version is None:
        abort(400)
    config = current_app.config
    note = request.form.get("note", "").strip()
    values = {task_id: {"note": note, "action": action}}
    if len(note) > config["MAX_DESCRIPTION_LENGTH"]:
        message = _("At most %(n)d characters.", n=config["MAX_DESCRIPTION_LENGTH"])
        return _tasks_page(token, link, errors={task_id: message}, values=values, status=400)
    upload = request.files.get("photo") if action == "done" else None
    data = upload.read(config["MAX_PHOTO_BYTES"] + 1) if upload and upload.filename else b""

    photo_dir = Path(config["PHOTO_PATH"])
    settings = PhotoSettings.from_config(config)
    stored: list[str] = []
    try:
        # One transaction: the after-photo and the state change are kept together or not at all.
        with transaction(db):
            transition(
                db,
                task_id,
                action,
                link_actor(link),
                version=version,
                note=note,
                has_photo=bool(data),
            )
            if data:
                row, _created = store_photo(
                    db, photo_dir, str(uuid.uuid4()), data, settings, task_id=task_id
                )
                stored += row_files(row)
    except TaskError as error:
        message = task_error_message(error.code, **error.detail)
        status = ERROR_STATUS.get(error.code, 400)
        return _tasks_page(token, link, errors={task_id: message}, values=values, status=status)
    except photo_pipeline.PhotoError as error:
        message = photo_error_message(error)
        return _tasks_page(
            token, link, errors={task_id: message}, values=values, status=error.status
        )
    except BaseException:
        remove_unreferenced(db, photo_dir, stored)
        raise
    tell_residents(db, request.url_root.rstrip("/"))
    if data:
        public.wake()  # the after-photo's blurred copies, now that it is committed
    target = url_for("links.tasks_page", token=token, saved=task_id)
    return _private(redirect(f"{target}#task-{task_id}", code=303))


def _walk_links_page(walk: dict, status: int = 200, message: str = ""):
    db = get_db()
    return render(
        "links/list.html",
        status=status,
        walk=walk,
        links=list_walk_links(db, walk["id"]),
        holders=walk_party_holders(db, walk["id"]),
        now=now(),
        message=message,
        sent=request.args.get("sent"),
    )


@bp.get("/walks/<int:walk_id>/links")
@role_required(*MANAGER_ROLES)
def walk_links(walk_id: int):
    """The links sent to parties for a walk, whether each still works, and a new one on demand."""
    return _walk_links_page(get_walk_or_404(walk_id, manage=True))


@bp.post("/walks/<int:walk_id>/links/<int:link_id>/revoke")
@role_required(*MANAGER_ROLES)
def revoke(walk_id: int, link_id: int):
    """Withdraw a link: it stops working at once."""
    get_walk_or_404(walk_id, manage=True)
    db = get_db()
    link = get_link(db, link_id) if 0 < link_id <= MAX_ROW_ID else None
    if link is None or link["walk_id"] != walk_id:
        abort(404)
    revoke_link(db, link_id)
    return redirect(url_for("links.walk_links", walk_id=walk_id), code=303)


def _send_link(party_id: int | None, walk_id: int | None) -> str:
    """Email the party a working link now; return the outcome's status."""
    db = get_db()
    if party_id is None or get_party(db, party_id) is None:
        return "no_tasks"
    result = send_party_link(db, party_id, walk_id, request.url_root.rstrip("/"), g.user["id"])
    # Twice in the same second (a double click) is one email, not a failure.
    return "sent" if result["status"] == "already_sent" else result["status"]


def link_outcome_message(status: str) -> str:
    """What became of a "send a new link now", in words."""
    return {
        "no_tasks": _("That party holds no open task here: there is nothing to link to."),
        "no_recipients": _("The party has no email address: add one, or a contact, first."),
        "failed": _("The email could not be sent. Try again in a while."),
    }.get(status, "")


@bp.post("/walks/<int:walk_id>/links/send")
@role_required(*MANAGER_ROLES)
def send_walk_link(walk_id: int):
    """Send a party a working link to its open tasks from the walk now (a new one if its link
    was withdrawn)."""
    walk = get_walk_or_404(walk_id, manage=True)
    status = _send_link(parse_int(request.form.get("party_id")), walk_id)
    if status != "sent":
        return _walk_links_page(walk, status=400, message=link_outcome_message(status))
    return redirect(url_for("links.walk_links", walk_id=walk_id, sent=1), code=303)


def _party_links_page(party: dict, status: int = 200, message: str = ""):
    db = get_db()
    return render(
        "links/party.html",
        status=status,
        party=party,
        links=list_party_links(db, party["id"]),
        open_without_walk=len(open_tasks_for_link(db, party["id"], None)),
        now=now(),
        message=message,
        sent=request.args.get("sent"),
    )


def _party_or_404(party_id: int) -> dict:
    party = get_party(get_db(), party_id)
    if party is None:
        abort(404)
    return party


@bp.get("/parties/<int:party_id>/links")
@role_required(*MANAGER_ROLES)
def party_links(party_id: int):
    """Every link a party was sent, from every walk and from outside a walk."""
    return _party_links_page(_party_or_404(party_id))


@bp.post("/parties/<int:party_id>/links/send")
@role_required(*MANAGER_ROLES)
def send_party_link_now(party_id: int):
    """Send a party a working link to its open tasks from outside a walk now."""
    party = _party_or_404(party_id)
    status = _send_link(party_id, None)
    if status != "sent":
        return _party_links_page(party, status=400, message=link_outcome_message(status))
    return redirect(url_for("links.party_links", party_id=party_id, sent=1), code=303)


@bp.post("/parties/<int:party_id>/links/<int:link_id>/revoke")
@role_required(*MANAGER_ROLES)
def revoke_party_link(party_id: int, link_id: int):
    """Withdraw one of a party's links: it stops working at once."""
    _party_or_404(party_id)
    db = get_db()
    link = get_link(db, link_id) if 0 < link_id <= MAX_ROW_ID else None
    if link is None or link["party_id"] != party_id:
        abort(404)
    revoke_link(db, link_id)
    return redirect(url_for("links.party_links", party_id=party_id), code=303)


def init_app(app: Flask) -> None:
    """Register the link pages and the coordinators' link list."""
    app.register_blueprint(bp)
    app.jinja_env.globals["map_url"] = map_url
