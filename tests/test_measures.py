"""What each place has (dated facts with history) and camera site proposals to the city's
security office: domain functions and the pages, with real sessions and CSRF tokens."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import login, mail_bodies, make_event, make_place, make_staff

from fieldwalk.measures.cameras import (
    ProposalAnswered,
    get_proposal,
    list_proposals,
    propose_camera,
    record_answer,
)
from fieldwalk.measures.model import (
    FactConflict,
    fact_history,
    facts_in_span,
    get_fact,
    place_facts,
    record_fact,
    remove_fact,
)
from fieldwalk.parties.model import insert_party
from fieldwalk.reports.assessments import save_assessment
from fieldwalk.tasks.model import get_task, task_history
from fieldwalk.tasks.states import Actor

INSIDE = (59.355, 17.882)  # inside conftest's Råcksta polygon


@pytest.fixture
def place(db):
    return make_place(db)


@pytest.fixture
def office(db):
    return insert_party(db, "Stadens säkerhetsavdelning", "security", "sakerhet@example.se")


def test_a_fact_keeps_every_version_and_says_what_changed(db, place):
    user = make_staff(db)
    first = record_fact(
        db, place_id=place, kind="city_cameras", state="proposed", from_date="2026-03-01",
        recorded_by=user["id"], recorded_at="2026-03-01T09:00:00Z",
    )  # fmt: skip
    second = record_fact(
        db, place_id=place, kind="city_cameras", state="decided", from_date="2026-03-01",
        note="Beslut 2026-05-12", recorded_by=user["id"], fact_key=first["fact_key"],
        based_on=1,
    )  # fmt: skip
    assert second["version"] == 2 and second["state"] == "decided"
    history = fact_history(db, first["fact_key"])
    assert [v["state"] for v in history] == ["proposed", "decided"]
    assert history[0]["changed"] == [] and history[1]["changed"] == ["state", "note"]
    # Writing over a version someone else replaced is refused, and nothing is stored.
    with pytest.raises(FactConflict) as conflict:
        record_fact(
            db, place_id=place, kind="city_cameras", state="installed",
            recorded_by=user["id"], fact_key=first["fact_key"], based_on=1,
        )  # fmt: skip
    assert conflict.value.current["version"] == 2
    assert len(fact_history(db, first["fact_key"])) == 2
    # Removing is a last version: gone from the place, kept in the history.
    remove_fact(db, first["fact_key"], recorded_by=user["id"], based_on=2)
    assert place_facts(db, place) == []
    assert [v["removed"] for v in fact_history(db, first["fact_key"])] == [0, 0, 1]


def test_facts_in_a_span_hold_some_day_of_it(db, place):
    other = make_place(db, "vallingby", "Vällingby centrum")
    for place_id, kind, start, end in [
        (place, "drug_scene", "2024-01-01", None),
        (place, "lov3", "2025-03-01", "2025-12-31"),  # ended the year before
        (other, "drug_scene", "2027-01-01", None),  # begins after
        (other, "guard_patrols", None, None),
    ]:
        record_fact(
            db, place_id=place_id, kind=kind, from_date=start, to_date=end, recorded_by=None
        )
    found = {(f["place_id"], f["kind"]) for f in facts_in_span(db, "2026-01-01", "2026-12-31")}
    assert found == {(place, "drug_scene"), (other, "guard_patrols")}
    assert [
        f["place_id"] for f in facts_in_span(db, "2026-01-01", "2026-12-31", kind="drug_scene")
    ] == [place]


@pytest.mark.parametrize(
    "values",
    [
        {"kind": "helicopters"},
        {"kind": "city_cameras", "state": ""},
        {"kind": "lov3", "state": "decided"},
        {"kind": "lov3", "from_date": "2026-05-01", "to_date": "2026-04-01"},
        {"kind": "guard_patrols", "party_ids": [1]},
        {"kind": "lov3", "from_date": "1 maj"},
    ],
)
def test_a_fact_that_cannot_be_is_refused(db, place, values):
    with pytest.raises(ValueError):
        record_fact(db, place_id=place, recorded_by=None, **values)
    assert db.execute("SELECT count(*) FROM place_facts").fetchone()[0] == 0


def test_coordinator_records_changes_and_removes_a_fact_on_the_place_page(client, db, place):
    owner = insert_party(db, "Fastighets AB Råcksta", "property_owner")
    token = login(client, make_staff(db))
    response = client.post(
        f"/places/{place}/facts/new",
        data={"csrf_token": token, "kind": "place_partnership", "from_date": "2026-02-01",
              "party_ids": [str(owner)], "note": "Möten varannan månad", "based_on": "0"},
    )  # fmt: skip
    assert response.status_code == 303
    (fact,) = place_facts(db, place)
    assert fact["party_ids"] == [owner]
    page = client.get(f"/places/{place}").get_data(as_text=True)
    assert "Platssamverkan" in page and "Fastighets AB Råcksta" in page
    key = fact["fact_key"]
    response = client.post(
        f"/places/{place}/facts/{key}",
        data={"csrf_token": token, "from_date": "2026-02-01", "to_date": "2026-10-31",
              "party_ids": [str(owner)], "note": "Avslutad", "based_on": "1"},
    )  # fmt: skip
    assert response.status_code == 303
    assert get_fact(db, key)["to_date"] == "2026-10-31"
    history = client.get(f"/places/{place}/facts/{key}").get_data(as_text=True)
    assert "Noterad" in history and "Ändrad" in history
    # A stale form (version 1 again) gets 409 and the newer one.
    stale = client.post(
        f"/places/{place}/facts/{key}",
        data={"csrf_token": token, "note": "x", "based_on": "1"},
    )
    assert stale.status_code == 409 and get_fact(db, key)["version"] == 2
    # Bad input: a clear message, 400, nothing stored.
    bad = client.post(
        f"/places/{place}/facts/new",
        data={"csrf_token": token, "kind": "city_cameras", "state": "", "based_on": "0"},
    )
    assert bad.status_code == 400 and "föreslagna, beslutade eller uppsatta" in bad.get_data(
        as_text=True
    )
    assert (
        client.post(
            f"/places/{place}/facts/{key}/remove", data={"csrf_token": token, "based_on": "2"}
        ).status_code
        == 303
    )
    assert place_facts(db, place) == []
    # Without the CSRF token nothing is stored.
    assert client.post(f"/places/{place}/facts/new", data={"kind": "lov3"}).status_code == 400


def test_walk_leaders_read_facts_but_may_not_change_them(client, db, place):
    fact = record_fact(db, place_id=place, kind="lov3", recorded_by=None)
    token = login(client, make_staff(db, "walk_leader"))
    assert client.get(f"/places/{place}/facts/{fact['fact_key']}").status_code == 200
    response = client.post(
        f"/places/{place}/facts/{fact['fact_key']}",
        data={"csrf_token": token, "note": "x", "based_on": "1"},
    )
    assert response.status_code == 403 and get_fact(db, fact["fact_key"])["version"] == 1


# --- camera site proposals -------------------------------------------------------------------


def _propose(db, place, office, user, **extra):
    actor = Actor(("coordinator",), user["id"], "Samordnare")
    return propose_camera(
        db, place_id=place, lat=INSIDE[0], lon=INSIDE[1], motivation="Försäljning vid trappan.",
        party_id=office, measure="Kameraförslag: Råcksta", reason="Säkerhetsavdelningen beslutar.",
        due_date="2027-01-15", actor=actor, moment=datetime(2026, 12, 1, 12, tzinfo=UTC),
        **extra,
    )  # fmt: skip


def test_a_proposal_carries_its_reasons_and_goes_to_the_security_office_as_a_task(
    db, place, office
):
    user = make_staff(db)
    for day, kind in [("2026-11-20", "drug_dealing"), ("2026-10-02", "drug_dealing"),
                      ("2026-06-01", "violence"), ("2025-11-30", "violence")]:  # fmt: skip
        make_event(db, place, occurred_at=f"{day}T18:00:00Z", type=kind)
    for week, level in [("2026-W40", "uneasy"), ("2026-W47", "serious")]:
        save_assessment(
            db, place_id=place, week=week, level=level, text="", written_by=user["id"], based_on=0
        )
    proposal_id, created = _propose(db, place, office, user, key="k1")
    assert created and _propose(db, place, office, user, key="k1") == (proposal_id, False)
    proposal = get_proposal(db, proposal_id)
    # The last 365 days: the event of 30 November 2025 is older.
    assert proposal["reasons"]["events"] == {"drug_dealing": 2, "violence": 1}
    assert proposal["reasons"]["levels"] == {"calm": 0, "uneasy": 1, "serious": 1, "acute": 0}
    assert proposal["reasons"]["latest_level"] == "serious"
    task = get_task(db, proposal["task_id"])
    assert task["party_id"] == office and task["state"] == "sent"
    assert task["place_id"] == place and task["due_date"] == "2027-01-15"


def test_the_answer_closes_the_task_and_an_approved_site_becomes_a_decided_camera(
    db, place, office
):
    user = make_staff(db)
    proposal_id, _created = _propose(db, place, office, user)
    actor = Actor(("coordinator",), user["id"], "Samordnare")
    answered = record_answer(
        db, proposal_id, decision="approved", answer="Kamera sätts upp under våren.",
        actor=actor, fact_note="Beslutad av säkerhetsavdelningen",
    )  # fmt: skip
    assert answered["decision"] == "approved" and answered["answered_by"] == user["id"]
    task = get_task(db, answered["task_id"])
    assert task["state"] == "done"
    assert [h["note"] for h in task_history(db, task["id"]) if h["action"] == "done"] == [
        "Kamera sätts upp under våren."
    ]
    (camera,) = [f for f in place_facts(db, place) if f["kind"] == "city_cameras"]
    assert camera["state"] == "decided"
    with pytest.raises(ProposalAnswered):
        record_answer(db, proposal_id, decision="rejected", answer="Nej", actor=actor, fact_note="")
    assert get_proposal(db, proposal_id)["decision"] == "approved"


def test_coordinator_proposes_a_site_and_records_the_answer_through_the_pages(
    client, db, place, office, smtp
):
    make_event(
        db,
        place,
        occurred_at=(datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    token = login(client, make_staff(db))
    form = client.get(f"/places/{place}/cameras/new").get_data(as_text=True)
    assert "Narkotikaförsäljning 1" in form and "Stadens säkerhetsavdelning" in form
    due = (date.today() + timedelta(days=20)).isoformat()
    data = {"csrf_token": token, "key": str(uuid.uuid4()), "lat": "59,3551", "lon": "17.8822",
            "motivation": "Öppen försäljning vid uppgången kvällstid.", "due_date": due}  # fmt: skip
    response = client.post(f"/places/{place}/cameras/new", data=data)
    assert response.status_code == 303
    (proposal,) = list_proposals(db, place)
    assert (proposal["lat"], proposal["lon"]) == (59.3551, 17.8822)
    assert client.post(f"/places/{place}/cameras/new", data=data).status_code == 303  # twice: one
    assert len(list_proposals(db, place)) == 1
    # The security office hears of it at once, once, with the reasons in the task's text.
    (received,) = smtp.to("sakerhet@example.se")
    assert "Öppen försäljning vid uppgången kvällstid." in mail_bodies(received)[0]
    page = client.get(f"/cameras/{proposal['id']}").get_data(as_text=True)
    assert "Inget svar ännu" in page
    answer = {
        "csrf_token": token,
        "decision": "rejected",
        "answer": "Inte nu: polisens kameror räcker.",
    }
    assert client.post(f"/cameras/{proposal['id']}/answer", data=answer).status_code == 303
    page = client.get(f"/cameras/{proposal['id']}").get_data(as_text=True)
    assert "Avslaget" in page and "polisens kameror räcker" in page
    assert get_task(db, proposal["task_id"])["state"] == "done"
    again = client.post(f"/cameras/{proposal['id']}/answer", data=dict(answer, decision="approved"))
    assert again.status_code == 409 and get_proposal(db, proposal["id"])["decision"] == "rejected"


@pytest.mark.parametrize(
    ("lat", "lon"),
    [("59.40", "17.88"), ("abc", "17.88"), ("", ""), ("nan", "17.88"), ("91", "17.88")],
)
def test_a_site_far_from_the_place_or_unreadable_is_refused_with_nothing_stored(
    client, db, place, office, lat, lon
):
    token = login(client, make_staff(db))
    response = client.post(
        f"/places/{place}/cameras/new",
        data={"csrf_token": token, "lat": lat, "lon": lon, "motivation": "Varför",
              "due_date": (date.today() + timedelta(days=5)).isoformat()},
    )  # fmt: skip
    assert response.status_code == 400
    assert list_proposals(db) == [] and db.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0


def test_without_a_security_office_the_proposal_says_what_to_do(client, db, place):
    token = login(client, make_staff(db))
    response = client.post(
        f"/places/{place}/cameras/new",
        data={"csrf_token": token, "lat": "59.355", "lon": "17.882", "motivation": "Varför",
              "due_date": (date.today() + timedelta(days=5)).isoformat()},
    )  # fmt: skip
    assert response.status_code == 400
    assert "säkerhetsavdelning" in response.get_data(as_text=True)


def test_the_measures_map_has_a_layer_per_kind(client, db, place, office):
    record_fact(db, place_id=place, kind="police_cameras", recorded_by=None)
    login(client, make_staff(db, "walk_leader"))
    html = client.get("/measures").get_data(as_text=True)
    data = json.loads(html.split("data-map='", 1)[1].split("'", 1)[0].replace("&#34;", '"'))
    counts = {layer["kind"]: len(layer["features"]) for layer in data["layers"]}
    assert counts["police_cameras"] == 1 and counts["lov3"] == 0


def test_the_lagesbild_links_each_place_to_a_camera_proposal_for_coordinators_only(
    client, db, place
):
    make_event(
        db,
        place,
        occurred_at=(datetime.now(UTC) - timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    login(client, make_staff(db))
    assert f"/places/{place}/cameras/new" in client.get("/reports/week").get_data(as_text=True)
    partner = client.application.test_client()
    login(partner, make_staff(db, "partner", "polis@example.se"))
    assert "/cameras/new" not in partner.get("/reports/week").get_data(as_text=True)
