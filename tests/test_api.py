"""The JSON API v1, through the test client, with real photos from the corpus."""

import hashlib
import io
import json
import re
import threading
import uuid
from pathlib import Path

import pytest
from conftest import PHOTOS, RACKSTA, east_of_racksta, join, make_place, make_user, make_walk
from PIL import Image

from fieldwalk.auth import create_token
from fieldwalk.photos import decode as photo_decode
from fieldwalk.photos import pipeline as photo_pipeline
from fieldwalk.photos import squares
from fieldwalk.places.nearness import distance_from_place, is_far, near_place

DSCN0010 = PHOTOS / "gps" / "DSCN0010.jpg"  # Nikon with GPS: Tuscany, about 43.467 N 11.885 E
NO_EXIF = PHOTOS / "camera" / "no_exif.jpg"
ROTATED = PHOTOS / "orientation" / "landscape_6.jpg"  # stored portrait, EXIF says turn 90°


def body(walk_id=None, **values) -> dict:
    """A valid observation body near Råcksta's square."""
    return {
        "category": "lighting",
        "description": "Gatlyktan vid tunnelbanan är släckt.",
        "feeling": 2,
        "urgent": False,
        "works_well": False,
        "walk_id": walk_id,
        "lat": 59.3551,
        "lon": 17.8822,
        "accuracy_m": 8,
        "location_source": "device",
        "captured_at": "2026-11-28T16:45:00Z",
        "photos": [],
        **values,
    }


class Phone:
    """A resident's phone: a test client that joined a walk, with its CSRF token."""

    def __init__(self, client, walk):
        self.client = client
        self.token = join(client, walk)

    def put(self, observation_id, data, **kwargs):
        return self.client.put(
            f"/api/v1/observations/{observation_id}",
            json=data,
            headers={"X-CSRFToken": self.token},
            **kwargs,
        )

    def put_photo(self, observation_id, photo_id, data: bytes, **kwargs):
        return self.client.put(
            f"/api/v1/observations/{observation_id}/photos/{photo_id}",
            data=data,
            content_type="image/jpeg",
            headers={"X-CSRFToken": self.token},
            **kwargs,
        )


@pytest.fixture
def place(db):
    return make_place(db)


@pytest.fixture
def walk(db, place):
    return make_walk(db, place)


@pytest.fixture
def phone(client, walk):
    return Phone(client, walk)


def count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


def stored_files(app) -> list[Path]:
    return [p for p in Path(app.config["PHOTO_PATH"]).rglob("*") if p.is_file()]


# --- reading -----------------------------------------------------------------------------


def test_categories_list_the_checklist_in_swedish_by_default(client):
    response = client.get("/api/v1/categories")
    assert response.status_code == 200
    categories = response.get_json()["categories"]
    codes = [c["code"] for c in categories]
    assert {"lighting", "vegetation", "sightlines", "paths", "people"} <= set(codes)
    assert all(c["label"] and c["hint"] for c in categories)


def test_categories_follow_accept_language(client):
    english = client.get("/api/v1/categories", headers={"Accept-Language": "en"}).get_json()
    labels = {c["code"]: c["label"] for c in english["categories"]}
    assert labels["lighting"] == "Lighting"


def test_places_are_a_geojson_feature_collection(client, place):
    data = client.get("/api/v1/places").get_json()
    assert data["type"] == "FeatureCollection"
    (feature,) = data["features"]
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "Polygon"
    assert feature["properties"]["name"] == "Råcksta"


def test_walk_is_shown_to_its_participants(phone, walk):
    response = phone.client.get(f"/api/v1/walks/{walk['id']}")
    assert response.status_code == 200
    data = response.get_json()
    assert data["id"] == walk["id"]
    assert data["title"] == walk["title"]
    assert data["state"] == "planned"
    assert data["place"]["geometry"]["type"] == "Polygon"
    assert data["observation_count"] == 0


def test_walk_is_hidden_from_strangers_who_are_told_to_join(app, walk):
    response = app.test_client().get(
        f"/api/v1/walks/{walk['id']}", headers={"Accept-Language": "en"}
    )
    assert response.status_code == 403
    assert response.get_json() == {"error": 403, "message": "Join the walk before recording on it."}
    assert walk["title"] not in response.get_data(as_text=True)


