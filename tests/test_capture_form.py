"""The no-JavaScript capture path: one multipart POST with the fields and 0..n photos."""

import io
import re
import uuid
from datetime import datetime, timedelta

import pytest
from conftest import PHOTOS, error_text, join, login, make_place, make_staff, make_walk, photo_files
from PIL import Image

from fieldwalk.clock import STOCKHOLM, stamp
from fieldwalk.photos.files import row_files

CANON = PHOTOS / "camera" / "Canon_40D.jpg"
NO_EXIF = PHOTOS / "camera" / "no_exif.jpg"
DSCN0010 = PHOTOS / "gps" / "DSCN0010.jpg"


@pytest.fixture
def place(db):
    return make_place(db)


@pytest.fixture
def walk(db, place):
    return make_walk(db, place)


@pytest.fixture
def token(client, walk):
    """The CSRF token of a phone that joined the walk."""
    return join(client, walk)


def form(token, observation_id=None, photos=(), **values) -> dict:
    """The capture form as a browser without JavaScript sends it."""
    data = {
        "csrf_token": token,
        "id": observation_id or str(uuid.uuid4()),
        "works_well": "0",
        "category": "vegetation",
        "description": "Buskarna vid gångtunneln skymmer sikten.",
        "feeling": "2",
        "urgent": "1",
        "lat": "59.3552",
        "lon": "17.8821",
        "accuracy_m": "12",
        "location_source": "device",
        **values,
    }
    data["photos"] = [(io.BytesIO(content), name) for name, content in photos]
    return data


def post(client, walk, data):
    return client.post(
        f"/walks/{walk['id']}/observations", data=data, content_type="multipart/form-data"
    )


def count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


def referenced(db) -> set[str]:
    """Every file the photo rows stand for, with their thumbnails' list squares."""
    return {f for row in db.execute("SELECT * FROM photos") for f in row_files(row)}


# --- storing -----------------------------------------------------------------------------


def test_form_stores_observation_and_photos_in_one_go(app, client, db, walk, token):
    observation_id = str(uuid.uuid4())
    photos = [("lampa.jpg", CANON.read_bytes()), ("gang.jpg", NO_EXIF.read_bytes())]
    response = post(client, walk, form(token, observation_id, photos))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(
        f"/walks/{walk['id']}/capture?saved={observation_id}"
    )
    row = dict(db.execute("SELECT * FROM observations").fetchone())
    assert row["id"] == observation_id
    assert (row["category"], row["feeling"], row["urgent"], row["works_well"]) == (
        "vegetation",
        2,
        1,
        0,
    )
    assert (row["lat"], row["lon"], row["accuracy_m"]) == (59.3552, 17.8821, 12)
    assert row["walk_id"] == walk["id"]
    assert row["participant_id"] is not None
    photos_rows = db.execute("SELECT * FROM photos ORDER BY created_at, id").fetchall()
    assert len(photos_rows) == 2
    assert {p["observation_id"] for p in photos_rows} == {observation_id}
    assert photo_files(app) == referenced(db)  # every file belongs to a row
    # Two displays (Canon's 100 px photo is its own thumb) and two list squares of each thumb.
    assert len(photo_files(app)) == 3 + 4
    saved = client.get(response.headers["Location"])
    assert saved.status_code == 200


def test_form_without_photos_stores_the_observation(client, db, walk, token):
    response = post(client, walk, form(token))
    assert response.status_code == 303
    assert count(db, "observations") == 1
    assert count(db, "photos") == 0


def test_double_submit_with_the_same_id_stores_once(app, client, db, walk, token):
    data_id = str(uuid.uuid4())
    photos = [("lampa.jpg", CANON.read_bytes())]
    first = post(client, walk, form(token, data_id, photos))
    again = post(client, walk, form(token, data_id, photos))
    assert (first.status_code, again.status_code) == (303, 303)
    assert count(db, "observations") == 1
    assert count(db, "photos") == 1
    assert photo_files(app) == referenced(db)


