"""A resident's own data: from their phone they download everything stored about them and
erase its personal parts; staff do the same on a person's request, and it is logged."""

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from conftest import (
    PHOTOS,
    STAFF,
    csrf_token,
    join,
    login,
    make_place,
    make_staff,
    make_walk,
    record_on_form,
)
from PIL import Image

from fieldwalk.parties.model import insert_party
from fieldwalk.residents.model import place_followup
from fieldwalk.tasks.model import insert_task, transition

pytestmark = pytest.mark.usefixtures("english")

PHOTO = (PHOTOS / "gps" / "DSCN0010.jpg").read_bytes()  # has GPS EXIF, which must not leave


@pytest.fixture
def residents(app, db):
    coordinator = make_staff(db, "coordinator", email="samordnare@example.se", name="Sara")
    walk = make_walk(db, make_place(db), created_by=coordinator["id"])
    rut, sam = app.test_client(), app.test_client()
    rut_csrf = join(rut, walk, name="Rut Resident")
    sam_csrf = join(sam, walk, name="Sam Resident")
    rut_obs = [
        record_on_form(rut, walk, rut_csrf, "Lampan vid porten är trasig", photo=PHOTO),
        record_on_form(rut, walk, rut_csrf, "Mörkt i tunneln", photo=PHOTO),
    ]
    other = (PHOTOS / "camera" / "Canon_40D.jpg").read_bytes()
    sam_obs = record_on_form(sam, walk, sam_csrf, "Sams egen text", photo=other)
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


def index_pages(db) -> bytes:
    return b"".join(r[0] for r in db.execute("SELECT block FROM observation_text_data"))


def test_an_erased_text_cannot_be_read_back_from_the_files_after_the_nightly_purge(
    app, db, runner, residents
):
    """The erased row is blank at once; the search index keeps the old words (as trigrams
    with their places, enough to spell the text again) in its pages until a merge, and the
    write-ahead log keeps the old pages: the purge ends both."""
    # The trigrams of "tunneln" that no other text here has, as the pages spell them out
    # (a term that shares its start with the one before it is stored by its end only).
    trigrams = [t for t in (b"tun", b"unn", b"nne", b"eln") if t in index_pages(db)]
    assert len(trigrams) >= 2
    done = residents["rut"].post(
        "/me/data/erase", data={"csrf_token": residents["rut_csrf"], "confirm": "1"}
    )
    assert done.status_code == 303
    found = db.execute("SELECT rowid FROM observation_text WHERE observation_text MATCH 'tunneln'")
    assert found.fetchall() == [], "no longer found"
    assert all(t in index_pages(db) for t in trigrams), "but still in the index's pages"

    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert not any(t in index_pages(db) for t in trigrams)
    files = [p for p in Path(app.config["DATABASE_PATH"]).parent.iterdir() if p.is_file()]
    assert any(p.name.endswith(".db") for p in files)
    for path in files:
        content = path.read_bytes()
        for erased in ("Mörkt i tunneln", "Lampan vid porten", "Rut Resident"):
            assert erased.encode() not in content, f"{erased!r} in {path.name}"
    kept = db.execute("SELECT count(*) FROM observation_text WHERE observation_text MATCH 'egen'")
    assert kept.fetchone()[0] == 1, "the others' texts are still found"


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


