"""Redaction by hand: staff blur rectangles, turn or hide a photo; it is applied on the server
to every copy, the history names who did it, and the unredacted bytes are gone (unless
KEEP_ORIGINAL_PHOTOS, and then they are never served)."""

import io
import re
from pathlib import Path

import pytest
from conftest import (
    PHOTOS,
    approve_public,
    blur_all,
    csrf_token,
    login,
    make_observation,
    make_place,
    make_staff,
    make_walk,
    sharpness,
)
from PIL import Image

from fieldwalk import create_app
from fieldwalk.db import connect

pytestmark = pytest.mark.usefixtures("english")

# The "number plate": a rectangle of a Tuscan street photo (640x480) with plenty of detail.
BOX = (280, 200, 120, 80)  # x, y, width, height


def photo_row(db, photo_id) -> dict:
    return dict(db.execute("SELECT * FROM photos WHERE id = ?", [photo_id]).fetchone())


def read(client, path: str):
    response = client.get(path)
    data = response.get_data()
    response.close()
    return response.status_code, data


@pytest.fixture
def scene(app, db):
    staff_user = make_staff(
        db, "coordinator", email="samordnare@example.se", name="Sara Samordnare"
    )
    walk = make_walk(db, make_place(db), created_by=staff_user["id"])
    photo_dir = Path(app.config["PHOTO_PATH"])
    observation_id = make_observation(
        db,
        walk,
        "Bil med synlig skylt",
        photo=PHOTOS / "gps" / "DSCN0010.jpg",
        photo_dir=photo_dir,
    )
    (photo_id,) = db.execute(
        "SELECT id FROM photos WHERE observation_id = ?", [observation_id]
    ).fetchone()
    blur_all(app, db)
    approve_public(db, observation_id)
    staff = app.test_client()
    login(staff, staff_user)
    return {
        "staff": staff,
        "user": staff_user,
        "observation_id": observation_id,
        "photo_id": photo_id,
        "photo_dir": photo_dir,
    }


def save(scene, **fields):
    staff = scene["staff"]
    path = f"/photos/{scene['photo_id']}/edit"
    data = {"csrf_token": csrf_token(staff, path), "turn": "0", **fields}
    return staff.post(path, data=data)


def test_a_rectangle_is_blurred_in_every_copy_and_the_unblurred_files_are_gone(app, db, scene):
    before = photo_row(db, scene["photo_id"])
    x, y, w, h = BOX
    region = (x, y, x + w, y + h)
    original = (scene["photo_dir"] / before["file"]).read_bytes()
    assert sharpness(original, region) > 100
    response = save(scene, **{"box-1-x": x, "box-1-y": y, "box-1-w": w, "box-1-h": h})
    assert response.status_code == 303
    after = photo_row(db, scene["photo_id"])
    assert after["file"] != before["file"] and after["thumb_file"] != before["thumb_file"]
    assert after["public_file"] and after["redactions"] == 1
    staff_copy = (scene["photo_dir"] / after["file"]).read_bytes()
    public_copy = (scene["photo_dir"] / after["public_file"]).read_bytes()
    for copy in (staff_copy, public_copy):
        assert sharpness(copy, region) < 10
        # The rest of the photo keeps its detail.
        right = (x + w + 20, 0, before["width"], before["height"])
        assert sharpness(copy, right) > 0.8 * sharpness(original, right)
    with Image.open(scene["photo_dir"] / after["thumb_file"]) as thumb:
        assert max(thumb.size) <= app.config["PHOTO_THUMB_EDGE"]
    for gone in (before["file"], before["thumb_file"], before["public_file"]):
        assert not (scene["photo_dir"] / gone).exists(), gone
        assert read(app.test_client(), f"/photos/{gone}")[0] == 404
    # The public page now shows the redacted copy.
    status = app.test_client().get(f"/status/{scene['observation_id']}").get_data(as_text=True)
    assert after["public_file"] in status and before["public_file"] not in status


def test_the_history_keeps_who_did_it(app, db, scene):
    save(scene, box="10,10,40,40")
    save(scene, hidden="1")
    entries = db.execute(
        "SELECT action, user_id FROM audit_log WHERE entity = 'photo' AND entity_id = ? ORDER BY id",
        [scene["photo_id"]],
    ).fetchall()
    assert [tuple(e) for e in entries] == [
        ("redact", scene["user"]["id"]),
        ("hide", scene["user"]["id"]),
    ]
    page = scene["staff"].get(f"/photos/{scene['photo_id']}/edit").get_data(as_text=True)
    assert page.count("Sara Samordnare") >= 2 and "Hidden from all but staff" in page


