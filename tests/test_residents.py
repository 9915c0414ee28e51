"""Residents hear back (issue 14, item 6): an optional address when joining or saving, one
email when a fix is decided and one when it is done (aiosmtpd), an unsubscribe link that works
without logging in, and "does the place feel safer now?" counted per place."""

import re
import uuid

import pytest
from conftest import csrf_token, login, mail_bodies, make_place, make_staff, make_walk

from fieldwalk.parties.model import insert_party
from fieldwalk.residents.model import followed_news, place_followup
from fieldwalk.tasks.model import get_task, insert_task, transition
from fieldwalk.tasks.states import COORDINATOR, Actor

pytestmark = pytest.mark.usefixtures("english")

STAFF = Actor((COORDINATOR,), None, "test")
STATUS_RE = re.compile(r"https?://[^/\s]+(/status/[0-9a-f-]{36})")
UNSUBSCRIBE_RE = re.compile(r"https?://[^/\s]+(/unsubscribe/[A-Za-z0-9_.\-]+)")


def join_with(client, walk, **extra):
    token = csrf_token(client, f"/j/{walk['invite_token']}")
    return client.post(
        f"/j/{walk['invite_token']}",
        data={"csrf_token": token, "display_name": "Kim", "participant_role": "resident", **extra},
    )


def report(client, walk, description="Trasig lampa vid trappan", **extra):
    """Save an observation through the no-JavaScript capture form; return its id."""
    observation_id = str(uuid.uuid4())
    token = csrf_token(client, f"/walks/{walk['id']}/capture")
    response = client.post(
        f"/walks/{walk['id']}/observations",
        data={
            "csrf_token": token,
            "id": observation_id,
            "category": "lighting",
            "description": description,
            "lat": "59.3551",
            "lon": "17.8822",
            **extra,
        },
    )
    return observation_id, response


@pytest.fixture
def scene(app, db):
    walk = make_walk(db, make_place(db), state="ongoing")
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    coordinator = app.test_client()
    token = login(coordinator, make_staff(db, "coordinator"))
    return {"walk": walk, "park": park, "coordinator": coordinator, "token": token}


def make_fix(db, observation_id, party_id, state="sent") -> int:
    task_id = insert_task(
        db,
        observation_ids=[observation_id],
        measure="Byt lampan vid trappan",
        party_id=party_id,
        suggestion={"party_id": party_id},
        actor=STAFF,
    )
    steps = {"proposed": [], "sent": ["send"], "done": ["send", "done"]}[state]
    for version, action in enumerate(steps, start=1):
        transition(db, task_id, action, STAFF, version=version, note="Ny lampa")
    return task_id


def step(scene, db, task_id, action, **data):
    version = get_task(db, task_id)["version"]
    return scene["coordinator"].post(
        f"/tasks/{task_id}/{action}",
        data={"csrf_token": scene["token"], "version": version, **data},
    )


def to_resident(smtp, address="kim@example.se"):
    return smtp.to(address)


def test_a_resident_who_joined_with_an_address_hears_when_decided_and_when_done(
    app, db, smtp, scene
):
    resident = app.test_client()
    assert (
        join_with(resident, scene["walk"], follow="1", follow_email="kim@example.se").status_code
        == 303
    )
    observation_id, saved = report(resident, scene["walk"])
    assert saved.status_code == 303
    task_id = make_fix(db, observation_id, scene["park"], "proposed")

    assert step(scene, db, task_id, "send").status_code == 303
    (decided,) = to_resident(smtp)
    assert decided["Subject"] == "Beslut om det du rapporterade: Belysning, Råcksta"
    text, html = mail_bodies(decided)
    assert "Byt lampan vid trappan" in text and "Parkingenjörerna" in text
    (status_path,) = set(STATUS_RE.findall(text))
    assert status_path == f"/status/{observation_id}"
    assert UNSUBSCRIBE_RE.search(text) and UNSUBSCRIBE_RE.search(html)
    assert "kim@example.se" not in app.test_client().get(status_path).get_data(as_text=True)

    step(scene, db, task_id, "accept")
    assert len(to_resident(smtp)) == 1, "accepting is not news: once per kind"
    step(scene, db, task_id, "done", note="Ny lampa på plats")
    done = to_resident(smtp)[-1]
    assert len(to_resident(smtp)) == 2
    assert done["Subject"] == "Åtgärdat: Belysning, Råcksta"
    assert "Känns platsen tryggare nu?" in mail_bodies(done)[0]
    step(scene, db, task_id, "verify")
    assert len(to_resident(smtp)) == 2, "done and verified are one piece of news"


