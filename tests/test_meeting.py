"""The weekly meeting on the lägesbild: events against earlier weeks, the joint assessment and
its versions, decisions that become tasks and are followed up, what partners see, the PDF.

Week 2026-W47 runs from Monday 16 to Sunday 22 November 2026, Stockholm time (UTC+1): from
2026-11-15T23:00Z to 2026-11-22T23:00Z. The week before is 9-15 November; the same week last
year is 17-23 November 2025.
"""

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import (
    RACKSTA,
    csrf_token,
    join,
    login,
    mail_bodies,
    make_event,
    make_place,
    make_staff,
    make_walk,
    pdf_text,
    table_row,
)

from fieldwalk.devtools.demo import load_logins
from fieldwalk.observations.model import put_observation, validate
from fieldwalk.parties.model import insert_party
from fieldwalk.reports.assessments import AssessmentConflict, save_assessment
from fieldwalk.reports.decisions import decisions_for_weeks, record_decision
from fieldwalk.reports.figures import week_report
from fieldwalk.reports.periods import last_complete_week, shift_week, week_period, week_text
from fieldwalk.tasks.model import get_task, transition
from fieldwalk.tasks.states import COORDINATOR, Actor
from fieldwalk.zones.model import insert_zone

EN = {"Accept-Language": "en"}
VALLINGBY = {
    "type": "Polygon",
    "coordinates": [
        [[17.866, 59.360], [17.877, 59.360], [17.877, 59.365], [17.866, 59.365], [17.866, 59.360]]
    ],
}
OUTSIDE = {"lat": 59.30, "lon": 18.05}  # Södermalm: in no place of these tests
ASSESS = "/reports/week/{week}/places/{place}/assessment"
DECIDE = "/reports/week/{week}/places/{place}/decisions"


@pytest.fixture
def events(db):
    """Events at Råcksta and Vällingby around week 47; each says the week it belongs to."""
    a = make_place(db)
    b = make_place(db, "vallingby", "Vällingby", VALLINGBY)
    for when, kind, source, place in [
        # 2026-W47 (this week)
        ("2026-11-15T23:10:00Z", "disorder", "public", a),  # Monday 00:10: the week's first
        ("2026-11-16T18:00:00Z", "drug_dealing", "police", a),
        ("2026-11-18T20:00:00Z", "drug_dealing", "guards", a),
        ("2026-11-22T22:30:00Z", "violence", "police", a),  # Sunday 23:30: still W47
        ("2026-11-20T12:00:00Z", "vandalism", "guards", b),
        # 2026-W48
        ("2026-11-22T23:10:00Z", "littering", "staff", a),  # Monday 00:10 of W48
        # 2026-W46 (the week before)
        ("2026-11-15T22:30:00Z", "drug_use", "staff", a),  # Sunday 23:30 of W46
        ("2026-11-10T18:00:00Z", "drug_dealing", "police", a),
        # 2025-W47 (the same week last year) and 2025-W46
        ("2025-11-19T18:00:00Z", "drug_dealing", "police", a),
        ("2025-11-16T22:30:00Z", "drug_dealing", "police", a),  # Sunday 23:30: 2025-W46
    ]:
        make_event(db, place, occurred_at=when, type=kind, source=source)
    make_event(db, None, occurred_at="2026-11-17T19:00:00Z", type="other", **OUTSIDE)
    return {"a": a, "b": b}


def coordinator_actor(user: dict) -> Actor:
    return Actor((COORDINATOR,), user["id"], "coordinator")


# --- events on the lägesbild -------------------------------------------------------------