def test_walk_is_shown_to_staff_with_a_token(client, db, walk):
    token = create_token(db, make_user(db, "walk_leader", password=None)["id"])
    response = client.get(
        f"/api/v1/walks/{walk['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200


def test_unknown_walk_is_404(phone):
    assert phone.client.get("/api/v1/walks/999").status_code == 404


# --- PUT an observation ------------------------------------------------------------------


def test_put_observation_creates_it_with_201(phone, walk, db):
    observation_id = str(uuid.uuid4())
    response = phone.put(observation_id, body(walk["id"]))
    assert response.status_code == 201
    data = response.get_json()
    assert data["id"] == observation_id
    assert data["category"] == "lighting"
    assert data["feeling"] == 2
    assert data["walk_id"] == walk["id"]
    assert data["distance_from_place_m"] == 0  # inside the square
    assert response.headers["Location"].endswith(f"/api/v1/observations/{observation_id}")
    row = db.execute("SELECT * FROM observations").fetchone()
    assert row["id"] == observation_id
    assert row["participant_id"] is not None
    assert row["device_key_hash"] is not None


def test_identical_repeat_answers_200_with_the_stored_resource(phone, walk, db):
    observation_id = str(uuid.uuid4())
    first = phone.put(observation_id, body(walk["id"]))
    again = phone.put(observation_id, body(walk["id"]))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert again.get_json() == phone.client.get(f"/api/v1/observations/{observation_id}").json
    assert count(db, "observations") == 1


def test_uuid_in_upper_case_is_the_same_observation(phone, walk, db):
    observation_id = str(uuid.uuid4())
    assert phone.put(observation_id.upper(), body(walk["id"])).status_code == 201
    assert phone.put(observation_id, body(walk["id"])).status_code == 200
    assert count(db, "observations") == 1


def test_same_uuid_with_other_content_is_a_conflict(phone, walk, db):
    observation_id = str(uuid.uuid4())
    phone.put(observation_id, body(walk["id"]))
    response = phone.put(observation_id, body(walk["id"], description="Något annat."))
    assert response.status_code == 409
    stored = db.execute("SELECT description FROM observations").fetchone()[0]
    assert stored == "Gatlyktan vid tunnelbanan är släckt."


def test_position_far_from_the_place_is_stored_with_a_warning(phone, walk):
    response = phone.put(str(uuid.uuid4()), body(walk["id"], lat=59.40, lon=17.95))
    assert response.status_code == 201
    data = response.get_json()
    assert data["distance_from_place_m"] > 2000
    assert data["warnings"] and "km" in data["warnings"][0]


INVALID = [
    pytest.param("{not json", "_", id="not-json"),
    pytest.param([body()], "_", id="list-body"),
    pytest.param(body(category="weather"), "category", id="unknown-category"),
    pytest.param(body(category=None), "category", id="no-category"),
    pytest.param(body(feeling=0), "feeling", id="feeling-0"),
    pytest.param(body(feeling=6), "feeling", id="feeling-6"),
    pytest.param(body(feeling="x"), "feeling", id="feeling-x"),
    pytest.param(body(feeling=True), "feeling", id="feeling-true"),
    pytest.param(body(feeling=2.5), "feeling", id="feeling-2.5"),
    pytest.param(body(lat=91), "lat", id="lat-91"),
    pytest.param(body(lon=-181), "lon", id="lon--181"),
    pytest.param(body(lon=None), "lon", id="lat-without-lon"),
    pytest.param(body(lat="NaN"), "lat", id="lat-nan"),
    pytest.param(body(accuracy_m=-1), "accuracy_m", id="accuracy-negative"),
    pytest.param(body(location_source="satellite"), "location_source", id="unknown-source"),
    pytest.param(body(captured_at="yesterday"), "captured_at", id="captured-at-text"),
    pytest.param(body(urgent="maybe"), "urgent", id="urgent-maybe"),
    pytest.param(body(photos=["not-a-uuid"]), "photos", id="photos-not-uuids"),
    pytest.param(body(photos="abc"), "photos", id="photos-not-a-list"),
    pytest.param(
        body(photos=["3f2b8f6e-8a4b-4c8e-9a57-3c1e5b7d9a10"] * 2), "photos", id="photos-duplicated"
    ),
    pytest.param(body(photos=[str(uuid.uuid4()) for _ in range(13)]), "photos", id="13-photos"),
    pytest.param(body(description="x" * 2001), "description", id="description-too-long"),
    pytest.param(body(description=["x"]), "description", id="description-not-text"),
    pytest.param(body(walk_id=9999), "walk_id", id="unknown-walk"),
    pytest.param(body(walk_id="abc"), "walk_id", id="walk-id-text"),
]


@pytest.mark.parametrize(("data", "field"), INVALID)
def test_invalid_body_is_400_with_a_message_for_the_field(phone, db, data, field):
    observation_id = str(uuid.uuid4())
    if isinstance(data, str):
        response = phone.client.put(
            f"/api/v1/observations/{observation_id}",
            data=data,
            content_type="application/json",
            headers={"X-CSRFToken": phone.token},
        )
    else:
        response = phone.put(observation_id, data)
    assert response.status_code == 400, response.get_json()
    fields = response.get_json()["fields"]
    assert fields.get(field), fields
    assert count(db, "observations") == 0


def test_several_invalid_fields_are_reported_together(phone):
    response = phone.put(str(uuid.uuid4()), body(category="x", feeling=9, lat=95))
    assert set(response.get_json()["fields"]) >= {"category", "feeling", "lat"}


def test_a_photo_list_longer_than_the_limit_is_refused_before_its_items_are_read(phone, db):
    """The length is checked first: 13 items that are not even UUIDs get the length message."""
    response = phone.put(str(uuid.uuid4()), body(photos=[0] * 13))
    assert response.status_code == 400
    assert response.get_json()["fields"]["photos"] == "Högst 12 foton."
    assert count(db, "observations") == 0


def test_json_body_over_the_api_limit_is_413_in_swedish_and_nothing_is_stored(app, phone, db):
    """10 MB of `"photos": [0, 0, ...]`: refused on its Content-Length, before it is read."""
    oversized = '{"category": "lighting", "photos": [' + "0, " * 3_500_000 + "0]}"
    response = phone.client.put(
        f"/api/v1/observations/{uuid.uuid4()}",
        data=oversized,
        content_type="application/json",
        headers={"X-CSRFToken": phone.token},
    )
    assert response.status_code == 413
    assert response.get_json() == {
        "error": 413,
        "message": "Det som skickades är för stort (högst 64 kB).",
    }
    assert count(db, "observations") == 0
    assert app.config["MAX_API_BODY_BYTES"] == 64 * 1024


def test_json_body_without_a_length_is_refused_past_the_api_limit(app, phone, db):
    """A chunked body names no length: it is read to one byte past the limit, no further."""
    oversized = b'{"category": "lighting", "description": "' + b"x" * 100_000 + b'"}'
    response = phone.client.put(
        f"/api/v1/observations/{uuid.uuid4()}",
        input_stream=io.BytesIO(oversized),
        content_type="application/json",
        headers={"X-CSRFToken": phone.token, "Transfer-Encoding": "chunked"},
        # What gunicorn sets for a chunked body: the stream ends where the body does.
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413, response.get_json()
    assert response.get_json()["message"] == "Det som skickades är för stort (högst 64 kB)."
    assert count(db, "observations") == 0


def test_the_largest_real_observation_fits_the_api_limit(phone, walk, db):
    """2000 characters that JSON escapes to 12 bytes each, and 12 photos: well under 64 kB."""
    largest = body(
        walk["id"], description="😀" * 2000, photos=[str(uuid.uuid4()) for _ in range(12)]
    )
    response = phone.client.put(
        f"/api/v1/observations/{uuid.uuid4()}",
        data=json.dumps(largest, ensure_ascii=True),
        content_type="application/json",
        headers={"X-CSRFToken": phone.token},
    )
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize("bad", ["42", "not-a-uuid", "3f2b8f6e-8a4b-4c8e-9a57"])
def test_observation_path_must_be_a_uuid(phone, walk, db, bad):
    response = phone.put(bad, body(walk["id"]))
    assert response.status_code == 400
    assert "id" in response.get_json()["fields"]
    assert count(db, "observations") == 0


def test_recording_on_a_walk_not_joined_is_refused(app, db, walk, place):
    other_walk = make_walk(db, place, title="Annan vandring")
    stranger = Phone(app.test_client(), other_walk)
    response = stranger.put(str(uuid.uuid4()), body(walk["id"]))
    assert response.status_code == 403
    assert count(db, "observations") == 0


def test_anonymous_report_without_walk_is_refused(client, db):
    client.get("/")
    from conftest import csrf_token

    token = csrf_token(client, "/login")
    response = client.put(
        f"/api/v1/observations/{uuid.uuid4()}", json=body(), headers={"X-CSRFToken": token}
    )
    assert response.status_code == 401
    assert count(db, "observations") == 0


def test_resident_may_report_outside_a_walk_and_the_place_is_found(phone, place):
    response = phone.put(str(uuid.uuid4()), body(None))
    assert response.status_code == 201
    data = response.get_json()
    assert data["walk_id"] is None
    assert data["place_id"] == place


# --- PUT a photo -------------------------------------------------------------------------


@pytest.fixture
def declared(phone, walk):
    """An observation on the walk that declared two photos; returns (id, [photo ids])."""
    observation_id, photo_ids = str(uuid.uuid4()), [str(uuid.uuid4()), str(uuid.uuid4())]
    response = phone.put(observation_id, body(walk["id"], photos=photo_ids))
    assert response.status_code == 201
    return observation_id, photo_ids


def test_put_photo_stores_it_with_201_and_its_facts(phone, declared, db):
    observation_id, (photo_id, _) = declared
    response = phone.put_photo(observation_id, photo_id, DSCN0010.read_bytes())
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["id"] == photo_id
    assert (data["width"], data["height"]) == (640, 480)
    assert data["gps"]["lat"] == pytest.approx(43.4674, abs=1e-3)
    assert data["gps"]["lon"] == pytest.approx(11.8851, abs=1e-3)
    assert data["taken_at"].startswith("2008-10-22T16:28")
    assert data["url"].startswith("/photos/") and data["thumb_url"].startswith("/photos/")
    assert count(db, "photos") == 1
    (sha256,) = db.execute("SELECT sha256 FROM photos WHERE id = ?", [photo_id]).fetchone()
    assert sha256 == hashlib.sha256(DSCN0010.read_bytes()).hexdigest()  # of the bytes as sent


def test_photo_far_from_the_walk_warns_and_does_not_move_the_observation(phone, walk, db):
    observation_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
    phone.put(observation_id, body(walk["id"], lat=None, lon=None, photos=[photo_id]))
    data = phone.put_photo(observation_id, photo_id, DSCN0010.read_bytes()).get_json()
    assert data["gps_distance_from_place_m"] > 1_000_000  # Tuscany is far from Vällingby
    assert data["warnings"] and "km" in data["warnings"][0]
    observation = db.execute("SELECT lat, lon FROM observations").fetchone()
    assert tuple(observation) == (None, None)


def test_served_photo_and_thumbnail_carry_no_exif(phone, declared):
    observation_id, (photo_id, _) = declared
    data = phone.put_photo(observation_id, photo_id, DSCN0010.read_bytes()).get_json()
    for url in (data["url"], data["thumb_url"]):
        response = phone.client.get(url, buffered=True)
        assert response.status_code == 200
        with Image.open(io.BytesIO(response.data)) as image:
            assert image.format == "JPEG"
            assert not image.getexif()
            assert "exif" not in image.info
        assert b"NIKON" not in response.data


def test_rotated_photo_is_stored_upright(phone, declared):
    observation_id, (photo_id, _) = declared
    data = phone.put_photo(observation_id, photo_id, ROTATED.read_bytes()).get_json()
    assert data["width"] > data["height"]


def test_identical_photo_repeat_answers_200(phone, declared, db):
    observation_id, (photo_id, _) = declared
    first = phone.put_photo(observation_id, photo_id, NO_EXIF.read_bytes())
    again = phone.put_photo(observation_id, photo_id, NO_EXIF.read_bytes())
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert count(db, "photos") == 1


def test_other_bytes_under_the_same_photo_uuid_is_a_conflict(phone, declared, db):
    observation_id, (photo_id, _) = declared
    phone.put_photo(observation_id, photo_id, NO_EXIF.read_bytes())
    response = phone.put_photo(observation_id, photo_id, DSCN0010.read_bytes())
    assert response.status_code == 409
    assert count(db, "photos") == 1


def test_undeclared_photo_is_a_conflict(app, phone, declared, db):
    observation_id, _ = declared
    response = phone.put_photo(observation_id, str(uuid.uuid4()), NO_EXIF.read_bytes())
    assert response.status_code == 409
    assert count(db, "photos") == 0
    assert stored_files(app) == []


def test_too_large_photo_is_413(app, phone, declared, db):
    app.config["MAX_PHOTO_BYTES"] = 50_000
    observation_id, (photo_id, _) = declared
    response = phone.put_photo(observation_id, photo_id, DSCN0010.read_bytes())
    assert response.status_code == 413
    assert count(db, "photos") == 0


def test_photo_over_the_decode_limit_is_413_in_swedish_and_nothing_is_stored(
    app, phone, declared, db
):
    """MAX_PHOTO_DECODE_BYTES is the configured limit: a 640x480 JPEG decodes to 1.2 MB."""
    app.config["MAX_PHOTO_DECODE_BYTES"] = 1_000_000
    observation_id, (photo_id, _) = declared
    response = phone.put_photo(observation_id, photo_id, DSCN0010.read_bytes())
    assert response.status_code == 413
    assert response.get_json()["message"] == (
        "Bilden är för stor för att kunna behandlas här. Ta den med ”Ta foto”, som gör den"
        " mindre, eller spara den i lägre upplösning."
    )
    assert response.get_json()["code"] == "too_costly"
    assert count(db, "photos") == 0
    assert stored_files(app) == []
    app.config["MAX_PHOTO_DECODE_BYTES"] = 2_000_000
    assert phone.put_photo(observation_id, photo_id, DSCN0010.read_bytes()).status_code == 201


def test_heic_over_the_heif_byte_limit_is_413_in_swedish_and_nothing_is_stored(
    app, phone, declared, db
):
    """A HEIC's decoding time grows with its bits: one of more than MAX_HEIF_BYTES (within
    MAX_PHOTO_BYTES) is refused from its length; the same image without the padding is taken."""
    heic = (PHOTOS / "heic" / "samplefilehub.heif").read_bytes()
    padding = photo_decode.MAX_HEIF_BYTES - len(heic) + 1 - 8
    padded = heic + (padding + 8).to_bytes(4, "big") + b"free" + b"\0" * padding  # a free box
    assert photo_decode.MAX_HEIF_BYTES < len(padded) < app.config["MAX_PHOTO_BYTES"]
    # Refused for its length alone: a larger byte limit takes the padded file.
    assert photo_pipeline.ingest(padded, max_heif_bytes=len(padded)).source_format == "heif"
    observation_id, (photo_id, _) = declared
    response = phone.put_photo(observation_id, photo_id, padded)
    assert response.status_code == 413
    assert response.get_json()["code"] == "too_costly"
    assert response.get_json()["message"].startswith("Bilden är för stor för att kunna behandlas")
    assert count(db, "photos") == 0
    assert stored_files(app) == []
    assert phone.put_photo(observation_id, photo_id, heic).status_code == 201


@pytest.mark.parametrize(
    ("data", "status"),
    [
        pytest.param(b"This is a text file, not a photo.\n", 415, id="text"),
        pytest.param(b"%PDF-1.7\n" + b"0" * 200, 415, id="pdf"),
        pytest.param(DSCN0010.read_bytes()[:40_000], 422, id="truncated-jpeg"),
        pytest.param(b"", 422, id="empty"),
    ],
)
def test_refused_photo_gets_its_status_and_nothing_is_stored(
    app, phone, declared, db, data, status
):
    observation_id, (photo_id, _) = declared
    response = phone.put_photo(observation_id, photo_id, data)
    assert response.status_code == status
    assert response.get_json()["message"]
    assert count(db, "photos") == 0
    assert stored_files(app) == []


def test_truncated_photo_is_still_refused_after_a_protocol_pdf_was_made(
    app, phone, declared, walk, db
):
    """WeasyPrint turns on Pillow's LOAD_TRUNCATED_IMAGES when imported; the app turns it off."""
    token = create_token(db, make_user(db, "coordinator", password=None)["id"])
    pdf = app.test_client().get(
        f"/walks/{walk['id']}/protocol.pdf", headers={"Authorization": f"Bearer {token}"}
    )
    assert pdf.status_code == 200
    observation_id, (photo_id, _) = declared
    response = phone.put_photo(observation_id, photo_id, DSCN0010.read_bytes()[:40_000])
    assert response.status_code == 422
    assert count(db, "photos") == 0


def test_photo_path_must_be_a_uuid(phone, declared):
    observation_id, _ = declared
    response = phone.put_photo(observation_id, "photo-1", NO_EXIF.read_bytes())
    assert response.status_code == 400


def test_photo_for_an_unknown_observation_is_404(phone):
    response = phone.put_photo(str(uuid.uuid4()), str(uuid.uuid4()), NO_EXIF.read_bytes())
    assert response.status_code == 404


def test_another_participant_cannot_fill_someones_declared_photo(app, declared, walk, db):
    """Only the recorder (and staff) learn which photo UUIDs are still on their way, and
    only they may send them."""
    observation_id, (photo_id, _) = declared
    other = Phone(app.test_client(), walk)
    seen = other.client.get(f"/api/v1/observations/{observation_id}").get_json()
    assert "photos_missing" not in seen and "photos_declared" not in seen
    assert photo_id not in other.client.get(f"/api/v1/observations?walk_id={walk['id']}").text
    response = other.put_photo(observation_id, photo_id, NO_EXIF.read_bytes())
    assert response.status_code == 403
    assert count(db, "photos") == 0
    assert stored_files(app) == []


def test_a_co_participant_cannot_block_a_photo_by_declaring_its_uuid_first(
    app, phone, declared, walk, db
):
    """A photo UUID belongs to the observation that declared it from that moment: another
    observation declaring it is refused, so the owner's real upload still lands."""
    observation_id, (photo_id, _) = declared
    mallory = Phone(app.test_client(), walk)
    stolen = mallory.put(str(uuid.uuid4()), body(walk["id"], photos=[photo_id]))
    assert stolen.status_code == 409
    assert stolen.get_json()["fields"] == {"photos": stolen.get_json()["fields"]["photos"]}
    assert count(db, "observations") == 1
    response = phone.put_photo(observation_id, photo_id, NO_EXIF.read_bytes())
    assert response.status_code == 201
    seen = phone.client.get(f"/api/v1/observations/{observation_id}").get_json()
    assert seen["photos_declared"] and seen["photos_missing"]  # the recorder still sees them


def test_staff_may_add_a_photo_to_an_observation(client, declared, db):
    observation_id, (photo_id, _) = declared
    token = create_token(db, make_user(db, "coordinator", password=None)["id"])
    response = client.put(
        f"/api/v1/observations/{observation_id}/photos/{photo_id}",
        data=NO_EXIF.read_bytes(),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201


def test_photo_for_someone_elses_observation_is_404(app, declared, walk, db, place):
    observation_id, (photo_id, _) = declared
    other = Phone(app.test_client(), make_walk(db, place, title="Annan"))
    response = other.put_photo(observation_id, photo_id, NO_EXIF.read_bytes())
    assert response.status_code == 404
    assert count(db, "photos") == 0


# --- GET an observation and lists --------------------------------------------------------


def test_get_observation_lists_photos_received_and_missing(phone, declared):
    observation_id, (first, second) = declared
    phone.put_photo(observation_id, first, NO_EXIF.read_bytes())
    data = phone.client.get(f"/api/v1/observations/{observation_id}").get_json()
    assert [p["id"] for p in data["photos"]] == [first]
    assert data["photos_missing"] == [second]
    assert data["photos_declared"] == [first, second]
    phone.put_photo(observation_id, second, DSCN0010.read_bytes())
    data = phone.client.get(f"/api/v1/observations/{observation_id}").get_json()
    assert [p["id"] for p in data["photos"]] == [first, second]
    assert data["photos_missing"] == []


def test_get_observation_does_not_leak_device_keys_or_hashes(phone, declared):
    observation_id, _ = declared
    data = phone.client.get(f"/api/v1/observations/{observation_id}").get_json()
    assert not {"device_key_hash", "body_hash", "user_id", "participant_id"} & set(data)


def test_get_observation_hidden_from_strangers(app, declared):
    observation_id, _ = declared
    assert app.test_client().get(f"/api/v1/observations/{observation_id}").status_code == 404


@pytest.fixture
def two_observations(phone, walk, db):
    """One on the square, one a kilometre north-east; different update times."""
    near, far = str(uuid.uuid4()), str(uuid.uuid4())
    phone.put(near, body(walk["id"]))
    phone.put(far, body(walk["id"], lat=59.364, lon=17.90, description="Längre bort."))
    db.execute("UPDATE observations SET updated_at = '2026-11-01T10:00:00Z' WHERE id = ?", [near])
    db.execute("UPDATE observations SET updated_at = '2026-11-20T10:00:00Z' WHERE id = ?", [far])
    return near, far


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.get_json()
    return {f["id"] for f in response.get_json()["features"]}


def test_list_is_a_geojson_feature_collection(phone, walk, two_observations):
    response = phone.client.get(f"/api/v1/observations?walk_id={walk['id']}")
    assert response.mimetype == "application/geo+json"
    data = response.get_json()
    assert data["type"] == "FeatureCollection"
    feature = data["features"][0]
    assert feature["geometry"]["type"] == "Point"
    assert len(feature["geometry"]["coordinates"]) == 2
    assert _ids(response) == set(two_observations)


def test_list_filters_by_bbox(phone, walk, two_observations):
    near, far = two_observations
    square = "17.876,59.352,17.889,59.358"
    assert _ids(phone.client.get(f"/api/v1/observations?bbox={square}")) == {near}
    everywhere = "17.0,59.0,18.5,60.0"
    assert _ids(phone.client.get(f"/api/v1/observations?bbox={everywhere}")) == {near, far}


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "1,2,3,4,5", ""])
def test_list_refuses_a_malformed_bbox(phone, two_observations, bbox):
    response = phone.client.get(f"/api/v1/observations?bbox={bbox}")
    assert response.status_code == (200 if bbox == "" else 400)


def test_list_filters_by_since(phone, two_observations):
    near, far = two_observations
    assert _ids(phone.client.get("/api/v1/observations?since=2026-11-10T00:00:00Z")) == {far}
    assert _ids(phone.client.get("/api/v1/observations?since=2026-10-01T00:00:00Z")) == {
        near,
        far,
    }
    assert _ids(phone.client.get("/api/v1/observations?since=2027-01-01T00:00:00Z")) == set()


def test_resident_lists_only_the_walks_they_joined(app, phone, walk, db, place):
    mine = str(uuid.uuid4())
    phone.put(mine, body(walk["id"]))
    other_walk = make_walk(db, place, title="Annan vandring")
    other = Phone(app.test_client(), other_walk)
    theirs = str(uuid.uuid4())
    assert other.put(theirs, body(other_walk["id"])).status_code == 201

    assert _ids(phone.client.get("/api/v1/observations")) == {mine}
    assert _ids(other.client.get("/api/v1/observations")) == {theirs}
    assert phone.client.get(f"/api/v1/observations?walk_id={other_walk['id']}").status_code == 403

    token = create_token(db, make_user(db, "coordinator", password=None)["id"])
    staff = app.test_client().get(
        "/api/v1/observations", headers={"Authorization": f"Bearer {token}"}
    )
    assert _ids(staff) == {mine, theirs}


def test_anonymous_list_is_401(app, walk):
    assert app.test_client().get("/api/v1/observations").status_code == 401


@pytest.mark.parametrize("walk_id", ["abc", "-1", "1.5", "²", "99999999999999999999999"])
def test_list_with_a_malformed_walk_id_is_400(phone, walk_id):
    assert phone.client.get(f"/api/v1/observations?walk_id={walk_id}").status_code == 400


# --- concurrency -------------------------------------------------------------------------


def _race(app, phone, n, request) -> list:
    """Send `request(client)` from n clients sharing the phone's session, all at once."""
    cookie = phone.client.get_cookie("fieldwalk_session").value
    clients = []
    for _ in range(n):
        c = app.test_client()
        c.set_cookie("fieldwalk_session", cookie)
        clients.append(c)
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        barrier.wait()
        try:
            response = request(clients[i])
            results[i] = response.status_code
        except Exception as error:  # surfaced by the assertion below
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_same_observation_sent_ten_times_at_once_is_stored_once(app, phone, walk, db):
    observation_id = str(uuid.uuid4())
    data = body(walk["id"])
    statuses = _race(
        app,
        phone,
        10,
        lambda c: c.put(
            f"/api/v1/observations/{observation_id}",
            json=data,
            headers={"X-CSRFToken": phone.token},
        ),
    )
    assert sorted(statuses) == [200] * 9 + [201], statuses
    assert count(db, "observations") == 1
    assert (
        db.execute("SELECT count(*) FROM audit_log WHERE entity = 'observation'").fetchone()[0] == 1
    )


def test_same_photo_sent_ten_times_at_once_is_stored_once(app, phone, declared, db):
    observation_id, (photo_id, _) = declared
    data = DSCN0010.read_bytes()
    statuses = _race(
        app,
        phone,
        10,
        lambda c: c.put(
            f"/api/v1/observations/{observation_id}/photos/{photo_id}",
            data=data,
            content_type="image/jpeg",
            headers={"X-CSRFToken": phone.token},
        ),
    )
    assert sorted(statuses) == [200] * 9 + [201], statuses
    assert count(db, "photos") == 1
    files = stored_files(app)
    # One display image, one thumbnail and its two list squares; no leftovers.
    assert len(files) == 4, files
    row = db.execute("SELECT file, thumb_file FROM photos").fetchone()
    expected = set(row) | set(squares.square_paths(row["thumb_file"]))
    assert {str(p.relative_to(app.config["PHOTO_PATH"])) for p in files} == expected


# --- garbage never gives a 500 -----------------------------------------------------------


GARBAGE_BODIES = [
    b"\xff\xfe\x00garbage",
    b"{",
    b"null",
    b"123",
    b'"a string"',
    b'{"category": ["lighting"]}',
    b'{"category": {"a": 1}}',
    b'{"category": "lighting", "walk_id": "\xc2\xb2"}',
    b'{"category": "lighting", "walk_id": 99999999999999999999999999}',
    b'{"category": "lighting", "walk_id": [1]}',
    b'{"category": "lighting", "lat": 1e400, "lon": 1}',
    b'{"category": "lighting", "photos": [null, {}]}',
    b'{"category": "lighting", "captured_at": {"y": 2026}}',
    b'{"category": "lighting", "description": "\\u0000\\ud800"}',
    b'{"category": "lighting", "feeling": [3], "urgent": {}, "works_well": []}',
    b'{"category": "lighting", "location_source": ["device"], "accuracy_m": "inf"}',
    b"[" * 5000 + b"]" * 5000,
]


@pytest.mark.parametrize("raw", GARBAGE_BODIES, ids=range(len(GARBAGE_BODIES)))
def test_garbage_observation_body_never_gives_500(phone, raw):
    response = phone.client.put(
        f"/api/v1/observations/{uuid.uuid4()}",
        data=raw,
        content_type="application/json",
        headers={"X-CSRFToken": phone.token},
    )
    assert response.status_code in (201, 400, 403), response.get_json()
    assert response.is_json


GARBAGE_HEADERS = [
    {"Content-Type": "application/json; charset=klingon"},
    {"Content-Type": "multipart/form-data; boundary="},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic Zm9vOmJhcg=="},
    {"Accept-Language": "xx;q=abc, ;;;"},
    {"Accept": "*/*;q=nonsense"},
    {"HX-Request": "true", "HX-Boosted": "maybe"},
    {"Cookie": "fieldwalk_session=not.a.signed.cookie"},
    {"X-CSRFToken": "x" * 5000},
]


@pytest.mark.parametrize("headers", GARBAGE_HEADERS, ids=range(len(GARBAGE_HEADERS)))
def test_garbage_headers_never_give_500(phone, walk, headers):
    merged = {"X-CSRFToken": phone.token, **headers}
    put = phone.client.put(
        f"/api/v1/observations/{uuid.uuid4()}", data=b'{"category": "lighting"}', headers=merged
    )
    get = phone.client.get(f"/api/v1/walks/{walk['id']}", headers=headers)
    listing = phone.client.get("/api/v1/observations", headers=headers)
    for response in (put, get, listing):
        assert response.status_code < 500, (response.status_code, response.get_data())


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/walks/99999999999999999999999",
        "/api/v1/observations/%00",
        "/api/v1/observations?since=%00",
        "/api/v1/observations?bbox=nan,nan,nan,nan",
        "/api/v1/observations?walk_id=%00",
    ],
)
def test_garbage_in_the_url_never_gives_500(phone, path):
    assert phone.client.get(path).status_code < 500


