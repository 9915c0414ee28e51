"""A resident's own data: from their phone they download everything stored about them and
erase its personal parts; staff do the same on a person's request, and it is logged."""

import io
import json
import re
import uuid
import zipfile
from pathlib import Path

import pytest
from conftest import PHOTOS, csrf_token, join, login, make_place, make_staff, make_walk
from PIL import Image

pytestmark = pytest.mark.usefixtures("english")

PHOTO = (PHOTOS / "gps" / "DSCN0010.jpg").read_bytes()  # has GPS EXIF, which must not leave


def record(client, walk, csrf, description, photo=PHOTO) -> str:
    observation_id = str(uuid.uuid4())
    response = client.post(
        f"/walks/{walk['id']}/observations",
        data={
            "id": observation_id,
            "category": "lighting",
            "description": description,
            "csrf_token": csrf,
            "photos": (io.BytesIO(photo), "lampa.jpg", "image/jpeg"),
        },
    )
    assert response.status_code == 303
    return observation_id


@pytest.fixture
def residents(app, db):
    coordinator = make_staff(db, "coordinator", email="samordnare@example.se", name="Sara")
    walk = make_walk(db, make_place(db), created_by=coordinator["id"])
    rut, sam = app.test_client(), app.test_client()
    rut_csrf = join(rut, walk, name="Rut Resident")
    sam_csrf = join(sam, walk, name="Sam Resident")
    rut_obs = [
        record(rut, walk, rut_csrf, "Lampan vid porten är trasig"),
        record(rut, walk, rut_csrf, "Mörkt i tunneln"),
    ]
    other = (PHOTOS / "camera" / "Canon_40D.jpg").read_bytes()
    sam_obs = record(sam, walk, sam_csrf, "Sams egen text", photo=other)
    staff = app.test_client()
    login(staff, coordinator)
    return {
        "walk": walk,
        "rut": rut,
        "rut_csrf": rut_csrf,
        "rut_obs": rut_obs,
        "sam_obs": sam_obs,
        "staff": staff,
        "coordinator": coordinator,
    }


def unzip(data: bytes) -> tuple[dict, dict[str, bytes]]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    files = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(files.pop("data.json")), files


def test_the_phone_downloads_everything_stored_about_its_person_and_nothing_else(db, residents):
    rut = residents["rut"]
    page = rut.get("/me/data").get_data(as_text=True)
    assert "Rut Resident" in page and "2 reports" in page and "2 photos" in page
    response = rut.get("/me/data.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "no-store" in response.headers["Cache-Control"]
    data, photos = unzip(response.get_data())
    assert [w["name_given"] for w in data["walks"]] == ["Rut Resident"]
    assert {o["id"] for o in data["observations"]} == set(residents["rut_obs"])
    texts = {o["description"] for o in data["observations"]}
    assert texts == {"Lampan vid porten är trasig", "Mörkt i tunneln"}
    assert "Sams egen text" not in json.dumps(data)
    devices = {r[0] for r in db.execute("SELECT device_key_hash FROM observations")}
    assert not any(d in json.dumps(data) for d in devices if d)
    assert len(photos) == 2
    for name, content in photos.items():
        assert re.fullmatch(r"photos/[0-9a-f-]{36}\.jpg", name)
        with Image.open(io.BytesIO(content)) as image:
            assert not image.getexif(), "no GPS or camera details in what is handed over"


def test_anyone_without_a_device_key_has_no_data_page(client):
    assert client.get("/me/data").status_code == 404
    assert client.get("/me/data.zip").status_code == 404


def test_erasing_from_the_phone_needs_a_tick_then_removes_the_personal_parts(app, db, residents):
    rut = residents["rut"]
    refused = rut.post("/me/data/erase", data={"csrf_token": residents["rut_csrf"]})
    assert refused.status_code == 400 and "Tick the box" in refused.get_data(as_text=True)
    assert (
        db.execute(
            "SELECT count(*) FROM walk_participants WHERE display_name = 'Rut Resident'"
        ).fetchone()[0]
        == 1
    )
    files_before = {p.name for p in Path(app.config["PHOTO_PATH"]).rglob("*.jpg")}
    done = rut.post("/me/data/erase", data={"csrf_token": residents["rut_csrf"], "confirm": "1"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/me/data/erased")
    names = {r[0] for r in db.execute("SELECT display_name FROM walk_participants")}
    assert names == {"", "Sam Resident"}
    for observation_id in residents["rut_obs"]:
        row = dict(
            db.execute("SELECT * FROM observations WHERE id = ?", [observation_id]).fetchone()
        )
        assert row["description"] == "" and row["device_key_hash"] is None
        assert row["photo_ids"] == "[]" and row["category"] == "lighting", "the report itself stays"
        assert (
            db.execute(
                "SELECT count(*) FROM photos WHERE observation_id = ?", [observation_id]
            ).fetchone()[0]
            == 0
        )
    sam = db.execute(
        "SELECT description FROM observations WHERE id = ?", [residents["sam_obs"]]
    ).fetchone()
    assert sam[0] == "Sams egen text"
    files_after = {p.name for p in Path(app.config["PHOTO_PATH"]).rglob("*.jpg")}
    assert files_after < files_before
    entry = db.execute(
        "SELECT actor, detail FROM audit_log WHERE action = 'erase_personal'"
    ).fetchone()
    assert entry["actor"] == "resident" and json.loads(entry["detail"])["photos"] == 2
    assert rut.get("/me/data").status_code == 404, "the phone starts afresh"


def test_staff_find_the_person_hand_out_an_extract_and_erase_on_request(app, db, residents):
    staff = residents["staff"]
    status_url = f"https://example.se/status/{residents['rut_obs'][0]}"
    page = staff.get("/admin/privacy", query_string={"q": status_url}).get_data(as_text=True)
    assert "Rut Resident" in page and "2 reports" in page
    by_name = staff.get("/admin/privacy", query_string={"q": "Rut"}).get_data(as_text=True)
    handle = re.search(r'name="subject" value="([^"]+)"', by_name).group(1)
    extract = staff.get("/admin/privacy/extract", query_string={"subject": handle})
    data, photos = unzip(extract.get_data())
    assert {o["id"] for o in data["observations"]} == set(residents["rut_obs"]) and len(photos) == 2
    token = csrf_token(staff, "/admin/privacy")
    unticked = staff.post("/admin/privacy/erase", data={"csrf_token": token, "subject": handle})
    assert unticked.status_code == 400
    done = staff.post(
        "/admin/privacy/erase", data={"csrf_token": token, "subject": handle, "confirm": "1"}
    )
    assert done.status_code == 303
    log = [
        tuple(r)
        for r in db.execute(
            "SELECT action, user_id FROM audit_log WHERE entity = 'resident' ORDER BY id"
        )
    ]
    coordinator = residents["coordinator"]["id"]
    assert log == [("register_extract", coordinator), ("erase_personal", coordinator)]
    texts = {r[0] for r in db.execute("SELECT description FROM observations")}
    assert texts == {"", "Sams egen text"}


def test_a_walk_leader_cannot_reach_the_requests_page(app, db):
    leader = make_staff(db, "walk_leader", email="ledare@example.se")
    client = app.test_client()
    login(client, leader)
    assert client.get("/admin/privacy").status_code == 403
    assert client.get("/admin/privacy/extract?subject=p:1").status_code == 403
