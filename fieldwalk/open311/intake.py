"""A service request POSTed over Open311 becomes an observation, the way every other does.

The form's fields are turned into the body `observations.model.validate` checks, and the
observation and its photos (`media`, sent as multipart files) go through
`observations.record.record_observation`, so routing, triage and the status page treat it
like one recorded on a phone. Nothing personal is kept: `email`, `first_name`, `last_name`,
`phone`, `device_id` and `account_id` are read by no one and stored nowhere.

`media_url` is never fetched: this server makes no outbound requests on a client's word
(no one can make it reach into the city's network). The address is kept in the description
and the answer's `service_notice` says the photo was not fetched.

A client that names its request (`service_request_id_ext`, or FixMyStreet's
`attribute[fixmystreet_id]`) may send it again and again: the observation's UUID is derived
from the API key's user and that name, so a repeat is answered with the same
`service_request_id`, and other content under the same name is a conflict.
"""

import hashlib
import uuid
from collections.abc import Sequence
from pathlib import Path

from flask_babel import gettext as _
from sqlite_utils import Database

from fieldwalk.categories import CATEGORIES
from fieldwalk.ids import parse_id
from fieldwalk.observations.model import Conflict, Invalid, validate
from fieldwalk.observations.record import record_observation
from fieldwalk.photos.attach import PhotoSettings, ingest
from fieldwalk.places.model import get_place

# The namespace of observation UUIDs derived from a client's own request identifier.
CLIENT_NAMESPACE = uuid.UUID("5b0f3d2e-8c1a-4f7e-9d44-0a311c0ffee5")
CLIENT_ID_FIELDS = ("service_request_id_ext", "attribute[fixmystreet_id]")


class Refused(Exception):
    """A request the spec's error answer explains: HTTP `status` and a `description`."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


def observation_id_for(user_id: int, client_id: str | None) -> str:
    """The observation UUID of a request: derived from the client's name for it, else new."""
    if not client_id:
        return str(uuid.uuid4())
    return str(uuid.uuid5(CLIENT_NAMESPACE, f"{user_id}:{client_id}"))


def _position(db: Database, values: dict) -> tuple[float | str, float | str]:
    lat, lon = values.get("lat", "").strip(), values.get("long", "").strip()
    if lat or lon:
        if not (lat and lon):
            raise Refused(400, _("Give both lat and long."))
        return lat, lon
    if values.get("address_id", "").strip():
        place_id = parse_id(values["address_id"].strip())
        place = get_place(db, place_id) if place_id else None
        if place is None:
            raise Refused(400, _("address_id names no place."))
        return place["center_lat"], place["center_lon"]
    if values.get("address_string", "").strip():
        raise Refused(
            400, _("address_string is not supported: give lat and long, or address_id (a place).")
        )
    raise Refused(400, _("A location is required: lat and long, or address_id (a place)."))


def receive_request(
    db: Database,
    photo_dir: Path,
    settings: PhotoSettings,
    values: dict[str, str],
    *,
    media: Sequence[bytes] = (),
    media_urls: Sequence[str] = (),
    user_id: int,
    max_description: int,
    max_photos: int,
) -> tuple[dict, bool, str | None]:
    """Store a POSTed service request as an observation; return (row, created, notice).

    Raises Refused (400, 409) for what the spec's error answer explains, and
    photos.pipeline.PhotoError for a refused photo.
    """
    code = values.get("service_code", "").strip()
    if not code:
        raise Refused(400, _("service_code is required."))
    if code not in CATEGORIES:
        raise Refused(400, _("service_code %(code)s is not a service here.", code=code[:40]))
    lat, lon = _position(db, values)
    client_id = next((values[f].strip() for f in CLIENT_ID_FIELDS if values.get(f, "").strip()), "")
    observation_id = observation_id_for(user_id, client_id[:200] or None)
    description = values.get("description", "").strip()
    urls = [url.strip() for url in media_urls if url and url.strip()]
    notice = None
    if urls:
        description = "\n".join([description, *(_("Photo: %(url)s", url=u) for u in urls)])
        notice = _(
            "media_url was not fetched (this server makes no outbound requests); "
            "send photos as multipart files named media."
        )
    photos = [(hashlib.sha256(data).hexdigest(), data) for data in media if data]
    photo_ids = [str(uuid.uuid5(uuid.UUID(observation_id), sha)) for sha, _data in photos]
    body = {
        "category": code,
        "description": description.strip(),
        "feeling": values.get("attribute[feeling]", "").strip(),
        "urgent": values.get("attribute[urgent]", "").strip().lower(),
        "lat": lat,
        "lon": lon,
        "location_source": "map",
        "photos": photo_ids,
    }
    try:
        clean = validate(body, max_description, max_photos)
    except Invalid as invalid:
        raise Refused(400, _field_errors(invalid.errors)) from invalid
    ingested = [
        (photo_id, data, ingest(data, settings))
        for photo_id, (_sha, data) in zip(photo_ids, photos, strict=True)
    ]
    try:
        observation, created = record_observation(
            db, photo_dir, observation_id, clean, settings, user_id=user_id, photos=ingested
        )
    except Conflict as conflict:
        raise Refused(
            409, _("This service_request_id_ext was already used for another request.")
        ) from conflict
    return observation, created, notice


FIELD_NAMES = {
    "lat": "lat",
    "lon": "long",
    "feeling": "attribute[feeling]",
    "urgent": "attribute[urgent]",
    "photos": "media",
}


def _field_errors(errors: dict[str, str]) -> str:
    """Invalid's messages as one line naming the Open311 fields."""
    return " ".join(f"{FIELD_NAMES.get(field, field)}: {text}" for field, text in errors.items())
