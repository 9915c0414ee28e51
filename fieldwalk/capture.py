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

from fieldwalk import photos as photo_pipeline
from fieldwalk.categories import category_list
from fieldwalk.db import get_db, transaction
from fieldwalk.observations import (
    Conflict,
    Invalid,
    get_observation,
    list_photos,
    missing_photo_ids,
    parse_uuid,
    put_observation,
    validate,
    walk_list,
    walk_version,
)
from fieldwalk.photo_store import content_path, put_photo, remove_unreferenced
from fieldwalk.places import get_place, place_geometry
from fieldwalk.ratelimit import limit_resident_writes
from fieldwalk.render import render
from fieldwalk.security import device_key_hash, is_staff
from fieldwalk.walks import (
    current_participant,
    get_walk,
    get_walk_or_404,
    list_limit,
    walk_map_data,
)

bp = Blueprint("capture", __name__)


def photo_error_message(error: photo_pipeline.PhotoError) -> str:
    """What to tell a person whose photo was refused."""
    config = current_app.config
    return {
        "empty": _("The photo is empty."),
        "too_large": _(
            "The photo is too large (at most %(mb)d MB).", mb=config["MAX_PHOTO_BYTES"] // 2**20
        ),
        "too_many_pixels": _("The photo has too many pixels."),
        "not_image": _("This is not a photo. Use JPEG, PNG, WebP or HEIC."),
        "unsupported": _("This image format is not supported. Use JPEG, PNG, WebP or HEIC."),
        "undecodable": _("The photo could not be read; it may be damaged."),
    }.get(error.code, _("The photo could not be read; it may be damaged."))


def ingest(data: bytes) -> photo_pipeline.Ingested:
    """Run the photo pipeline with the configured limits."""
    config = current_app.config
    return photo_pipeline.ingest(
        data,
        max_bytes=config["MAX_PHOTO_BYTES"],
        max_pixels=config["MAX_PHOTO_PIXELS"],
        display_edge=config["PHOTO_DISPLAY_EDGE"],
        thumb_edge=config["PHOTO_THUMB_EDGE"],
    )


def photo_options() -> dict:
    """The keyword arguments put_photo takes from the configuration."""
    config = current_app.config
    return {
        "max_bytes": config["MAX_PHOTO_BYTES"],
        "max_pixels": config["MAX_PHOTO_PIXELS"],
        "display_edge": config["PHOTO_DISPLAY_EDGE"],
        "thumb_edge": config["PHOTO_THUMB_EDGE"],
        "keep_original": config["KEEP_ORIGINAL_PHOTOS"],
        "far_metres": config["FAR_FROM_PLACE_METRES"],
        "timezone": config["BABEL_DEFAULT_TIMEZONE"],
    }


def may_report_without_walk() -> bool:
    """Staff, and residents whose phone has joined a walk, may report outside a walk."""
    return is_staff() or device_key_hash() is not None


def _capture_page(walk: dict | None, values: dict, errors: dict, status: int = 200):
    db = get_db()
    context = {"walk": walk, "values": values, "errors": errors, "categories": category_list()}
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
    ingested, status = [], 400
    for upload in files:
        data = upload.read(config["MAX_PHOTO_BYTES"] + 1)
        try:
            ingested.append((data, ingest(data)))
        except photo_pipeline.PhotoError as error:
            errors["photos"] = f"{upload.filename}: {photo_error_message(error)}"
            status = error.status
            break
    if errors:
        return _capture_page(walk, form, errors, status=status if "photos" in errors else 400)

    db = get_db()
    place = get_place(db, walk["place_id"]) if walk else None
    geometry = place_geometry(place) if place else None
    participant = current_participant(walk) if walk else None
    photo_dir = Path(config["PHOTO_PATH"])
    written = [content_path(result.display) for _, result in ingested]
    written += [content_path(result.thumb) for _, result in ingested]
    try:
        with transaction(db):
            observation, _created = put_observation(
                db,
                observation_id,
                clean,
                walk=walk,
                place_geometry=geometry,
                user_id=g.user["id"] if g.get("user") else None,
                participant_id=participant["id"] if participant else None,
                device_key_hash=device_key_hash(),
            )
            for photo_id, (data, result) in zip(photo_ids, ingested, strict=True):
                put_photo(
                    db,
                    photo_dir,
                    observation,
                    photo_id,
                    data,
                    ingested=result,
                    place_geometry=geometry,
                    **photo_options(),
                )
    except Conflict:
        remove_unreferenced(db, photo_dir, written)
        errors["_"] = _("This observation was already saved with other content.")
        return _capture_page(walk, dict(form, id=str(uuid.uuid4())), errors, status=409)
    except BaseException:
        remove_unreferenced(db, photo_dir, written)
        raise
    target = (
        url_for("capture.capture", walk_id=walk["id"])
        if walk
        else url_for("capture.show", observation_id=observation_id)
    )
    return redirect(f"{target}?saved={observation_id}" if walk else target, code=303)


def can_view_observation(observation: dict) -> bool:
    """Staff, the phone that reported it, and the participants of its walk."""
    if is_staff():
        return True
    device = device_key_hash()
    if device and observation["device_key_hash"] == device:
        return True
    if observation["walk_id"] is not None:
        walk = get_walk(get_db(), observation["walk_id"])
        return walk is not None and current_participant(walk) is not None
    return False


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
