"""Public only after review: no text or photo of an observation reaches a public page before
staff said "Visa publikt"; the resident sees their own in full; parties get the text."""

import re
import uuid

import pytest
from conftest import (
    PHOTOS,
    STAFF,
    add_observation_row,
    approve_public,
    blur_all,
    csrf_token,
    join,
    login,
    make_place,
    make_staff,
    make_task,
    make_walk,
    record_on_form,
)

from fieldwalk.observations.moderation import (
    PRIVATE,
    count_waiting_for_review,
    waiting_for_review,
)
from fieldwalk.parties.model import insert_party
from fieldwalk.photos import squares
from fieldwalk.tasks.links import create_party_link
from fieldwalk.tasks.model import send_walk_tasks

pytestmark = pytest.mark.usefixtures("english")

SECRET_TEXT = "Han i röd jacka säljer här varje kväll"
MEASURE = "Trim the hedge where he stands"
PHOTO = (PHOTOS / "camera" / "Canon_40D.jpg").read_bytes()


@pytest.fixture
def site(app, db):
    """A walk with a resident's observation (text and photo) and a task for it, sent."""
    coordinator = make_staff(db, "coordinator", email="samordnare@example.se")
    walk = make_walk(db, make_place(db), created_by=coordinator["id"])
    resident = app.test_client()
    csrf = join(resident, walk, name="Rut Resident")
    observation_id = record_on_form(
        resident, walk, csrf, SECRET_TEXT, category="vegetation", photo=PHOTO
    )
    party = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    task = make_task(db, observation_id, party, MEASURE)
    send_walk_tasks(db, walk["id"], STAFF)
    staff = app.test_client()
    login(staff, coordinator)
    public_path = staff.get(f"/walks/{walk['id']}/public").headers["Location"]
    return {
        "walk": walk,
        "observation_id": observation_id,
        "resident": resident,
        "csrf": csrf,
        "staff": staff,
        "party": party,
        "task": task,
        "coordinator": coordinator,
        "public_path": public_path.replace("http://localhost", ""),
    }


def public_pages(app, site) -> dict[str, str]:
    """The observation's status page and its walk's public page, as a stranger sees them."""
    stranger = app.test_client()
    return {
        "status": stranger.get(f"/status/{site['observation_id']}").get_data(as_text=True),
        "walk": stranger.get(site["public_path"]).get_data(as_text=True),
    }


def photo_paths(html: str) -> set[str]:
    """The photo files a page shows, a list square counted as the thumbnail it is cut from."""
    found = set()
    for url in re.findall(r'"(/photos/[^"]+)"', html):
        for candidate in url.split(", "):
            path = candidate.split(" ")[0].removeprefix("/photos/")
            square = squares.parse_square_path(path)
            found.add("/photos/" + (square[0] if square else path))
    return found


def approve_from_triage(site) -> None:
    """The coordinator's one click on "Show publicly" in the triage list."""
    staff = site["staff"]
    html = staff.get("/tasks/triage").get_data(as_text=True)
    card = html[html.index(f'id="review-{site["observation_id"]}"') :]
    action = re.search(r'<form method="post" action="([^"]+/public)"', card).group(1)
    response = staff.post(
        action,
        data={"csrf_token": csrf_token(staff, "/tasks/triage"), "decision": "approved"},
    )
    assert response.status_code == 303


def test_before_review_public_pages_say_what_where_and_state_but_no_text_or_photo(app, site):
    for name, html in public_pages(app, site).items():
        assert "Vegetation" in html or "vegetation" in html.lower(), name
        assert "Råcksta" in html or name == "walk", name
        assert "Sent to the responsible party" in html, name
        assert SECRET_TEXT not in html, name
        assert MEASURE not in html, name
        assert not photo_paths(html), name


def test_one_click_in_triage_shows_text_and_photo_publicly(app, db, site):
    assert count_waiting_for_review(db) == 1
    approve_from_triage(site)
    assert count_waiting_for_review(db) == 0
    for name, html in public_pages(app, site).items():
        assert SECRET_TEXT in html and MEASURE in html, name
        assert not photo_paths(html), "withheld until its faces are blurred"
    blur_all(app, db)
    status = public_pages(app, site)["status"]
    assert photo_paths(status), "the approved photo is on the status page"
    entry = db.execute(
        "SELECT user_id, action FROM audit_log WHERE entity_id = ? AND action LIKE 'public_%'",
        [site["observation_id"]],
    ).fetchone()
    assert tuple(entry) == (site["coordinator"]["id"], "public_approved")


