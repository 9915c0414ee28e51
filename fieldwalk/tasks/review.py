"""Staff's review before anything reaches a public page: "Visa publikt", or keep it private.

One button for the common case, in triage's review list and on the observation's own page;
the text and photos of an observation are on the public pages only after it (see
fieldwalk/observations/moderation.py). The walk's leader reviews the walks they manage,
coordinators and admins every observation.
"""

from flask import Blueprint, Flask, g, redirect, request, url_for
from flask_babel import gettext as _

from fieldwalk.db import get_db
from fieldwalk.i18n import safe_next
from fieldwalk.observations.moderation import DECISIONS, review
from fieldwalk.render import fail
from fieldwalk.security import login_required
from fieldwalk.tasks.triage import _observation_or_404, may_create_for

bp = Blueprint("review", __name__)


@bp.post("/observations/<observation_id>/public")
@login_required
def decide(observation_id: str):
    """Approve an observation's text and photos for the public pages, or keep it private."""
    observation = _observation_or_404(observation_id)
    decision = request.form.get("decision", "")
    if decision not in DECISIONS:
        fail(400, _("Choose whether to show it publicly."))
    review(
        get_db(),
        observation["id"],
        decision,
        user_id=g.user["id"],
        actor=g.user["name"] or g.user["email"],
    )
    target = url_for("capture.show", observation_id=observation["id"])
    return redirect(safe_next(request.form.get("next"), target), code=303)


def may_review(observation: dict) -> bool:
    """Whether the requester may decide what of this observation is public."""
    return may_create_for(observation)


def init_app(app: Flask) -> None:
    """Register the review route; templates ask whether the requester may review."""
    app.register_blueprint(bp)
    app.jinja_env.globals["may_review"] = may_review