def test_a_quarter_turn_turns_every_copy(db, scene):
    before = photo_row(db, scene["photo_id"])
    assert save(scene, turn="90").status_code == 303
    after = photo_row(db, scene["photo_id"])
    assert (after["width"], after["height"]) == (before["height"], before["width"])
    for column in ("file", "thumb_file", "public_file", "public_thumb_file"):
        with Image.open(scene["photo_dir"] / after[column]) as image:
            assert image.height > image.width, column


def test_a_hidden_photo_is_shown_to_staff_only(app, db, scene):
    row = photo_row(db, scene["photo_id"])
    assert save(scene, hidden="1").status_code == 303
    stranger = app.test_client()
    for column in ("file", "public_file", "public_thumb_file"):
        assert read(stranger, f"/photos/{row[column]}")[0] == 404, column
    assert read(scene["staff"], f"/photos/{row['file']}")[0] == 200
    status = stranger.get(f"/status/{scene['observation_id']}").get_data(as_text=True)
    assert "/photos/" not in status
    assert save(scene).status_code == 303  # the box unticked: shown again
    assert read(stranger, f"/photos/{row['public_file']}")[0] == 200


def test_the_form_without_javascript_refuses_bad_numbers_and_changes_nothing(db, scene):
    before = photo_row(db, scene["photo_id"])
    response = save(scene, **{"box-1-x": "10", "box-1-y": "abc", "box-1-w": "5", "box-1-h": "5"})
    assert response.status_code == 400
    assert "x, y, width and height" in response.get_data(as_text=True)
    outside = save(scene, box=f"{before['width'] + 5},0,50,50")
    assert outside.status_code == 400 and "outside the photo" in outside.get_data(as_text=True)
    assert save(scene, turn="45").status_code == 400
    assert photo_row(db, scene["photo_id"]) == before


def test_the_editor_page_offers_drawing_and_numbers(scene):
    html = scene["staff"].get(f"/photos/{scene['photo_id']}/edit").get_data(as_text=True)
    assert 'id="redact-stage"' in html and "js/redact.js" in html
    assert re.search(r'name="box-1-x"', html) and 'name="turn"' in html
    observation = (
        scene["staff"].get(f"/observations/{scene['observation_id']}").get_data(as_text=True)
    )
    assert f"/photos/{scene['photo_id']}/edit" in observation


def test_with_keep_original_photos_the_upload_is_kept_and_never_served(tmp_path):
    app = create_app(
        {"TESTING": True, "INSTANCE": str(tmp_path / "instance"), "KEEP_ORIGINAL_PHOTOS": True}
    )
    db = connect(app.config["DATABASE_PATH"])
    try:
        user = make_staff(db, "coordinator", email="s@example.se")
        walk = make_walk(db, make_place(db))
        phone = app.test_client()
        csrf = csrf_token(phone, f"/j/{walk['invite_token']}")
        phone.post(
            f"/j/{walk['invite_token']}",
            data={"csrf_token": csrf, "display_name": "", "participant_role": "resident"},
        )
        photo = (PHOTOS / "camera" / "Canon_40D.jpg").read_bytes()
        response = phone.post(
            f"/walks/{walk['id']}/observations",
            data={
                "id": "6b0f6c1e-2f5a-4c1b-9a57-3c1e5b7d9a10",
                "category": "lighting",
                "csrf_token": csrf,
                "photos": (io.BytesIO(photo), "bil.jpg", "image/jpeg"),
            },
        )
        assert response.status_code == 303
        row = dict(db.execute("SELECT * FROM photos").fetchone())
        staff = app.test_client()
        login(staff, user)
        path = f"/photos/{row['id']}/edit"
        staff.post(
            path, data={"csrf_token": csrf_token(staff, path), "box": "10,10,50,50", "turn": "0"}
        )
        after = dict(db.execute("SELECT * FROM photos").fetchone())
        original = Path(app.config["PHOTO_PATH"]) / after["original_file"]
        assert original.read_bytes() == photo
        for client in (staff, phone, app.test_client()):
            assert read(client, f"/photos/{after['original_file']}")[0] == 404
    finally:
        db.close()
