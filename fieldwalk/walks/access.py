"""Who may see or manage a walk, decided from the request's user or phone."""

import json
from typing import NoReturn

from flask import abort, current_app, g, request
from flask_babel import gettext as _

from fieldwalk.db import get_db
from fieldwalk.places.model import get_place, place_feature
from fieldwalk.render import fail
from fieldwalk.security import (
    ADMIN,
    COORDINATOR,
    device_key_hash,
    is_staff,
)
from fieldwalk.walks.model import find_participant, get_walk


def current_participant(walk: dict) -> dict | None:
    """This requester's participant row on the walk, if they joined it."""
    user_id = g.user["id"] if g.get("user") else None
    return find_participant(get_db(), walk["id"], device_hash=device_key_hash(), user_id=user_id)


def can_view(walk: dict) -> bool:
    """Staff see every walk; residents see the walks they joined."""
    return is_staff() or current_participant(walk) is not None


def can_manage(walk: dict) -> bool:
    """Coordinators and admins manage every walk; walk leaders the ones they created."""
    if not is_staff():
        return False
    return g.user["role"] in (COORDINATOR, ADMIN) or walk["created_by"] == g.user["id"]


def refuse_non_member() -> NoReturn:
    """The one answer, on every path (pages, forms, the API), to someone not on the walk.

    403 with how to get in: a resident whose phone lost its cookie is told to join again
    by the invitation link, whether the outbox or a page asked.
    """
    fail(403, _("Join the walk before recording on it."))


def get_walk_or_404(walk_id: int, manage: bool = False) -> dict:
    """The walk, if this requester may see (or manage) it; 404 when there is no such walk,
    403 for someone not on it or not managing it."""
    walk = get_walk(get_db(), walk_id)
    if walk is None:
        abort(404)
    if not can_view(walk):
        refuse_non_member()
    if manage and not can_manage(walk):
        abort(403)
    return walk


def walk_map_data(walk: dict) -> dict:
    """What the walk's map draws: the place, the meeting point and the route."""
    place = get_place(get_db(), walk["place_id"])
    return {
        "place": place_feature(place),
        "meeting": [walk["meeting_lat"], walk["meeting_lon"]]
        if walk["meeting_lat"] is not None
        else None,
        "route": json.loads(walk["route"]) if walk["route"] else None,
    }


def list_limit() -> int | None:
    """How many observations a walk's live list shows: all with ?all=1."""
    return None if request.args.get("all") == "1" else current_app.config["WALK_LIST_LIMIT"]
