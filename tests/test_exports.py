"""Exports: CSV that Excel opens (BOM, Swedish letters, ISO times, decimal degrees, no formulas)
and GeoJSON that QGIS opens, for any filter, streamed rather than built in memory."""

import csv
import io
import json
import re
import uuid

import pytest
from conftest import login, make_place, make_user, make_walk

from fieldwalk.dashboard.exports import OBSERVATION_COLUMNS, TASK_COLUMNS, plain
from fieldwalk.observations.model import put_observation, validate
from fieldwalk.parties.model import insert_party
from fieldwalk.spreadsheet import neutralise
from fieldwalk.tasks.model import insert_task
from fieldwalk.tasks.states import COORDINATOR, Actor

# These tests read the comma dialect with the column codes (an English reader); the Swedish
# reader's semicolons, decimal commas and headers are tested in test_csv_dialects.py.
pytestmark = pytest.mark.usefixtures("english")

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
ATTACKS = ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1:A2)"]
# Full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20): spreadsheets with East Asian input
# normalise them and run the formula; Japanese and Chinese keyboards type them directly.
FULL_WIDTH_ATTACKS = ["＝cmd|' /C calc'!A0", "＋1", "－1", "＠SUM(A1:A2)"]
ATTACKS += FULL_WIDTH_ATTACKS


def observe(db, walk, description, lat=59.35512, lon=17.88234, category="lighting"):
    body = {
        "category": category,
        "description": description,
        "lat": lat,
        "lon": lon,
        "walk_id": walk["id"],
    }
    observation, _created = put_observation(
        db, str(uuid.uuid4()), validate(body, 2000, 12), walk=walk
    )
    return observation


@pytest.fixture
def exported(db, client):
    """A walk in Råcksta with observations whose texts try formula injection, and tasks."""
    login(client, make_user(db, "coordinator"))
    walk = make_walk(db, make_place(db), title="Kvällsvandring i Råcksta")
    party = insert_party(db, "Park- och naturförvaltningen Hässelby-Vällingby", "park")
    observations = [observe(db, walk, "Trasig lampa vid gångvägen, mörkt för åldringar")]
    observations += [observe(db, walk, attack) for attack in ATTACKS]
    observations.append(observe(db, walk, "Ingen position", lat=None, lon=None))
    actor = Actor((COORDINATOR,), None, "test")
    tasks = [
        insert_task(
            db,
            observation_ids=[observations[0]["id"]],
            measure="Byt armatur på gångvägen",
            party_id=party,
            suggestion={"party_id": party},
            due_date="2020-01-01",
            actor=actor,
        ),
        insert_task(
            db,
            observation_ids=[observations[1]["id"]],
            measure='=HYPERLINK("http://evil.example")',
            party_id=None,
            suggestion={"party_id": None},
            actor=actor,
        ),
    ]
    db.execute("UPDATE tasks SET state = 'sent' WHERE id = ?", [tasks[0]])
    return {"walk": walk, "party": party, "observations": observations, "tasks": tasks}


