"""Every fix reaches whoever holds it now (issue 14, defects A, B, C and E).

A re-routed task is emailed to its new party with a link that opens it; "Send tasks to the
parties" includes it; reminders reach the new party on their own. A task on an observation
made outside a walk is emailed too. A withdrawn link can be replaced by a new one, sent at
once. Subjects keep every space between encoded words. Every email goes through a real SMTP
server on loopback (aiosmtpd) and every step a coordinator takes goes through HTTP.
"""

import email
import re
import uuid
from email.policy import default
from pathlib import Path

import pytest
from conftest import (
    STAFF,
    free_port,
    login,
    mail_bodies,
    make_observation,
    make_place,
    make_staff,
    make_task,
    make_walk,
)

from fieldwalk.observations.model import put_observation, validate
from fieldwalk.open311.channel import request_for_task, save_channel
from fieldwalk.parties.model import insert_party
from fieldwalk.tasks.model import get_task, transition
from fieldwalk.tasks.notify import send_notices, send_reminders
from fieldwalk.tasks.states import ASSIGNEE, Actor

pytestmark = pytest.mark.usefixtures("english")

LINK_RE = re.compile(r"https?://[^/\s]+(/l/[A-Za-z0-9_.\-]+)")


def link_in(message) -> str:
    """The one party link in an email's text body."""
    (path,) = set(LINK_RE.findall(mail_bodies(message)[0]))
    return path


def post_step(client, token, task_id, action, **data):
    version = get_task_version(client, task_id)
    return client.post(
        f"/tasks/{task_id}/{action}", data={"csrf_token": token, "version": version, **data}
    )


def get_task_version(client, task_id) -> int:
    html = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    return int(re.search(r'name="version" value="(\d+)"', html).group(1))


def link_csrf(client, path) -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def loop(app, db):
    """A walk with one task for the park engineers; a coordinator logged in."""
    walk = make_walk(db, make_place(db))
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    owner = insert_party(db, "Bostadsbolaget Strandgården AB", "property_owner", "bo@example.se")
    task_id = make_task(
        db, make_observation(db, walk), park, "Klipp häcken vid gången", due_date="2020-01-10"
    )
    coordinator = app.test_client()
    token = login(coordinator, make_staff(db, "coordinator"))
    return {
        "walk": walk,
        "park": park,
        "owner": owner,
        "task": task_id,
        "client": coordinator,
        "token": token,
    }


def send_walk(loop):
    response = loop["client"].post(
        f"/walks/{loop['walk']['id']}/tasks/send", data={"csrf_token": loop["token"]}
    )
    assert response.status_code == 303
    return response


