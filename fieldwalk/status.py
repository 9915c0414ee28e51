"""Public status pages: what became of an observation, and of a whole walk's observations.

Residents see what was decided and how far it got, without logging in. Nothing personal is
shown: the pages are built from an explicit list of public fields (category, description,
date, place, photos; each fix's measure, responsible party, state and after-photo), never
from whole rows, so names, emails, device keys, notes and exact positions cannot slip in.
The text, the photos, the measures and the after-photos appear only once staff approved the
observation for the public pages (fieldwalk/observations/moderation.py); until then a page
says what was reported, where and when, and how its fixes stand. The walk's public page is
built from the same `public_observation`, so it never shows more of one than its own page.
"""

from datetime import date, datetime

from flask import Blueprint, Flask, abort, redirect, url_for
from flask_babel import format_date, to_user_timezone
from flask_babel import gettext as _
from sqlite_utils import Database

from fieldwalk.db import get_db
from fieldwalk.ids import parse_uuid
from fieldwalk.observations.model import get_observation, list_walk_observations
from fieldwalk.observations.moderation import is_approved
from fieldwalk.photos.model import approved_photos, list_task_photos
from fieldwalk.places.model import get_place
from fieldwalk.render import render
from fieldwalk.security import STAFF_ROLES, device_key_hash, role_required
from fieldwalk.tasks.model import get_task, tasks_for_observation
from fieldwalk.tasks.states import (
    ACCEPTED,
    DONE,
    DUPLICATE,
    IN_PROGRESS,
    NOT_OURS,
    PROPOSED,
    SENT,
    VERIFIED,
    WONT_FIX,
)
from fieldwalk.walks.access import get_walk_or_404
from fieldwalk.walks.model import ensure_public_token, find_walk_by_public_token

bp = Blueprint("status", __name__)


def public_state_label(state: str) -> str:
    """A task's state in words a resident (or a party) understands."""
    return {
        PROPOSED: _("Proposed"),
        SENT: _("Sent to the responsible party"),
        ACCEPTED: _("Accepted"),
        IN_PROGRESS: _("In progress"),
        DONE: _("Done"),
        VERIFIED: _("Done and checked"),
        NOT_OURS: _("Being passed on to the right party"),
        WONT_FIX: _("Will not be fixed"),
        DUPLICATE: _("Handled together with another fix"),
    }.get(state, state)


def priority_label(priority: str) -> str:
    """A task's priority in words."""
    return {
        "low": _("Low"),
        "normal": _("Normal"),
        "high": _("High"),
        "urgent": _("Urgent"),
    }.get(priority, priority)


def calendar_date(value: str | None) -> str:
    """A date ('2026-12-01') or a stored UTC time as a Stockholm date, in the person's language."""
    if not value:
        return ""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            day = to_user_timezone(moment).date() if moment.tzinfo else moment.date()
    except ValueError:
        return value
    return format_date(day, "medium")


def _public_photos(photos: list[dict]) -> list[dict]:
    """The face-blurred copies of those photos that have them (the rest are still being made,
    and are left out until then)."""
    return [
        {"file": p["public_file"], "thumb_file": p["public_thumb_file"]}
        for p in photos
        if p["public_file"] and p["public_thumb_file"] and not p["hidden_at"]
    ]


def public_fixes(db: Database, observation_id: str, approved: bool = True) -> list[dict]:
    """The fixes decided for an observation: party and state; the measure and (when done)
    the after-photos too once the observation is `approved` for the public pages (a measure is
    often the resident's own words, copied into the task).

    A duplicate shows how the task it duplicates stands, since that one carries the work.
    """
    fixes = []
    for task in tasks_for_observation(db, observation_id):
        carrier = task
        seen = {task["id"]}
        while carrier["state"] == DUPLICATE and carrier["duplicate_of"]:
            original = get_task(db, carrier["duplicate_of"])
            if original is None or original["id"] in seen:
                break
            seen.add(original["id"])
            carrier = original
        finished = carrier["state"] in (DONE, VERIFIED)
        fixes.append(
            {
                "measure": task["measure"] if approved else "",
                "party_name": carrier["party_name"],
                "state": carrier["state"],
                "state_label": public_state_label(carrier["state"]),
                "finished": finished,
                "after_photos": _public_photos(list_task_photos(db, carrier["id"]))
                if finished and approved
                else [],
            }
        )
    return fixes


def public_observation(db: Database, observation: dict) -> dict:
    """The public fields of an observation, with its place, walk and fixes; its text and
    photos only when staff approved them for the public pages."""
    place = get_place(db, observation["place_id"]) if observation["place_id"] else None
    approved = is_approved(observation)
    return {
        "id": observation["id"],
        "category": observation["category"],
        "approved": approved,
        "description": (observation["public_description"] or "") if approved else "",
        "works_well": bool(observation["works_well"]),
        "urgent": bool(observation["urgent"]),
        "observed_at": observation["observed_at"],
        "place_name": place["name"] if place else "",
        "walk_id": observation["walk_id"],
        "photos": _public_photos(approved_photos(db, observation["id"])) if approved else [],
        "fixes": public_fixes(db, observation["id"], approved),
    }


def public_walk(db: Database, token: str) -> dict | None:
    """A walk's public fields and every observation on it, oldest first; None if unknown."""
    found = find_walk_by_public_token(db, token)
    if found is None:
        return None
    walk = {key: found[key] for key in ("id", "title", "starts_at", "state", "place_name")}
    observations = list_walk_observations(db, found["id"], oldest_first=True)
    walk["observations"] = [public_observation(db, o) for o in observations]
    return walk


@bp.get("/status/<observation_id>")
def observation(observation_id: str):
    """What became of one observation; anyone with the link may look."""
    db = get_db()
    canonical = parse_uuid(observation_id)
    found = get_observation(db, canonical) if canonical else None
    if found is None:
        abort(404)
    public = public_observation(db, found)
    walk_token = ensure_public_token(db, found["walk_id"]) if found["walk_id"] else None
    device = device_key_hash()
    own = device is not None and found["device_key_hash"] == device
    return render("status/observation.html", observation=public, walk_token=walk_token, own=own)


@bp.get("/w/<token>")
def walk(token: str):
    """A walk's public page: every observation and what became of it."""
    found = public_walk(get_db(), token)
    if found is None:
        abort(404)
    return render("status/walk.html", walk=found)


@bp.get("/walks/<int:walk_id>/public")
@role_required(*STAFF_ROLES)
def open_walk_page(walk_id: int):
    """Staff who manage the walk go to its public page (its address is made on first use)."""
    walk = get_walk_or_404(walk_id, manage=True)
    token = ensure_public_token(get_db(), walk["id"])
    return redirect(url_for("status.walk", token=token), code=303)


def init_app(app: Flask) -> None:
    """Register the public status pages and the words for task states."""
    app.register_blueprint(bp)
    app.jinja_env.globals["public_state_label"] = public_state_label
    app.jinja_env.globals["priority_label"] = priority_label
    app.jinja_env.filters["calendar_date"] = calendar_date
