"""Signed links for parties without accounts: what they open, what they refuse, what they grant.

The helpers that insert real walks, observations and sent tasks through the domain functions
(`make_observation`, `make_task`, `make_sent_tasks`) are in conftest.py, for every test file.
"""

import io
import re
from pathlib import Path

import pytest
from conftest import (
    CANON,
    csrf_token,
    link_path,
    login,
    make_place,
    make_sent_tasks,
    make_user,
    make_walk,
    post_action,
    state,
)
from PIL import Image

from fieldwalk.parties.model import insert_party
from fieldwalk.tasks.links import create_party_link, sign_link
from fieldwalk.tasks.model import get_task

# These tests read English UI text; Swedish, the default, is tested in test_i18n.py.
pytestmark = pytest.mark.usefixtures("english")

# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def scene(app, db):
    """Two walks; the park party has tasks on both, the traffic office on the first."""
    place_id = make_place(db)
    walk = make_walk(db, place_id)
    other_walk = make_walk(db, place_id, title="Morgonvandring")
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    traffic = insert_party(db, "Trafikkontoret", "traffic", "trafik@example.se")
    park_tasks = make_sent_tasks(db, walk, park, ["Trim the hedge", "Replace the lamp"])
    traffic_tasks = make_sent_tasks(db, walk, traffic, ["Repaint the crossing"])
    other_walk_tasks = make_sent_tasks(db, other_walk, park, ["Clear the bench area"])
    with app.app_context():  # links are signed with the app's secret key
        token = create_party_link(db, park, walk["id"], None, 30)
    return {
        "walk": walk,
        "other_walk": other_walk,
        "park": park,
        "traffic": traffic,
        "park_tasks": park_tasks,
        "traffic_tasks": traffic_tasks,
        "other_walk_tasks": other_walk_tasks,
        "token": token,
    }


# --- what a valid link opens ---------------------------------------------------------------


def test_valid_link_shows_only_its_partys_tasks_from_its_walk(client, scene):
    response = client.get(link_path(scene["token"]))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Trim the hedge" in html and "Replace the lamp" in html
    assert "Repaint the crossing" not in html  # another party
    assert "Clear the bench area" not in html  # another walk
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_link_page_has_no_navigation_into_the_app(client, scene):
    html = client.get(link_path(scene["token"])).get_data(as_text=True)
    hrefs = set(re.findall(r'href="(/[^"]*)"', html))
    assert all(h.startswith(("/static/", "/photos/", "#")) for h in hrefs), hrefs
    assert "<script" not in html  # forms work without JavaScript


def test_link_holder_accepts_a_task_and_the_audit_log_names_the_link(client, db, scene):
    task_id = scene["park_tasks"][0]
    response = post_action(client, scene["token"], task_id, "accept", 2)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"#task-{task_id}")
    assert state(db, task_id) == "accepted"
    (actor,) = db.execute(
        "SELECT actor FROM audit_log WHERE entity = 'task' AND entity_id = ? AND action = 'accept'",
        [str(task_id)],
    ).fetchone()
    assert actor == "link:Parkingenjörerna"
    assert "Saved" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_link_holder_marks_done_with_a_note(client, db, scene):
    task_id = scene["park_tasks"][0]
    response = post_action(client, scene["token"], task_id, "done", 2, note="Häcken är klippt.")
    assert response.status_code == 303
    task = get_task(db, task_id)
    assert task["state"] == "done" and task["state_note"] == "Häcken är klippt."


def test_link_holder_marks_done_with_an_after_photo_stored_without_exif(client, db, app, scene):
    task_id = scene["park_tasks"][1]
    photo = (io.BytesIO(CANON.read_bytes()), "after.jpg", "image/jpeg")
    response = post_action(client, scene["token"], task_id, "done", 2, photo=photo)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert state(db, task_id) == "done"
    rows = db.execute("SELECT * FROM photos WHERE task_id = ?", [task_id]).fetchall()
    assert len(rows) == 1
    stored = Path(app.config["PHOTO_PATH"]) / rows[0]["file"]
    assert stored.is_file()
    with Image.open(stored) as image:
        assert not image.getexif()
    assert "Canon" not in stored.read_bytes().decode("latin-1")


