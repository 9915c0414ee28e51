"""Bulk work (issue 14, item 5): several tasks and observations without a task at once, from
triage and the dashboard's list, all or nothing; as a plain form and through htmx."""

import re
import uuid

import pytest
from conftest import (
    STAFF,
    login,
    mail_bodies,
    make_observation,
    make_place,
    make_staff,
    make_task,
    make_walk,
)

from fieldwalk.parties.model import insert_party
from fieldwalk.tasks.model import get_task, task_history, tasks_for_observation, transition
from fieldwalk.tasks.words import case_label

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def desk(app, db):
    """Three tasks waiting for a party, two observations without a task, a coordinator in."""
    walk = make_walk(db, make_place(db))
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    traffic = insert_party(db, "Trafikkontoret", "traffic", "trafik@example.se")
    waiting = [
        make_task(db, make_observation(db, walk, f"Problem {n}"), None, f"Åtgärd {n}")
        for n in range(3)
    ]
    untasked = [make_observation(db, walk, f"Obehandlad {n}") for n in range(2)]
    client = app.test_client()
    token = login(client, make_staff(db, "coordinator"))
    with app.app_context():
        cases = {task_id: case_label(get_task(db, task_id)) for task_id in waiting}
    return {
        "walk": walk,
        "park": park,
        "traffic": traffic,
        "waiting": waiting,
        "untasked": untasked,
        "client": client,
        "token": token,
        "cases": cases,
    }


def bulk(desk, **data):
    return desk["client"].post(
        "/tasks/bulk", data={"csrf_token": desk["token"], "next": "/tasks/triage", **data}
    )


def test_triage_offers_a_checkbox_per_row_joined_to_the_bulk_form(desk):
    html = desk["client"].get("/tasks/triage").get_data(as_text=True)
    assert '<form method="post" action="/tasks/bulk" id="bulk-form"' in html
    for task_id in desk["waiting"]:
        assert f'name="task_ids" value="{task_id}" form="bulk-form"' in html
    for observation_id in desk["untasked"]:
        assert f'name="observation_ids" value="{observation_id}" form="bulk-form"' in html


def test_assign_and_send_tasks_and_observations_to_a_party_in_one_email(app, db, smtp, desk):
    response = bulk(
        desk,
        action="assign",
        task_ids=desk["waiting"][:2],
        observation_ids=desk["untasked"],
        party_id=desk["park"],
        note="Parkmark",
        due_date="2027-03-01",
        send_now="1",
    )
    assert response.status_code == 303 and response.headers["Location"] == "/tasks/triage"
    for task_id in desk["waiting"][:2]:
        task = get_task(db, task_id)
        assert (task["state"], task["party_id"], task["due_date"]) == (
            "sent",
            desk["park"],
            "2027-03-01",
        )
    made = [tasks_for_observation(db, o)[0] for o in desk["untasked"]]
    assert [(t["measure"], t["state"]) for t in made] == [
        ("Obehandlad 0", "sent"),
        ("Obehandlad 1", "sent"),
    ]
    assert get_task(db, desk["waiting"][2])["party_id"] is None, "not chosen"
    (received,) = smtp.messages
    text = mail_bodies(received["message"])[0]
    for measure in ("Åtgärd 0", "Åtgärd 1", "Obehandlad 0", "Obehandlad 1"):
        assert measure in text
    page = desk["client"].get("/tasks/triage").get_data(as_text=True)
    assert "2 tasks changed. 2 tasks created." in page


def test_set_a_due_date_on_several_tasks_each_change_in_its_history(db, desk):
    response = bulk(desk, action="due", task_ids=desk["waiting"], due_date="2027-05-31")
    assert response.status_code == 303
    for task_id in desk["waiting"]:
        assert get_task(db, task_id)["due_date"] == "2027-05-31"
        (edit,) = [h for h in task_history(db, task_id) if h["action"] == "edit"]
        assert edit["changes"] == {"due_date": [None, "2027-05-31"]}


def test_send_several_proposed_tasks_tells_each_party_once(app, db, smtp, desk):
    routed = [
        make_task(db, make_observation(db, desk["walk"]), desk["park"], "Klipp"),
        make_task(db, make_observation(db, desk["walk"]), desk["park"], "Kratta"),
        make_task(db, make_observation(db, desk["walk"]), desk["traffic"], "Måla"),
    ]
    assert bulk(desk, action="send", task_ids=routed).status_code == 303
    assert {get_task(db, t)["state"] for t in routed} == {"sent"}
    assert sorted(r for m in smtp.messages for r in m["rcpt"]) == [
        "park@example.se",
        "trafik@example.se",
    ]


