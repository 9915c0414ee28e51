"""The annual follow-up: the year's figures on a hand-built set (exact numbers), the safety
index, the assessment timeline, the measures in force, the joint written assessment and its
measures made tasks, and the PDF read back with pypdf."""

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import (
    add_observation_row,
    add_task_row,
    login,
    mail_bodies,
    make_event,
    make_place,
    make_staff,
    make_walk,
    seed_demo,
    table_row,
)
from pypdf import PdfReader

from fieldwalk.measures.cameras import list_proposals
from fieldwalk.measures.model import record_fact
from fieldwalk.parties.model import insert_party
from fieldwalk.reports.annual import (
    annual_figures,
    assessment_timeline,
    drug_scenes,
    measures_in_year,
)
from fieldwalk.reports.annual_assessment import latest_annual, measure_tasks, save_annual
from fieldwalk.reports.assessments import save_assessment
from fieldwalk.tasks.model import get_task

NAME = "Hässelby gårds torg – Åkermyntans östra del"
SV = {"Accept-Language": "sv"}


@pytest.fixture
def year_set(db):
    """2025 against 2024 at one place (a drug scene), with something at another place that
    must never count. Every time is UTC; the comments say the local (Stockholm) day."""
    a = make_place(db, "hasselby", NAME)
    other = make_place(db, "annan", "Annan plats")
    p1 = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    p2 = insert_party(db, "Trafikkontoret", "traffic")
    for when, kind in [
        ("2025-01-15T18:00:00Z", "drug_dealing"),
        ("2025-01-20T18:00:00Z", "drug_dealing"),
        ("2025-03-05T18:00:00Z", "violence"),
        ("2025-12-31T22:30:00Z", "drug_use"),  # 31 December 23:30: still 2025
        ("2024-12-31T23:30:00Z", "disorder"),  # 1 January 2025 00:30: 2025, January
        ("2024-06-10T12:00:00Z", "drug_dealing"),
    ]:
        make_event(db, a, occurred_at=when, type=kind)
    make_event(db, other, occurred_at="2025-02-01T12:00:00Z", type="violence")
    # Observations count by when they were observed, not received.
    o1 = add_observation_row(
        db, a, "2025-01-10T10:00:00Z", created_at="2025-02-01T10:00:00Z", feeling=2
    )
    o2 = add_observation_row(db, a, "2025-01-12T10:00:00Z", feeling=4)
    add_observation_row(db, a, "2024-12-31T23:30:00Z")  # 1 January 2025, local
    add_observation_row(db, a, "2024-05-01T10:00:00Z", feeling=1)
    add_observation_row(db, a, "2025-12-31T23:30:00Z", created_at="2026-01-02T08:00:00Z")  # 2026
    add_observation_row(db, other, "2025-01-11T10:00:00Z", feeling=1)
    for starts, state in [("2025-04-10T18:00", "finished"), ("2025-09-01T18:00", "finished"),
                          ("2025-10-01T18:00", "planned"), ("2024-09-01T18:00", "finished")]:  # fmt: skip
        make_walk(db, a, starts_at=starts, state=state)
    # Fixes: days from the first observation's observed time, or from the task's opening.
    add_task_row(db, a, "done", "2025-03-01T10:00:00Z", done_at="2025-03-05T10:00:00Z", party_id=p1)
    add_task_row(db, a, "done", "2025-01-13T10:00:00Z", done_at="2025-01-22T10:00:00Z",
                 party_id=p1, observation_ids=[o2])  # fmt: skip  # 10 days from o2
    add_task_row(
        db, a, "verified", "2025-05-01T00:00:00Z", done_at="2025-05-02T12:00:00Z", party_id=p1
    )
    add_task_row(db, a, "done", "2025-06-01T10:00:00Z", done_at="2025-06-03T10:00:00Z", party_id=p2)
    add_task_row(db, a, "done", "2024-06-01T10:00:00Z", done_at="2024-06-08T10:00:00Z", party_id=p2)
    add_task_row(db, a, "done", "2025-12-20T10:00:00Z", done_at="2026-01-05T10:00:00Z", party_id=p2)
    add_task_row(db, a, "done", "2025-02-01T10:00:00Z", done_at="2025-02-02T22:00:00Z")
    add_task_row(db, a, "sent", "2025-11-15T10:00:00Z", party_id=p2)  # still open
    add_task_row(
        db, other, "done", "2025-02-01T10:00:00Z", done_at="2025-02-03T10:00:00Z", party_id=p1
    )
    user = make_staff(db)
    for week, level, version in [("2025-W02", "calm", 0), ("2025-W03", "uneasy", 0),
                                 ("2025-W03", "serious", 1), ("2025-W10", "serious", 0)]:  # fmt: skip
        save_assessment(db, place_id=a, week=week, level=level, text="", written_by=user["id"],
                        based_on=version)  # fmt: skip
    record_fact(db, place_id=a, kind="drug_scene", from_date="2023-05-01", recorded_by=user["id"])
    record_fact(db, place_id=a, kind="lov3", from_date="2025-06-01", recorded_by=user["id"])
    record_fact(db, place_id=a, kind="guard_patrols", from_date="2024-01-01", to_date="2024-12-31",
                recorded_by=user["id"])  # fmt: skip
    return {"a": a, "other": other, "p1": p1, "p2": p2, "user": user, "o1": o1}


