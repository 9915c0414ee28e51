"""Place pages: tasks per party, the median days from observation to done, the trend by month,
and adding and redrawing places (valid and invalid polygons, roles, CSRF)."""

import json
import re
import statistics
import uuid
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from conftest import RACKSTA, login, make_place, make_staff, make_walk

from fieldwalk.parties.model import insert_party
from fieldwalk.places.model import get_place
from fieldwalk.places.summary import monthly_trend, party_task_summary

EN = {"Accept-Language": "en"}
STOCKHOLM = ZoneInfo("Europe/Stockholm")

HASSELBY = {
    "type": "Polygon",
    "coordinates": [
        [[17.840, 59.365], [17.848, 59.365], [17.848, 59.370], [17.840, 59.370], [17.840, 59.365]]
    ],
}


def add_observation(db, place_id, created_at) -> str:
    observation_id = str(uuid.uuid4())
    db.execute(
        """INSERT INTO observations (id, place_id, category, body_hash, created_at, updated_at)
           VALUES (?, ?, 'lighting', 'test', ?, ?)""",
        [observation_id, place_id, created_at, created_at],
    )
    return observation_id


def add_task(db, place_id, party_id, state, observations, done_at=None) -> int:
    task_id = db.execute(
        """INSERT INTO tasks (place_id, party_id, measure, state, created_at, updated_at, done_at)
           VALUES (?, ?, 'Åtgärda', ?, '2026-09-01T00:00:00Z', '2026-09-01T00:00:00Z', ?)""",
        [place_id, party_id, state, done_at],
    ).lastrowid
    for observation_id in observations:
        db.execute(
            "INSERT INTO task_observations (task_id, observation_id) VALUES (?, ?)",
            [task_id, observation_id],
        )
    return task_id


@pytest.fixture
def place_with_tasks(db):
    """Råcksta with tasks for two parties and one in triage; Hässelby with a task that must
    not count. Observation times in UTC; the comments give the days to done."""
    place = make_place(db)
    other = make_place(db, "hasselby", "Hässelby", HASSELBY)
    traffic = insert_party(db, "Trafikkontoret", "traffic")
    housing = insert_party(db, "Svenska Bostäder", "property_owner")
    o = {n: add_observation(db, place, t) for n, t in [
        ("o1", "2026-10-01T08:00:00Z"), ("o2", "2026-10-02T12:00:00Z"),
        ("o3", "2026-10-01T12:00:00Z"), ("o4", "2026-10-05T00:00:00Z"),
        ("o5", "2026-10-20T00:00:00Z"), ("o6", "2026-09-01T00:00:00Z"),
        ("o7", "2026-10-10T00:00:00Z"),
        ("o8", "2026-10-31T23:30:00Z"),  # 1 November 00:30 in Stockholm (CET)
        ("o9", "2026-09-30T22:30:00Z"),  # 1 October 00:30 in Stockholm (CEST)
    ]}  # fmt: skip
    # Trafikkontoret: 3.0 days; 9.5 days from o3, its earliest observation; 1.25 days; one
    # open; 7 days for a verified task (done_at kept).
    add_task(db, place, traffic, "done", [o["o1"]], "2026-10-04T08:00:00Z")
    add_task(db, place, traffic, "done", [o["o2"], o["o3"]], "2026-10-11T00:00:00Z")
    add_task(db, place, traffic, "done", [o["o4"]], "2026-10-06T06:00:00Z")
    add_task(db, place, traffic, "sent", [o["o5"]])
    add_task(db, place, traffic, "verified", [o["o6"]], "2026-09-08T00:00:00Z")
    # Svenska Bostäder: 2.5 days; one answered "not ours"; one that will not be fixed.
    add_task(db, place, housing, "done", [o["o7"]], "2026-10-12T12:00:00Z")
    add_task(db, place, housing, "not_ours", [o["o7"]])
    add_task(db, place, housing, "wont_fix", [o["o7"]])
    # No party yet: in triage.
    add_task(db, place, None, "proposed", [o["o5"]])
    # Another place's task for Trafikkontoret: 100 days, must not move the median.
    far = add_observation(db, other, "2026-01-01T00:00:00Z")
    add_task(db, other, traffic, "done", [far], "2026-04-11T00:00:00Z")
    return {"place": place, "traffic": traffic, "housing": housing}


def test_tasks_per_party_and_median_days_to_done_match_the_hand_count(db, place_with_tasks):
    summary = {row["party_id"]: row for row in party_task_summary(db, place_with_tasks["place"])}
    traffic = summary[place_with_tasks["traffic"]]
    assert (traffic["open"], traffic["not_ours"], traffic["closed"]) == (1, 0, 4)
    assert traffic["median_days"] == statistics.median([3.0, 9.5, 1.25, 7.0]) == 5.0
    assert traffic["done_count"] == 4
    housing = summary[place_with_tasks["housing"]]
    assert (housing["open"], housing["not_ours"], housing["closed"]) == (0, 1, 2)
    assert housing["median_days"] == 2.5
    triage = summary[None]
    assert (triage["open"], triage["closed"], triage["median_days"]) == (1, 0, None)
    assert list(summary) == [place_with_tasks["housing"], place_with_tasks["traffic"], None]