def test_same_id_with_other_content_is_409_and_offers_a_new_id(client, db, walk, token):
    observation_id = str(uuid.uuid4())
    post(client, walk, form(token, observation_id))
    response = post(client, walk, form(token, observation_id, description="Annat."))
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    new_id = re.search(r'name="id" value="([^"]+)"', html).group(1)
    assert new_id != observation_id
    assert "Annat." in html  # what the person typed is kept
    assert count(db, "observations") == 1


# --- refusing ----------------------------------------------------------------------------


def test_text_file_named_jpg_is_415_by_the_photos_field_and_nothing_is_stored(
    app, client, db, walk, token
):
    photos = [("bild.jpg", "Det här är ingen bild, bara text.\n".encode())]
    response = post(client, walk, form(token, photos=photos))
    assert response.status_code == 415
    html = response.get_data(as_text=True)
    message = error_text(html, "photos")
    assert "bild.jpg" in message
    assert 'aria-describedby="photos-hint photos-error"' in html
    assert "Buskarna vid gångtunneln" in html  # the description is kept for the retry
    assert count(db, "observations") == 0
    assert count(db, "photos") == 0
    assert photo_files(app) == set()


def test_one_bad_photo_among_good_ones_stores_nothing(app, client, db, walk, token):
    photos = [
        ("forsta.jpg", CANON.read_bytes()),
        ("andra.jpg", DSCN0010.read_bytes()[:30_000]),  # cut off mid-scan
    ]
    response = post(client, walk, form(token, photos=photos))
    assert response.status_code == 422
    assert "andra.jpg" in error_text(response.get_data(as_text=True), "photos")
    assert count(db, "observations") == 0
    assert photo_files(app) == set()


def test_missing_category_is_400_by_the_field_and_nothing_is_stored(app, client, db, walk, token):
    photos = [("lampa.jpg", CANON.read_bytes())]
    response = post(client, walk, form(token, photos=photos, category=""))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert error_text(html, "category")
    assert 'aria-describedby="category-error"' in html
    assert count(db, "observations") == 0
    assert photo_files(app) == set()


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"feeling": "7"}, "feeling"),
        ({"description": "x" * 2001}, "description"),
        ({"category": "weather"}, "category"),
    ],
    ids=["feeling-7", "description-too-long", "unknown-category"],
)
def test_invalid_field_is_400_with_its_message(client, db, walk, token, values, name):
    response = post(client, walk, form(token, **values))
    assert response.status_code == 400
    assert error_text(response.get_data(as_text=True), name)
    assert count(db, "observations") == 0


def test_too_large_photo_is_413_and_nothing_is_stored(app, client, db, walk, token):
    app.config["MAX_PHOTO_BYTES"] = 20_000
    photos = [("stor.jpg", DSCN0010.read_bytes())]
    response = post(client, walk, form(token, photos=photos))
    assert response.status_code == 413
    assert "stor.jpg" in error_text(response.get_data(as_text=True), "photos")
    assert count(db, "observations") == 0
    assert photo_files(app) == set()


def test_form_without_an_id_is_400(client, db, walk, token):
    response = post(client, walk, form(token, observation_id="not-a-uuid"))
    assert response.status_code == 400
    assert count(db, "observations") == 0


def test_posting_to_a_walk_not_joined_is_refused_as_the_api_refuses_it(app, db, walk, place):
    """The form and the API give one answer to someone not on the walk: 403 and how to join."""
    other = app.test_client()
    token = join(other, make_walk(db, place, title="Annan vandring"))
    response = post(other, walk, form(token))
    assert response.status_code == 403
    assert "Gå med i vandringen" in response.get_data(as_text=True)
    api = other.put(
        f"/api/v1/observations/{uuid.uuid4()}",
        json={"category": "lighting", "walk_id": walk["id"]},
        headers={"X-CSRFToken": token},
    )
    assert api.status_code == 403
    assert api.get_json()["message"] in response.get_data(as_text=True)
    assert count(db, "observations") == 0