# --- what the phone read from a photo before making it smaller ---------------------------------


def reencoded(path: Path) -> bytes:
    """The photo as the capture screen sends it: decoded and saved again, without EXIF."""
    out = io.BytesIO()
    with Image.open(path) as image:
        image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def hints(lat="59.3551", lon="17.8822", taken_at="2026-11-28T16:40:05") -> dict:
    """The headers the outbox sends with a photo: the original's EXIF position and time."""
    headers = {"X-Photo-Lat": lat, "X-Photo-Lon": lon, "X-Photo-Taken-At": taken_at}
    return {k: v for k, v in headers.items() if v is not None}


def put_hinted(phone, walk, photo: bytes, headers: dict, **values) -> tuple[str, dict]:
    observation_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
    assert (
        phone.put(observation_id, body(walk["id"], photos=[photo_id], **values)).status_code == 201
    )
    response = phone.client.put(
        f"/api/v1/observations/{observation_id}/photos/{photo_id}",
        data=photo,
        content_type="image/jpeg",
        headers={"X-CSRFToken": phone.token, **headers},
    )
    assert response.status_code == 201, response.get_json()
    return observation_id, response.get_json()


def test_a_photo_without_exif_keeps_the_place_and_time_the_phone_read(phone, walk, db):
    observation_id, data = put_hinted(
        phone, walk, reencoded(DSCN0010), hints(), lat=None, lon=None, captured_at=None
    )
    assert (data["gps"]["lat"], data["gps"]["lon"]) == (59.3551, 17.8822)
    assert data["taken_at"] == "2026-11-28T16:40:05"
    photo = db.execute("SELECT gps_lat, gps_lon, taken_at FROM photos").fetchone()
    assert tuple(photo) == (59.3551, 17.8822, "2026-11-28T16:40:05")
    observation = db.execute("SELECT * FROM observations WHERE id = ?", [observation_id]).fetchone()
    assert (observation["lat"], observation["lon"]) == (59.3551, 17.8822)
    assert observation["location_source"] == "photo"
    # Observed when the photo was taken: Stockholm is UTC+1 in November.
    assert (observation["observed_at"], observation["observed_source"]) == (
        "2026-11-28T15:40:05Z",
        "photo",
    )