def test_trend_counts_months_in_stockholm_time(db, place_with_tasks):
    trend = monthly_trend(db, place_with_tasks["place"], date(2026, 11, 28), STOCKHOLM)
    assert trend["months"][0] == date(2025, 12, 1) and trend["months"][-1] == date(2026, 11, 1)
    by_month = dict(
        zip(trend["months"], zip(trend["observations"], trend["done"], strict=True), strict=True)
    )
    # September: o6 (o9 is already 1 October in Stockholm); done: the verified task.
    assert by_month[date(2026, 9, 1)] == (1, 1)
    # October: o1-o5, o7, o9; done: 4, 11, 6 and 12 October.
    assert by_month[date(2026, 10, 1)] == (7, 4)
    # November: o8 (31 October 23:30 UTC).
    assert by_month[date(2026, 11, 1)] == (1, 0)
    assert sum(trend["observations"]) == 9


def test_place_page_shows_polygon_walks_tasks_per_party_and_trend(client, db, place_with_tasks):
    place_id = place_with_tasks["place"]
    make_walk(db, place_id, title="Höstvandring i Råcksta")
    login(client, make_staff(db, "coordinator"))
    html = client.get(f"/places/{place_id}", headers=EN).get_data(as_text=True)
    assert 'id="place-map"' in html and "data-place=" in html and "17.876" in html
    assert "Höstvandring i Råcksta" in html
    row = re.search(
        rf'<tr data-party="{place_with_tasks["traffic"]}">(.*?)</tr>', html, re.S
    ).group(1)
    cells = [
        " ".join(re.sub(r"<[^>]+>", " ", c).split())
        for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    ]
    assert cells == ["1", "0", "4", "5.0 (4 tasks)"]
    assert "No party yet (triage)" in html
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart"' in html
    assert '<th scope="row">2026-10</th><td>7</td><td>4</td>' in html.replace("\n", "")


def test_the_place_list_counts_each_places_open_tasks(client, db, place_with_tasks):
    """From the running totals: proposed, sent, accepted and in progress count; done, not
    ours and the rest do not; another place's tasks are its own."""
    login(client, make_staff(db, "coordinator"))
    html = client.get("/places", headers=EN).get_data(as_text=True)
    counts = re.findall(r"(\d+) open tasks?", html)
    names = re.findall(r'<a href="/places/\d+">([^<]+)</a>', html)
    assert dict(zip(names, counts, strict=True)) == {"Hässelby": "0", "Råcksta": "2"}


def test_walk_leaders_see_places_but_cannot_add_or_redraw_them(client, db):
    place_id = make_place(db)
    token = login(client, make_staff(db, "walk_leader"))
    assert client.get("/places").status_code == 200
    assert client.get(f"/places/{place_id}").status_code == 200
    assert client.get("/places/new").status_code == 403
    assert client.get(f"/places/{place_id}/edit").status_code == 403
    form = {"csrf_token": token, "name": "Nytt", "kind": "area", "geometry": json.dumps(HASSELBY)}
    assert client.post("/places/new", data=form).status_code == 403
    assert client.post(f"/places/{place_id}/edit", data=form).status_code == 403