def test_week_events_by_type_and_source_against_the_week_before_and_last_year(db, events):
    report = week_report(db, 2026, 47)
    rows = {row["place_id"]: row["events"] for row in report["rows"]}
    this, before, last_year = rows[events["a"]]
    # Råcksta W47: Monday 00:10 (disorder), two drug dealings, Sunday 23:30 (violence); not
    # the Monday 00:10 of W48 (littering). W46: Sunday 23:30 (drug use) and a drug dealing.
    # 2025-W47: one drug dealing (the Sunday 23:30 of 16 November 2025 is 2025-W46).
    assert this == {
        "total": 4,
        "types": {"disorder": 1, "drug_dealing": 2, "violence": 1},
        "sources": {"public": 1, "police": 2, "guards": 1},
    }
    assert before == {
        "total": 2,
        "types": {"drug_use": 1, "drug_dealing": 1},
        "sources": {"staff": 1, "police": 1},
    }
    assert last_year == {"total": 1, "types": {"drug_dealing": 1}, "sources": {"police": 1}}
    assert rows[events["b"]][0] == {
        "total": 1,
        "types": {"vandalism": 1},
        "sources": {"guards": 1},
    }
    # The point in no place is a row of its own; the district sums every row.
    assert rows[None][0]["total"] == 1
    district = report["rows"][0]["events"]
    assert [d["total"] for d in district] == [6, 2, 1]
    assert district[0]["types"]["drug_dealing"] == 2
    assert district[0]["sources"] == {"public": 1, "police": 3, "guards": 2}


def test_week_page_shows_events_by_type_and_source_with_changes(client, db, events):
    login(client, make_staff(db, "coordinator"))
    html = client.get("/reports/week?week=2026-W47", headers=EN).get_data(as_text=True)
    a = events["a"]
    # Drug dealing at Råcksta: 2 now, 1 the week before (▲ +1), 1 last year (▲ +1).
    assert table_row(html, a, "Drug dealing") == ["2", "1", "▲ +1", "1", "▲ +1"]
    assert table_row(html, a, "Drug use") == ["0", "1", "▼ −1", "0", "±0"]
    assert table_row(html, a, "The police") == ["2", "1", "▲ +1", "1", "▲ +1"]
    assert table_row(html, a, "Events") == ["4", "2", "▲ +2", "1", "▲ +3"]
    assert table_row(html, "district", "Events") == ["6", "2", "▲ +4", "1", "▲ +5"]
    assert table_row(html, events["b"], "Vandalism") == ["1", "0", "▲ +1", "0", "▲ +1"]
    # The map gets the week's events with a point (the one outside every place), no more.
    data = re.search(r"data-map='([^']*)'", html).group(1)
    assert data.count('"lat"') == 1 and "Other" in data
    assert 'id="week-map"' in html and "js/week" in html


def test_week_csv_has_a_row_per_place_and_event_type(client, db, events):
    login(client, make_staff(db, "coordinator"))
    response = client.get("/reports/week.csv?week=2026-W47", headers=EN)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Week", "Place", "Figure"] and len(rows[0]) == 8
    by_key = {(r[1], r[2]): r[3:] for r in rows[1:]}
    assert all(len(r) == 8 and r[0] == "2026-W47" for r in rows[1:])
    # This week, week before, change, last year, change.
    assert by_key[("Råcksta", "Events")] == ["4", "2", "2", "1", "3"]
    assert by_key[("Råcksta", "Events: Drug dealing")] == ["2", "1", "1", "1", "1"]
    assert by_key[("Råcksta", "Events: Drug use")] == ["0", "1", "-1", "0", "0"]
    assert by_key[("Råcksta", "Events reported by: The police")] == ["2", "1", "1", "1", "1"]
    assert by_key[("Vällingby", "Events: Vandalism")] == ["1", "0", "1", "0", "1"]
    assert by_key[("Outside every place", "Events: Other")] == ["1", "0", "1", "0", "1"]
    assert by_key[("Whole district", "Events")] == ["6", "2", "4", "1", "5"]
    # Every place has a row for every type, zeros too, so the rows line up in a spreadsheet.
    for place in ("Råcksta", "Vällingby", "Outside every place", "Whole district"):
        types = [figure for name, figure in by_key if name == place and ": " in figure]
        assert len([t for t in types if t.startswith("Events: ")]) == 7, place
    # The observation and task figures are still there, as before.
    assert ("Råcksta", "New observations") in by_key


# --- the joint assessment ----------------------------------------------------------------


def assess(client, token, place_id, week="2026-W47", **fields):
    data = {f"p{place_id}-{name}": value for name, value in fields.items()}
    return client.post(
        ASSESS.format(week=week, place=place_id), data={**data, "csrf_token": token}, headers=EN
    )