def test_what_the_observation_says_itself_is_kept(phone, walk, db):
    """A position and a time the phone gave with the observation are not replaced."""
    observation_id, _ = put_hinted(phone, walk, reencoded(DSCN0010), hints(lat="59.356"))
    observation = db.execute("SELECT * FROM observations WHERE id = ?", [observation_id]).fetchone()
    assert (observation["lat"], observation["location_source"]) == (59.3551, "device")
    assert observation["captured_at"] == "2026-11-28T16:45:00Z"


def test_exif_in_the_bytes_wins_over_what_the_phone_sent(phone, walk, db):
    _, data = put_hinted(phone, walk, DSCN0010.read_bytes(), hints())
    assert data["gps"]["lat"] == pytest.approx(43.4674, abs=1e-3)  # Tuscany, from the EXIF
    assert data["taken_at"] == "2008-10-22T16:28:39"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(hints(lat="0", lon="0", taken_at=None), id="no-fix-0-0"),
        pytest.param(hints(lat="91", taken_at=None), id="latitude-out-of-range"),
        pytest.param(hints(lon="-180.5", taken_at=None), id="longitude-out-of-range"),
        pytest.param(hints(lat="nan", lon="nan", taken_at=None), id="not-a-number"),
        pytest.param(hints(lat="59,3551", taken_at=None), id="decimal-comma"),
        pytest.param(hints(lon=None, taken_at=None), id="latitude-alone"),
        pytest.param(hints(lat=None, lon=None, taken_at="yesterday"), id="time-not-a-date"),
        pytest.param(hints(lat=None, lon=None, taken_at="0000-00-00T00:00:00"), id="placeholder"),
        pytest.param(
            hints(lat=None, lon=None, taken_at="2026-11-28T16:40:05" + " " * 40), id="long"
        ),
    ],
)
def test_implausible_readings_are_ignored_like_bad_exif_not_refused(phone, walk, db, headers):
    observation_id, data = put_hinted(
        phone, walk, reencoded(DSCN0010), headers, lat=None, lon=None, captured_at=None
    )
    assert data["gps"] is None and data["taken_at"] is None
    observation = db.execute("SELECT * FROM observations WHERE id = ?", [observation_id]).fetchone()
    assert observation["lat"] is None
    assert observation["captured_at"] == observation["created_at"]


