"""Parties: the organisations that fix things, their contacts, and per-category defaults."""

import sqlite3
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from fieldwalk.categories import category_list
from fieldwalk.clock import stamp
from fieldwalk.db import get_db, transaction
from fieldwalk.parties.model import (
    EMAIL_PATTERN,
    KIND_LABELS,
    add_contact,
    category_defaults,
    count_open_tasks,
    find_party_by_name,
    get_party,
    insert_party,
    kind_label,
    list_contacts,
    list_parties,
    looks_like_email,
    remove_contact,
    set_category_default,
    update_party,
)
from fieldwalk.render import render, wants_fragment
from fieldwalk.security import MANAGER_ROLES, audit, role_required
from fieldwalk.tasks.party_record import AGE_BANDS, party_record, year_ago
from fieldwalk.zones.model import list_zones

bp = Blueprint("parties", __name__)


def check_email(_form, field) -> None:
    """WTForms validator: an empty field passes, anything else must look like an address."""
    if field.data and not looks_like_email(field.data.strip()):
        raise ValidationError(_("Enter an email address such as name@example.se."))


def _email_field() -> EmailField:
    return EmailField(
        _l("Email"),
        validators=[Optional(), Length(max=254), check_email],
        render_kw={"pattern": EMAIL_PATTERN, "autocomplete": "off"},
    )


def _phone_field() -> StringField:
    return StringField(
        _l("Phone"),
        validators=[Optional(), Length(max=50)],
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )


class PartyForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(
        _l("Kind"), choices=[SelectChoice(k, v) for k, v in KIND_LABELS.items()], default="other"
    )
    email = _email_field()
    phone = _phone_field()
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=2000)])

    def __init__(self, *args, party_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.party_id = party_id

    def validate_name(self, field):
        other = find_party_by_name(get_db(), field.data or "")
        if other is not None and other["id"] != self.party_id:
            raise ValidationError(_("There is already a party with this name."))

    def values(self) -> dict:
        return {
            name: (getattr(self, name).data or "").strip()
            for name in ("name", "kind", "email", "phone", "notes")
        }


class ContactForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    email = _email_field()
    phone = _phone_field()

    def values(self) -> dict:
        return {
            name: (getattr(self, name).data or "").strip() for name in ("name", "email", "phone")
        }


def defaults_form(parties: list[dict], defaults: dict[str, int]) -> FlaskForm:
    """A form with one select per category: a party, or none (the fix goes to triage)."""
    choices = [SelectChoice("", _("None: to the triage list"))]
    choices += [SelectChoice(str(p["id"]), p["name"]) for p in parties]

    class CategoryDefaultsForm(FlaskForm):
        """One select per category, added below."""

    for category in category_list():
        field = SelectField(
            category["label"], choices=choices, default=str(defaults.get(category["code"], ""))
        )
        setattr(CategoryDefaultsForm, f"category_{category['code']}", field)
    return CategoryDefaultsForm()


def get_party_or_404(party_id: int) -> dict:
    """The party, or 404."""
    party = get_party(get_db(), party_id)
    if party is None:
        abort(404)
    return party


def _index_page(form: FlaskForm | None = None, status: int = 200):
    db = get_db()
    parties = list_parties(db)
    return render(
        "parties/index.html",
        parties=parties,
        defaults_form=form or defaults_form(parties, category_defaults(db)),
        categories=category_list(),
        status=status,
    )


@bp.get("/parties")
@role_required(*MANAGER_ROLES)
def index():
    """Every party, and which party gets each category's fixes outside every zone."""
    return _index_page()


@bp.post("/parties/defaults")
@role_required(*MANAGER_ROLES)
def save_defaults():
    """Save the party per category (or none) for fixes outside every zone."""
    db = get_db()
    current = category_defaults(db)
    form = defaults_form(list_parties(db), current)
    if not form.validate_on_submit():
        return _index_page(form, status=400)
    with transaction(db):
        for category in category_list():
            code = category["code"]
            value = form[f"category_{code}"].data
            party_id = int(value) if value else None
            if current.get(code) != party_id:
                set_category_default(db, code, party_id)
                audit(
                    "set_default", "category", code, **{"from": current.get(code), "to": party_id}
                )
    flash(_("Category defaults saved."))
    return redirect(url_for("parties.index"), code=303)


@bp.route("/parties/new", methods=["GET", "POST"])
@role_required(*MANAGER_ROLES)
def new():
    """Add a party."""
    form = PartyForm()
    if form.validate_on_submit():
        db = get_db()
        values = form.values()
        try:
            with transaction(db):
                party_id = insert_party(db, **values)
                audit("create", "party", party_id, **values)
        except sqlite3.IntegrityError:  # the same name, added by someone else just now
            form.name.errors.append(_("There is already a party with this name."))
        else:
            return redirect(url_for("parties.show", party_id=party_id), code=303)
    status = 400 if request.method == "POST" else 200
    return render("parties/form.html", form=form, party=None, status=status)


@bp.route("/parties/<int:party_id>/edit", methods=["GET", "POST"])
@role_required(*MANAGER_ROLES)
def edit(party_id: int):
    """Change a party's name, kind, address or notes."""
    party = get_party_or_404(party_id)
    form = PartyForm(data=party if request.method == "GET" else None, party_id=party_id)
    if form.validate_on_submit():
        db = get_db()
        values = form.values()
        changes = {k: [party[k], v] for k, v in values.items() if party[k] != v}
        try:
            with transaction(db):
                update_party(db, party_id, **values)
                if changes:
                    audit("update", "party", party_id, **changes)
        except sqlite3.IntegrityError:
            form.name.errors.append(_("There is already a party with this name."))
        else:
            return redirect(url_for("parties.show", party_id=party_id), code=303)
    status = 400 if request.method == "POST" else 200
    return render("parties/form.html", form=form, party=party, status=status)


def _party_page(party: dict, form: ContactForm, status: int = 200):
    """The party page, or just its contacts component for htmx."""
    db = get_db()
    moment = datetime.now(UTC)
    today = moment.astimezone(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])).date()
    record = party_record(db, party["id"], year_ago(moment), stamp(moment), today.isoformat())
    return render(
        "parties/show.html",
        "parties/_contacts.html",
        party=party,
        contacts=list_contacts(db, party["id"]),
        form=form,
        zones=list_zones(db, party_id=party["id"]),
        open_tasks=count_open_tasks(db, party["id"]),
        record=record,
        age_bands=AGE_BANDS,
        status=status,
    )