def test_the_years_figures_on_a_hand_built_set(db, year_set):
    a = year_set["a"]
    figures = annual_figures(db, [a], 2025, datetime.now(UTC))
    assert figures["event_totals"][a] == [5, 1]
    assert figures["event_types"][a] == {
        "drug_dealing": [2, 1], "violence": [1, 0], "drug_use": [1, 0], "disorder": [1, 0],
    }  # fmt: skip
    events = figures["events"][a]  # 24 months: 2025's twelve, then 2024's
    assert events["drug_dealing"][:12] == [2] + [0] * 11
    assert events["disorder"][0] == 1 and events["violence"][2] == 1 and events["drug_use"][11] == 1
    assert events["drug_dealing"][12 + 5] == 1  # June 2024
    assert figures["observation_totals"][a] == [3, 1]
    assert figures["observations"][a][:12] == [3] + [0] * 11
    assert figures["walks"][a] == [2, 1]
    fixes = {f["name"]: (f["done"], f["median_days"]) for f in figures["fixes"][a]}
    assert fixes == {
        "Parkingenjörerna": ([3, 0], [4.0, None]),  # 4, 10 and 1.5 days
        "Trafikkontoret": ([1, 1], [2.0, 7.0]),
        None: ([1, 0], [1.5, None]),
    }


def test_the_safety_index_of_each_month_with_its_parts(db, year_set):
    a = year_set["a"]
    index = annual_figures(db, [a], 2025, datetime.now(UTC))["index"][a]
    assert len(index) == 12
    january, march, november, december = index[0], index[2], index[10], index[11]
    # Two dealings (2 each) and a disorder (1); feelings 2 and 4 (mean 3: 2 steps below 5).
    assert {k: january[k] for k in ("events", "feeling", "open_fixes", "total")} == {
        "events": 5.0, "feeling": 5.0, "open_fixes": 0.0, "total": 10.0,
    }  # fmt: skip
    assert (march["events"], march["feeling"], march["total"]) == (3.0, 0.0, 3.0)
    assert (november["open_fixes"], november["total"]) == (0.5, 0.5)
    # One drug use; two fixes open at New Year's Eve (one done on 5 January, one still sent).
    assert (december["events"], december["open_fixes"], december["total"]) == (1.0, 1.0, 2.0)


def test_the_timeline_the_measures_and_the_drug_scenes_of_the_year(db, year_set):
    a = year_set["a"]
    assert assessment_timeline(db, a, 2025) == [
        {"week": "2025-W02", "level": "calm", "changed": True},
        {"week": "2025-W03", "level": "serious", "changed": True},  # the latest version counts
        {"week": "2025-W10", "level": "serious", "changed": False},
    ]
    assert [f["kind"] for f in measures_in_year(db, [a], 2025)[a]] == ["drug_scene", "lov3"]
    assert [p["id"] for p in drug_scenes(db, 2025)] == [a]
    assert drug_scenes(db, 2022) == []