def test_engineers_and_anonymous_visitors_are_refused(client, db):
    place_id = make_place(db)
    response = client.get(f"/places/{place_id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    login(client, make_staff(db, "engineer"))
    assert client.get("/places").status_code == 403
    assert client.get(f"/places/{place_id}").status_code == 403


def test_unknown_place_is_404(client, db):
    login(client, make_staff(db, "coordinator"))
    assert client.get("/places/999").status_code == 404
    assert client.get(f"/places/{2**63}").status_code == 404


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_coordinator_adds_a_place_with_bbox_centre_and_slug(client, db, role):
    token = login(client, make_staff(db, role))
    assert client.get("/places/new").status_code == 200
    response = client.post(
        "/places/new",
        data={
            "csrf_token": token,
            "name": "Hässelby gård",
            "kind": "area",
            "description": "Torget",
            "geometry": json.dumps({"type": "Feature", "geometry": HASSELBY, "properties": {}}),
        },
    )
    assert response.status_code == 303
    place_id = int(response.headers["Location"].rsplit("/", 1)[1])
    place = get_place(db, place_id)
    assert place["slug"] == "hasselby-gard"
    assert json.loads(place["geometry"]) == HASSELBY
    assert (place["min_lat"], place["min_lon"], place["max_lat"], place["max_lon"]) == (
        59.365,
        17.840,
        59.370,
        17.848,
    )
    assert place["center_lat"] == pytest.approx(59.3675)
    assert place["center_lon"] == pytest.approx(17.844)
    audit = db.execute("SELECT action FROM audit_log WHERE entity = 'place'").fetchall()
    assert [r[0] for r in audit] == ["create"]


def test_a_second_place_of_the_same_name_gets_its_own_slug(client, db):
    make_place(db, "racksta", "Råcksta")
    token = login(client, make_staff(db, "coordinator"))
    data = {"csrf_token": token, "name": "Råcksta", "kind": "lov3", "geometry": json.dumps(RACKSTA)}
    response = client.post("/places/new", data=data)
    assert response.status_code == 303
    slugs = [r[0] for r in db.execute("SELECT slug FROM places ORDER BY id")]
    assert slugs == ["racksta", "racksta-2"]


def test_coordinator_redraws_a_place_and_its_bbox_and_centre_follow(client, db):
    place_id = make_place(db)
    token = login(client, make_staff(db, "coordinator"))
    edit_page = client.get(f"/places/{place_id}/edit").get_data(as_text=True)
    assert "17.876" in edit_page  # the current polygon, ready to edit
    response = client.post(
        f"/places/{place_id}/edit",
        data={
            "csrf_token": token,
            "name": "Råcksta torg",
            "kind": "area",
            "geometry": json.dumps(HASSELBY),
        },
    )
    assert response.status_code == 303
    place = get_place(db, place_id)
    assert place["name"] == "Råcksta torg" and place["slug"] == "racksta"
    assert (place["min_lat"], place["max_lon"]) == (59.365, 17.848)
    assert place["center_lat"] == pytest.approx(59.3675)
    detail = db.execute(
        "SELECT detail FROM audit_log WHERE entity = 'place' AND action = 'update'"
    ).fetchone()[0]
    assert json.loads(detail)["before"] == RACKSTA


UNCLOSED = {"type": "Polygon", "coordinates": [[[17.8, 59.3], [17.9, 59.3], [17.9, 59.4]]]}
OUT_OF_RANGE = {
    "type": "Polygon",
    "coordinates": [[[17.8, 99], [17.9, 59], [17.9, 60], [17.8, 99]]],
}
FLAT = {
    "type": "Polygon",
    "coordinates": [[[17.8, 59.3], [17.9, 59.3], [17.85, 59.3], [17.8, 59.3]]],
}
LINE = {"type": "LineString", "coordinates": [[17.8, 59.3], [17.9, 59.4]]}


@pytest.mark.parametrize(
    "geometry",
    [
        "not json",
        json.dumps(LINE),
        json.dumps(UNCLOSED),
        json.dumps(OUT_OF_RANGE),
        json.dumps(FLAT),
        json.dumps({"type": "Polygon", "coordinates": [[["a", "b"], [1, 2], [3, 4], ["a", "b"]]]}),
        json.dumps([1, 2, 3]),
        json.dumps({"type": "Polygon", "coordinates": 5}),
    ],
    ids=["text", "line", "unclosed", "out-of-range", "no-area", "strings", "array", "number"],
)
def test_invalid_polygons_are_refused_with_400_and_a_message(client, db, geometry):
    place_id = make_place(db)
    token = login(client, make_staff(db, "coordinator"))
    data = {"csrf_token": token, "name": "Fel", "kind": "area", "geometry": geometry}
    for url in ("/places/new", f"/places/{place_id}/edit"):
        response = client.post(url, data=data, headers=EN)
        assert response.status_code == 400, url
        assert "The polygon could not be read. Draw the place again." in response.get_data(
            as_text=True
        )
    assert db.execute("SELECT count(*) FROM places").fetchone()[0] == 1
    assert json.loads(get_place(db, place_id)["geometry"]) == RACKSTA


def test_a_place_without_a_polygon_asks_for_one(client, db):
    token = login(client, make_staff(db, "coordinator"))
    response = client.post(
        "/places/new",
        data={"csrf_token": token, "name": "Tomt", "kind": "area", "geometry": ""},
        headers=EN,
    )
    assert response.status_code == 400
    assert "Draw the place on the map." in response.get_data(as_text=True)


def test_adding_or_redrawing_a_place_without_a_csrf_token_is_refused(client, db):
    place_id = make_place(db)
    login(client, make_staff(db, "coordinator"))
    data = {"name": "Utan token", "kind": "area", "geometry": json.dumps(HASSELBY)}
    assert client.post("/places/new", data=data).status_code == 400
    assert client.post(f"/places/{place_id}/edit", data=data).status_code == 400
    assert client.post("/places/new", data={**data, "csrf_token": "forged"}).status_code == 400
    assert db.execute("SELECT count(*) FROM places").fetchone()[0] == 1
    assert get_place(db, place_id)["name"] == "Råcksta"