def test_a_resident_may_leave_an_address_when_saving_one_observation(app, db, smtp, scene):
    resident = app.test_client()
    join_with(resident, scene["walk"])
    page = resident.get(f"/walks/{scene['walk']['id']}/capture").get_data(as_text=True)
    assert 'name="follow_email"' in page and 'name="follow"' in page
    followed, _ = report(resident, scene["walk"], follow="1", follow_email="kim@example.se")
    other, _ = report(resident, scene["walk"], "Klotter")
    make_fix(db, followed, scene["park"])
    make_fix(db, other, scene["park"])
    with app.app_context():
        news = followed_news(db)
    assert [(n["observation_id"], n["email"]) for n in news] == [(followed, "kim@example.se")]


def test_joining_with_an_address_stops_asking_on_every_capture(app, db, scene):
    resident = app.test_client()
    join_with(resident, scene["walk"], follow="1", follow_email="kim@example.se")
    page = resident.get(f"/walks/{scene['walk']['id']}/capture").get_data(as_text=True)
    assert 'name="follow_email"' not in page


def test_an_address_without_the_box_ticked_is_not_kept(app, db, smtp, scene):
    resident = app.test_client()
    join_with(resident, scene["walk"], follow_email="kim@example.se")
    observation_id, _ = report(resident, scene["walk"])
    make_fix(db, observation_id, scene["park"], "done")
    assert db.execute("SELECT count(*) FROM resident_follows").fetchone()[0] == 0


@pytest.mark.parametrize("address", ["", "kim", "kim@example", "kim@exa mple.se"])
def test_the_box_ticked_without_a_good_address_is_400_and_nothing_is_stored(
    app, db, scene, address
):
    resident = app.test_client()
    response = join_with(resident, scene["walk"], follow="1", follow_email=address)
    assert response.status_code == 400
    assert "Enter your email address, such as name@example.se, or untick the box." in (
        response.get_data(as_text=True)
    )
    assert db.execute("SELECT count(*) FROM walk_participants").fetchone()[0] == 0

    join_with(resident, scene["walk"])
    observation_id, saved = report(resident, scene["walk"], follow="1", follow_email=address)
    assert saved.status_code == 400
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM resident_follows").fetchone()[0] == 0


def test_the_api_takes_an_address_beside_the_observation_and_refuses_a_bad_one(app, db, scene):
    resident = app.test_client()
    token = join_with(resident, scene["walk"]) and csrf_token(
        resident, f"/walks/{scene['walk']['id']}/capture"
    )
    body = {"category": "lighting", "walk_id": scene["walk"]["id"], "description": "Mörkt"}
    bad = resident.put(
        f"/api/v1/observations/{uuid.uuid4()}",
        json={**body, "follow_email": "not an address"},
        headers={"X-CSRFToken": token},
    )
    assert bad.status_code == 400 and "follow_email" in bad.get_json()["fields"]
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 0
    observation_id = str(uuid.uuid4())
    for _ in range(2):  # the outbox may send it twice
        good = resident.put(
            f"/api/v1/observations/{observation_id}",
            json={**body, "follow_email": "kim@example.se"},
            headers={"X-CSRFToken": token},
        )
        assert good.status_code in (200, 201)
    rows = db.execute("SELECT observation_id, email FROM resident_follows").fetchall()
    assert [tuple(r) for r in rows] == [(observation_id, "kim@example.se")]


