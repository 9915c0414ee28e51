"""The Open311 GeoReport v2 server, under /open311/v2/, in XML and JSON.

Each resource ends in its format (`services.xml`, `requests.json`); any other ending is a
404. Answers are UTF-8 and errors take the spec's shape (`[{"code": 400, "description":
"…"}]`, `<errors><error>…`) with the same HTTP status. Texts are in the `locale` asked for
(`sv` or `en`), Swedish when none is. Reading is open to anyone, as the spec has it, and
shows only what is public (`open311.public`: nothing staff have not approved for the public
pages); a reader giving a staff account's `api_key` also follows requests not approved yet,
without their text and photos. Creating a request needs an `api_key` (a token from
`flask --app app create-token EMAIL`) of a staff account. The GeoReport v2
updates extension FixMyStreet reads (`servicerequestupdates.xml`) lists fixes' changes.
"""

from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from fieldwalk.db import get_db
from fieldwalk.ids import parse_uuid
from fieldwalk.open311.formats import FORMATS, errors_body, parse_w3c, serialize
from fieldwalk.open311.georeport import find_service_requests, service_request_updates
from fieldwalk.open311.intake import Refused, receive_request
from fieldwalk.open311.services import list_services, service_definition
from fieldwalk.photos import pipeline as photo_pipeline
from fieldwalk.photos.attach import PhotoSettings
from fieldwalk.photos.views import photo_error_message
from fieldwalk.render import error_messages
from fieldwalk.security import KEY_AUTHENTICATED_BLUEPRINTS, STAFF_ROLES, user_for_token