def test_done_without_note_or_photo_is_refused_and_the_task_unchanged(client, db, scene):
    task_id = scene["park_tasks"][0]
    response = post_action(client, scene["token"], task_id, "done", 2, note="  ")
    assert response.status_code == 400
    assert state(db, task_id) == "sent"


def test_a_file_that_is_not_a_photo_leaves_the_task_unchanged(client, db, scene):
    task_id = scene["park_tasks"][0]
    photo = (io.BytesIO(b"not an image at all"), "after.jpg", "image/jpeg")
    response = post_action(client, scene["token"], task_id, "done", 2, note="Klart", photo=photo)
    assert response.status_code == 415
    assert state(db, task_id) == "sent"
    assert db.execute("SELECT count(*) FROM photos WHERE task_id = ?", [task_id]).fetchone()[0] == 0


def test_link_holder_answers_not_ours_with_a_reason(client, db, scene):
    task_id = scene["park_tasks"][0]
    response = post_action(
        client, scene["token"], task_id, "not_ours", 2, note="Fastighetsägarens mark."
    )
    assert response.status_code == 303
    task = get_task(db, task_id)
    assert task["state"] == "not_ours" and task["state_note"] == "Fastighetsägarens mark."


def test_not_ours_without_a_reason_is_refused(client, db, scene):
    task_id = scene["park_tasks"][0]
    response = post_action(client, scene["token"], task_id, "not_ours", 2, note="")
    assert response.status_code == 400
    assert state(db, task_id) == "sent"


# --- what a link refuses -------------------------------------------------------------------


def test_expired_link_is_refused_with_410_and_the_task_unchanged(client, db, app, scene):
    with app.app_context():
        token = create_party_link(db, scene["park"], scene["walk"]["id"], None, days=-1)
    assert client.get(link_path(token)).status_code == 410
    response = post_action(client, token, scene["park_tasks"][0], "accept", 2, csrf=False)
    assert response.status_code in (400, 410)  # CSRF or expiry: refused either way
    assert state(db, scene["park_tasks"][0]) == "sent"


def test_link_older_than_party_link_days_is_refused_by_its_signature(client, db, app, scene):
    app.config["PARTY_LINK_DAYS"] = -1  # every signature is now too old; expires_at is not
    response = client.get(link_path(scene["token"]))
    assert response.status_code == 410
    assert "Trim the hedge" not in response.get_data(as_text=True)


def test_revoked_link_is_refused_with_410_and_the_task_unchanged(app, db, scene):
    coordinator = make_user(db, "coordinator")
    staff = app.test_client()
    token = login(staff, coordinator)
    link_id = db.execute("SELECT id FROM party_links").fetchone()[0]
    holder = app.test_client()
    csrf = csrf_token(holder, link_path(scene["token"]))  # the page was open before revoking
    walk_id = scene["walk"]["id"]
    response = staff.post(f"/walks/{walk_id}/links/{link_id}/revoke", data={"csrf_token": token})
    assert response.status_code == 303
    assert holder.get(link_path(scene["token"])).status_code == 410
    task_id = scene["park_tasks"][0]
    response = holder.post(
        f"/l/{scene['token']}/tasks/{task_id}",
        data={"action": "accept", "version": "2", "csrf_token": csrf},
    )
    assert response.status_code == 410
    assert state(db, task_id) == "sent"


def test_tampered_or_unknown_token_is_refused_with_404(client, db, app, scene):
    token = scene["token"]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert client.get(link_path(tampered)).status_code == 404
    assert client.get(link_path("not-a-token")).status_code == 404
    with app.app_context():
        unknown = sign_link(9999)  # well signed, but no such link
        foreign = sign_link(1, secret_key="another app's secret")
    assert client.get(link_path(unknown)).status_code == 404
    assert client.get(link_path(foreign)).status_code == 404
    response = post_action(client, tampered, scene["park_tasks"][0], "accept", 2, csrf=False)
    assert response.status_code in (400, 404)
    assert state(db, scene["park_tasks"][0]) == "sent"