def stored_assessments(db, place_id):
    return [
        dict(r)
        for r in db.execute(
            "SELECT * FROM assessments WHERE place_id = ? ORDER BY week, version", [place_id]
        )
    ]


def test_assessment_is_kept_in_versions_and_shown_beside_last_weeks(client, db, events):
    a = events["a"]
    coordinator = make_staff(db, "coordinator", name="Ahmed Hassan")
    partner = make_staff(db, "partner", name="Erik Ström")
    save_assessment(
        db,
        place_id=a,
        week="2026-W46",
        level="uneasy",
        text="Fler sprutor än vanligt.",
        written_by=coordinator["id"],
        based_on=0,
    )
    token = login(client, coordinator)
    response = assess(client, token, a, level="serious", text="Öppen försäljning.", based_on="0")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/reports/week?week=2026-W47#place-{a}")
    partner_client = client.application.test_client()
    token = login(partner_client, partner)
    response = assess(
        partner_client, token, a, level="acute", text="Knivhot i söndags.", based_on="1"
    )
    assert response.status_code == 303
    versions = stored_assessments(db, a)
    assert [(v["week"], v["version"], v["level"]) for v in versions] == [
        ("2026-W46", 1, "uneasy"),
        ("2026-W47", 1, "serious"),
        ("2026-W47", 2, "acute"),
    ]
    assert versions[2]["written_by"] == partner["id"]
    html = client.get("/reports/week?week=2026-W47", headers=EN).get_data(as_text=True)
    section = html.split(f'data-place="{a}"', 1)[1].split("</section>", 1)[0]
    this_week, week_before = section.split('class="card assessment', 3)[1:3]
    assert "Acute" in this_week and "Knivhot i söndags." in this_week
    assert "Changed by Erik Ström" in this_week
    assert "1 earlier version" in this_week and "Öppen försäljning." in this_week
    assert "Uneasy" in week_before and "Fler sprutor än vanligt." in week_before
    assert "Written by Ahmed Hassan" in week_before
    # The form is pre-filled with the latest, and names the version it changes.
    assert f'name="p{a}-based_on" type="hidden" value="2"' in section
    # The district's overview lists each place's level this week and the week before.
    overview = html.split('data-place="district"', 1)[1].split("</section>", 1)[0]
    assert re.search(r"Råcksta</th>\s*<td><span class=\"level level-acute\">Acute", overview)


def test_a_stale_assessment_is_refused_with_the_newer_one(client, db, events):
    a = events["a"]
    token = login(client, make_staff(db, "coordinator"))
    assert assess(client, token, a, level="calm", text="Lugnt.", based_on="0").status_code == 303
    response = assess(client, token, a, level="serious", text="Oroligt igen.", based_on="0")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "saved a newer assessment while you were writing" in html
    assert "Oroligt igen." in html  # what they wrote is kept in the form
    assert [v["text"] for v in stored_assessments(db, a)] == ["Lugnt."]
    # The same assessment sent twice by the same person (a double tap) is stored once.
    assert assess(client, token, a, level="calm", text="Lugnt.", based_on="0").status_code == 303
    assert len(stored_assessments(db, a)) == 1


def test_save_assessment_refuses_a_stale_version_in_the_domain(db, events):
    user = make_staff(db, "admin")
    values = {"place_id": events["a"], "week": "2026-W47", "written_by": user["id"]}
    save_assessment(db, level="calm", text="", based_on=0, **values)
    with pytest.raises(AssessmentConflict) as conflict:
        save_assessment(db, level="acute", text="", based_on=0, **values)
    assert conflict.value.current["version"] == 1
    with pytest.raises(ValueError):
        save_assessment(db, level="panic", text="", based_on=1, **values)
    with pytest.raises(ValueError):
        save_assessment(db, level="calm", text="x" * 1001, based_on=1, **values)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"level": "", "text": "Något"}, "Choose a level."),
        ({"level": "panic", "text": ""}, "Choose a level."),
        ({"level": "calm", "text": "x" * 1001}, "At most 1000 characters."),
        ({"level": "calm", "text": "", "based_on": "x"}, "Reload the page"),
    ],
)
def test_a_bad_assessment_gets_a_message_and_stores_nothing(client, db, events, fields, message):
    token = login(client, make_staff(db, "coordinator"))
    response = assess(client, token, events["a"], **{"based_on": "0", **fields})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert stored_assessments(db, events["a"]) == []