def test_the_year_page_shows_the_figures_against_the_year_before(client, db, year_set):
    a = year_set["a"]
    login(client, make_staff(db, "admin"))
    html = client.get(f"/reports/year/places/{a}?year=2025", headers=SV).get_data(as_text=True)
    assert table_row(html, a, "Händelser") == ["5", "1", "▲ +4"]
    assert table_row(html, a, "Narkotikaförsäljning") == ["2", "1", "▲ +1"]
    assert table_row(html, a, "Genomförda vandringar") == ["2", "1", "▲ +1"]
    assert table_row(html, a, "Åtgärder klara") == ["5", "1", "▲ +4"]
    assert table_row(html, a, "Parkingenjörerna") == ["3", "4,0", "0", "–"]
    assert table_row(html, a, "2025-01") == ["5,0", "5,0", "0,0", "10,0"]
    assert "Inte påbörjad" in html and "Förordnande enligt LOV 3 §" in html
    # The district's year page lists the drug scene and links to its follow-up; ?place= too.
    year = client.get("/reports/year?year=2025", headers=SV).get_data(as_text=True)
    assert f"/reports/year/places/{a}?year=2025" in year
    assert client.get(f"/reports/year?year=2025&place={a}").status_code == 302


def test_writing_the_joint_assessment_and_making_a_measure_a_task(client, db, year_set, smtp):
    a, p1 = year_set["a"], year_set["p1"]
    token = login(client, make_staff(db, "coordinator", "samordnare@example.se"))
    texts = {
        "how_it_has_been": "Öppen försäljning vid uppgången under våren.",
        "expected_development": "Lugnare när belysningen är bytt.",
        "long_term_measures": "- Platssamverkan med fastighetsägarna\n- Bättre belysning i gångtunneln",
    }
    url = f"/reports/year/2025/places/{a}/assessment"
    # Finished needs all three parts.
    half = client.post(url, data={"csrf_token": token, "based_on": "0", "finished": "y",
                                  "how_it_has_been": "Bara en del."})  # fmt: skip
    assert half.status_code == 400 and latest_annual(db, a, 2025) is None
    assert client.post(url, data={"csrf_token": token, "based_on": "0", **texts}).status_code == 303
    latest = latest_annual(db, a, 2025)
    assert latest["version"] == 1 and not latest["finished"]
    # A partner (the police) changes it and marks it finished: a second version.
    partner = make_staff(db, "partner", "polis@example.se")
    police = client.application.test_client()
    police_token = login(police, partner)
    done = police.post(
        url, data={"csrf_token": police_token, "based_on": "1", "finished": "y", **texts}
    )
    assert done.status_code == 303 and latest_annual(db, a, 2025)["finished"] == 1
    # The coordinator's stale form (based on version 1) is refused with the newer one.
    stale = client.post(url, data={"csrf_token": token, "based_on": "1", **texts})
    assert stale.status_code == 409 and latest_annual(db, a, 2025)["version"] == 2
    page = client.get(f"/reports/year/places/{a}?year=2025", headers=SV).get_data(as_text=True)
    assert "Klar" in page and "Bättre belysning i gångtunneln" in page
    due = (date.today() + timedelta(days=60)).isoformat()
    make = {"csrf_token": token, "prefix": "m1", "m1-measure": "Bättre belysning i gångtunneln",
            "m1-party_id": str(p1), "m1-due_date": due}  # fmt: skip
    response = client.post(f"/reports/year/2025/places/{a}/measures", data=make)
    assert response.status_code == 303
    (task,) = measure_tasks(db, a, 2025).values()
    assert task["party_id"] == p1 and task["state"] == "sent" and task["due_date"] == due
    assert client.post(f"/reports/year/2025/places/{a}/measures", data=make).status_code == 303
    assert len(measure_tasks(db, a, 2025)) == 1  # twice: one task
    (received,) = smtp.to("park@example.se")  # told at once, once, as of a weekly decision
    assert "Bättre belysning i gångtunneln" in mail_bodies(received)[0]
    # A partner may write but not make tasks; a measure not in the text is refused.
    assert police.post(f"/reports/year/2025/places/{a}/measures",
                       data=dict(make, csrf_token=police_token)).status_code == 403  # fmt: skip
    odd = dict(make, **{"m1-measure": "Något annat"})
    assert client.post(f"/reports/year/2025/places/{a}/measures", data=odd).status_code == 400
    assert get_task(db, task["id"])["measure"] == "Bättre belysning i gångtunneln"