def test_a_fix_done_before_the_first_email_sends_only_the_done_email(app, db, smtp, scene):
    resident = app.test_client()
    join_with(resident, scene["walk"], follow="1", follow_email="kim@example.se")
    observation_id, _ = report(resident, scene["walk"])
    task_id = make_fix(db, observation_id, scene["park"], "sent")
    transition(db, task_id, "done", STAFF, version=2, note="Klart")  # no round ran in between
    step(scene, db, task_id, "verify")
    (only,) = to_resident(smtp)
    assert only["Subject"].startswith("Åtgärdat:")


def test_the_unsubscribe_link_works_without_logging_in_and_stops_every_email(app, db, smtp, scene):
    resident = app.test_client()
    join_with(resident, scene["walk"], follow="1", follow_email="kim@example.se")
    first, _ = report(resident, scene["walk"])
    second, _ = report(resident, scene["walk"], "Skymd sikt")
    task_id = make_fix(db, first, scene["park"], "proposed")
    step(scene, db, task_id, "send")
    (decided,) = to_resident(smtp)
    (path,) = set(UNSUBSCRIBE_RE.findall(mail_bodies(decided)[0]))

    stranger = app.test_client()  # another browser, nobody logged in
    page = stranger.get(path)
    assert page.status_code == 200 and 'id="unsubscribe"' in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    stopped = stranger.post(path, data={"csrf_token": token})
    assert stopped.status_code == 200 and 'id="unsubscribed"' in stopped.get_data(as_text=True)

    other_task = make_fix(db, second, scene["park"], "proposed")
    step(scene, db, other_task, "send")
    step(scene, db, task_id, "done", note="Klart")
    assert len(to_resident(smtp)) == 1, "nothing after unsubscribing"
    assert 'id="not-following"' in stranger.get(path).get_data(as_text=True)


def test_a_tampered_unsubscribe_link_is_404(app, client):
    assert client.get("/unsubscribe/a.b.c").status_code == 404


def test_after_the_fix_is_done_the_status_page_asks_and_the_place_counts_answers(app, db, scene):
    resident = app.test_client()
    join_with(resident, scene["walk"])
    observation_id, _ = report(resident, scene["walk"])
    task_id = make_fix(db, observation_id, scene["park"], "sent")
    page = resident.get(f"/status/{observation_id}").get_data(as_text=True)
    assert 'id="followup"' not in page, "asked only once the fix is done"
    token = csrf_token(resident, f"/status/{observation_id}")
    early = resident.post(
        f"/status/{observation_id}/followup", data={"csrf_token": token, "answer": "yes"}
    )
    assert early.status_code == 409

    transition(db, task_id, "done", STAFF, version=2, note="Klart")
    page = resident.get(f"/status/{observation_id}").get_data(as_text=True)
    assert "Does the place feel safer now?" in page
    answered = resident.post(
        f"/status/{observation_id}/followup", data={"csrf_token": token, "answer": "yes"}
    )
    assert answered.status_code == 303
    again = resident.post(
        f"/status/{observation_id}/followup", data={"csrf_token": token, "answer": "same"}
    )
    assert again.status_code == 303
    neighbour = app.test_client()
    token2 = csrf_token(neighbour, f"/status/{observation_id}")
    neighbour.post(
        f"/status/{observation_id}/followup", data={"csrf_token": token2, "answer": "no"}
    )
    bad = neighbour.post(
        f"/status/{observation_id}/followup", data={"csrf_token": token2, "answer": "maybe"}
    )
    assert bad.status_code == 400

    place_id = scene["walk"]["place_id"]
    assert place_followup(db, place_id) == {"yes": 0, "no": 1, "same": 1, "total": 2}
    page = resident.get(f"/status/{observation_id}").get_data(as_text=True)
    assert re.search(r'id="followup-same" aria-pressed="true"', page), "its own answer shown"
    place_page = scene["coordinator"].get(f"/places/{place_id}").get_data(as_text=True)
    figures = place_page[place_page.index('id="followup-figures"') :]
    assert re.search(r"<td>0</td><td>1</td><td>1</td>", figures)