def test_assessing_a_week_that_has_not_begun_or_no_week_is_not_found(client, db, events):
    token = login(client, make_staff(db, "coordinator"))
    later = week_text(*last_complete_week(datetime.now(UTC) + timedelta(days=21)))
    for week in (later, "2026-W54", "2026-47", "2026-w47"):
        response = assess(client, token, events["a"], week=week, level="calm", based_on="0")
        assert response.status_code == 404, week
    response = assess(client, token, 999999, level="calm", based_on="0")
    assert response.status_code == 404
    assert stored_assessments(db, events["a"]) == []


# --- decisions ---------------------------------------------------------------------------


@pytest.fixture
def parties(db):
    """The park engineers own a zone drawn over Råcksta: the routing rule suggests them."""
    park = insert_party(db, "Parkingenjörerna", "park")
    traffic = insert_party(db, "Trafikkontoret", "traffic")
    insert_zone(db, park, "Råcksta torg", RACKSTA, "square")
    return {"park": park, "traffic": traffic}


def decide(client, token, place_id, week="2026-W47", **fields):
    data = {f"p{place_id}-{name}": value for name, value in fields.items()}
    return client.post(
        DECIDE.format(week=week, place=place_id), data={**data, "csrf_token": token}, headers=EN
    )


def in_a_week() -> str:
    return (date.today() + timedelta(days=7)).isoformat()


def test_decisions_become_routed_tasks_and_count_as_done_the_week_after(
    client, db, events, parties
):
    a = events["a"]
    coordinator = make_staff(db, "coordinator")
    token = login(client, coordinator)
    due = in_a_week()
    for measure, party in [
        ("Klipp buskarna vid trappan.", parties["park"]),  # the suggestion
        ("Extra belysning i gångtunneln.", parties["traffic"]),  # the meeting's choice
        ("Samtal med fastighetsägaren.", ""),  # no party yet: triage
    ]:
        response = decide(
            client, token, a, measure=measure, party_id=party, due_date=due, key=str(uuid.uuid4())
        )
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
    decided = decisions_for_weeks(db, ["2026-W47"])[(a, "2026-W47")]
    tasks = [get_task(db, d["task_id"]) for d in decided]
    assert [t["measure"] for t in tasks] == [
        "Klipp buskarna vid trappan.",
        "Extra belysning i gångtunneln.",
        "Samtal med fastighetsägaren.",
    ]
    # Routed like any other task: at the place, due when decided, sent to a chosen party.
    assert all(t["place_id"] == a and t["due_date"] == due and t["walk_id"] is None for t in tasks)
    assert [t["state"] for t in tasks] == ["sent", "sent", "proposed"]
    assert [t["party_id"] for t in tasks] == [parties["park"], parties["traffic"], None]
    assert '"reason": "zone"' in tasks[0]["routing_reason"]
    assert tasks[0]["override_reason"] is None
    assert tasks[1]["override_reason"] == "Decided at the weekly meeting, week 47"
    assert tasks[0]["lat"] == pytest.approx(59.355) and tasks[0]["lon"] == pytest.approx(17.8825)
    # The task page shows them like any task (no observation to show).
    assert client.get(f"/tasks/{tasks[0]['id']}", headers=EN).status_code == 200
    # One is done by the party before the next meeting.
    transition(db, tasks[0]["id"], "done", coordinator_actor(coordinator), version=2, note="Klart")
    html = client.get("/reports/week?week=2026-W48", headers=EN).get_data(as_text=True)
    section = html.split(f'data-place="{a}"', 1)[1].split("</section>", 1)[0]
    assert "Last week&#39;s decisions: 1 of 3 done" in section
    states = re.findall(
        r'<span class="badge state">((?:<span[^>]*>[^<]*</span>)?[^<]*)</span>', section
    )
    assert [" ".join(re.sub(r"<[^>]+>", " ", s).split()) for s in states] == [
        "✓ Done",
        "Sent",
        "Proposed",
    ]
    district = html.split('data-place="district"', 1)[1].split("</section>", 1)[0]
    assert "Last week&#39;s decisions: 1 of 3 done" in district
    # The week of the meeting lists them as this week's decisions.
    html = client.get("/reports/week?week=2026-W47", headers=EN).get_data(as_text=True)
    section = html.split(f'data-place="{a}"', 1)[1].split("</section>", 1)[0]
    assert "This week's decisions" in section and "Extra belysning i gångtunneln." in section


