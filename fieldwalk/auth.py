"""Staff accounts: login, logout, throttling, and the `create-user`/`create-token` commands."""

import time

import click
from flask import Blueprint, Flask, current_app, g, redirect, request, session, url_for
from flask.cli import with_appcontext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlite_utils import Database
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Length

from fieldwalk.db import connect, get_db, now, transaction
from fieldwalk.i18n import safe_next
from fieldwalk.render import render
from fieldwalk.security import ENGINEER, ROLES, audit, hash_secret, new_token

bp = Blueprint("auth", __name__)

# Checked against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a real password")


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    next = HiddenField()


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


def find_user_by_email(db: Database, email: str) -> dict | None:
    """The user with this email (case-insensitive), or None."""
    row = db.execute("SELECT * FROM users WHERE email = ?", [email.strip()]).fetchone()
    return dict(row) if row else None


def login_throttled(db: Database, keys: list[str], max_failures: int, window: int) -> bool:
    """True when any key (email, address) has too many recent failed logins."""
    since = time.time() - window
    for key in keys:
        (count,) = db.execute(
            "SELECT count(*) FROM login_failures WHERE key = ? AND at > ?", [key, since]
        ).fetchone()
        if count >= max_failures:
            return True
    return False


def record_login_failure(db: Database, keys: list[str], window: int) -> None:
    """Count a failed login against each key, forgetting failures older than the window."""
    stamp = time.time()
    with transaction(db):
        db.execute("DELETE FROM login_failures WHERE at < ?", [stamp - window])
        for key in keys:
            db.execute("INSERT INTO login_failures (key, at) VALUES (?, ?)", [key, stamp])


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Staff log in with email and password."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    error = None
    status = 200
    if form.validate_on_submit():
        db = get_db()
        email = form.email.data.strip().lower()
        keys = [f"email:{email}", f"ip:{request.remote_addr}"]
        config = current_app.config
        window = config["LOGIN_FAILURE_WINDOW_SECONDS"]
        if login_throttled(db, keys, config["LOGIN_MAX_FAILURES"], window):
            error = _("Too many failed attempts. Please wait 15 minutes and try again.")
            status = 429
        else:
            user = find_user_by_email(db, email)
            ok = check_password_hash(
                (user or {}).get("password_hash") or _DUMMY_HASH, form.password.data
            )
            if user and ok and user["password_hash"] and not user["locked_at"]:
                device = session.get("device")
                lang = session.get("lang")
                session.clear()
                session.update(user_id=user["id"], epoch=user["session_epoch"])
                if device:
                    session["device"] = device
                if lang:
                    session["lang"] = lang
                session.permanent = True
                g.user = user
                with transaction(db):
                    audit("login", "user", user["id"])
                return redirect(safe_next(form.next.data, url_for("walks.index")), code=303)
            record_login_failure(db, keys, window)
            error = _("Wrong email or password.")
            status = 401 if user is None or ok is False else 403
            if user and user["locked_at"]:
                error = _("This account is locked. Contact your administrator.")
    elif request.method == "POST":
        status = 400
    return render("auth/login.html", form=form, error=error, status=status)


@bp.post("/logout")
def logout():
    """End the staff session (a resident's device link stays)."""
    device = session.get("device")
    lang = session.get("lang")
    session.clear()
    if device:
        session["device"] = device
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"), code=303)


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
    if len(password) < 10:
        raise click.ClickException("Use a password of at least 10 characters.")
    db = connect(current_app.config["DATABASE_PATH"])
    try:
        if find_user_by_email(db, email):
            raise click.ClickException(f"A user with the email {email} already exists.")
        party_id = None
        if role == ENGINEER or party_name:
            from fieldwalk.parties import find_party_by_name

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
