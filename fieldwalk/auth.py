"""Staff accounts: login, logout, password change, throttling, and the user/token commands."""

import time

import click
from flask import Blueprint, Flask, current_app, flash, g, redirect, request, session, url_for
from flask.cli import with_appcontext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlite_utils import Database
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from fieldwalk.clock import now
from fieldwalk.db import connect, get_db, transaction
from fieldwalk.i18n import safe_next
from fieldwalk.parties.model import find_party_by_name
from fieldwalk.ratelimit import client_address, enforce
from fieldwalk.render import render
from fieldwalk.security import (
    ENGINEER,
    ROLES,
    audit,
    forget_login,
    hash_secret,
    list_live_sessions,
    login_required,
    new_token,
    revoke_session,
    revoke_user_sessions,
    start_session,
)

bp = Blueprint("auth", __name__)

MIN_PASSWORD_LENGTH = 10
# Checked against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a real password")


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    next = HiddenField()


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(), Length(max=200)]
    )
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


class PostForm(FlaskForm):
    """No fields: gives POST-only buttons their CSRF token."""


def create_user(
    db: Database,
    email: str,
    role: str,
    name: str = "",
    password: str | None = None,
    party_id: int | None = None,
) -> int:
    """Insert a staff user and return its id; engineers belong to a party."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if (role == ENGINEER) != (party_id is not None):
        raise ValueError("an engineer needs a party, and only engineers have one")
    with transaction(db):
        cursor = db.execute(
            """INSERT INTO users (email, name, role, password_hash, party_id, created_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            [
                email.strip(),
                name,
                role,
                generate_password_hash(password) if password else None,
                party_id,
                now(),
            ],
        )
    return cursor.lastrowid


def create_token(db: Database, user_id: int, label: str = "") -> str:
    """Create an API bearer token for a user; only its hash is stored."""
    token = new_token()
    with transaction(db):
        db.execute(
            "INSERT INTO api_tokens (user_id, token_hash, label, created_at) VALUES (?, ?, ?, ?)",
            [user_id, hash_secret(token), label, now()],
        )
    return token


def revoke_token(db: Database, token: str) -> bool:
    """Revoke a bearer token; True when one was revoked."""
    with transaction(db):
        cursor = db.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
            [now(), hash_secret(token)],
        )
    return cursor.rowcount == 1


def set_password(db: Database, user_id: int, password: str) -> None:
    """Store a new password (hashed) for a user."""
    with transaction(db):
        db.execute(
            "UPDATE users SET password_hash = ? WHERE id = ?",
            [generate_password_hash(password), user_id],
        )


def find_user_by_email(db: Database, email: str) -> dict | None:
    """The user with this email (case-insensitive), or None."""
    row = db.execute("SELECT * FROM users WHERE email = ?", [email.strip()]).fetchone()
    return dict(row) if row else None


def reserve_password_check(
    db: Database,
    email: str,
    address: str,
    *,
    max_failures: int,
    account_max_failures: int,
    window: int,
) -> list[int] | None:
    """Count a password check for `email` from `address` as a failure before it is made;
    None, and nothing counted, when that pair may not try again yet.

    Failures are throttled per (account, address): one address guessing never locks the
    owner out elsewhere, nor blocks other accounts behind it (an office, a mobile operator's
    NAT). Past `account_max_failures` for the account from all addresses, each address gets
    one failure for it per window instead of `max_failures`: guessing from many addresses
    slows down, and an address that has not failed is still checked. Counting and checking
    are one write transaction, so concurrent attempts cannot all pass the limit. Returns the
    rows to delete with `forget_password_check` when the password was right.
    """
    stamp = time.time()
    pair, account = f"email-addr:{email}|{address}", f"email:{email}"
    with transaction(db):
        db.execute("DELETE FROM login_failures WHERE at < ?", [stamp - window])
        failures = dict(
            db.execute(
                "SELECT key, count(*) FROM login_failures WHERE key IN (?, ?) GROUP BY key",
                [pair, account],
            ).fetchall()
        )
        allowed = max_failures if failures.get(account, 0) < account_max_failures else 1
        if failures.get(pair, 0) >= allowed:
            return None
        return [
            db.execute("INSERT INTO login_failures (key, at) VALUES (?, ?)", [key, stamp]).lastrowid
            for key in (pair, account)
        ]


def forget_password_check(db: Database, rows: list[int]) -> None:
    """The password was right: the check reserved as a failure was none."""
    with transaction(db):
        db.execute(
            f"DELETE FROM login_failures WHERE id IN ({', '.join('?' * len(rows))})",  # noqa: S608
            rows,
        )


def _reserve_check(email: str) -> list[int] | None:
    """reserve_password_check for this request's address, with the configured limits."""
    config = current_app.config
    return reserve_password_check(
        get_db(),
        email.strip().lower(),
        client_address(),
        max_failures=config["LOGIN_MAX_FAILURES"],
        account_max_failures=config["LOGIN_ACCOUNT_MAX_FAILURES"],
        window=config["LOGIN_FAILURE_WINDOW_SECONDS"],
    )