def test_the_observation_page_has_the_same_button(app, db, site):
    staff = site["staff"]
    html = staff.get(f"/observations/{site['observation_id']}").get_data(as_text=True)
    assert "Show publicly" in html and "Keep private" in html
    response = staff.post(
        f"/observations/{site['observation_id']}/public",
        data={"csrf_token": csrf_token(staff, "/tasks/triage"), "decision": "approved"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/observations/{site['observation_id']}")
    assert SECRET_TEXT in public_pages(app, site)["status"]


def test_kept_private_never_shows_and_withdrawing_an_approval_hides_again(app, db, site):
    approve_public(db, site["observation_id"])
    assert SECRET_TEXT in public_pages(app, site)["status"]
    approve_public(db, site["observation_id"], PRIVATE)
    for name, html in public_pages(app, site).items():
        assert SECRET_TEXT not in html and not photo_paths(html), name
    assert count_waiting_for_review(db) == 0, "kept private is a decision, not a wait"


def test_a_photo_arriving_after_approval_waits_for_its_own_look(app, db, site):
    phone = site["resident"]
    observation_id, photo_ids = str(uuid.uuid4()), [str(uuid.uuid4()), str(uuid.uuid4())]
    body = {"category": "lighting", "walk_id": site["walk"]["id"], "photos": photo_ids}
    headers = {"X-CSRFToken": site["csrf"]}
    assert (
        phone.put(f"/api/v1/observations/{observation_id}", json=body, headers=headers).status_code
        == 201
    )
    first = phone.put(
        f"/api/v1/observations/{observation_id}/photos/{photo_ids[0]}",
        data=PHOTO,
        headers={**headers, "Content-Type": "image/jpeg"},
    )
    assert first.status_code == 201
    approve_public(db, observation_id)
    blur_all(app, db)
    status = app.test_client().get(f"/status/{observation_id}").get_data(as_text=True)
    assert photo_paths(status), "the first photo is shown"
    late = (PHOTOS / "camera" / "Pentax_K10D.jpg").read_bytes()
    second = phone.put(
        f"/api/v1/observations/{observation_id}/photos/{photo_ids[1]}",
        data=late,
        headers={**headers, "Content-Type": "image/jpeg"},
    )
    assert second.status_code == 201
    blur_all(app, db)
    again = app.test_client().get(f"/status/{observation_id}").get_data(as_text=True)
    assert photo_paths(again) == photo_paths(status), "the late photo is not shown yet"
    assert observation_id in site["staff"].get("/tasks/triage").get_data(as_text=True)


def test_the_resident_sees_their_own_in_full_on_their_phone(app, site):
    phone = site["resident"]
    mine = phone.get(f"/observations/{site['observation_id']}").get_data(as_text=True)
    assert SECRET_TEXT in mine and photo_paths(mine)
    status = phone.get(f"/status/{site['observation_id']}").get_data(as_text=True)
    assert SECRET_TEXT not in status
    assert f'href="/observations/{site["observation_id"]}"' in status
    stranger = app.test_client().get(f"/status/{site['observation_id']}").get_data(as_text=True)
    assert f'href="/observations/{site["observation_id"]}"' not in stranger


def test_parties_get_the_text_without_waiting_for_review(app, db, site):
    with app.app_context():
        token = create_party_link(db, site["party"], site["walk"]["id"], None, 30)
    html = app.test_client().get(f"/l/{token}").get_data(as_text=True)
    assert SECRET_TEXT in html and MEASURE in html
    assert photo_paths(html), "the party sees the photo (blurred: tests/test_face_blur.py)"


def test_walk_page_never_shows_more_of_an_observation_than_its_own_page(app, db, site):
    walk = site["walk"]
    phone = site["resident"]
    other = record_on_form(
        phone, walk, site["csrf"], "Trasig lampa vid trappan", category="vegetation", photo=PHOTO
    )
    approve_public(db, other)
    blur_all(app, db)
    stranger = app.test_client()
    walk_html = stranger.get(site["public_path"]).get_data(as_text=True)
    for observation_id in (site["observation_id"], other):
        start = walk_html.index(f'id="obs-{observation_id}"')
        following = walk_html.find('<li class="observation', start)
        block = walk_html[start : following if following != -1 else len(walk_html)]
        own_page = stranger.get(f"/status/{observation_id}").get_data(as_text=True)
        assert photo_paths(block) <= photo_paths(own_page), observation_id
        texts = re.findall(r'<p class="desc">([^<]+)</p>', block)
        for text in texts:
            assert text.strip().rstrip(".…") in own_page, (observation_id, text)
    assert SECRET_TEXT not in walk_html and "Trasig lampa vid trappan" in walk_html


def test_review_needs_a_decision_and_staff(app, site):
    staff = site["staff"]
    path = f"/observations/{site['observation_id']}/public"
    bad = staff.post(path, data={"csrf_token": csrf_token(staff, "/tasks/triage"), "decision": "x"})
    assert bad.status_code == 400
    resident = site["resident"]
    refused = resident.post(path, data={"csrf_token": site["csrf"], "decision": "approved"})
    assert refused.status_code in (401, 403, 404)
    assert SECRET_TEXT not in public_pages(app, site)["status"]


def test_the_review_list_merges_both_kinds_of_waiting_oldest_first(db):
    """Never reviewed with a text, and approved with a photo that came since: one list in
    time order, read a page at a time; the count stops at what it was asked to count."""
    waiting = []
    for day in range(1, 8):
        observation = add_observation_row(
            db, None, f"2026-03-{day:02d}T10:00:00Z", description="" if day == 3 else "Text"
        )
        if day in (2, 5):  # approved, then a photo arrived
            db.execute(
                "UPDATE observations SET public_review = 'approved' WHERE id = ?", [observation]
            )
            db.execute(
                """INSERT INTO photos (id, observation_id, sha256, file, thumb_file, width,
                       height, bytes, source_format, created_at)
                   VALUES (?, ?, 'x', 'f.jpg', 't.jpg', 1, 1, 1, 'jpeg', '2026-03-09T10:00:00Z')""",
                [str(uuid.uuid4()), observation],
            )
        if day != 3:  # nothing to withhold
            waiting.append(observation)
    assert [o["id"] for o in waiting_for_review(db)] == waiting
    assert [o["id"] for o in waiting_for_review(db, limit=3, offset=2)] == waiting[2:5]
    assert count_waiting_for_review(db) == 6
    assert count_waiting_for_review(db, at_most=4) == 5
