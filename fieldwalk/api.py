"""JSON API v1: what the capture screen and the offline outbox talk to.

PUT is used for creation because the client names the resource (a UUID): 201 when stored,
200 with the stored resource on an identical repeat, 409 when the UUID holds other content.
"""

from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, g, jsonify, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from fieldwalk.categories import category_list
from fieldwalk.db import get_db
from fieldwalk.ids import parse_id, parse_uuid
from fieldwalk.observations.access import can_view_observation, may_report_without_walk
from fieldwalk.observations.model import (
    Conflict,
    Invalid,
    PhotoIdsTaken,
    count_walk_observations,
    find_observations,
    get_observation,
    observation_place_geometry,
    validate,
)
from fieldwalk.observations.record import record_observation, record_photo
from fieldwalk.observations.serialize import observation_feature, observation_json, photo_json
from fieldwalk.photos import hints
from fieldwalk.photos import pipeline as photo_pipeline
from fieldwalk.photos.attach import PhotoConflict, PhotoNotDeclared, PhotoSettings
from fieldwalk.photos.model import list_photos, photos_of_observations
from fieldwalk.photos.views import photo_error_message, photo_url
from fieldwalk.places.model import list_places, place_feature
from fieldwalk.places.nearness import distance_from_place, is_far
from fieldwalk.ratelimit import limit_resident_writes
from fieldwalk.render import decimal
from fieldwalk.residents.model import clean_email, follow_observation
from fieldwalk.security import UNSAFE_METHODS, device_key_hash, is_staff
from fieldwalk.walks.access import (
    current_participant,
    get_walk_or_404,
    refuse_non_member,
    walk_map_data,
)
from fieldwalk.walks.model import device_walk_ids, get_walk

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def error(status: int, message: str, **extra):
    """A JSON error answer."""
    return jsonify(error=status, message=message, **extra), status


def limit_body():
    """JSON bodies are a few KB: refuse a larger one before reading it (photo PUTs keep
    MAX_PHOTO_BYTES). A body without a length (chunked) is read here, to one byte past the
    limit at most, and refused if it goes past.

    Runs before every other hook (see init_app): the CSRF check opens the body's stream,
    which keeps the limit it was opened with.
    """
    if request.blueprint != bp.name or request.endpoint == "api.put_photo_route":
        return None
    limit = current_app.config["MAX_API_BODY_BYTES"]
    if request.content_length is not None:
        request.max_content_length = limit
        if request.content_length > limit:
            _read_to_the_end(request.content_length)
            return body_too_large()
        return None
    request.max_content_length = limit + 1
    if request.method in UNSAFE_METHODS and len(request.get_data(cache=True)) > limit:
        return body_too_large()
    return None


def _read_to_the_end(length: int) -> None:
    """Read a refused body and let it go, when it is no larger than a request may be at all
    (MAX_CONTENT_LENGTH; nginx takes a little more). Answered with the body unread, the
    connection's close resets it, and nginx, still sending the body, answers 502 instead of
    our 413, which a phone's outbox retries as if the server were down. Behind nginx the body
    is already whole on loopback: reading 10 MB takes a few milliseconds."""
    if length > current_app.config["MAX_CONTENT_LENGTH"]:
        return
    stream = request.environ["wsgi.input"]
    while length > 0:
        chunk = stream.read(min(length, 64 * 1024))
        if not chunk:
            return
        length -= len(chunk)