def test_close_tasks_and_observations_as_duplicates_of_one_original(db, desk):
    original = desk["waiting"][0]
    response = bulk(
        desk,
        action="duplicate",
        task_ids=desk["waiting"][1:],
        observation_ids=desk["untasked"][:1],
        original=desk["cases"][original].lower(),
    )
    assert response.status_code == 303
    for task_id in desk["waiting"][1:]:
        task = get_task(db, task_id)
        assert (task["state"], task["duplicate_of"]) == ("duplicate", original)
    assert [t["id"] for t in tasks_for_observation(db, desk["untasked"][0])] == [original]


def test_one_refusal_changes_nothing_and_names_every_refused_row(db, desk):
    sent = make_task(db, make_observation(db, desk["walk"]), desk["park"], "Redan skickad")
    transition(db, sent, "send", STAFF, version=1)
    response = bulk(
        desk,
        action="assign",
        task_ids=[desk["waiting"][0], sent],
        observation_ids=desk["untasked"],
        party_id=desk["traffic"],
        note="Gatumark",
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Nothing was changed" in html
    assert "Redan skickad" in html and "the task is Sent" in html
    assert get_task(db, desk["waiting"][0])["party_id"] is None
    assert all(tasks_for_observation(db, o) == [] for o in desk["untasked"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "send"}, "Choose at least one task or observation."),
        ({"action": "assign", "task_ids": "{task}"}, "Choose a responsible party."),
        ({"action": "due", "task_ids": "{task}", "due_date": "2027-13-01"}, "Give the due date"),
        ({"action": "duplicate", "task_ids": "{task}", "original": "HV-1999-9999"}, "case number of the original"),
        ({"action": "explode", "task_ids": "{task}"}, "Choose what to do"),
        ({"action": "send", "observation_ids": "{observation}"}, "It has no task yet"),
    ],
)  # fmt: skip
def test_a_bad_bulk_request_is_400_with_a_message(db, desk, data, message):
    data = {
        k: v.format(task=desk["waiting"][0], observation=desk["untasked"][0])
        for k, v in data.items()
    }
    response = bulk(desk, **data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert get_task(db, desk["waiting"][0])["state"] == "proposed"


def test_an_id_that_is_not_one_is_400(desk):
    response = bulk(desk, action="send", task_ids="x", observation_ids=str(uuid.uuid4()))
    assert response.status_code == 400


def test_walk_leaders_may_not_work_in_bulk(app, db, desk):
    leader = app.test_client()
    token = login(leader, make_staff(db, "walk_leader"))
    response = leader.post(
        "/tasks/bulk",
        data={"csrf_token": token, "action": "due", "task_ids": desk["waiting"][0],
              "due_date": "2027-01-01"},
    )  # fmt: skip
    assert response.status_code == 403
    assert get_task(db, desk["waiting"][0])["due_date"] is None


def test_the_dashboard_list_offers_bulk_to_coordinators_only(app, db, desk):
    html = desk["client"].get("/dashboard").get_data(as_text=True)
    assert 'id="bulk-form"' in html and 'hx-post="/tasks/bulk"' in html
    assert f'name="task_ids" value="{desk["waiting"][0]}" form="bulk-form"' in html
    assert f'name="observation_ids" value="{desk["untasked"][0]}" form="bulk-form"' in html
    leader = app.test_client()
    login(leader, make_staff(db, "walk_leader"))
    assert 'id="bulk-form"' not in leader.get("/dashboard").get_data(as_text=True)


def test_with_htmx_success_returns_the_list_and_a_refusal_the_problems(db, desk):
    client, headers = desk["client"], {"HX-Request": "true"}
    refused = client.post(
        "/tasks/bulk",
        data={"csrf_token": desk["token"], "action": "due", "task_ids": desk["waiting"][0],
              "due_date": "nope", "next": "/dashboard?kind=tasks"},
        headers=headers,
    )  # fmt: skip
    assert refused.status_code == 400
    assert refused.headers["HX-Retarget"] == "#bulk-problems"
    body = refused.get_data(as_text=True)
    assert body.lstrip().startswith('<div class="alert"') and "<html" not in body

    done = client.post(
        "/tasks/bulk",
        data={"csrf_token": desk["token"], "action": "due", "task_ids": desk["waiting"][0],
              "due_date": "2027-04-01", "next": "/dashboard?kind=tasks"},
        headers=headers,
        follow_redirects=True,
    )  # fmt: skip
    assert done.status_code == 200
    fragment = done.get_data(as_text=True)
    assert fragment.lstrip().startswith("<section")
    assert 'id="dashboard-results"' in fragment and "<html" not in fragment
    assert "1 task changed." in fragment
    assert re.search(r"Due 2027-04-01", fragment)
