"""The capture screen: record an observation with photos, with or without JavaScript.

With JavaScript the page sends the observation and then each photo to the JSON API (the
path the offline outbox uses). Without it, the form posts here: every photo is checked
before anything is stored, and the observation and its photos are stored in one transaction.
The form carries the observation's UUID, so a double tap or a resend stores it once.
"""

import json
import uuid
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, g, redirect, request, url_for
from flask_babel import gettext as _

from fieldwalk.categories import category_list
from fieldwalk.db import get_db
from fieldwalk.ids import parse_uuid
from fieldwalk.observations.access import can_view_observation, may_report_without_walk
from fieldwalk.observations.model import (
    Conflict,
    Invalid,
    PhotoIdsTaken,
    get_observation,
    validate,
    walk_list,
    walk_version,
)
from fieldwalk.observations.record import record_observation
from fieldwalk.photos import pipeline as photo_pipeline
from fieldwalk.photos.attach import PhotoSettings, ingest
from fieldwalk.photos.model import list_photos, missing_photo_ids
from fieldwalk.photos.views import photo_error_message
from fieldwalk.ratelimit import limit_resident_writes
from fieldwalk.render import render
from fieldwalk.residents.forms import read_follow
from fieldwalk.residents.model import follow_observation, participant_follows
from fieldwalk.security import device_key_hash
from fieldwalk.walks.access import current_participant, get_walk_or_404, list_limit, walk_map_data
from fieldwalk.walks.model import get_walk

bp = Blueprint("capture", __name__)


def _capture_page(walk: dict | None, values: dict, errors: dict, status: int = 200):
    db = get_db()
    participant = current_participant(walk) if walk else None
    context = {
        "walk": walk,
        "values": values,
        "errors": errors,
        "categories": category_list(),
        # Asked when joining already: every observation of this participant is followed.
        "ask_follow": not participant_follows(db, participant["id"] if participant else None),
        "follow_values": values,
        "follow_error": errors.get("follow", ""),
    }
    if walk:
        context.update(
            listing=walk_list(db, walk["id"], list_limit()),
            version=walk_version(db, walk["id"]),
            map_data=walk_map_data(walk),
        )
    return render("capture/capture.html", status=status, **context)


@bp.get("/walks/<int:walk_id>/capture")
def capture(walk_id: int):
    """The capture screen for a walk."""
    walk = get_walk_or_404(walk_id)
    return _capture_page(walk, {"id": str(uuid.uuid4())}, {})


@bp.get("/report")
def report():
    """The capture screen for an observation outside any walk."""
    if not may_report_without_walk():
        abort(403 if g.get("user") else 404)
    return _capture_page(None, {"id": str(uuid.uuid4())}, {})


@bp.post("/walks/<int:walk_id>/observations")
def submit(walk_id: int):
    """The no-JavaScript path: store the observation and its photos together."""
    walk = get_walk_or_404(walk_id)
    return _store_form(walk)


@bp.post("/report")
def submit_report():
    """The no-JavaScript path for an observation outside any walk."""
    if not may_report_without_walk():
        abort(403 if g.get("user") else 404)
    return _store_form(None)


def _store_form(walk: dict | None):
    limit_resident_writes()  # before the upload is parsed
    form = request.form.to_dict()
    observation_id = parse_uuid(form.get("id", ""))
    if observation_id is None:
        abort(400)
    files = [f for f in request.files.getlist("photos") if f and f.filename]
    photo_ids = [str(uuid.uuid5(uuid.UUID(observation_id), str(i))) for i in range(len(files))]
    body = dict(form, walk_id=walk["id"] if walk else None, photos=photo_ids)
    config = current_app.config
    errors: dict[str, str] = {}
    try:
        clean = validate(
            body, config["MAX_DESCRIPTION_LENGTH"], config["MAX_PHOTOS_PER_OBSERVATION"]
        )
    except Invalid as invalid:
        errors.update(invalid.errors)
    settings = PhotoSettings.from_config(config)
    ingested, status = [], 400
    for upload in files:
        data = upload.read(config["MAX_PHOTO_BYTES"] + 1)
        try:
            ingested.append((data, ingest(data, settings)))
        except photo_pipeline.PhotoError as error:
            errors["photos"] = f"{upload.filename}: {photo_error_message(error)}"
            status = error.status
            break
    _follow_values, follow_email, follow_error = read_follow(request.form)
    if follow_error:
        errors["follow"] = follow_error
    if errors:
        return _capture_page(walk, form, errors, status=status if "photos" in errors else 400)

    participant = current_participant(walk) if walk else None
    try:
        record_observation(
            get_db(),
            Path(config["PHOTO_PATH"]),
            observation_id,
            clean,
            settings,
            walk=walk,
            user_id=g.user["id"] if g.get("user") else None,
            participant_id=participant["id"] if participant else None,
            device_key_hash=device_key_hash(),
            photos=[
                (photo_id, data, result)
                for photo_id, (data, result) in zip(photo_ids, ingested, strict=True)
            ],
        )
    except (Conflict, PhotoIdsTaken):
        errors["_"] = _("This observation was already saved with other content.")
        return _capture_page(walk, dict(form, id=str(uuid.uuid4())), errors, status=409)
    if follow_email:
        follow_observation(get_db(), observation_id, follow_email)
    target = (
        url_for("capture.capture", walk_id=walk["id"])
        if walk
        else url_for("capture.show", observation_id=observation_id)
    )
    return redirect(f"{target}?saved={observation_id}" if walk else target, code=303)


@bp.get("/observations/<observation_id>")
def show(observation_id: str):
    """One observation with its photos and which declared photos are still on their way."""
    canonical = parse_uuid(observation_id)
    db = get_db()
    observation = get_observation(db, canonical) if canonical else None
    if observation is None or not can_view_observation(observation):
        abort(404)
    photos = list_photos(db, canonical)
    walk = get_walk(db, observation["walk_id"]) if observation["walk_id"] else None
    return render(
        "capture/observation.html",
        observation=observation,
        photos=photos,
        missing=missing_photo_ids(observation, photos),
        declared=len(json.loads(observation["photo_ids"])),
        walk=walk,
    )


def init_app(app: Flask) -> None:
    """Register the capture routes."""
    app.register_blueprint(bp)