def test_a_camera_clock_ahead_of_the_upload_does_not_date_the_observation(phone, walk, db):
    observation_id, data = put_hinted(
        phone, walk, reencoded(DSCN0010), hints(taken_at="2099-01-01T12:00:00"), captured_at=None
    )
    assert data["taken_at"] == "2099-01-01T12:00:00"  # the photo keeps what its camera said
    observation = db.execute("SELECT * FROM observations WHERE id = ?", [observation_id]).fetchone()
    assert observation["captured_at"] == observation["created_at"]


def test_the_far_rule_is_a_distance_over_the_setting_and_nothing_without_a_place():
    assert distance_from_place(RACKSTA, 59.355, 17.882) == 0.0
    assert distance_from_place(RACKSTA, *east_of_racksta(1500)) == pytest.approx(1500, abs=0.1)
    assert distance_from_place(None, 59.355, 17.882) is None
    assert distance_from_place(RACKSTA, None, None) is None
    assert is_far(2000.1, 2000) and not is_far(2000.0, 2000) and not is_far(None, 2000)
    assert near_place(RACKSTA, *east_of_racksta(1999), 2000)
    assert not near_place(RACKSTA, *east_of_racksta(2001), 2000)
    assert not near_place(None, 59.355, 17.882, 2000)  # no place: a photo never moves a pin


