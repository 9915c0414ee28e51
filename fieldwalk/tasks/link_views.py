"""The pages a party's signed link opens: its tasks from one walk, and the walk's links for staff."""

import uuid
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, redirect, request, url_for
from flask_babel import gettext as _

from fieldwalk.clock import now
from fieldwalk.db import get_db, transaction
from fieldwalk.ids import MAX_ROW_ID
from fieldwalk.photos import pipeline as photo_pipeline
from fieldwalk.photos import public
from fieldwalk.photos.attach import PhotoSettings, store_photo
from fieldwalk.photos.files import remove_unreferenced
from fieldwalk.photos.views import photo_error_message
from fieldwalk.ratelimit import client_address, enforce
from fieldwalk.render import render
from fieldwalk.security import MANAGER_ROLES, role_required
from fieldwalk.tasks.links import (
    LINK_ACTIONS,
    LinkRefused,
    get_link,
    link_actor,
    link_tasks,
    list_walk_links,
    map_url,
    open_link,
    revoke_link,
)
from fieldwalk.tasks.model import get_task, transition
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


def _tasks_page(token: str, link: dict, errors=None, values=None, saved=None, status=200):
    db = get_db()
    tasks = link_tasks(db, link)
    actor = link_actor(link)
    for task in tasks:
        task["actions"] = [a for a in allowed_actions(task, actor) if a in LINK_ACTIONS]
    response = render(
        "links/tasks.html",
        status=status,
        token=token,
        link=link,
        walk=get_walk(db, link["walk_id"]),
        tasks=tasks,
        errors=errors or {},
        values=values or {},
        saved=saved,
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


@bp.post("/l/<token>/tasks/<int:task_id>")
def act(token: str, task_id: int):
    """Accept a task, mark it done (note and/or after-photo) or answer "not ours"."""
    try:
        link = _open(token)
    except LinkRefused as refused:
        return _refused_page(refused)
    db = get_db()
    task = get_task(db, task_id) if 0 < task_id <= MAX_ROW_ID else None
    if (
        task is None
        or task["party_id"] != link["party_id"]
        or task["walk_id"] != link["walk_id"]
        or task["state"] == PROPOSED
    ):
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
                stored += [row["file"], row["thumb_file"]]
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
    if data:
        public.wake()  # the after-photo's blurred copies, now that it is committed
    target = url_for("links.tasks_page", token=token, saved=task_id)
    return _private(redirect(f"{target}#task-{task_id}", code=303))


@bp.get("/walks/<int:walk_id>/links")
@role_required(*MANAGER_ROLES)
def walk_links(walk_id: int):
    """The links sent to parties for a walk, and whether each still works."""
    walk = get_walk_or_404(walk_id, manage=True)
    return render("links/list.html", walk=walk, links=list_walk_links(get_db(), walk_id), now=now())


@bp.post("/walks/<int:walk_id>/links/<int:link_id>/revoke")
@role_required(*MANAGER_ROLES)
def revoke(walk_id: int, link_id: int):
    """Withdraw a link: it stops working at once."""
    get_walk_or_404(walk_id, manage=True)
    db = get_db()
    link = get_link(db, link_id) if 0 < link_id <= MAX_ROW_ID else None
    if link is None or link["walk_id"] != walk_id:
        abort(404)
    revoke_link(db, walk_id, link_id)
    return redirect(url_for("links.walk_links", walk_id=walk_id), code=303)


def init_app(app: Flask) -> None:
    """Register the link pages and the coordinators' link list."""
    app.register_blueprint(bp)
    app.jinja_env.globals["map_url"] = map_url