bp = Blueprint("open311", __name__, url_prefix="/open311")

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this API last changed (discovery's changeset).
CHANGESET = "2026-01-12T00:00:00+00:00"
DEFAULT_WINDOW = timedelta(days=90)


def answer(fmt: str, name: str, data, status: int = 200) -> Response:
    """`data` under `name` in the asked format."""
    return Response(serialize(fmt, name, data), status, content_type=FORMATS[fmt])


def error_answer(fmt: str, status: int, description: str) -> Response:
    """The spec's error answer; JSON when the format itself is unknown."""
    fmt = fmt if fmt in FORMATS else "json"
    return Response(errors_body(fmt, status, [description]), status, content_type=FORMATS[fmt])


def requested_locale(form: bool = True) -> str:
    """The `locale` parameter's language when it is one of ours ('en_US' is 'en'), else Swedish."""
    asked = request.args.get("locale") or (request.form.get("locale") if form else None)
    asked = (asked or "")[:2].lower()
    return asked if asked in current_app.config["LANGUAGES"] else "sv"


def open311(view):
    """Check the format and the jurisdiction; answer in the asked language; turn Refused
    into the spec's error answer."""

    @wraps(view)
    def wrapped(fmt: str, **kwargs):
        with force_locale(requested_locale()):
            if fmt not in FORMATS:
                return error_answer("json", 404, _("Unknown format: use .json or .xml."))
            jurisdiction = current_app.config["OPEN311_JURISDICTION_ID"]
            asked = request.values.get("jurisdiction_id")
            if jurisdiction and asked and asked != jurisdiction:
                return error_answer(fmt, 404, _("jurisdiction_id not found."))
            try:
                return view(fmt=fmt, **kwargs)
            except Refused as refused:
                return error_answer(fmt, refused.status, refused.description)

    return wrapped


def key_holder() -> bool:
    """True when the reader gave a valid `api_key` of a staff account (an integration staff
    set up, following its requests); a missing or wrong key reads as the public does."""
    token = request.args.get("api_key", "").strip()
    user = user_for_token(get_db(), token) if token else None
    return user is not None and user["role"] in STAFF_ROLES


def photo_link(relative: str) -> str:
    """The absolute URL of a stored photo file."""
    return url_for("photo_files.serve", relative=relative, _external=True)


@bp.get("/discovery.<fmt>")
@bp.get("/v2/discovery.<fmt>")
@open311
def discovery(fmt: str):
    """Where the API is, which formats it speaks, and how to get a key."""
    endpoint = {
        "specification": SPECIFICATION,
        "url": request.url_root + "open311/v2/",
        "changeset": CHANGESET,
        "type": "production",
        "formats": ["text/xml", "application/json"],
    }
    return answer(
        fmt,
        "discovery",
        {
            "changeset": CHANGESET,
            "contact": current_app.config["OPEN311_CONTACT"],
            "key_service": _("Ask the coordinators for an API key (create-token)."),
            "endpoints": [endpoint],
        },
    )


@bp.get("/v2/services.<fmt>")
@open311
def services(fmt: str):
    """One service per observation category."""
    return answer(fmt, "services", list_services())


@bp.get("/v2/services/<code>.<fmt>")
@open311
def service(code: str, fmt: str):
    """A service's definition: the questions it asks beyond the description."""
    definition = service_definition(code)
    if definition is None:
        raise Refused(404, _("service_code %(code)s has no definition.", code=code[:40]))
    return answer(fmt, "service_definition", definition)


def _window() -> tuple[datetime, datetime]:
    """start_date and end_date, by default the last 90 days (the spec's default window)."""
    moments = {}
    for name in ("start_date", "end_date"):
        text = request.args.get(name)
        if text:
            moments[name] = parse_w3c(text)
            if moments[name] is None:
                raise Refused(400, _("%(name)s is not a W3C date and time.", name=name))
    end = moments.get("end_date") or datetime.now(UTC)
    start = moments.get("start_date") or end - DEFAULT_WINDOW
    if start > end:
        raise Refused(400, _("start_date is after end_date."))
    return start, end


def _list(name: str) -> list[str]:
    return [part.strip() for part in request.args.get(name, "").split(",") if part.strip()]


@bp.get("/v2/requests.<fmt>")
@open311
def requests(fmt: str):
    """Service requests by id, or by service code, observed time and status."""
    db = get_db()
    ids = _list("service_request_id")
    if ids:
        found = find_service_requests(
            db, photo_link, ids=[i for i in map(parse_uuid, ids) if i], key_holder=key_holder()
        )
        return answer(fmt, "service_requests", found)
    statuses = {status.lower() for status in _list("status")}
    if statuses - {"open", "closed"}:
        raise Refused(400, _("status must be open or closed."))
    start, end = _window()
    found = find_service_requests(
        db,
        photo_link,
        codes=_list("service_code") or None,
        start=start,
        end=end,
        status=statuses.pop() if len(statuses) == 1 else None,
        key_holder=key_holder(),
    )
    return answer(fmt, "service_requests", found)


@bp.get("/v2/requests/<request_id>.<fmt>")
@open311
def one_request(request_id: str, fmt: str):
    """One service request."""
    canonical = parse_uuid(request_id)
    found = (
        find_service_requests(get_db(), photo_link, ids=[canonical], key_holder=key_holder())
        if canonical
        else []
    )
    if not found:
        raise Refused(404, _("service_request_id not found."))
    return answer(fmt, "service_requests", found)


@bp.post("/v2/requests.<fmt>")
@open311
def create_request(fmt: str):
    """A new service request, stored as an observation; idempotent on the client's name for it."""
    form = request.form
    db = get_db()
    user = user_for_token(db, form.get("api_key", "").strip())
    if user is None:
        raise Refused(403, _("api_key is missing or not valid."))
    if user["role"] not in STAFF_ROLES:
        raise Refused(403, _("This api_key may not create requests."))
    config = current_app.config
    media = [
        upload.read(config["MAX_PHOTO_BYTES"] + 1)
        for upload in request.files.getlist("media")
        if upload and upload.filename
    ]
    try:
        observation, created, notice = receive_request(
            db,
            Path(config["PHOTO_PATH"]),
            PhotoSettings.from_config(config),
            form.to_dict(),
            media=media,
            media_urls=form.getlist("media_url"),
            user_id=user["id"],
            max_description=config["MAX_DESCRIPTION_LENGTH"],
            max_photos=config["MAX_PHOTOS_PER_OBSERVATION"],
        )
    except photo_pipeline.PhotoError as refused:
        raise Refused(refused.status, f"media: {photo_error_message(refused)}") from refused
    body = [{"service_request_id": observation["id"], "service_notice": notice}]
    return answer(fmt, "service_requests", body, 201 if created else 200)


@bp.get("/v2/servicerequestupdates.<fmt>")
@open311
def updates(fmt: str):
    """The updates extension: each change of a request's fixes in the window, with its note."""
    start, end = _window()
    return answer(
        fmt,
        "service_requests_updates",
        service_request_updates(get_db(), photo_link, start, end, key_holder()),
    )


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException):
    """An error inside the API (a body too large, a bad form) in the spec's shape."""
    fmt = (request.view_args or {}).get("fmt", "json")
    status = error.code or 500
    with force_locale(requested_locale(form=False)):  # the form may be what failed
        return error_answer(fmt, status, error_messages().get(status, error.name))


def init_app(app: Flask) -> None:
    """Register the Open311 server; its POST authenticates by api_key, not by cookie."""
    KEY_AUTHENTICATED_BLUEPRINTS.add(bp.name)
    app.register_blueprint(bp)
