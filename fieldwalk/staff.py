"""Staff accounts from the browser: admins invite people by email, set their role and party,
and send password reset links; the person sets their own password from the emailed link.

An invitation makes the account at once, without a password, and emails a link valid
INVITE_LINK_DAYS days; a reset emails a link valid RESET_LINK_HOURS hours. Each link works
once (see `fieldwalk.users.password_token`). `flask create-user` stays for the first admin.
"""

from flask import Blueprint, Flask, abort, current_app, flash, g, redirect, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from fieldwalk.admin import ROLE_LABELS, get_user
from fieldwalk.auth import MIN_PASSWORD_LENGTH, create_user, find_user_by_email, set_password
from fieldwalk.clock import now
from fieldwalk.db import get_db, transaction
from fieldwalk.mail import render_email, send_once, url_builder
from fieldwalk.parties.model import EMAIL_PATTERN, get_party, list_parties, looks_like_email
from fieldwalk.render import fail, render
from fieldwalk.security import ADMIN, ENGINEER, audit, revoke_user_sessions, role_required
from fieldwalk.users import INVITE, RESET, password_token, set_role, user_for_password_token

bp = Blueprint("staff", __name__)


def check_address(_form, field) -> None:
    """WTForms validator: something shaped like an address, not someone's already."""
    if not looks_like_email((field.data or "").strip()):
        raise ValidationError(_("Enter an email address such as name@example.se."))
    if find_user_by_email(get_db(), field.data):
        raise ValidationError(_("There is already an account with this address."))


def role_choices() -> list[SelectChoice]:
    return [SelectChoice(code, label) for code, label in ROLE_LABELS.items()]


def party_choices() -> list[SelectChoice]:
    none = [SelectChoice("", _("None (only engineers belong to a party)"))]
    return none + [SelectChoice(str(p["id"]), p["name"]) for p in list_parties(get_db())]


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=role_choices)
    party_id = SelectField(_l("Party"), choices=party_choices, validate_choice=False)

    def validate_party_id(self, field):
        if field.data and not str(field.data).isdecimal():
            raise ValidationError(_("Choose from the list."))
        party = get_party(get_db(), int(field.data)) if field.data else None
        if self.role.data == ENGINEER and party is None:
            raise ValidationError(_("An engineer belongs to a party: choose one."))
        if self.role.data != ENGINEER and field.data:
            raise ValidationError(_("Only engineers belong to a party."))

    def party(self) -> int | None:
        return int(self.party_id.data) if self.party_id.data not in (None, "", "None") else None


class InviteForm(RoleForm):
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(), Length(max=254), check_address],
        render_kw={"pattern": EMAIL_PATTERN, "autocomplete": "off"},
    )
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])


class SetPasswordForm(FlaskForm):
    new_password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(),
            Length(min=MIN_PASSWORD_LENGTH, message=_l("Use at least 10 characters.")),
            Length(max=200),
        ],
    )
    confirm_password = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(),
            EqualTo("new_password", message=_l("The two new passwords are not the same.")),
        ],
    )


def link_ages() -> dict[str, int]:
    """How long each kind of password link works, in seconds."""
    config = current_app.config
    return {INVITE: config["INVITE_LINK_DAYS"] * 86400, RESET: config["RESET_LINK_HOURS"] * 3600}


def email_password_link(user: dict, kind: str) -> str:
    """Email a person their link to set a password; return the email's status."""
    config = current_app.config
    token = password_token(user, kind, config["SECRET_KEY"])
    external = url_builder(request.url_root.rstrip("/"))
    context = {
        "kind": kind,
        "user": user,
        "url": external("staff.set_password_page", token=token),
        "days": config["INVITE_LINK_DAYS"],
        "hours": config["RESET_LINK_HOURS"],
        "inviter": g.user["name"] or g.user["email"],
    }

    def compose():
        subject = (
            _("You are invited to fieldwalk: choose your password")
            if kind == INVITE
            else _("A new password for fieldwalk")
        )
        return (
            subject,
            render_email("email/staff.txt", **context),
            render_email("email/staff.html", **context),
        )

    with force_locale(config["MAIL_LOCALE"]):
        key = f"staff:{kind}:{user['id']}:{now()}:{token[-8:]}"
        return send_once(get_db(), f"staff_{kind}", key, [user["email"]], compose)["status"]