@bp.get("/parties/<int:party_id>")
@role_required(*MANAGER_ROLES)
def show(party_id: int):
    """A party: its details, contacts and zones."""
    return _party_page(get_party_or_404(party_id), ContactForm(formdata=None))


@bp.post("/parties/<int:party_id>/contacts")
@role_required(*MANAGER_ROLES)
def contact_add(party_id: int):
    """Add a contact person; htmx gets the contacts component back, others the page."""
    party = get_party_or_404(party_id)
    form = ContactForm()
    if not form.validate_on_submit():
        return _party_page(party, form, status=400)
    db = get_db()
    values = form.values()
    with transaction(db):
        contact_id = add_contact(db, party_id, **values)
        audit("add_contact", "party", party_id, contact_id=contact_id, **values)
    if not wants_fragment():
        return redirect(url_for("parties.show", party_id=party_id, _anchor="contacts"), code=303)
    return _party_page(party, ContactForm(formdata=None))


@bp.post("/parties/<int:party_id>/contacts/<int:contact_id>/remove")
@role_required(*MANAGER_ROLES)
def contact_remove(party_id: int, contact_id: int):
    """Remove a contact person; htmx gets the contacts component back, others the page."""
    party = get_party_or_404(party_id)
    db = get_db()
    contact = next((c for c in list_contacts(db, party_id) if c["id"] == contact_id), None)
    if contact is None:
        abort(404)
    with transaction(db):
        remove_contact(db, party_id, contact_id)
        audit("remove_contact", "party", party_id, contact_id=contact_id, name=contact["name"])
    if not wants_fragment():
        return redirect(url_for("parties.show", party_id=party_id, _anchor="contacts"), code=303)
    return _party_page(party, ContactForm(formdata=None))


def init_app(app: Flask) -> None:
    """Register the party routes and the kind label helper."""
    app.register_blueprint(bp)
    app.jinja_env.globals["party_kind_label"] = kind_label