def test_a_decision_for_a_party_is_emailed_to_it_at_once_with_a_link_that_opens_it(
    app, client, db, smtp, events
):
    """Sending follows the party from the meeting too: a decision with a party reaches it in
    the same sending round as any task, by its link to tasks from outside a walk."""
    owner = insert_party(db, "Bostadsbolaget Strandgården AB", "property_owner", "bo@example.se")
    token = login(client, make_staff(db, "coordinator"))
    response = decide(
        client,
        token,
        events["a"],
        measure="Lås porten mot gården.",
        party_id=owner,
        due_date=in_a_week(),
        key=str(uuid.uuid4()),
    )
    assert response.status_code == 303
    (received,) = smtp.to("bo@example.se")
    text, _html = mail_bodies(received)
    assert "Lås porten mot gården." in text
    (path,) = set(re.findall(r"https?://[^/\s]+(/l/[A-Za-z0-9_.\-]+)", text))
    page = app.test_client().get(path, headers=EN)
    assert page.status_code == 200 and "Lås porten mot gården." in page.get_data(as_text=True)


def test_a_decision_sent_twice_makes_one_task(client, db, events, parties):
    token = login(client, make_staff(db, "admin"))
    fields = {"measure": "Städa trappan.", "party_id": "", "due_date": in_a_week()}
    key = str(uuid.uuid4())
    for _time in range(2):
        assert decide(client, token, events["a"], key=key, **fields).status_code == 303
    assert db.execute("SELECT count(*) FROM decisions").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"measure": "  "}, "Say what is to be done."),
        ({"due_date": ""}, "Give the date it is to be done by."),
        ({"due_date": "tomorrow"}, "Give the date as YYYY-MM-DD."),
        ({"due_date": "2020-01-01"}, "Give a date from today on."),
        ({"party_id": "999999"}, "Choose from the list."),
    ],
)
def test_a_bad_decision_gets_a_message_and_stores_nothing(
    client, db, events, parties, fields, message
):
    token = login(client, make_staff(db, "coordinator"))
    values = {"measure": "Städa.", "party_id": "", "due_date": in_a_week(), "key": ""}
    response = decide(client, token, events["a"], **{**values, **fields})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert '<details class="meeting-form no-print" open>' in html  # the form stays open
    assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0


def test_record_decision_links_the_task_to_the_place_and_week(db, events, parties):
    user = make_staff(db, "coordinator")
    task_id, created = record_decision(
        db,
        place_id=events["b"],
        week="2026-W47",
        measure="Fler ordningsvakter på fredag.",
        party_id=None,
        due_date="2026-11-27",
        actor=coordinator_actor(user),
        reason="Beslut på veckomötet",
    )
    assert created
    row = db.execute("SELECT * FROM decisions WHERE task_id = ?", [task_id]).fetchone()
    assert (row["place_id"], row["week"], row["created_by"]) == (
        events["b"],
        "2026-W47",
        user["id"],
    )
    # Vällingby has no zone and a decision has no category: triage, with nobody to send it to.
    task = get_task(db, task_id)
    assert task["state"] == "proposed" and task["party_id"] is None
    assert '"reason": "triage"' in task["routing_reason"]


# --- partners ----------------------------------------------------------------------------


@pytest.fixture
def resident_report(app, db, events):
    """An urgent observation by a resident named Kim Lindqvist at Råcksta, in the last
    complete week, with words of her own."""
    year, number = last_complete_week(datetime.now(UTC))
    walk = make_walk(db, events["a"], title="Kvällsvandring med Kim Lindqvist")
    client = app.test_client()
    join(client, walk, name="Kim Lindqvist")
    participant = db.execute("SELECT id FROM walk_participants").fetchone()[0]
    moment = week_period(year, number).start + timedelta(days=1, hours=18)
    clean = validate(
        {
            "category": "people",
            "urgent": True,
            "description": "Kim Lindqvist på Tallvägen 3 blev hotad vid porten.",
            "walk_id": walk["id"],
            "captured_at": moment.isoformat(),
        },
        2000,
        12,
    )
    observation, _created = put_observation(
        db, str(uuid.uuid4()), clean, walk=walk, participant_id=participant
    )
    assert observation["observed_at"] < week_period(year, number).end_utc
    return {"week": week_text(year, number), "id": observation["id"]}


