"""Public status pages: what became of an observation and of a walk, with no personal data."""

import io
import re
import uuid

import pytest
from conftest import (
    CANON,
    STAFF,
    approve_public,
    blur_all,
    join,
    login,
    make_observation,
    make_place,
    make_task,
    make_user,
    make_walk,
    post_action,
    record_on_form,
)

from fieldwalk.parties.model import insert_party
from fieldwalk.photos.views import photo_url
from fieldwalk.tasks.links import create_party_link
from fieldwalk.tasks.model import send_walk_tasks, transition

# These tests read English UI text; Swedish, the default, is tested in test_i18n.py.
pytestmark = pytest.mark.usefixtures("english")

RESIDENT_NAME = "Xavier Quillfeather"
STAFF_NAME = "Zebulon Marchbanks"
STAFF_EMAIL = "zebulon.marchbanks@example.se"
PRIVATE_NOTE = "Ring Zebulon på 070-555 12 34"


@pytest.fixture
def reported(app, db):
    """A resident's observation with a fix the party marked done with an after-photo."""
    coordinator = make_user(db, "coordinator", email=STAFF_EMAIL, name=STAFF_NAME)
    walk = make_walk(db, make_place(db), created_by=coordinator["id"])
    resident = app.test_client()
    csrf = join(resident, walk, name=RESIDENT_NAME)
    observation_id = record_on_form(
        resident, walk, csrf, "Buskarna skymmer gångvägen.", category="vegetation"
    )
    party = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    done = make_task(db, observation_id, party, "Trim the bushes along the path")
    waiting = make_task(db, observation_id, party, "Add a lamp post")
    send_walk_tasks(db, walk["id"], STAFF)
    with app.app_context():
        token = create_party_link(db, party, walk["id"], coordinator["id"], 30)
    photo = (io.BytesIO(CANON.read_bytes()), "after.jpg", "image/jpeg")
    holder = app.test_client()
    response = post_action(holder, token, done, "done", 2, note=PRIVATE_NOTE, photo=photo)
    assert response.status_code == 303
    device = db.execute(
        "SELECT device_key_hash FROM observations WHERE id = ?", [observation_id]
    ).fetchone()[0]
    return {
        "walk": walk,
        "observation_id": observation_id,
        "resident": resident,
        "coordinator": coordinator,
        "device": device,
        "done": done,
        "waiting": waiting,
    }


def test_status_page_shows_state_and_after_photo_but_no_personal_data(app, db, reported):
    approve_public(db, reported["observation_id"])
    blur_all(app, db)
    html = app.test_client().get(f"/status/{reported['observation_id']}").get_data(as_text=True)
    assert "Buskarna skymmer gångvägen." in html
    assert "Trim the bushes along the path" in html and "Add a lamp post" in html
    assert "Parkingenjörerna" in html
    assert "Done" in html and "Sent to the responsible party" in html
    (thumb,) = db.execute(
        "SELECT public_thumb_file FROM photos WHERE task_id = ?", [reported["done"]]
    ).fetchone()
    with app.test_request_context():
        assert photo_url(thumb) in html
    for private in (RESIDENT_NAME, STAFF_NAME, STAFF_EMAIL, "park@example.se", PRIVATE_NOTE):
        assert private not in html
    assert reported["device"] not in html
    cookie = reported["resident"].get_cookie("fieldwalk_session")
    assert cookie.value not in html


def test_status_page_is_404_for_an_unknown_or_malformed_id(client):
    assert client.get(f"/status/{uuid.uuid4()}").status_code == 404
    assert client.get("/status/not-a-uuid").status_code == 404


def test_observation_without_a_fix_says_so(client, db):
    walk = make_walk(db, make_place(db))
    observation_id = make_observation(db, walk, "Trasig bänk.")
    approve_public(db, observation_id)
    html = client.get(f"/status/{observation_id}").get_data(as_text=True)
    assert "Trasig bänk." in html and "No fix has been decided yet." in html


def test_walk_public_page_lists_every_observation_and_its_fixes(app, db, reported):
    walk = reported["walk"]
    other = make_observation(db, walk, "Klotter på tunneln.", category="graffiti")
    approve_public(db, other)
    approve_public(db, reported["observation_id"])
    status_page = app.test_client().get(f"/status/{other}").get_data(as_text=True)
    (public_path,) = re.findall(r'href="(/w/[^"]+)"', status_page)
    response = app.test_client().get(public_path)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Buskarna skymmer gångvägen." in html and "Klotter på tunneln." in html
    assert f"/status/{reported['observation_id']}" in html and f"/status/{other}" in html
    assert "Trim the bushes along the path" in html and "Add a lamp post" in html
    assert "Done" in html
    for private in (RESIDENT_NAME, STAFF_NAME, STAFF_EMAIL, PRIVATE_NOTE, reported["device"]):
        assert private not in html


def test_walk_public_token_is_made_once_and_unknown_tokens_are_404(app, db, reported):
    walk_id = reported["walk"]["id"]
    staff = app.test_client()
    login(staff, reported["coordinator"])
    first = staff.get(f"/walks/{walk_id}/public")
    second = staff.get(f"/walks/{walk_id}/public")
    assert first.status_code == 303 and first.headers["Location"] == second.headers["Location"]
    (token,) = db.execute("SELECT public_token FROM walks WHERE id = ?", [walk_id]).fetchone()
    assert first.headers["Location"].endswith(f"/w/{token}")
    assert app.test_client().get("/w/no-such-token").status_code == 404


def test_walk_page_links_managers_to_the_public_page(app, db, reported):
    staff = app.test_client()
    login(staff, reported["coordinator"])
    html = staff.get(f"/walks/{reported['walk']['id']}").get_data(as_text=True)
    assert f"/walks/{reported['walk']['id']}/public" in html
    assert reported["resident"].get(f"/walks/{reported['walk']['id']}/public").status_code in (
        302,
        303,
        401,
        403,
    )


def test_residents_home_page_links_each_observation_to_its_status_page(reported):
    html = reported["resident"].get("/").get_data(as_text=True)
    assert f'href="/status/{reported["observation_id"]}"' in html


def test_a_duplicate_shows_how_the_task_it_duplicates_stands(app, db, reported):
    walk = reported["walk"]
    observation_id = make_observation(db, walk, "Samma buskage igen.")
    party = db.execute("SELECT id FROM parties").fetchone()[0]
    duplicate = make_task(db, observation_id, party, "Cut back the same bushes")
    send_walk_tasks(db, walk["id"], STAFF)
    transition(db, duplicate, "duplicate", STAFF, version=2, duplicate_of=reported["done"])
    approve_public(db, observation_id)
    blur_all(app, db)
    html = app.test_client().get(f"/status/{observation_id}").get_data(as_text=True)
    assert "Cut back the same bushes" in html
    assert "Done" in html and "After-photo 1" in html