@bp.errorhandler(RequestEntityTooLarge)
def body_too_large(_error=None):
    """413 as JSON, saying how much the API takes."""
    limit = current_app.config["MAX_API_BODY_BYTES"]
    return error(413, _("What was sent is too large (at most %(kb)d KB).", kb=limit // 1024))


@bp.get("/categories")
def categories():
    """The observation checklist with labels and hints in the requested language."""
    return jsonify(categories=category_list())


@bp.get("/places")
def places():
    """Every place as a GeoJSON FeatureCollection."""
    features = [place_feature(p) for p in list_places(get_db())]
    return jsonify(type="FeatureCollection", features=features)


@bp.get("/walks/<int:walk_id>")
def walk(walk_id: int):
    """One walk: details, map geometry and its observation count."""
    walk = get_walk_or_404(walk_id)
    count = count_walk_observations(get_db(), walk_id)
    data = walk_map_data(walk)
    return jsonify(
        id=walk["id"],
        title=walk["title"],
        place_id=walk["place_id"],
        place_name=walk["place_name"],
        starts_at=walk["starts_at"],
        state=walk["state"],
        meeting_point=walk["meeting_point"],
        meeting=data["meeting"],
        route=data["route"],
        place=data["place"],
        observation_count=count,
    )


def _observation_or_404(observation_id: str) -> dict:
    canonical = parse_uuid(observation_id)
    observation = get_observation(get_db(), canonical) if canonical else None
    if observation is None or not can_view_observation(observation):
        abort(404)
    return observation


@bp.put("/observations/<observation_id>")
def put_observation_route(observation_id: str):
    """Create an observation under the client's UUID (idempotent)."""
    limit_resident_writes()
    canonical = parse_uuid(observation_id)
    if canonical is None:
        return error(400, _("The observation needs a UUID."), fields={"id": _("Not a UUID.")})
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # "silent" covers malformed JSON, not JSON nested too deep
        body = None
    config = current_app.config
    try:
        clean = validate(
            body, config["MAX_DESCRIPTION_LENGTH"], config["MAX_PHOTOS_PER_OBSERVATION"]
        )
    except Invalid as invalid:
        return error(400, _("Please correct the marked fields."), fields=invalid.errors)
    # Optional, and not part of the observation: an address to hear back about it.
    follow = body.get("follow_email") if isinstance(body, dict) else None
    follow_email = clean_email(follow) if isinstance(follow, str) and follow.strip() else None
    if follow not in (None, "") and follow_email is None:
        message = _("Enter your email address, such as name@example.se, or untick the box.")
        return error(400, _("Please correct the marked fields."), fields={"follow_email": message})
    db = get_db()
    walk, participant = None, None
    if clean["walk_id"] is not None:
        walk = get_walk(db, clean["walk_id"])
        if walk is None:
            return error(
                400, _("Please correct the marked fields."), fields={"walk_id": _("Unknown walk.")}
            )
        participant = current_participant(walk)
        if participant is None and not is_staff():
            refuse_non_member()
    elif not may_report_without_walk():
        return error(403 if g.user else 401, _("Join a walk or log in to report."))
    try:
        observation, created = record_observation(
            db,
            Path(config["PHOTO_PATH"]),
            canonical,
            clean,
            PhotoSettings.from_config(config),
            walk=walk,
            user_id=g.user["id"] if g.user else None,
            participant_id=participant["id"] if participant else None,
            device_key_hash=device_key_hash(),
        )
    except Conflict:
        return error(409, _("Another observation already uses this identifier."))
    except PhotoIdsTaken:
        message = _("These photo identifiers belong to another observation.")
        return error(409, message, fields={"photos": message})
    if follow_email:
        follow_observation(db, canonical, follow_email)
    payload = _observation_payload(observation)
    if is_far(observation["distance_m"], config["FAR_FROM_PLACE_METRES"]):
        payload["warnings"] = [
            _(
                "This position is %(km)s km from the walk's place.",
                km=decimal(observation["distance_m"] / 1000),
            )
        ]
    response = jsonify(payload)
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for("api.get_observation_route", observation_id=canonical)
    return response


def _observation_payload(observation: dict) -> dict:
    photos = list_photos(get_db(), observation["id"])
    return observation_json(observation, photos, photo_url, recorder=_may_add_photos(observation))


@bp.get("/observations/<observation_id>")
def get_observation_route(observation_id: str):
    """An observation with its photos and the photos still missing."""
    return jsonify(_observation_payload(_observation_or_404(observation_id)))


def _may_add_photos(observation: dict) -> bool:
    """Staff, and whoever recorded the observation (same phone or same user).

    Seeing an observation is not enough: everyone on the walk sees which declared photos are
    still missing, and must not be able to fill those slots with their own pictures.
    """
    if is_staff():
        return True
    device = device_key_hash()
    if device is not None and observation["device_key_hash"] == device:
        return True
    return g.user is not None and observation["user_id"] == g.user["id"]


@bp.put("/observations/<observation_id>/photos/<photo_id>")
def put_photo_route(observation_id: str, photo_id: str):
    """Store a photo's bytes under the client's UUID (idempotent)."""
    limit_resident_writes()
    observation = _observation_or_404(observation_id)
    if not _may_add_photos(observation):
        return error(403, _("Only the phone that recorded this observation can add its photos."))
    canonical_photo = parse_uuid(photo_id)
    if canonical_photo is None:
        return error(400, _("The photo needs a UUID."))
    config = current_app.config
    if request.content_length is not None and request.content_length > config["MAX_PHOTO_BYTES"]:
        return error(413, photo_error_message(photo_pipeline.PhotoError("too_large", 413)))
    data = request.stream.read(config["MAX_PHOTO_BYTES"] + 1)
    db = get_db()
    try:
        phone_gps, phone_taken_at = hints.read_headers(request.headers)
        row, created = record_photo(
            db,
            Path(config["PHOTO_PATH"]),
            observation,
            canonical_photo,
            data,
            PhotoSettings.from_config(config),
            phone_gps=phone_gps,
            phone_taken_at=phone_taken_at,
        )
    except PhotoNotDeclared:
        return error(409, _("This photo was not declared by its observation."))
    except PhotoConflict:
        return error(409, _("Another photo already uses this identifier."))
    except photo_pipeline.PhotoError as refused:
        return error(refused.status, photo_error_message(refused), code=refused.code)
    payload = photo_json(row, photo_url)
    payload["display_url"] = payload["url"]
    geometry = observation_place_geometry(db, observation)
    distance = distance_from_place(geometry, row["gps_lat"], row["gps_lon"])
    if distance is not None:
        payload["gps_distance_from_place_m"] = distance
        if is_far(distance, config["FAR_FROM_PLACE_METRES"]):
            payload["warnings"] = [
                _(
                    "The photo's position is %(km)s km from the walk's place.",
                    km=decimal(distance / 1000, 0),
                )
            ]
    response = jsonify(payload)
    response.status_code = 201 if created else 200
    return response


def _parse_bbox(text: str) -> tuple[float, float, float, float] | None:
    try:
        min_lon, min_lat, max_lon, max_lat = (float(v) for v in text.split(","))
    except ValueError:
        return None
    return min_lon, min_lat, max_lon, max_lat


@bp.get("/observations")
def list_observations():
    """Observations as a GeoJSON FeatureCollection, by walk, bounding box and time."""
    db = get_db()
    selection: dict = {}
    walk_id = request.args.get("walk_id", "")
    if walk_id:
        if parse_id(walk_id) is None:
            return error(400, _("Unknown walk."))
        selection["walk_id"] = get_walk_or_404(parse_id(walk_id))["id"]
    elif not is_staff():
        device = device_key_hash()
        if device is None:
            return error(401, _("Join a walk or log in to see observations."))
        selection["device"] = (device, device_walk_ids(db, device))
    if request.args.get("bbox"):
        selection["bbox"] = _parse_bbox(request.args["bbox"])
        if selection["bbox"] is None:
            return error(400, _("bbox must be min_lon,min_lat,max_lon,max_lat."))
    if request.args.get("since"):
        selection["since"] = request.args["since"]
    rows = find_observations(db, **selection)
    photos = photos_of_observations(db, [r["id"] for r in rows])
    features = [
        observation_feature(r, photos.get(r["id"], []), photo_url, recorder=_may_add_photos(r))
        for r in rows
    ]
    response = jsonify(type="FeatureCollection", features=features)
    response.mimetype = "application/geo+json"
    return response


def init_app(app: Flask) -> None:
    """Register the API."""
    app.register_blueprint(bp)
    app.before_request_funcs.setdefault(None, []).insert(0, limit_body)
