"""Telling residents what became of what they reported: one email when a fix is decided,
one when it is done, each once per observation and address, each with the public status
page and an unsubscribe link that works without logging in.

A sending round (`tell_residents`) looks at every followed observation and sends what is
due; it runs after each change to tasks and from `send-reminders`. When a fix is done before
the "decided" email went out, only the "done" email is sent (it says both).
"""

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlite_utils import Database

from fieldwalk.categories import category_label
from fieldwalk.mail import (
    header_text,
    release_unsent,
    render_email,
    reserve,
    send_reserved,
    url_builder,
)
from fieldwalk.observations.model import get_observation
from fieldwalk.places.model import get_place
from fieldwalk.residents.model import followed_news, sent_keys
from fieldwalk.status import public_fixes

SALT = "resident-unsubscribe"


def unsubscribe_token(email: str, secret_key: str) -> str:
    """A token that stops the emails to an address; it does not expire."""
    return URLSafeSerializer(secret_key, salt=SALT).dumps(email.lower())


def email_from_token(token: str, secret_key: str) -> str | None:
    """The address an unsubscribe token names, or None for a bad token."""
    try:
        email = URLSafeSerializer(secret_key, salt=SALT).loads(token)
    except BadSignature:
        return None
    return email if isinstance(email, str) else None


def _keys(observation_id: str, email: str) -> dict[str, str]:
    return sent_keys(observation_id, email)


def tell_residents(db: Database, base_url: str) -> list[dict]:
    """Send every resident email that is due; return one result per email tried."""
    results = []
    external = url_builder(base_url)
    secret = current_app.config["SECRET_KEY"]
    with force_locale(current_app.config["MAIL_LOCALE"]):
        for news in followed_news(db):
            keys = _keys(news["observation_id"], news["email"])
            kind = "done" if news["done"] else "decided"
            wanted = [keys["decided"], keys["done"]] if kind == "done" else [keys["decided"]]
            claimed = reserve(db, f"resident_{kind}", wanted, [news["email"]])
            if keys[kind] not in claimed:
                if claimed:  # only "decided" was still free: it is told by the "done" email
                    release_unsent(db, claimed)
                continue
            compose = _composer(db, news["observation_id"], news["email"], kind, external, secret)
            result = send_reserved(db, claimed, [news["email"]], compose)
            results.append({**result, "kind": kind, "observation_id": news["observation_id"]})
    return results


def _composer(db: Database, observation_id: str, email: str, kind: str, external, secret: str):
    def compose():
        observation = get_observation(db, observation_id)
        place = get_place(db, observation["place_id"]) if observation["place_id"] else None
        what = category_label(observation["category"])
        where = place["name"] if place else ""
        context = {
            "kind": kind,
            "observation": observation,
            "what": what,
            "place_name": where,
            "fixes": public_fixes(db, observation_id),
            "status_url": external("status.observation", observation_id=observation_id),
            "unsubscribe_url": external(
                "residents.unsubscribe_page", token=unsubscribe_token(email, secret)
            ),
        }
        topic = header_text(f"{what}, {where}" if where else what, 80)
        subject = (
            _("Fixed: %(what)s", what=topic)
            if kind == "done"
            else _("A decision about what you reported: %(what)s", what=topic)
        )
        return (
            subject,
            render_email("email/resident.txt", **context),
            render_email("email/resident.html", **context),
        )

    return compose