def read_csv(response) -> list[dict]:
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf"), "UTF-8 byte order mark first, for Excel"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_observation_csv_opens_with_the_csv_module_with_swedish_letters_and_iso_times(
    client, exported
):
    response = client.get("/dashboard/observations.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert list(rows[0]) == list(OBSERVATION_COLUMNS)
    assert len(rows) == len(exported["observations"])
    lamp = next(r for r in rows if r["id"] == exported["observations"][0]["id"])
    assert lamp["description"] == "Trasig lampa vid gångvägen, mörkt för åldringar"
    assert lamp["place"] == "Råcksta" and lamp["walk"] == "Kvällsvandring i Råcksta"
    assert lamp["category"] == "lighting" and lamp["category_label"]
    assert ISO_UTC.match(lamp["observed_at"]) and ISO_UTC.match(lamp["received_at"])
    assert lamp["observed_source"] in ("device", "photo", "received")
    assert float(lamp["lat"]) == 59.35512 and float(lamp["lon"]) == 17.88234
    assert lamp["task_ids"] == str(exported["tasks"][0])
    nowhere = next(r for r in rows if r["description"] == "Ingen position")
    assert nowhere["lat"] == "" and nowhere["lon"] == ""


def test_formula_injection_is_neutralised_in_every_text_cell(client, exported, db):
    # Capture trims what people type; a tab or carriage return first can still come from
    # elsewhere (an import, an edit), so those are written straight to the rows here.
    db.execute("UPDATE places SET name = ?", ["\tRåcksta"])
    db.execute("UPDATE walks SET title = ?", ["\r=1+1"])
    rows = read_csv(client.get("/dashboard/observations.csv"))
    descriptions = {r["description"] for r in rows}
    for attack in ATTACKS:
        assert "'" + attack in descriptions, attack
        assert attack not in descriptions
    assert {r["place"] for r in rows} == {"'\tRåcksta"}
    assert {r["walk"] for r in rows} == {"'\r=1+1"}
    tasks = read_csv(client.get("/dashboard/tasks.csv"))
    assert {t["measure"] for t in tasks} >= {'\'=HYPERLINK("http://evil.example")'}
    assert {t["place"] for t in tasks} == {"'\tRåcksta"}


@pytest.mark.parametrize("attack", FULL_WIDTH_ATTACKS)
def test_full_width_formula_starts_are_neutralised_in_python_and_in_sql(db, attack):
    assert neutralise(attack) == "'" + attack
    sql = f"SELECT {plain('text')} FROM (SELECT ? AS text)"  # noqa: S608 (a fixed column)
    (value,) = db.execute(sql, [attack]).fetchone()
    assert value == "'" + attack


def test_numbers_stay_numbers(client, exported):
    rows = read_csv(client.get("/dashboard/observations.csv"))
    for row in rows:
        if row["lat"]:
            assert re.fullmatch(r"\d+\.\d+", row["lat"]) and re.fullmatch(r"\d+\.\d+", row["lon"])
        assert row["works_well"] in ("0", "1") and row["urgent"] in ("0", "1")


def test_task_csv_has_party_state_due_date_and_its_observations(client, exported):
    rows = read_csv(client.get("/dashboard/tasks.csv"))
    assert list(rows[0]) == list(TASK_COLUMNS)
    first = next(r for r in rows if r["id"] == str(exported["tasks"][0]))
    assert first["party"] == "Park- och naturförvaltningen Hässelby-Vällingby"
    assert first["state"] == "sent" and first["state_label"]
    assert first["due_date"] == "2020-01-01" and first["overdue"] == "1"
    assert first["observation_ids"] == exported["observations"][0]["id"]
    assert ISO_UTC.match(first["created_at"]) and first["done_at"] == ""
    assert float(first["lat"]) == 59.35512


def test_exports_follow_the_dashboard_filters(client, exported, db):
    other = make_walk(db, make_place(db, slug="other", name="Annan plats"), title="Annan")
    observe(db, other, "Någon annanstans", category="graffiti")
    everything = read_csv(client.get("/dashboard/observations.csv"))
    walk_only = read_csv(client.get(f"/dashboard/observations.csv?walk={exported['walk']['id']}"))
    graffiti = read_csv(client.get("/dashboard/observations.csv?category=graffiti"))
    assert len(everything) == len(walk_only) + 1
    assert [r["description"] for r in graffiti] == ["Någon annanstans"]
    assert read_csv(client.get("/dashboard/tasks.csv?state=open&overdue=1"))[0]["id"] == str(
        exported["tasks"][0]
    )
    assert read_csv(client.get("/dashboard/tasks.csv?kind=observations")) == []


def test_observation_geojson_is_a_feature_collection_qgis_reads(client, exported):
    response = client.get("/dashboard/observations.geojson")
    assert response.mimetype == "application/geo+json"
    collection = json.loads(response.get_data())
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert len(features) == len(exported["observations"])
    by_id = {f["id"]: f for f in features}
    lamp = by_id[exported["observations"][0]["id"]]
    assert lamp["type"] == "Feature"
    assert lamp["geometry"] == {"type": "Point", "coordinates": [17.88234, 59.35512]}
    properties = lamp["properties"]
    assert properties["description"] == "Trasig lampa vid gångvägen, mörkt för åldringar"
    assert properties["place"] == "Råcksta" and properties["category"] == "lighting"
    assert properties["urgent"] is False and properties["works_well"] is False
    assert properties["task_ids"] == [exported["tasks"][0]]
    assert ISO_UTC.match(properties["observed_at"]) and ISO_UTC.match(properties["received_at"])
    nowhere = next(f for f in features if f["properties"]["description"] == "Ingen position")
    assert nowhere["geometry"] is None  # a Feature without a position, as RFC 7946 allows


def test_task_geojson_is_a_feature_collection_of_points(client, exported):
    collection = json.loads(client.get("/dashboard/tasks.geojson").get_data())
    assert collection["type"] == "FeatureCollection"
    first = next(f for f in collection["features"] if f["id"] == exported["tasks"][0])
    assert first["geometry"] == {"type": "Point", "coordinates": [17.88234, 59.35512]}
    assert first["properties"]["party"] == "Park- och naturförvaltningen Hässelby-Vällingby"
    assert first["properties"]["overdue"] is True
    assert first["properties"]["observation_ids"] == [exported["observations"][0]["id"]]


def test_empty_selection_is_still_valid_csv_and_geojson(client, exported):
    assert read_csv(client.get("/dashboard/observations.csv?category=people")) == []
    empty = json.loads(client.get("/dashboard/tasks.geojson?state=untasked").get_data())
    assert empty == {"type": "FeatureCollection", "features": []}


@pytest.mark.parametrize(
    "url",
    [
        "/dashboard/observations.csv",
        "/dashboard/tasks.csv",
        "/dashboard/observations.geojson",
        "/dashboard/tasks.geojson",
    ],
)
def test_every_export_is_streamed_not_built_in_memory(client, exported, url):
    response = client.get(url)
    assert response.status_code == 200
    assert response.is_streamed
    assert "Content-Length" not in response.headers
    chunks = list(response.response)
    assert len(chunks) >= 2  # the head, then the rows as they are read
    response.close()