@pytest.mark.parametrize("which", ["traffic_tasks", "other_walk_tasks"])
def test_task_of_another_party_or_walk_is_refused_through_a_valid_link(client, db, scene, which):
    task_id = scene[which][0]
    response = post_action(client, scene["token"], task_id, "accept", 2)
    assert response.status_code == 404
    assert state(db, task_id) == "sent"


def test_task_id_beyond_sqlites_integers_is_refused_not_a_crash(client, scene):
    response = post_action(client, scene["token"], 2**70, "accept", 2)
    assert response.status_code == 404


def test_link_grants_nothing_else(client, db, scene):
    client.get(link_path(scene["token"]))  # the holder's browser now has the page's cookies
    walk_id = scene["walk"]["id"]
    task_id = scene["park_tasks"][0]
    for path in (f"/walks/{walk_id}", f"/api/v1/walks/{walk_id}", f"/tasks/{task_id}", "/tasks"):
        response = client.get(path)
        assert response.status_code in (302, 303, 401, 403, 404), path
        assert "Trim the hedge" not in response.get_data(as_text=True), path
    csrf = csrf_token(client, link_path(scene["token"]))
    response = client.post(f"/tasks/{task_id}/accept", data={"csrf_token": csrf, "version": "2"})
    assert response.status_code in (302, 303, 401, 403, 404)
    assert state(db, task_id) == "sent"


def test_stale_version_is_a_conflict_and_changes_nothing(client, db, scene):
    task_id = scene["park_tasks"][0]
    assert post_action(client, scene["token"], task_id, "accept", 2).status_code == 303
    response = post_action(client, scene["token"], task_id, "done", 2, note="Klart")
    assert response.status_code == 409
    assert state(db, task_id) == "accepted"


def test_post_without_csrf_token_is_refused(client, db, scene):
    client.get(link_path(scene["token"]))
    response = post_action(client, scene["token"], scene["park_tasks"][0], "accept", 2, csrf=False)
    assert response.status_code == 400
    assert state(db, scene["park_tasks"][0]) == "sent"


def test_link_is_rate_limited_with_429_and_retry_after(client, app, scene):
    app.config["LINK_RATE_LIMIT"] = 3
    for _ in range(3):
        assert client.get(link_path(scene["token"])).status_code == 200
    response = client.get(link_path(scene["token"]))
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "Too many requests" in response.get_data(as_text=True)


def test_guessing_tokens_is_rate_limited_per_address(client, app, scene):
    app.config["LINK_RATE_LIMIT_PER_ADDRESS"] = 3
    for i in range(3):
        assert client.get(link_path(f"guess{i}")).status_code == 404
    assert client.get(link_path("guess-again")).status_code == 429
    other = app.test_client()
    response = other.get(link_path(scene["token"]), environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert response.status_code == 200


# --- coordinators' list -------------------------------------------------------------------


def test_coordinator_lists_a_walks_links_and_walk_leader_may_not(app, db, scene):
    coordinator = app.test_client()
    login(coordinator, make_user(db, "coordinator"))
    html = coordinator.get(f"/walks/{scene['walk']['id']}/links").get_data(as_text=True)
    assert "Parkingenjörerna" in html and "Withdraw link" in html
    leader = app.test_client()
    token = login(leader, make_user(db, "walk_leader"))
    link_id = db.execute("SELECT id FROM party_links").fetchone()[0]
    assert leader.get(f"/walks/{scene['walk']['id']}/links").status_code == 403
    response = leader.post(
        f"/walks/{scene['walk']['id']}/links/{link_id}/revoke", data={"csrf_token": token}
    )
    assert response.status_code == 403
    assert db.execute("SELECT revoked_at FROM party_links").fetchone()[0] is None


def test_revoking_a_link_of_another_walk_is_404(app, db, scene):
    coordinator = app.test_client()
    token = login(coordinator, make_user(db, "coordinator"))
    link_id = db.execute("SELECT id FROM party_links").fetchone()[0]
    response = coordinator.post(
        f"/walks/{scene['other_walk']['id']}/links/{link_id}/revoke", data={"csrf_token": token}
    )
    assert response.status_code == 404
    assert db.execute("SELECT revoked_at FROM party_links").fetchone()[0] is None
