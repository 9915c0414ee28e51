"""Case numbers (issue 14, item 4): one readable number per task and year, given in the
insert's transaction (no duplicates, no gaps, even when tasks are created at once), shown on
every view and in every email and export, and searchable."""

import csv
import io
import json
import re
import threading

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

from fieldwalk.db import connect
from fieldwalk.migrations import migrations
from fieldwalk.parties.model import insert_party
from fieldwalk.tasks.cases import case_year, format_case, parse_case
from fieldwalk.tasks.model import get_task, insert_task, transition

pytestmark = pytest.mark.usefixtures("english")


def test_the_year_is_stockholms():
    assert case_year("2026-12-31T22:59:59Z") == 2026
    assert case_year("2026-12-31T23:00:00Z") == 2027, "midnight in Stockholm"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HV-2026-0042", (2026, 42)),
        ("hv-2026-42", (2026, 42)),
        ("2026-0042", (2026, 42)),
        (" HV 2026 0042 ", (2026, 42)),
        ("XX-2026-0042", None),
        ("HV-26-0042", None),
        ("lampa", None),
        ("", None),
    ],
)
def test_case_numbers_are_read_with_or_without_prefix_and_zeros(text, expected):
    assert parse_case(text, "HV") == expected


def test_format_with_and_without_a_prefix():
    assert format_case("HV", 2026, 42) == "HV-2026-0042"
    assert format_case("", 2026, 42) == "2026-0042"
    assert format_case("HV", None, None) == ""


def test_tasks_created_at_once_get_consecutive_numbers_without_gaps(app, db):
    walk = make_walk(db, make_place(db))
    observations = [make_observation(db, walk) for _ in range(40)]
    errors = []

    def create(chunk):
        conn = connect(app.config["DATABASE_PATH"])
        try:
            for observation_id in chunk:
                insert_task(
                    conn,
                    observation_ids=[observation_id],
                    measure="Byt lampan",
                    party_id=None,
                    suggestion={"party_id": None},
                    actor=STAFF,
                )
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            conn.close()

    threads = [threading.Thread(target=create, args=(observations[k::4],)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    rows = db.execute("SELECT case_year, case_seq FROM tasks ORDER BY case_seq").fetchall()
    years = {r[0] for r in rows}
    assert len(years) == 1
    assert [r[1] for r in rows] == list(range(1, 41))


def test_numbering_starts_again_each_year(app, db):
    walk = make_walk(db, make_place(db))
    first = make_task(db, make_observation(db, walk), None, "Ett")
    db.execute("UPDATE tasks SET case_year = 2020 WHERE id = ?", [first])
    second = make_task(db, make_observation(db, walk), None, "Två")
    assert get_task(db, second)["case_seq"] == 1, "the first of this year"


def test_tasks_made_before_the_migration_are_numbered_in_order_per_year(tmp_path):
    db = connect(tmp_path / "old.db")
    migrations.apply(db, stop_before="m018_case_numbers")
    place = make_place(db)
    walk = make_walk(db, place)
    observation = make_observation(db, walk)
    stamps = ["2026-03-01T10:00:00Z", "2025-06-01T10:00:00Z", "2026-12-31T23:30:00Z",
              "2026-01-01T09:00:00Z"]  # fmt: skip
    for n, stamp in enumerate(stamps):
        db.execute(
            """INSERT INTO tasks (walk_id, measure, state, created_at, updated_at)
               VALUES (?, ?, 'proposed', ?, ?)""",
            [walk["id"], f"Åtgärd {n}", stamp, stamp],
        )
    db.execute(
        "INSERT INTO task_observations (task_id, observation_id) VALUES (1, ?)", [observation]
    )
    migrations.apply(db)
    rows = db.execute("SELECT measure, case_year, case_seq FROM tasks ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [
        ("Åtgärd 0", 2026, 2),
        ("Åtgärd 1", 2025, 1),
        ("Åtgärd 2", 2027, 1),
        ("Åtgärd 3", 2026, 1),
    ]
    db.close()


@pytest.fixture
def numbered(app, db, smtp):
    """Three tasks; the third sent to a party (its email and link); a coordinator in."""
    walk = make_walk(db, make_place(db))
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    tasks = [
        make_task(db, make_observation(db, walk, f"Iakttagelse {n}"), park, f"Åtgärd {n}")
        for n in range(3)
    ]
    client = app.test_client()
    token = login(client, make_staff(db, "coordinator"))
    version = get_task(db, tasks[2])["version"]
    client.post(f"/tasks/{tasks[2]}/send", data={"csrf_token": token, "version": version})
    year = get_task(db, tasks[0])["case_year"]
    return {"walk": walk, "tasks": tasks, "client": client, "year": year}


def test_the_case_number_shows_on_the_task_page_lists_the_link_page_and_the_email(
    app, db, smtp, numbered
):
    client, year, task_id = numbered["client"], numbered["year"], numbered["tasks"][2]
    number = f"HV-{year}-0003"
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert re.search(rf'<span id="case-number">{number}</span>', page)
    assert number in client.get("/tasks").get_data(as_text=True)
    assert number in client.get(f"/walks/{numbered['walk']['id']}/tasks").get_data(as_text=True)
    assert number in client.get("/dashboard?kind=tasks").get_data(as_text=True)
    assert number in client.get(f"/walks/{numbered['walk']['id']}/protocol").get_data(as_text=True)
    (received,) = smtp.messages
    text, html = mail_bodies(received["message"])
    assert number in text and number in html
    (path,) = set(re.findall(r"https?://[^/\s]+(/l/[A-Za-z0-9_.\-]+)", text))
    assert number in app.test_client().get(path).get_data(as_text=True)


def test_the_exports_carry_the_case_number(app, db, numbered):
    client, year = numbered["client"], numbered["year"]
    table = client.get("/dashboard/tasks.csv").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(table)))
    assert sorted(r["case_number"] for r in rows) == [f"HV-{year}-000{n}" for n in (1, 2, 3)]
    features = json.loads(client.get("/dashboard/tasks.geojson").get_data(as_text=True))
    assert {f["properties"]["case_number"] for f in features["features"]} == {
        f"HV-{year}-000{n}" for n in (1, 2, 3)
    }


