"""A party's Open311 settings page, posting tasks as they are sent, and `sync-open311`.

Coordinators give a party its GeoReport v2 endpoint, jurisdiction_id, api_key and a service
code per category; from then on the party's tasks go to its system instead of by email.
Sending a walk's tasks (or one task) posts them at once; `flask --app app sync-open311`, run
from cron, posts what failed before (with back-off) and reads back what the party closed.
"""

from datetime import UTC, datetime

import click
from flask import Blueprint, Flask, abort, current_app, flash, redirect, request, url_for
from flask.cli import with_appcontext
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlite_utils import Database
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from fieldwalk.categories import category_list
from fieldwalk.db import connect, get_db, transaction
from fieldwalk.mail import header_text, url_builder
from fieldwalk.open311.channel import (
    channel_party_ids,
    get_channel,
    remove_channel,
    save_channel,
    send_due,
    sync_all,
)
from fieldwalk.open311.client import check_url
from fieldwalk.parties.model import get_party
from fieldwalk.render import render
from fieldwalk.security import MANAGER_ROLES, audit, role_required
from fieldwalk.tasks.notify import send_notices

bp = Blueprint("open311_parties", __name__)


def check_endpoint(_form, field) -> None:
    """WTForms validator: an http(s) address."""
    if not check_url((field.data or "").strip()):
        raise ValidationError(_("Give the server's address, starting with https://."))


def channel_form(channel: dict | None) -> FlaskForm:
    """The settings form: endpoint, jurisdiction, key, and a service code per category."""
    codes = channel["service_codes"] if channel else {}

    class ChannelForm(FlaskForm):
        endpoint = StringField(
            _l("GeoReport v2 address"),
            validators=[DataRequired(), Length(max=500), check_endpoint],
            default=channel["endpoint"] if channel else "",
        )
        jurisdiction_id = StringField(
            _l("jurisdiction_id"),
            validators=[Optional(), Length(max=200)],
            default=channel["jurisdiction_id"] if channel else "",
        )
        api_key = PasswordField(_l("api_key"), validators=[Optional(), Length(max=500)])
        code_default = StringField(
            _l("Every other category"),
            validators=[Optional(), Length(max=100)],
            default=codes.get("*", ""),
        )

    for category in category_list():
        field = StringField(
            category["label"],
            validators=[Optional(), Length(max=100)],
            default=codes.get(category["code"], ""),
        )
        setattr(ChannelForm, f"code_{category['code']}", field)
    return ChannelForm()


@bp.route("/parties/<int:party_id>/open311", methods=["GET", "POST"])
@role_required(*MANAGER_ROLES)
def settings(party_id: int):
    """Reach a party over Open311 instead of email, or change how."""
    db = get_db()
    party = get_party(db, party_id)
    if party is None:
        abort(404)
    channel = get_channel(db, party_id)
    form = channel_form(channel)
    if form.validate_on_submit():
        codes = {c["code"]: getattr(form, f"code_{c['code']}").data or "" for c in category_list()}
        codes["*"] = form.code_default.data or ""
        with transaction(db):
            save_channel(
                db,
                party_id,
                endpoint=form.endpoint.data,
                jurisdiction_id=form.jurisdiction_id.data or "",
                api_key=form.api_key.data or None,
                service_codes=codes,
            )
            audit("open311", "party", party_id, endpoint=form.endpoint.data.strip())
        flash(_("%(party)s is reached over Open311.", party=party["name"]))
        return redirect(url_for("parties.show", party_id=party_id), code=303)
    return render(
        "parties/open311.html",
        party=party,
        channel=channel,
        form=form,
        categories=category_list(),
        status=400 if request.method == "POST" else 200,
    )


@bp.post("/parties/<int:party_id>/open311/remove")
@role_required(*MANAGER_ROLES)
def remove(party_id: int):
    """Reach the party by email again."""
    db = get_db()
    if get_party(db, party_id) is None:
        abort(404)
    with transaction(db):
        remove_channel(db, party_id)
        audit("open311_remove", "party", party_id)
    return redirect(url_for("parties.show", party_id=party_id), code=303)


def post_now(db: Database, party_ids: set[int]) -> list[dict]:
    """Post the due requests of these parties now, from a request (links to its host)."""
    if not party_ids:
        return []
    return send_due(
        db,
        url_builder(request.url_root),
        datetime.now(UTC),
        party_ids=party_ids,
        timeout=current_app.config["OPEN311_TIMEOUT_SECONDS"],
    )


def tell_parties_now(db: Database, party_ids) -> list[dict]:
    """Tell these parties now of the tasks handed to them: a request in the system of each
    party reached over Open311, and one email round for the others (those parties' notices);
    the email results, as `send_notices` gives them."""
    party_ids = set(party_ids)
    post_now(db, party_ids & channel_party_ids(db))
    return send_notices(db, request.url_root.rstrip("/"), party_ids=sorted(party_ids))


@click.command("sync-open311")
@click.option("--base-url", help="Address links point to (default: PUBLIC_BASE_URL).")
@with_appcontext
def sync_open311_command(base_url: str | None) -> None:
    """Post the tasks waiting for a party's Open311 server and read back what it closed.

    Safe to run from cron (every few minutes): a task is never posted twice, a failure waits
    longer each time, and a request the party closed marks its task done with their note.

    Example: flask --app app sync-open311
    """
    config = current_app.config
    db = connect(config["DATABASE_PATH"])
    try:
        with force_locale(config["MAIL_LOCALE"]):
            result = sync_all(
                db,
                url_builder(base_url or config["PUBLIC_BASE_URL"]),
                timeout=config["OPEN311_TIMEOUT_SECONDS"],
            )
    finally:
        db.close()
    failed = False
    for item in result["sent"]:
        detail = item.get("remote_id") or header_text(item.get("error", ""), 300)
        click.echo(f"{item['status']}: task {item['task_id']} {detail}")
        failed |= item["status"] == "failed"
    for item in result["synced"]:
        if item["status"] == "failed":
            click.echo(
                f"failed: reading party {item['party_id']}: {header_text(item['error'], 300)}"
            )
            failed = True
        else:
            click.echo(f"closed: task {item['task_id']} {header_text(item['note'], 300)}")
    sent = sum(1 for item in result["sent"] if item["status"] == "sent")
    closed = sum(1 for item in result["synced"] if item["status"] == "closed")
    click.echo(f"{sent} request(s) posted, {closed} task(s) closed by their party.")
    if failed:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    """Register the settings page and the sync-open311 command."""
    app.register_blueprint(bp)
    app.cli.add_command(sync_open311_command)
    app.jinja_env.globals["open311_channel"] = lambda party_id: get_channel(get_db(), party_id)