@pytest.mark.parametrize(("metres", "far"), [(1990, False), (2010, True)])
def test_every_surface_agrees_on_far_from_the_place(app, phone, walk, db, metres, far):
    """The observation's warning, the photo's warning, whether the photo's position becomes
    the observation's, and the walk's list all follow places/nearness.py, 10 m either side."""
    assert app.config["FAR_FROM_PLACE_METRES"] == 2000
    lat, lon = east_of_racksta(metres)
    observation_id = str(uuid.uuid4())
    answer = phone.put(observation_id, body(walk["id"], lat=lat, lon=lon)).get_json()
    assert bool(answer.get("warnings")) is far

    without_position, photo = put_hinted(
        phone, walk, reencoded(DSCN0010), hints(lat=str(lat), lon=str(lon)), lat=None, lon=None
    )
    assert photo["gps_distance_from_place_m"] == pytest.approx(metres, abs=0.2)
    assert bool(photo.get("warnings")) is far
    row = db.execute("SELECT lat FROM observations WHERE id = ?", [without_position]).fetchone()
    assert (row["lat"] is None) is far  # a far photo does not move the observation

    page = phone.client.get(f"/walks/{walk['id']}").get_data(as_text=True)
    listed = re.search(rf'id="obs-{observation_id}".*?</li>', page, re.S).group(0)
    assert ("Långt från vandringens plats" in listed) is far