@pytest.fixture
def followed(app, db, residents):
    """Rut also asked to hear back: when joining a second walk (everything she reports
    there) and about her first report; Sam about his. Rut's first fix is done, and she
    answered "does the place feel safer now?"; so did Sam."""
    rut, walk = residents["rut"], residents["walk"]
    second = make_walk(db, make_place(db, slug="vallby", name="Vällby"), title="Vällbyvandring")
    join(rut, second, name="", follow="1", follow_email="rut@example.se")
    rut_first = residents["rut_obs"][0]
    with_follow = record_on_form(
        rut,
        walk,
        residents["rut_csrf"],
        "Trasig bänk",
        photo=PHOTO,
        follow="1",
        follow_email="rut.b@example.se",
    )
    party = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    task = insert_task(
        db,
        observation_ids=[rut_first],
        measure="Byt lampan",
        party_id=party,
        suggestion={"party_id": party},
        actor=STAFF,
    )
    transition(db, task, "send", STAFF, version=1, note="")
    transition(db, task, "done", STAFF, version=2, note="Bytt")
    answered = rut.post(
        f"/status/{rut_first}/followup", data={"csrf_token": residents["rut_csrf"], "answer": "no"}
    )
    assert answered.status_code == 303
    sam = app.test_client()
    sam_token = csrf_token(sam, f"/status/{rut_first}")
    assert (
        sam.post(
            f"/status/{rut_first}/followup", data={"csrf_token": sam_token, "answer": "yes"}
        ).status_code
        == 303
    )
    # Sam's own follow, on his own report (a row that no erasure of Rut's may touch).
    db.execute(
        "INSERT INTO resident_follows (email, observation_id, created_at) VALUES (?, ?, ?)",
        ["sam@example.se", residents["sam_obs"], "2026-12-01T18:00:00+00:00"],
    )
    return {"second": second, "with_follow": with_follow, "rut_first": rut_first}


def addresses(db) -> set[str]:
    return {r[0] for r in db.execute("SELECT email FROM resident_follows")}


def test_the_extract_hands_back_the_addresses_and_answers(db, residents, followed):
    rut = residents["rut"]
    page = rut.get("/me/data").get_data(as_text=True)
    assert "rut@example.se" in page and "rut.b@example.se" in page
    assert "sam@example.se" not in page and "1 answer" in page
    data, _photos = unzip(rut.get("/me/data.zip").get_data())
    by_address = {f["email"]: f for f in data["email_follows"]}
    assert set(by_address) == {"rut@example.se", "rut.b@example.se"}
    assert by_address["rut.b@example.se"]["observation_id"] == followed["with_follow"]
    assert by_address["rut@example.se"]["walk"] == "Vällbyvandring"
    assert by_address["rut@example.se"]["unsubscribed_at"] is None
    assert [(a["observation_id"], a["answer"]) for a in data["place_answers"]] == [
        (followed["rut_first"], "no")
    ], "her phone's answer, not Sam's"
    assert "sam@example.se" not in json.dumps(data)


def test_erasing_from_the_phone_deletes_the_addresses_and_unlinks_the_answers(
    app, db, residents, followed
):
    rut = residents["rut"]
    place_id = residents["walk"]["place_id"]
    before = place_followup(db, place_id)
    done = rut.post("/me/data/erase", data={"csrf_token": residents["rut_csrf"], "confirm": "1"})
    assert done.status_code == 303
    assert addresses(db) == {"sam@example.se"}, "Sam's follow stays"
    voters = {r[0] for r in db.execute("SELECT voter_hash FROM place_followups")}
    assert len(voters) == 2 and sum(v.startswith("forgotten:") for v in voters) == 1
    assert place_followup(db, place_id) == before, "the answers are still counted"
    entry = db.execute("SELECT detail FROM audit_log WHERE action = 'erase_personal'").fetchone()
    detail = json.loads(entry[0])
    assert detail["emails"] == 2 and detail["answers_unlinked"] == 1
    assert "rut" not in entry[0], "the log keeps counts, not the addresses"


def test_staff_erasure_deletes_the_addresses_too(app, db, residents, followed):
    staff = residents["staff"]
    page = staff.get("/admin/privacy", query_string={"q": followed["with_follow"]})
    assert "rut.b@example.se" in page.get_data(as_text=True)
    handle = f"o:{followed['with_follow']}"
    extract = staff.get("/admin/privacy/extract", query_string={"subject": handle})
    data, _photos = unzip(extract.get_data())
    assert {f["email"] for f in data["email_follows"]} == {"rut@example.se", "rut.b@example.se"}
    token = csrf_token(staff, "/admin/privacy")
    done = staff.post(
        "/admin/privacy/erase", data={"csrf_token": token, "subject": handle, "confirm": "1"}
    )
    assert done.status_code == 303
    assert addresses(db) == {"sam@example.se"}