def _keep_device_and_language(**values) -> None:
    """Start a fresh cookie (no session fixation) that keeps the resident's device key and
    the chosen language, with `values` added."""
    kept = {k: session[k] for k in ("device", "lang") if k in session}
    session.clear()
    session.update(kept, **values)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Staff log in with email and password."""
    config = current_app.config
    if request.method == "POST":
        enforce(
            f"login-addr:{client_address()}",
            config["LOGIN_RATE_LIMIT_PER_ADDRESS"],
            config["LOGIN_RATE_WINDOW_SECONDS"],
            "login",
        )
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    error = None
    status = 200
    if form.validate_on_submit():
        db = get_db()
        email = form.email.data.strip().lower()
        reserved = _reserve_check(email)
        if reserved is None:
            error = _("Too many failed attempts. Please wait 15 minutes and try again.")
            status = 429
        else:
            user = find_user_by_email(db, email)
            ok = check_password_hash(
                (user or {}).get("password_hash") or _DUMMY_HASH, form.password.data
            )
            if user and ok and user["password_hash"] and not user["locked_at"]:
                forget_password_check(db, reserved)
                if session.get("sid"):  # logging in again: the old session ends here
                    revoke_session(db, session["sid"])
                session_id = start_session(db, user["id"], request.headers.get("User-Agent", ""))
                _keep_device_and_language(user_id=user["id"], sid=session_id)
                session.permanent = True
                g.user = user
                with transaction(db):
                    audit("login", "user", user["id"])
                return redirect(safe_next(form.next.data, url_for("walks.index")), code=303)
            error = _("Wrong email or password.")
            status = 401 if user is None or ok is False else 403
            if user and ok and user["locked_at"]:  # only the right password learns this
                error = _("This account is locked. Contact your administrator.")
    elif request.method == "POST":
        status = 400
    return render("auth/login.html", form=form, error=error, status=status)


@bp.post("/logout")
def logout():
    """End the staff session, on the server too (a resident's device link stays)."""
    if session.get("sid"):
        revoke_session(get_db(), session["sid"])
    forget_login()
    _keep_device_and_language()
    return redirect(url_for("auth.login"), code=303)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's own password; every other session of the account ends."""
    db = get_db()
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        # A wrong current password counts as a failed login: a borrowed session must not
        # become a way to guess the password.
        reserved = _reserve_check(g.user["email"])
        if reserved is None:
            form.current_password.errors.append(
                _("Too many failed attempts. Please wait 15 minutes and try again.")
            )
            status = 429
        elif not check_password_hash(
            g.user["password_hash"] or _DUMMY_HASH, form.current_password.data
        ):
            form.current_password.errors.append(_("That is not your current password."))
            status = 400
        else:
            forget_password_check(db, reserved)
            set_password(db, g.user["id"], form.new_password.data)
            ended = revoke_user_sessions(db, g.user["id"], keep=g.get("session_id"))
            with transaction(db):
                audit("password", "user", g.user["id"], sessions_ended=ended)
            flash(_("Your password is changed. You are logged out everywhere else."))
            return redirect(url_for("auth.change_password"), code=303)
    elif request.method == "POST":
        status = 400
    current = hash_secret(g.session_id) if g.get("session_id") else None
    return render(
        "auth/password.html",
        form=form,
        sessions=list_live_sessions(db, g.user["id"]),
        current_session=current,
        status=status,
    )


@click.command("create-user")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", default="", help="Display name.")
@click.option("--password", help="Prompted for when not given.")
@click.option("--party", "party_name", help="The party an engineer belongs to (its name).")
@with_appcontext
def create_user_command(
    email: str, role: str, name: str, password: str | None, party_name: str | None
) -> None:
    """Create a staff user.

    Example: flask --app app create-user anna@example.se --role coordinator --name "Anna"
    Example: flask --app app create-user per@example.se --role engineer --party "Parkingenjörerna"
    """
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException("Use a password of at least 10 characters.")
    db = connect(current_app.config["DATABASE_PATH"])
    try:
        if find_user_by_email(db, email):
            raise click.ClickException(f"A user with the email {email} already exists.")
        party_id = None
        if role == ENGINEER or party_name:
            party = find_party_by_name(db, party_name or "")
            if party is None or role != ENGINEER:
                raise click.ClickException("An engineer needs --party with the name of a party.")
            party_id = party["id"]
        user_id = create_user(db, email, role, name, password, party_id)
    finally:
        db.close()
    click.echo(f"Created user {user_id} ({email}, {role}).")


@click.command("create-token")
@click.argument("email")
@click.option("--label", default="", help="What the token is for.")
@with_appcontext
def create_token_command(email: str, label: str) -> None:
    """Print a new API bearer token for a user (shown once; only its hash is kept).

    Example: flask --app app create-token anna@example.se --label "sync script"
    """
    db = connect(current_app.config["DATABASE_PATH"])
    try:
        user = find_user_by_email(db, email)
        if user is None:
            raise click.ClickException(f"No user with the email {email}.")
        click.echo(create_token(db, user["id"], label))
    finally:
        db.close()


@click.command("revoke-token")
@click.argument("token")
@with_appcontext
def revoke_token_command(token: str) -> None:
    """Revoke an API bearer token.

    Example: flask --app app revoke-token 3q2-...
    """
    db = connect(current_app.config["DATABASE_PATH"])
    try:
        if not revoke_token(db, token):
            raise click.ClickException("No active token matches.")
    finally:
        db.close()
    click.echo("Token revoked.")


def init_app(app: Flask) -> None:
    """Register the auth routes and commands."""
    app.register_blueprint(bp)
    app.cli.add_command(create_user_command)
    app.cli.add_command(create_token_command)
    app.cli.add_command(revoke_token_command)

    @app.context_processor
    def inject_post_form():
        return {"post_form": PostForm}