# --- outside a walk ----------------------------------------------------------------------


def test_resident_who_joined_a_walk_may_report_outside_it(client, db, walk, token, place):
    assert client.get("/report").status_code == 200
    observation_id = str(uuid.uuid4())
    response = client.post(
        "/report",
        data=form(token, observation_id, [("lampa.jpg", CANON.read_bytes())]),
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/observations/{observation_id}")
    row = db.execute("SELECT walk_id, place_id FROM observations").fetchone()
    assert tuple(row) == (None, place)  # the place is found from the position
    assert client.get(f"/observations/{observation_id}").status_code == 200


def test_staff_may_report_outside_a_walk(client, db, place):
    token = login(client, make_staff(db, "walk_leader"))
    assert client.get("/report").status_code == 200
    response = client.post("/report", data=form(token), content_type="multipart/form-data")
    assert response.status_code == 303
    assert db.execute("SELECT user_id FROM observations").fetchone()[0] is not None


def test_stranger_may_not_report(client, db, place):
    from conftest import csrf_token

    token = csrf_token(client, "/login")
    assert client.get("/report").status_code == 404
    response = client.post("/report", data=form(token), content_type="multipart/form-data")
    assert response.status_code == 404
    assert count(db, "observations") == 0


# --- the observation page ----------------------------------------------------------------


def test_observation_page_counts_photos_still_on_their_way(client, walk, token):
    observation_id, photo_ids = str(uuid.uuid4()), [str(uuid.uuid4()), str(uuid.uuid4())]
    client.put(
        f"/api/v1/observations/{observation_id}",
        json={"category": "lighting", "walk_id": walk["id"], "photos": photo_ids},
        headers={"X-CSRFToken": token},
    )
    client.put(
        f"/api/v1/observations/{observation_id}/photos/{photo_ids[0]}",
        data=CANON.read_bytes(),
        headers={"X-CSRFToken": token},
    )

    def progress() -> list[int]:
        html = client.get(f"/observations/{observation_id}").get_data(as_text=True)
        match = re.search(r'<p id="photo-progress"[^>]*>([^<]*)</p>', html)
        assert match, "no photo progress"
        return [int(n) for n in re.findall(r"\d+", match.group(1))]

    assert progress() == [1, 2]
    client.put(
        f"/api/v1/observations/{observation_id}/photos/{photo_ids[1]}",
        data=NO_EXIF.read_bytes(),
        headers={"X-CSRFToken": token},
    )
    assert progress() == [2, 2]


def test_observation_page_is_hidden_from_strangers(app, client, db, walk, token):
    observation_id = str(uuid.uuid4())
    post(client, walk, form(token, observation_id))
    assert client.get(f"/observations/{observation_id}").status_code == 200
    assert app.test_client().get(f"/observations/{observation_id}").status_code == 404


def test_without_javascript_the_photos_exif_time_becomes_the_observations(client, walk, token, db):
    """The form has no time field: the observation is dated by the photo, not by the upload."""
    taken = datetime.now(STOCKHOLM).replace(microsecond=0) - timedelta(days=3)
    image = Image.new("RGB", (640, 480), (40, 40, 60))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    data = form(token, photos=[("walk.jpg", buffer.getvalue())])
    assert post(client, walk, data).status_code == 303
    row = db.execute("SELECT observed_at, observed_source, created_at FROM observations").fetchone()
    assert row["observed_source"] == "photo"
    assert row["observed_at"] == stamp(taken) != row["created_at"]


def test_a_gallery_photo_from_years_ago_does_not_date_the_observation(client, walk, token, db):
    """DSCN0010 was taken in October 2008: no outbox waits that long, so receipt dates it."""
    data = form(token, photos=[("DSCN0010.jpg", DSCN0010.read_bytes())])
    assert post(client, walk, data).status_code == 303
    row = db.execute("SELECT observed_at, observed_source, created_at FROM observations").fetchone()
    assert (row["observed_source"], row["observed_at"]) == ("received", row["created_at"])