RESIDENT_WORDS = ("Kim Lindqvist", "Tallvägen", "blev hotad", "Kvällsvandring med")


def test_a_partner_reads_the_meeting_page_without_residents_words_or_names(
    client, db, events, resident_report
):
    week = resident_report["week"]
    staff = client.application.test_client()
    login(staff, make_staff(db, "coordinator"))
    html = staff.get(f"/reports/week?week={week}", headers=EN).get_data(as_text=True)
    assert "Kim Lindqvist på Tallvägen 3 blev hotad vid porten." in html  # staff see it all
    assert f"/observations/{resident_report['id']}" in html
    login(client, make_staff(db, "partner"))
    response = client.get(f"/reports/week?week={week}", headers=EN)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    section = html.split(f'data-place="{events["a"]}"', 1)[1].split("</section>", 1)[0]
    # Category, place and time of the urgent observation; nothing the resident wrote or is.
    assert "Urgent this week" in section and "People and being seen" in section
    for words in RESIDENT_WORDS:
        assert words not in html, words
    for link in ('href="/observations/', 'href="/tasks/', 'href="/places/', 'href="/walks/'):
        assert link not in html, link
    # No decision form, no annual follow-up; the assessment form is there.
    assert f"p{events['a']}-measure" not in html and "/reports/year" not in html
    assert f"p{events['a']}-level" in html
    for path in (f"/reports/week.pdf?week={week}", f"/reports/week.csv?week={week}"):
        response = client.get(path, headers=EN)
        assert response.status_code == 200, path
        text = (
            pdf_text(response.data)
            if path.startswith("/reports/week.pdf")
            else (response.data.decode("utf-8-sig"))
        )
        for words in RESIDENT_WORDS:
            assert words not in text, (path, words)
    pdf = client.get(f"/reports/week.pdf?week={week}", headers=EN).data
    assert "People and being seen" in pdf_text(pdf)


def test_a_partner_assesses_but_may_not_decide(client, db, events, parties):
    token = login(client, make_staff(db, "partner", name="Erik Ström, kommunpolis"))
    response = assess(client, token, events["a"], level="acute", text="Skottlossning.")
    assert response.status_code == 303
    assert stored_assessments(db, events["a"])[0]["level"] == "acute"
    fields = {"measure": "Kameror.", "party_id": "", "due_date": in_a_week()}
    assert decide(client, token, events["a"], **fields).status_code == 403
    assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0
    # The decisions are there to read, without links to the tasks.
    actor = coordinator_actor(make_staff(db, "admin"))
    record_decision(
        db,
        place_id=events["a"],
        week="2026-W46",
        measure="Fler kameror vid trappan.",
        party_id=parties["park"],
        due_date="2026-11-20",
        actor=actor,
        reason="Beslut",
    )
    html = client.get("/reports/week?week=2026-W47", headers=EN).get_data(as_text=True)
    assert "Fler kameror vid trappan." in html and "Last week&#39;s decisions: 0 of 1 done" in html
    assert 'href="/tasks/' not in html


# --- print and PDF -----------------------------------------------------------------------


