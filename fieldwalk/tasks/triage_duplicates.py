"""Closing an observation as a duplicate of another's task (from the hint in triage)."""

from flask import Blueprint, Flask, abort, redirect, request, url_for
from flask_babel import gettext as _

from fieldwalk.db import get_db
from fieldwalk.i18n import safe_next
from fieldwalk.ids import parse_uuid
from fieldwalk.observations.duplicates import (
    DUPLICATE_DAYS,
    DUPLICATE_RADIUS_METRES,
    find_duplicates,
    settings,
)
from fieldwalk.observations.model import get_observation
from fieldwalk.observations.nearby import MAX_RADIUS_METRES
from fieldwalk.render import fail
from fieldwalk.security import MANAGER_ROLES, role_required
from fieldwalk.tasks.access import parse_int, user_actor
from fieldwalk.tasks.model import link_observation
from fieldwalk.tasks.states import COORDINATOR

bp = Blueprint("duplicates", __name__)


@bp.post("/observations/<observation_id>/duplicate-of")
@role_required(*MANAGER_ROLES)
def link(observation_id: str):
    """One click: this observation is the same problem as a hinted one; join its task."""
    canonical = parse_uuid(observation_id)
    db = get_db()
    observation = get_observation(db, canonical) if canonical else None
    if observation is None:
        abort(404)
    task_id = parse_int(request.form.get("task_id"))
    radius, days = settings()
    offered = {d["task_id"] for d in find_duplicates(db, observation, radius, days)}
    if task_id is None or task_id not in offered:
        fail(400, _("Choose one of the tasks the duplicate hint offers."))
    link_observation(db, task_id, observation["id"], user_actor((COORDINATOR,)))
    target = url_for("capture.show", observation_id=observation["id"])
    return redirect(safe_next(request.form.get("next"), target), code=303)


def init_app(app: Flask) -> None:
    """The hint's settings (overridable like any other) and its action."""
    app.config.setdefault("DUPLICATE_RADIUS_METRES", DUPLICATE_RADIUS_METRES)
    app.config.setdefault("DUPLICATE_DAYS", DUPLICATE_DAYS)
    if app.config["DUPLICATE_RADIUS_METRES"] > MAX_RADIUS_METRES:
        # Refused at start, not on the first dashboard view: the grid is made for a street.
        raise ValueError(f"DUPLICATE_RADIUS_METRES may be at most {MAX_RADIUS_METRES}")
    app.register_blueprint(bp)