def answer_not_ours(app, db, smtp, task_id):
    """The park engineers open their emailed link and answer "not ours"."""
    path = link_in(smtp.to("park@example.se")[-1])
    holder = app.test_client()
    response = holder.post(
        f"{path}/tasks/{task_id}",
        data={
            "csrf_token": link_csrf(holder, path),
            "action": "not_ours",
            "version": get_task(db, task_id)["version"],
            "note": "Gården är bostadsbolagets.",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)


# --- A: a re-routed task reaches its new party ----------------------------------------------


def test_a_task_rerouted_and_sent_now_is_emailed_to_the_new_party_with_a_link_that_opens_it(
    app, db, smtp, loop
):
    send_walk(loop)
    answer_not_ours(app, db, smtp, loop["task"])
    assert get_task(db, loop["task"])["state"] == "not_ours"

    response = post_step(
        loop["client"],
        loop["token"],
        loop["task"],
        "reroute",
        party_id=loop["owner"],
        note="Gården ägs av bostadsbolaget.",
        send_now="1",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    task = get_task(db, loop["task"])
    assert (task["state"], task["party_id"]) == ("sent", loop["owner"])

    (received,) = smtp.to("bo@example.se")
    text, html = mail_bodies(received)
    assert "Klipp häcken vid gången" in text and "Klipp häcken vid gången" in html
    page = app.test_client().get(link_in(received))
    assert page.status_code == 200
    shown = page.get_data(as_text=True)
    assert "Klipp häcken vid gången" in shown and 'value="accept"' in shown


def test_a_rerouted_task_not_sent_at_once_goes_with_send_tasks_to_the_parties(app, db, smtp, loop):
    send_walk(loop)
    answer_not_ours(app, db, smtp, loop["task"])
    post_step(
        loop["client"],
        loop["token"],
        loop["task"],
        "reroute",
        party_id=loop["owner"],
        note="Gården ägs av bostadsbolaget.",
    )
    walk_page = loop["client"].get(f"/walks/{loop['walk']['id']}/tasks").get_data(as_text=True)
    assert "Send tasks to the parties (1)" in walk_page

    send_walk(loop)

    assert get_task(db, loop["task"])["state"] == "sent"
    (received,) = smtp.to("bo@example.se")
    assert app.test_client().get(link_in(received)).status_code == 200


def test_a_task_sent_now_whose_email_could_not_go_is_sent_by_the_next_round(app, db, smtp, loop):
    send_walk(loop)
    answer_not_ours(app, db, smtp, loop["task"])
    db.execute("UPDATE parties SET email = '' WHERE id = ?", [loop["owner"]])
    post_step(
        loop["client"],
        loop["token"],
        loop["task"],
        "reroute",
        party_id=loop["owner"],
        note="Gården ägs av bostadsbolaget.",
        send_now="1",
    )
    assert smtp.to("bo@example.se") == []
    walk_page = loop["client"].get(f"/walks/{loop['walk']['id']}/tasks").get_data(as_text=True)
    assert "Send tasks to the parties (1)" in walk_page, "still waiting for its email"

    db.execute("UPDATE parties SET email = 'bo@example.se' WHERE id = ?", [loop["owner"]])
    send_walk(loop)
    assert len(smtp.to("bo@example.se")) == 1
    send_walk(loop)
    assert len(smtp.to("bo@example.se")) == 1, "never twice"


def test_reminders_reach_the_new_party_after_the_old_party_was_reminded(app, db, smtp, loop):
    send_walk(loop)
    with app.app_context():
        send_reminders(db, "http://fieldwalk.test", "2026-01-01")
    assert len(smtp.to("park@example.se")) == 2, "the tasks email and one reminder"
    answer_not_ours(app, db, smtp, loop["task"])
    post_step(
        loop["client"],
        loop["token"],
        loop["task"],
        "reroute",
        party_id=loop["owner"],
        note="Gården ägs av bostadsbolaget.",
        send_now="1",
    )

    with app.app_context():
        results = send_reminders(db, "http://fieldwalk.test", "2026-01-01")

    assert [(r["party_name"], r["status"]) for r in results] == [
        ("Bostadsbolaget Strandgården AB", "sent")
    ]
    reminder = smtp.to("bo@example.se")[-1]
    assert "Klipp häcken vid gången" in mail_bodies(reminder)[0]
    assert app.test_client().get(link_in(reminder)).status_code == 200
    assert len(smtp.to("park@example.se")) == 2, "the old party hears no more"


def test_a_reopened_task_goes_back_to_its_party_by_email(app, db, smtp, loop):
    send_walk(loop)
    engineer = Actor((ASSIGNEE,), None, "link:Parkingenjörerna")
    transition(db, loop["task"], "done", engineer, version=2, note="Klippt.")
    response = post_step(
        loop["client"], loop["token"], loop["task"], "reopen", note="Häcken skymmer fortfarande."
    )
    assert response.status_code == 303
    assert get_task(db, loop["task"])["state"] == "sent"
    reopened = smtp.to("park@example.se")[-1]
    assert len(smtp.to("park@example.se")) == 2
    assert "Häcken skymmer fortfarande." in mail_bodies(reopened)[0]


def test_a_task_rerouted_to_a_party_reached_over_open311_goes_to_its_system_not_by_email(
    app, db, smtp, loop
):
    """Sending follows the party whichever way it is reached: a party with an Open311 channel
    gets a request in its system (here down: the attempt waits for a retry), never an email,
    and no later sending round emails it either."""
    send_walk(loop)
    answer_not_ours(app, db, smtp, loop["task"])
    down = f"http://127.0.0.1:{free_port()}/open311/v2/"
    save_channel(db, loop["owner"], endpoint=down, api_key="key", service_codes={"*": "other"})

    response = post_step(
        loop["client"],
        loop["token"],
        loop["task"],
        "reroute",
        party_id=loop["owner"],
        note="Gården ägs av bostadsbolaget.",
        send_now="1",
    )

    assert response.status_code == 303, response.get_data(as_text=True)
    assert get_task(db, loop["task"])["state"] == "sent"
    request = request_for_task(db, loop["task"])
    assert request["party_id"] == loop["owner"] and request["attempts"] == 1
    ((outcome,),) = db.execute(
        "SELECT outcome FROM task_notices WHERE task_id = ? AND party_id = ?",
        [loop["task"], loop["owner"]],
    ).fetchall()
    assert outcome == "open311"
    with app.app_context():
        assert send_notices(db, "http://fieldwalk.example.se") == []
    assert smtp.to("bo@example.se") == []


# --- B: a task on an observation made outside a walk ----------------------------------------


def test_a_task_on_an_observation_outside_a_walk_is_emailed_with_a_link_that_opens_it(
    app, db, smtp
):
    make_place(db)
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    body = {"category": "lighting", "description": "Mörkt vid busshållplatsen."}
    body.update(lat=59.3551, lon=17.8822, photos=[])
    observation_id = str(uuid.uuid4())
    put_observation(db, observation_id, validate(body, 2000, 12), walk=None)
    task_id = make_task(db, observation_id, park, "Sätt upp en lampa vid hållplatsen")
    coordinator = app.test_client()
    token = login(coordinator, make_staff(db, "coordinator"))

    response = post_step(coordinator, token, task_id, "send")

    assert response.status_code == 303
    assert get_task(db, task_id)["state"] == "sent"
    (received,) = smtp.to("park@example.se")
    assert "Sätt upp en lampa vid hållplatsen" in mail_bodies(received)[0]
    holder = app.test_client()
    path = link_in(received)
    page = holder.get(path)
    assert page.status_code == 200 and "Sätt upp en lampa vid hållplatsen" in page.get_data(
        as_text=True
    )
    accepted = holder.post(
        f"{path}/tasks/{task_id}",
        data={"csrf_token": link_csrf(holder, path), "action": "accept", "version": 2},
    )
    assert accepted.status_code == 303
    assert get_task(db, task_id)["state"] == "accepted"


# --- C: a withdrawn link can be replaced ----------------------------------------------------


def test_a_withdrawn_link_is_replaced_by_a_new_one_sent_at_once(app, db, smtp, loop):
    send_walk(loop)
    old = link_in(smtp.to("park@example.se")[0])
    walk_id = loop["walk"]["id"]
    (link_id,) = [r[0] for r in db.execute("SELECT id FROM party_links")]
    client, token = loop["client"], loop["token"]
    assert (
        client.post(
            f"/walks/{walk_id}/links/{link_id}/revoke", data={"csrf_token": token}
        ).status_code
        == 303
    )
    assert app.test_client().get(old).status_code == 410

    listing = client.get(f"/walks/{walk_id}/links").get_data(as_text=True)
    assert "Send a new link now" in listing
    response = client.post(
        f"/walks/{walk_id}/links/send", data={"csrf_token": token, "party_id": loop["park"]}
    )

    assert response.status_code == 303
    new_email = smtp.to("park@example.se")[-1]
    new = link_in(new_email)
    assert new != old
    assert "Klipp häcken vid gången" in mail_bodies(new_email)[0]
    assert app.test_client().get(new).status_code == 200
    assert app.test_client().get(old).status_code == 410


def test_send_a_new_link_for_a_party_without_tasks_on_the_walk_is_refused(app, db, smtp, loop):
    send_walk(loop)
    response = loop["client"].post(
        f"/walks/{loop['walk']['id']}/links/send",
        data={"csrf_token": loop["token"], "party_id": loop["owner"]},
    )
    assert response.status_code == 400
    assert smtp.to("bo@example.se") == []


# --- E: subjects keep their spaces ----------------------------------------------------------


def test_a_long_swedish_subject_keeps_every_space_when_folded(app, db, smtp):
    walk = make_walk(db, make_place(db), title="Kvällsvandring vid Maltesholmstorget")
    party = insert_party(db, "Parkingenjörerna Hässelby-Vällingby", "park", "park@example.se")
    for measure in ("Klipp häcken", "Byt lampan", "Töm papperskorgarna"):
        make_task(db, make_observation(db, walk), party, measure)
    coordinator = app.test_client()
    token = login(coordinator, make_staff(db, "coordinator"))
    coordinator.post(f"/walks/{walk['id']}/tasks/send", data={"csrf_token": token})

    (received,) = smtp.messages
    raw = received["raw"]
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n")), "folded"
    subject = email.message_from_bytes(raw, policy=default)["Subject"]
    assert subject == (
        "3 nya åtgärder för Parkingenjörerna Hässelby-Vällingby"
        " efter Kvällsvandring vid Maltesholmstorget"
    )


def test_subject_of_an_outbox_file_reads_back_the_same(app, db):
    walk = make_walk(db, make_place(db), title="Kvällsvandring vid Maltesholmstorget")
    party = insert_party(db, "Parkingenjörerna Hässelby-Vällingby", "park", "park@example.se")
    make_task(db, make_observation(db, walk), party, "Klipp häcken vid gången")
    coordinator = app.test_client()
    token = login(coordinator, make_staff(db, "coordinator"))
    coordinator.post(f"/walks/{walk['id']}/tasks/send", data={"csrf_token": token})
    (path,) = (Path(app.instance_path) / "outbox").glob("*.eml")
    subject = email.message_from_bytes(path.read_bytes(), policy=default)["Subject"]
    assert subject == (
        "1 ny åtgärd för Parkingenjörerna Hässelby-Vällingby"
        " efter Kvällsvandring vid Maltesholmstorget"
    )


def test_a_partys_link_to_its_tasks_from_outside_a_walk_can_be_withdrawn_and_replaced(
    app, db, smtp
):
    make_place(db)
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    body = {"category": "lighting", "description": "Mörkt.", "lat": 59.3551, "lon": 17.8822}
    observation_id = str(uuid.uuid4())
    put_observation(db, observation_id, validate({**body, "photos": []}, 2000, 12), walk=None)
    task_id = make_task(db, observation_id, park, "Sätt upp en lampa")
    coordinator = app.test_client()
    token = login(coordinator, make_staff(db, "coordinator"))
    post_step(coordinator, token, task_id, "send")
    old = link_in(smtp.to("park@example.se")[0])
    (link_id,) = [r[0] for r in db.execute("SELECT id FROM party_links WHERE walk_id IS NULL")]

    listing = coordinator.get(f"/parties/{park}/links").get_data(as_text=True)
    assert "Reported outside a walk" in listing and "Send a new link now" in listing
    revoked = coordinator.post(
        f"/parties/{park}/links/{link_id}/revoke", data={"csrf_token": token}
    )
    assert revoked.status_code == 303
    sent = coordinator.post(f"/parties/{park}/links/send", data={"csrf_token": token})

    assert sent.status_code == 303
    new = link_in(smtp.to("park@example.se")[-1])
    assert new != old
    assert app.test_client().get(old).status_code == 410
    assert app.test_client().get(new).status_code == 200


# --- 2: sending follows the party -----------------------------------------------------------


def test_a_task_created_with_send_now_is_emailed_at_once(app, db, smtp, loop):
    send_walk(loop)  # the walk's tasks went out: a new one goes straight to its party
    observation_id = make_observation(db, loop["walk"], "Trasigt staket")
    form = loop["client"].get(f"/observations/{observation_id}/tasks/new").get_data(as_text=True)
    assert re.search(r'id="create-send-now" name="send_now" value="1" checked', form)
    response = loop["client"].post(
        f"/observations/{observation_id}/tasks",
        data={
            "csrf_token": loop["token"],
            "measure": "Laga staketet",
            "party_id": loop["owner"],
            "override_reason": "Staketet är bostadsbolagets.",
            "send_now": "1",
        },
    )
    assert response.status_code == 303
    (received,) = smtp.to("bo@example.se")
    assert "Laga staketet" in mail_bodies(received)[0]
    task_id = db.execute("SELECT max(id) FROM tasks").fetchone()[0]
    assert get_task(db, task_id)["state"] == "sent"


def test_a_task_created_without_send_now_waits_for_the_walks_round(app, db, smtp, loop):
    observation_id = make_observation(db, loop["walk"], "Trasigt staket")
    form = loop["client"].get(f"/observations/{observation_id}/tasks/new").get_data(as_text=True)
    assert re.search(r'id="create-send-now" name="send_now" value="1">', form), "not yet sent"
    created = loop["client"].post(
        f"/observations/{observation_id}/tasks",
        data={
            "csrf_token": loop["token"],
            "measure": "Laga staketet",
            "party_id": loop["park"],
            "override_reason": "Parkens staket.",
        },
    )
    assert created.status_code == 303
    assert smtp.messages == []
    send_walk(loop)
    (received,) = smtp.to("park@example.se")
    text = mail_bodies(received)[0]
    assert "Laga staketet" in text and "Klipp häcken vid gången" in text, "one email, both"


def test_one_round_tells_a_party_of_tasks_from_two_walks_and_outside_a_walk_in_one_email(
    app, db, smtp
):
    place_id = make_place(db)
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    first, second = make_walk(db, place_id), make_walk(db, place_id, title="Morgonvandring")
    ids = [
        make_task(db, make_observation(db, first), park, "Klipp häcken"),
        make_task(db, make_observation(db, second), park, "Byt lampan"),
    ]
    body = {"category": "lighting", "lat": 59.3551, "lon": 17.8822, "photos": []}
    observation_id = str(uuid.uuid4())
    put_observation(db, observation_id, validate(body, 2000, 12), walk=None)
    ids.append(make_task(db, observation_id, park, "Tänd vid hållplatsen"))
    for task_id in ids:
        transition(db, task_id, "send", STAFF, version=1)

    with app.app_context():
        (result,) = send_notices(db, "http://fieldwalk.test")

    assert result["status"] == "sent" and result["task_ids"] == ids
    (received,) = smtp.to("park@example.se")
    text = mail_bodies(received)[0]
    paths = LINK_RE.findall(text)
    assert len(paths) == 3, "one link per walk, and one for the tasks outside a walk"
    measures = ("Klipp häcken", "Byt lampan", "Tänd vid hållplatsen")
    for path, measure in zip(paths, measures, strict=True):
        page = app.test_client().get(path).get_data(as_text=True)
        assert measure in page