def test_week_pdf_is_in_swedish_with_events_assessments_and_decisions(client, db, events, parties):
    a = events["a"]
    coordinator = make_staff(db, "coordinator", name="Åsa Öberg")
    for week, level, text in [
        ("2026-W46", "uneasy", "Oro bland äldre på torget."),
        ("2026-W47", "serious", "Öppen försäljning vid trappan, många sprutor."),
    ]:
        save_assessment(
            db, place_id=a, week=week, level=level, text=text, written_by=coordinator["id"],
            based_on=0,
        )  # fmt: skip
    record_decision(
        db,
        place_id=a,
        week="2026-W46",
        measure="Klipp häcken längs gångvägen.",
        party_id=parties["park"],
        due_date="2026-11-20",
        actor=coordinator_actor(coordinator),
        reason="Beslut på veckomötet",
    )
    login(client, coordinator)
    response = client.get("/reports/week.pdf?week=2026-W47")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert 'filename="lagesbild-2026-W47.pdf"' in response.headers["Content-Disposition"]
    text = pdf_text(response.data)
    for expected in [
        "Vecka 47, 2026",
        "Råcksta",
        "Vällingby",
        "Narkotikaförsäljning",
        "Våld eller hot",
        "Polisen",
        "Allvarligt",
        "Öppen försäljning vid trappan, många sprutor.",
        "Oroligt",
        "Oro bland äldre på torget.",
        "Skriven av Åsa Öberg",
        "Förra veckans beslut: 0 av 1 genomförda",
        "Klipp häcken längs gångvägen.",
        "Parkingenjörerna",
    ]:
        assert expected in text, expected
    assert "Spara bedömningen" not in text  # no forms on paper


def test_week_page_links_its_pdf_and_prints_with_the_print_stylesheet(client, db, events):
    login(client, make_staff(db, "admin"))
    html = client.get("/reports/week?week=2026-W47", headers=EN).get_data(as_text=True)
    assert 'href="/reports/week.pdf?week=2026-W47"' in html
    assert re.search(r'href="/static/(build/)?css/print\.css\?v=\w+" media="print"', html)
    # Tables scroll inside their own named box on a narrow phone, never the page.
    assert html.count('class="table-scroll" role="region" tabindex="0"') >= 4


def test_csrf_is_needed_to_assess(client, db, events):
    login(client, make_staff(db, "coordinator"))
    assert csrf_token(client, "/reports/week?week=2026-W47")  # the page's forms carry one
    response = client.post(
        ASSESS.format(week="2026-W47", place=events["a"]),
        data={f"p{events['a']}-level": "calm", f"p{events['a']}-based_on": "0"},
    )
    assert response.status_code == 400
    assert stored_assessments(db, events["a"]) == []


# --- the demo ----------------------------------------------------------------------------

SCENES = ("hasselby-strand", "hasselby-gard", "racksta", "vallingby-centrum")


def test_demo_has_twelve_weeks_of_meetings_at_the_scenes_with_decisions_followed_up(
    app, runner, db
):
    app.config["DEMO"] = True
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    last = last_complete_week(datetime.now(UTC))
    weeks = {week_text(*shift_week(*last, -n)) for n in range(12)}
    rows = [
        dict(r)
        for r in db.execute(
            """SELECT assessments.*, places.slug FROM assessments
               JOIN places ON places.id = assessments.place_id"""
        )
    ]
    for slug in SCENES:
        assert {r["week"] for r in rows if r["slug"] == slug} == weeks, slug
    assert {r["level"] for r in rows} >= {"calm", "uneasy", "serious"}
    assert any(r["version"] == 2 for r in rows), "the police changed some"
    # Written at the meeting: the Tuesday after the week, never in the future.
    for r in rows:
        assert r["written_at"] >= week_period(*map(int, r["week"].split("-W"))).end_utc
        assert r["written_at"] <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    decided = decisions_for_weeks(db, sorted(weeks))
    older = [d for (_p, w), ds in decided.items() for d in ds if w != week_text(*last)]
    assert older and any(d["done"] for d in older) and not all(d["done"] for d in older)
    # Each decision's task was opened on its meeting day and, when done, done after it.
    for ds in decided.values():
        for d in ds:
            task = get_task(db, d["task_id"])
            assert task["created_at"] == d["created_at"]
            assert task["done_at"] is None or task["done_at"] > task["created_at"]

    # Seeding again adds nothing; the police officer reads the follow-up on the last week.
    def counts():
        return [
            db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("assessments", "decisions", "tasks")
        ]

    before = counts()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert counts() == before
    email = "polis@demo.fieldwalk.se"
    password = load_logins(Path(app.instance_path) / "demo_logins.json")[email]
    client = app.test_client()
    login(client, {"email": email, "password": password})
    html = client.get("/reports/week").get_data(as_text=True)
    assert "Förra veckans beslut:" in html and "Gemensam bedömning per plats" in html
