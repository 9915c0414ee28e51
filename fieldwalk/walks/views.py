"""Walks: planned around a place, joined by link or QR code, recorded together."""

import io
import json

import segno
from flask import Blueprint, Flask, abort, current_app, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from fieldwalk import geo
from fieldwalk.clock import now
from fieldwalk.db import get_db, transaction
from fieldwalk.observations.model import list_device_observations, walk_list, walk_version
from fieldwalk.places.model import list_places, place_feature
from fieldwalk.ratelimit import client_address, enforce
from fieldwalk.render import render
from fieldwalk.residents.forms import read_follow
from fieldwalk.residents.model import follow_participant
from fieldwalk.security import (
    ENGINEER,
    PARTNER,
    STAFF_ROLES,
    audit,
    device_key_hash,
    is_staff,
    role_required,
)
from fieldwalk.walks.access import can_manage, get_walk_or_404, list_limit, walk_map_data
from fieldwalk.walks.model import (
    NEXT_STATE,
    PARTICIPANT_ROLES,
    STATES,
    device_walk_ids,
    find_participant,
    get_walk,
    insert_walk,
    join_walk,
    list_walks,
    set_walk_state,
    state_label,
)

bp = Blueprint("walks", __name__)


class WalkForm(FlaskForm):
    place_id = SelectField(_l("Place"), coerce=int, validators=[DataRequired()])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    starts_at = DateTimeLocalField(
        _l("Date and time"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )
    meeting_point = StringField(_l("Meeting point"), validators=[Optional(), Length(max=300)])
    meeting_lat = HiddenField()
    meeting_lon = HiddenField()
    route = HiddenField()
    invitation_text = TextAreaField(
        _l("Invitation text"), validators=[Optional(), Length(max=4000)]
    )

    def validate_route(self, field):
        if field.data:
            try:
                geo.parse_line(field.data)
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                raise ValidationError(_("The route could not be read.")) from error

    def validate_meeting_lat(self, field):
        if bool(field.data) != bool(self.meeting_lon.data):
            raise ValidationError(_("Set the meeting point on the map."))
        for value, limit in ((field.data, 90), (self.meeting_lon.data, 180)):
            if value:
                try:
                    if not abs(float(value)) <= limit:  # "not <=" refuses NaN too
                        raise ValueError
                except ValueError as error:
                    raise ValidationError(_("Set the meeting point on the map.")) from error

    def values(self) -> dict:
        return {
            "place_id": self.place_id.data,
            "title": self.title.data.strip(),
            "starts_at": self.starts_at.data.strftime("%Y-%m-%dT%H:%M"),
            "meeting_point": (self.meeting_point.data or "").strip(),
            "meeting_lat": float(self.meeting_lat.data) if self.meeting_lat.data else None,
            "meeting_lon": float(self.meeting_lon.data) if self.meeting_lon.data else None,
            "route": json.dumps(geo.parse_line(self.route.data)) if self.route.data else None,
            "invitation_text": (self.invitation_text.data or "").strip(),
        }


class JoinForm(FlaskForm):
    display_name = StringField(_l("Your name (optional)"), validators=[Optional(), Length(max=80)])
    participant_role = SelectField(
        _l("I take part as"),
        choices=[SelectChoice(code, label) for code, label in PARTICIPANT_ROLES.items()],
        default="resident",
    )


def _place_choices() -> list[tuple[int, str]]:
    return [(p["id"], p["name"]) for p in list_places(get_db())]


@bp.get("/")
def index():
    """Staff see all walks; residents the walks they joined and what they reported."""
    db = get_db()
    if is_staff():
        return render("walks/index.html", walks=list_walks(db))
    if g.get("user") and g.user["role"] == ENGINEER:
        return redirect(url_for("mytasks.mine"))
    if g.get("user") and g.user["role"] == PARTNER:
        return redirect(url_for("events.index"))
    device = device_key_hash()
    return render(
        "walks/home.html",
        walks=list_walks(db, device_walk_ids(db, device)),
        observations=list_device_observations(db, device) if device else [],
    )


@bp.route("/walks/new", methods=["GET", "POST"])
@role_required(*STAFF_ROLES)
def new():
    """Plan a walk."""
    form = WalkForm()
    form.place_id.choices = _place_choices()
    if form.validate_on_submit():
        walk_id = insert_walk(get_db(), form.values(), g.user["id"])
        return redirect(url_for("walks.show", walk_id=walk_id), code=303)
    status = 400 if request.method == "POST" else 200
    return render("walks/form.html", form=form, walk=None, places=_places_json(), status=status)


@bp.route("/walks/<int:walk_id>/edit", methods=["GET", "POST"])
@role_required(*STAFF_ROLES)
def edit(walk_id: int):
    """Change a walk's details."""
    walk = get_walk_or_404(walk_id, manage=True)
    form = WalkForm(data=_form_data(walk)) if request.method == "GET" else WalkForm()
    form.place_id.choices = _place_choices()
    if form.validate_on_submit():
        values = form.values()
        db = get_db()
        with transaction(db):
            db.execute(
                """UPDATE walks SET place_id = ?, title = ?, starts_at = ?, meeting_point = ?,
                       meeting_lat = ?, meeting_lon = ?, route = ?, invitation_text = ?,
                       updated_at = ? WHERE id = ?""",
                [
                    values["place_id"],
                    values["title"],
                    values["starts_at"],
                    values["meeting_point"],
                    values["meeting_lat"],
                    values["meeting_lon"],
                    values["route"],
                    values["invitation_text"],
                    now(),
                    walk_id,
                ],
            )
            audit("update", "walk", walk_id)
        return redirect(url_for("walks.show", walk_id=walk_id), code=303)
    status = 400 if request.method == "POST" else 200
    return render("walks/form.html", form=form, walk=walk, places=_places_json(), status=status)


def _form_data(walk: dict) -> dict:
    from datetime import datetime

    return {
        "place_id": walk["place_id"],
        "title": walk["title"],
        "starts_at": datetime.fromisoformat(walk["starts_at"]),
        "meeting_point": walk["meeting_point"],
        "meeting_lat": walk["meeting_lat"] if walk["meeting_lat"] is not None else "",
        "meeting_lon": walk["meeting_lon"] if walk["meeting_lon"] is not None else "",
        "route": walk["route"] or "",
        "invitation_text": walk["invitation_text"],
    }


def _places_json() -> list[dict]:
    return [place_feature(p) for p in list_places(get_db())]


@bp.get("/walks/<int:walk_id>")
def show(walk_id: int):
    """The walk: map, invitation, and the observations as they come in."""
    walk = get_walk_or_404(walk_id)
    db = get_db()
    return render(
        "walks/show.html",
        walk=walk,
        listing=walk_list(db, walk_id, list_limit()),
        version=walk_version(db, walk_id),
        map_data=walk_map_data(walk),
        can_manage=can_manage(walk),
        next_state=NEXT_STATE.get(walk["state"]),
        invite_url=url_for("walks.join", token=walk["invite_token"], _external=True),
    )


@bp.get("/walks/<int:walk_id>/observations")
def observation_list(walk_id: int):
    """The list fragment; 204 when nothing changed since the version the page holds."""
    walk = get_walk_or_404(walk_id)
    db = get_db()
    version = walk_version(db, walk_id)
    if request.args.get("v") == version:
        return "", 204
    return render(
        "walks/_observation_list.html",
        walk=walk,
        listing=walk_list(db, walk_id, list_limit()),
        version=version,
    )


@bp.post("/walks/<int:walk_id>/state")
@role_required(*STAFF_ROLES)
def change_state(walk_id: int):
    """Start or finish a walk."""
    walk = get_walk_or_404(walk_id, manage=True)
    target = request.form.get("state")
    if target not in STATES or target == walk["state"]:
        abort(400)
    set_walk_state(get_db(), walk, target)
    return redirect(url_for("walks.show", walk_id=walk_id), code=303)


@bp.get("/walks/<int:walk_id>/qr.svg")
def qr(walk_id: int):
    """The invitation link as a QR code."""
    walk = get_walk_or_404(walk_id)
    url = url_for("walks.join", token=walk["invite_token"], _external=True)
    # A standalone SVG file needs its namespace (svg_inline leaves it out: as an <img> the
    # browser showed a broken image); a viewBox without a fixed size scales to any <img>.
    out = io.BytesIO()
    segno.make(url, error="m").save(
        out,
        kind="svg",
        dark="#000",
        light="#fff",
        title=_("Invitation link"),
        xmldecl=False,
        svgns=True,
        omitsize=True,
        nl=False,
    )
    return (
        out.getvalue(),
        200,
        {"Content-Type": "image/svg+xml; charset=utf-8", "Cache-Control": "private, max-age=3600"},
    )


@bp.get("/walks/<int:walk_id>/poster")
def poster(walk_id: int):
    """The invitation as an A4 poster for the meeting point: the QR code, large, to print."""
    walk = get_walk_or_404(walk_id)
    invite_url = url_for("walks.join", token=walk["invite_token"], _external=True)
    return render("walks/poster.html", walk=walk, invite_url=invite_url)


@bp.route("/j/<token>", methods=["GET", "POST"])
def join(token: str):
    """Join a walk from its invitation link: no account, optionally a name."""
    if request.method == "POST":  # each join makes a device key: per address, a few hundred
        config = current_app.config
        limit, window = config["JOIN_RATE_LIMIT_PER_ADDRESS"], config["JOIN_RATE_WINDOW_SECONDS"]
        enforce(f"join-addr:{client_address()}", limit, window, "join")
    db = get_db()
    row = db.execute("SELECT id FROM walks WHERE invite_token = ?", [token]).fetchone()
    if row is None:
        abort(404)
    walk = get_walk(db, row["id"])
    user_id = g.user["id"] if g.get("user") else None
    if find_participant(db, walk["id"], device_hash=device_key_hash(), user_id=user_id):
        return redirect(url_for("capture.capture", walk_id=walk["id"]), code=303)
    form = JoinForm()
    follow_values, follow_email, follow_error = read_follow(request.form)
    if form.validate_on_submit() and not follow_error:
        participant_id = join_walk(
            db,
            walk["id"],
            device_hash=device_key_hash(create=True),
            user_id=user_id,
            display_name=(form.display_name.data or "").strip(),
            participant_role=form.participant_role.data,
        )
        g.participant_id = participant_id
        with transaction(db):
            audit("join", "walk", walk["id"])
        if follow_email:
            follow_participant(db, walk["id"], participant_id, follow_email)
        session.permanent = True
        return redirect(url_for("capture.capture", walk_id=walk["id"]), code=303)
    status = 400 if request.method == "POST" else 200
    return render(
        "walks/join.html",
        walk=walk,
        form=form,
        status=status,
        roles=PARTICIPANT_ROLES,
        follow_values=follow_values,
        follow_error=follow_error if request.method == "POST" else "",
    )


def init_app(app: Flask) -> None:
    """Register the walk routes."""
    app.register_blueprint(bp)
    app.jinja_env.globals["state_label"] = state_label
    app.jinja_env.globals["participant_roles"] = PARTICIPANT_ROLES
