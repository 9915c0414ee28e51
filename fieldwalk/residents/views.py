"""Residents' own pages: stopping the emails (no login: the link is the key), and answering
"does the place feel safer now?" on an observation's public status page."""

from flask import Blueprint, Flask, abort, current_app, redirect, request, url_for
from flask_babel import gettext as _

from fieldwalk.db import get_db
from fieldwalk.ids import parse_uuid
from fieldwalk.observations.model import get_observation
from fieldwalk.ratelimit import limit_resident_writes
from fieldwalk.render import fail, render
from fieldwalk.residents.model import (
    ANSWERS,
    answer_followup,
    followup_answer,
    is_following,
    unsubscribe,
)
from fieldwalk.residents.news import email_from_token
from fieldwalk.security import device_key_hash
from fieldwalk.status import public_fixes

bp = Blueprint("residents", __name__)


def _email_or_404(token: str) -> str:
    email = email_from_token(token, current_app.config["SECRET_KEY"])
    if email is None:
        abort(404)
    return email


def _private(response):
    # The token is in the address: keep it out of caches, Referer headers and search engines.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str):
    """Stop the emails about what you reported: a button, so a mail scanner stops nothing."""
    email = _email_or_404(token)
    following = is_following(get_db(), email)
    return _private(render("residents/unsubscribe.html", token=token, following=following))


@bp.post("/unsubscribe/<token>")
def unsubscribe_now(token: str):
    """Stop every email to this address."""
    email = _email_or_404(token)
    unsubscribe(get_db(), email)
    return _private(render("residents/unsubscribe.html", token=token, following=False, done=True))


def followup_context(observation: dict, fixes: list[dict]) -> dict:
    """What the status page needs to ask about the place: asked once a fix is done.

    `observation` is a row or the status page's public dict (both have id and works_well).
    """
    return {
        "ask": any(f["finished"] for f in fixes) and not observation["works_well"],
        "answer": followup_answer(get_db(), observation["id"], device_key_hash()),
        "answers": ANSWERS,
    }


@bp.post("/status/<observation_id>/followup")
def followup(observation_id: str):
    """Keep this phone's answer to "does the place feel safer now?" (changeable)."""
    limit_resident_writes()
    canonical = parse_uuid(observation_id)
    db = get_db()
    observation = get_observation(db, canonical) if canonical else None
    if observation is None:
        abort(404)
    answer = request.form.get("answer", "")
    if answer not in ANSWERS:
        fail(400, _("Choose yes, no or unchanged."))
    if not followup_context(observation, public_fixes(db, observation["id"]))["ask"]:
        fail(409, _("We ask once the fix is done."))
    voter = device_key_hash(create=True)
    answer_followup(db, observation["id"], observation["place_id"], voter, answer)
    target = url_for("status.observation", observation_id=observation["id"], answered=1)
    return redirect(f"{target}#followup", code=303)


def init_app(app: Flask) -> None:
    """Register the residents' pages, and the status page's question about the place."""
    app.register_blueprint(bp)
    app.jinja_env.globals["followup_for"] = lambda o: followup_context(o, o["fixes"])
    app.jinja_env.globals["followup_label"] = followup_label


def followup_label(answer: str) -> str:
    """An answer to "does the place feel safer now?" in words."""
    return {"yes": _("Yes"), "no": _("No"), "same": _("Unchanged")}.get(answer, answer)