def test_the_pdf_of_one_place_and_of_every_drug_scene_reads_back_right(client, db, year_set):
    a = year_set["a"]
    save_annual(
        db, place_id=a, year=2025, finished=True, written_by=year_set["user"]["id"], based_on=0,
        texts={"how_it_has_been": "Öppen försäljning minskade efter sommaren.",
               "expected_development": "Fortsatt förbättring väntas.",
               "long_term_measures": "Platssamverkan med fastighetsägarna"},
    )  # fmt: skip
    login(client, make_staff(db, "admin"))
    for url in (f"/reports/year.pdf?year=2025&place={a}", "/reports/year.pdf?year=2025"):
        response = client.get(url, headers=SV)
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
        text = " ".join(text.split())
        assert NAME in text
        assert "ÅRSUPPFÖLJNING TILLSAMMANS MED POLISEN" in text  # the print style capitalises it
        assert "Öppen försäljning minskade efter sommaren." in text
        assert "Förordnande enligt LOV 3 §" in text
        assert "Annan plats" not in text  # not a drug scene
    scenes = client.get("/reports/year/scenes?year=2025", headers=SV).get_data(as_text=True)
    assert NAME in scenes and "<form" not in scenes.split('class="report"', 1)[1]


@pytest.mark.parametrize(
    "url",
    [
        "/reports/year/places/{a}?year=20x5",
        "/reports/year.pdf?year=2025&place=abc",
        "/reports/year/places/999999?year=2025",
        "/reports/year/1850/places/{a}/assessment",
    ],
)
def test_bad_addresses_get_a_clear_4xx(client, db, year_set, url):
    token = login(client, make_staff(db, "admin"))
    url = url.format(a=year_set["a"])
    response = (
        client.post(url, data={"csrf_token": token}) if "assessment" in url else client.get(url)
    )
    assert response.status_code in (400, 404)


def test_the_demo_has_a_finished_and_an_in_progress_follow_up_and_the_measures(app, runner, db):
    seed_demo(app, runner)
    year = datetime.now(UTC).year
    places = {p["slug"]: p["id"] for p in db.execute("SELECT slug, id FROM places")}
    malte, valle = places["hasselby-strand"], places["vallingby-centrum"]
    assert latest_annual(db, malte, year)["finished"] == 1
    assert latest_annual(db, valle, year)["finished"] == 0
    assert len(measure_tasks(db, malte, year)) == 1
    facts = {
        (f["place_id"], f["kind"], f["state"])
        for f in db.execute("SELECT place_id, kind, state FROM place_facts")
    }
    for slug in ("hasselby-strand", "hasselby-gard", "racksta", "vallingby-centrum"):
        assert (places[slug], "drug_scene", "") in facts
        assert (places[slug], "police_cameras", "") in facts
    lov3 = {p for p, kind, _s in facts if kind == "lov3"}
    assert lov3 == {places["hasselby-gard"], valle, places["lov3-akermyntans-centrum"]}
    assert not any(kind == "city_cameras" and state == "installed" for _p, kind, state in facts)
    assert (malte, "city_cameras", "decided") in facts
    assert {p["decision"] for p in list_proposals(db)} == {"approved", None}
    assert [p["id"] for p in drug_scenes(db, year)] == sorted(
        [places[s] for s in ("hasselby-strand", "hasselby-gard", "racksta", "vallingby-centrum")],
        key=lambda i: db.execute("SELECT lower(name) FROM places WHERE id = ?", [i]).fetchone()[0],
    )
    # Seeding again adds nothing.
    before = db.execute("SELECT count(*) FROM place_facts").fetchone()[0]
    seed_demo(app, runner)
    assert db.execute("SELECT count(*) FROM place_facts").fetchone()[0] == before
    assert len(list_proposals(db)) == 2