def test_another_prefix_is_configuration(app, db, numbered):
    app.config["CASE_PREFIX"] = "SK"
    page = numbered["client"].get("/tasks").get_data(as_text=True)
    assert f"SK-{numbered['year']}-0001" in page and "HV-" not in page


@pytest.mark.parametrize("written", ["HV-{year}-0002", "hv-{year}-2", "{year}-0002"])
def test_the_task_list_finds_a_task_by_its_case_number(app, db, numbered, written):
    client, year = numbered["client"], numbered["year"]
    page = client.get("/tasks", query_string={"list": "all", "q": written.format(year=year)})
    html = page.get_data(as_text=True)
    ids = re.findall(r'data-task-id="(\d+)"', html)
    assert ids == [str(numbered["tasks"][1])]


def test_the_task_list_finds_tasks_by_text_too(app, db, numbered):
    html = numbered["client"].get("/tasks?list=all&q=tgärd 1").get_data(as_text=True)
    assert re.findall(r'data-task-id="(\d+)"', html) == [str(numbered["tasks"][1])]


def test_the_dashboard_finds_a_task_and_its_observation_by_case_number(app, db, numbered):
    year = numbered["year"]
    html = numbered["client"].get(f"/dashboard?q=HV-{year}-0002").get_data(as_text=True)
    assert f'id="item-t-{numbered["tasks"][1]}"' in html
    assert "Iakttagelse 1" in html
    assert "Iakttagelse 0" not in html and "Iakttagelse 2" not in html


def test_a_sent_task_keeps_its_number_through_every_step(app, db, numbered):
    task_id = numbered["tasks"][0]
    before = get_task(db, task_id)
    transition(db, task_id, "send", STAFF, version=before["version"])
    after = get_task(db, task_id)
    assert (after["case_year"], after["case_seq"]) == (before["case_year"], before["case_seq"])