def _user_or_404(user_id: int) -> dict:
    user = get_user(get_db(), user_id)
    if user is None:
        abort(404)
    return user


def _told(status: str, email: str) -> None:
    if status == "sent":
        flash(_("A link has been emailed to %(email)s.", email=email))
    else:
        flash(_("The email to %(email)s could not be sent. Try again in a while.", email=email))


@bp.route("/admin/users/invite", methods=["GET", "POST"])
@role_required(ADMIN)
def invite():
    """Invite a person: the account, its role (and party), and an emailed link."""
    form = InviteForm()
    if form.validate_on_submit():
        db = get_db()
        email = form.email.data.strip()
        with transaction(db):
            user_id = create_user(
                db, email, form.role.data, (form.name.data or "").strip(), None, form.party()
            )
            audit("invite", "user", user_id, role=form.role.data, party_id=form.party())
        _told(email_password_link(get_user(db, user_id), INVITE), email)
        return redirect(url_for("admin.users"), code=303)
    status = 400 if request.method == "POST" else 200
    return render("admin/invite.html", form=form, status=status)


@bp.post("/admin/users/<int:user_id>/role")
@role_required(ADMIN)
def change_role(user_id: int):
    """Set an account's role and party."""
    user = _user_or_404(user_id)
    if user["id"] == g.user["id"]:
        fail(400, _("You cannot change your own role."))
    form = RoleForm()
    if not form.validate_on_submit():
        errors = [e for f in (form.role, form.party_id) for e in f.errors]
        fail(400, " ".join(errors) or _("Choose a role."))
    db = get_db()
    with transaction(db):
        set_role(db, user["id"], form.role.data, form.party())
        audit("role", "user", user["id"], role=[user["role"], form.role.data],
              party_id=[user["party_id"], form.party()])  # fmt: skip
    flash(_("%(email)s is now %(role)s.", email=user["email"], role=ROLE_LABELS[form.role.data]))
    return redirect(url_for("admin.users"), code=303)


@bp.post("/admin/users/<int:user_id>/reset")
@role_required(ADMIN)
def reset(user_id: int):
    """Email a person a link to set a new password (the old one works until they do)."""
    user = _user_or_404(user_id)
    if user["locked_at"]:
        fail(400, _("Unlock the account first."))
    with transaction(get_db()):
        audit("reset_link", "user", user["id"])
    _told(email_password_link(user, RESET), user["email"])
    return redirect(url_for("admin.users"), code=303)


def _open(token: str) -> tuple[dict, str]:
    found = user_for_password_token(get_db(), token, current_app.config["SECRET_KEY"], link_ages())
    if found is None:
        abort(404)
    return found


def _private(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/account/set-password/<token>")
def set_password_page(token: str):
    """The emailed link: choose a password (no login needed: the link is the key)."""
    user, kind = _open(token)
    form = SetPasswordForm()
    return _private(render("auth/set_password.html", form=form, user=user, kind=kind))


@bp.post("/account/set-password/<token>")
def set_password_now(token: str):
    """Set the password; the link stops working and every session of the account ends."""
    user, kind = _open(token)
    form = SetPasswordForm()
    if not form.validate_on_submit():
        page = render("auth/set_password.html", form=form, user=user, kind=kind, status=400)
        return _private(page)
    db = get_db()
    set_password(db, user["id"], form.new_password.data)
    ended = revoke_user_sessions(db, user["id"])
    with transaction(db):
        audit("password_set", "user", user["id"], kind=kind, sessions_ended=ended)
    flash(_("Your password is set. Log in with it."))
    return _private(redirect(url_for("auth.login"), code=303))


def init_app(app: Flask) -> None:
    """Register the invitation and password-link routes."""
    app.register_blueprint(bp)
