"""The coordinators' dashboard: each filter alone and together on a small district whose right
answers are written out below, the URL as the view, htmx fragments, the map agreeing with the
list, who may look, and bad filter values."""

import json
import re
import uuid

import pytest
from conftest import (
    PASSWORD,
    RACKSTA,
    csrf_token,
    join,
    login,
    make_place,
    make_user,
    make_walk,
)

from fieldwalk.auth import create_user
from fieldwalk.clock import now
from fieldwalk.dashboard import mapdata
from fieldwalk.dashboard.mapcells import CELL_PX, grid
from fieldwalk.dashboard.mapdata import FIT_PX, MAX_CELLS, View, grid_zoom
from fieldwalk.dashboard.views import PAGE_SIZE
from fieldwalk.observations.model import put_observation, validate
from fieldwalk.parties.model import insert_party
from fieldwalk.tasks.model import insert_task
from fieldwalk.tasks.states import COORDINATOR, STATES, Actor

VALLINGBY = {
    "type": "Polygon",
    "coordinates": [
        [[17.866, 59.361], [17.877, 59.361], [17.877, 59.365], [17.866, 59.365], [17.866, 59.361]]
    ],
}
IN_RACKSTA = (59.3550, 17.8820)
IN_VALLINGBY = (59.3630, 17.8700)
ACTOR = Actor((COORDINATOR,), None, "test")


def observe(db, position, at, *, walk=None, category="lighting", description="", **flags):
    """An observation through the domain function, then dated `at` (UTC)."""
    body = {
        "category": category,
        "description": description,
        "lat": position[0],
        "lon": position[1],
        "walk_id": walk["id"] if walk else None,
        **flags,
    }
    observation, _created = put_observation(
        db, str(uuid.uuid4()), validate(body, 2000, 12), walk=walk
    )
    db.execute(
        "UPDATE observations SET created_at = ?, observed_at = ? WHERE id = ?",
        [at, at, observation["id"]],
    )
    key = db.execute("SELECT rowid FROM observations WHERE id = ?", [observation["id"]])
    return {**observation, "created_at": at, "observed_at": at, "key": key.fetchone()[0]}


def plan(db, observation, at, *, state, party=None, due="2099-12-31", **values):
    """A task for an observation, then put in `state` and dated `at`."""
    task_id = insert_task(
        db,
        observation_ids=[observation["id"]],
        measure=values.pop("measure", "Åtgärda"),
        party_id=party,
        suggestion={"party_id": party},
        due_date=due,
        actor=ACTOR,
        **values,
    )
    db.execute("UPDATE tasks SET state = ?, created_at = ? WHERE id = ?", [state, at, task_id])
    return task_id


@pytest.fixture
def district(db):
    """Two places, one walk, two parties, five observations and three tasks.

    name  place      walk  category   flags       created (UTC)         task
    o1    Råcksta    W1    lighting   urgent      2025-03-02 10:00      t1 sent, P1, due 2020 (overdue), urgent
    o5    Råcksta    W1    lighting   works well  2025-03-02 11:00      -
    o2    Råcksta    -     vegetation             2025-03-31 21:30 (23:30 local, 31 March)  -
    o3    Vällingby  -     lighting               2025-03-31 22:30 (00:30 local, 1 April)   t2 done, P2
    o4    Vällingby  -     graffiti               2025-05-15 12:00      t3 proposed, no party
    """
    racksta = make_place(db)
    vallingby = make_place(db, slug="vallingby", name="Vällingby centrum", geometry=VALLINGBY)
    walk = make_walk(db, racksta)
    p1 = insert_party(db, "Trafikkontoret", "traffic")
    p2 = insert_party(db, "Svenska Bostäder", "property_owner")
    o = {
        "o1": observe(
            db,
            IN_RACKSTA,
            "2025-03-02T10:00:00Z",
            walk=walk,
            urgent=True,
            description="Trasig lampa i gångtunneln",
        ),
        "o5": observe(
            db,
            (59.3551, 17.8821),
            "2025-03-02T11:00:00Z",
            walk=walk,
            works_well=True,
            description="Nya belysningen är bra",
        ),
        "o2": observe(
            db,
            (59.3540, 17.8800),
            "2025-03-31T21:30:00Z",
            category="vegetation",
            description="Buskar skymmer sikten",
        ),
        "o3": observe(db, IN_VALLINGBY, "2025-03-31T22:30:00Z", description="Mörk gångväg"),
        "o4": observe(
            db,
            (59.3635, 17.8710),
            "2025-05-15T12:00:00Z",
            category="graffiti",
            description="Klotter",
        ),
    }
    t = {
        "t1": plan(
            db,
            o["o1"],
            "2025-03-03T09:00:00Z",
            state="sent",
            party=p1,
            due="2020-01-01",
            priority="urgent",
            measure="Byt lampa i tunneln",
        ),
        "t2": plan(
            db,
            o["o3"],
            "2025-04-02T09:00:00Z",
            state="done",
            party=p2,
            measure="Sätt upp belysning",
        ),
        "t3": plan(db, o["o4"], "2025-05-16T09:00:00Z", state="proposed", measure="Sanera"),
    }
    return {
        "racksta": racksta,
        "vallingby": vallingby,
        "walk": walk,
        "p1": p1,
        "p2": p2,
        "o": o,
        "t": t,
        "names": {
            **{("observation", obs["key"]): name for name, obs in o.items()},
            **{("task", task_id): name for name, task_id in t.items()},
        },
    }


@pytest.fixture
def coordinator(db, client):
    user = make_user(db, "coordinator")
    login(client, user)
    return user


ITEM = re.compile(r'data-kind="(observation|task)" data-key="(\d+)"')


def listed(client, district, query: str) -> list[str]:
    """The names of the items the dashboard lists for `query`, in the order shown."""
    response = client.get(f"/dashboard?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    return [district["names"][(kind, int(key))] for kind, key in ITEM.findall(html)]


def mapped(client, district, query: str) -> set[str]:
    """The names of the points map.json gives for `query`."""
    response = client.get(f"/dashboard/map.json?{query}")
    assert response.status_code == 200
    data = response.get_json()
    names = {district["names"][("observation", key)] for key in data["observations"]["id"]}
    return names | {district["names"][("task", key)] for key in data["tasks"]["id"]}


def query_for(district, query: str) -> str:
    return query.format(
        racksta=district["racksta"],
        vallingby=district["vallingby"],
        walk=district["walk"]["id"],
        p1=district["p1"],
        p2=district["p2"],
    )


CASES = [
    ("", {"o1", "o2", "o3", "o4", "o5", "t1", "t2", "t3"}),
    ("place={racksta}", {"o1", "o2", "o5", "t1"}),
    ("place={vallingby}", {"o3", "o4", "t2", "t3"}),
    ("walk={walk}", {"o1", "o5", "t1"}),
    ("category=lighting", {"o1", "o3", "o5", "t1", "t2"}),
    ("state=open", {"o1", "o4", "t1", "t3"}),
    ("state=done", {"o3", "t2"}),
    ("state=untasked", {"o2", "o5"}),
    ("party={p1}", {"o1", "t1"}),
    ("party=none", {"o4", "t3"}),
    ("overdue=1", {"o1", "t1"}),
    ("urgent=1", {"o1", "t1"}),
    ("from=2025-03-01&to=2025-03-31", {"o1", "o5", "o2", "t1"}),
    ("from=2025-04-01", {"o3", "o4", "t2", "t3"}),
    ("q=lampa", {"o1", "t1"}),
    ("q=BELYSNING", {"o5", "t2"}),
    ("kind=observations", {"o1", "o2", "o3", "o4", "o5"}),
    ("kind=tasks", {"t1", "t2", "t3"}),
    ("place={racksta}&category=lighting&state=open", {"o1", "t1"}),
    ("place={racksta}&category=lighting", {"o1", "o5", "t1"}),
    ("category=lighting&kind=tasks", {"t1", "t2"}),
    ("place={vallingby}&state=open&party=none", {"o4", "t3"}),
    ("urgent=1&kind=observations&from=2025-03-02&to=2025-03-02", {"o1"}),
    ("place={racksta}&party={p2}", set()),
    ("state=untasked&party={p1}", set()),
    ("place=999", set()),
]


@pytest.mark.parametrize("query, expected", CASES, ids=[c[0] or "no filter" for c in CASES])
def test_each_filter_alone_and_combined_lists_exactly_the_right_items(
    client, coordinator, district, query, expected
):
    assert set(listed(client, district, query_for(district, query))) == expected


@pytest.mark.parametrize("query, expected", CASES, ids=[c[0] or "no filter" for c in CASES])
def test_map_data_holds_the_same_points_as_the_list(client, coordinator, district, query, expected):
    assert mapped(client, district, query_for(district, query)) == expected


def test_list_is_newest_first_across_observations_and_tasks(client, coordinator, district):
    assert listed(client, district, "") == ["t3", "o4", "t2", "o3", "o2", "t1", "o5", "o1"]


def test_dates_are_local_days_in_stockholm(client, coordinator, district):
    """23:30 on 31 March in Stockholm is 31 March; 00:30 on 1 April is not, whatever UTC says."""
    assert set(listed(client, district, "to=2025-03-31&kind=observations")) == {"o1", "o2", "o5"}
    assert set(listed(client, district, "from=2025-04-01&to=2025-04-01")) == {"o3"}


def test_map_points_carry_position_category_and_flags(client, coordinator, district):
    data = client.get("/dashboard/map.json?place={}&kind=observations".format(district["racksta"]))
    data = data.get_json()
    o1 = district["o"]["o1"]
    i = data["observations"]["id"].index(o1["key"])
    assert data["observations"]["lat"][i] / data["scale"] == pytest.approx(o1["lat"], abs=1e-5)
    assert data["observations"]["lon"][i] / data["scale"] == pytest.approx(o1["lon"], abs=1e-5)
    code = data["observations"]["code"][i]
    assert data["categories"][code >> 2] == "lighting"
    assert code & 1 and not code & 2  # urgent, not "works well"
    t1 = district["t"]["t1"]
    tasks = client.get("/dashboard/map.json?kind=tasks").get_json()["tasks"]
    code = tasks["code"][tasks["id"].index(t1)]
    assert data["states"][code >> 2] == "sent" and code & 1 and code & 2  # urgent, overdue


def test_a_map_point_leads_to_its_observation(client, coordinator, district):
    o1 = district["o"]["o1"]
    response = client.get(f"/dashboard/observations/{o1['key']}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/observations/{o1['id']}")
    assert client.get("/dashboard/observations/999999").status_code == 404


def test_filters_in_the_url_reproduce_the_view(client, coordinator, district):
    """A shared link shows the same list, with the same choices made in the form."""
    query = "place={}&category=lighting&state=open".format(district["racksta"])
    html = client.get(f"/dashboard?{query}").get_data(as_text=True)
    assert re.search(rf'<option value="{district["racksta"]}" selected>', html)
    assert '<option value="lighting" selected>' in html
    assert '<option value="open" selected>' in html
    assert f'data-map-url="/dashboard/map.json?{query.replace("&", "&amp;")}"' in html
    assert f"/dashboard/observations.csv?{query.replace('&', '&amp;')}" in html
    assert set(listed(client, district, query)) == {"o1", "t1"}


def test_htmx_request_gets_the_list_alone_and_responses_vary_on_it(client, coordinator, district):
    page = client.get("/dashboard")
    fragment = client.get("/dashboard?category=lighting", headers={"HX-Request": "true"})
    assert "HX-Request" in page.headers["Vary"] and "HX-Request" in fragment.headers["Vary"]
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="dashboard-results"')
    assert "<html" not in html and 'id="dashboard-filters"' not in html
    assert "<html" in page.get_data(as_text=True)


def test_history_restore_gets_the_whole_page(client, coordinator, district):
    """Back with htmx's history cache off re-fetches the URL; it must come back whole."""
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    html = client.get("/dashboard?category=lighting", headers=headers).get_data(as_text=True)
    assert "<html" in html and 'id="dashboard-filters"' in html and 'id="dashboard-map"' in html


def test_list_pages_fifty_at_a_time_newest_first(client, coordinator, db):
    racksta = make_place(db)
    keys = [
        observe(db, IN_RACKSTA, f"2025-01-01T{i // 60:02d}:{i % 60:02d}:00Z")["key"]
        for i in range(PAGE_SIZE + 5)
    ]
    first = ITEM.findall(client.get(f"/dashboard?place={racksta}").get_data(as_text=True))
    second = client.get(f"/dashboard?place={racksta}&page=2").get_data(as_text=True)
    assert [int(k) for _kind, k in first] == keys[::-1][:PAGE_SIZE]
    assert [int(k) for _kind, k in ITEM.findall(second)] == keys[::-1][PAGE_SIZE:]
    older = re.search(r'rel="next" href="([^"]+)"', client.get(f"/dashboard?place={racksta}").text)
    assert older and f"place={racksta}" in older.group(1) and "page=2" in older.group(1)
    assert 'rel="prev"' in second and 'rel="next"' not in second


@pytest.mark.parametrize("role", ["coordinator", "admin", "walk_leader"])
def test_staff_may_look(client, db, district, role):
    login(client, make_user(db, role))
    assert client.get("/dashboard").status_code == 200
    assert client.get("/dashboard/map.json").status_code == 200
    assert client.get("/dashboard/observations.csv").status_code == 200


def test_only_coordinators_and_admins_get_the_duplicate_button(app, db, district):
    """Walk leaders read the dashboard; the one-click answer is for whoever runs triage."""
    plan(db, district["o"]["o2"], "2025-04-01T09:00:00Z", state="sent", party=district["p1"])
    observe(db, (59.3540, 17.8801), "2025-04-01T10:00:00Z", category="vegetation")
    leader, coordinator = app.test_client(), app.test_client()
    login(leader, make_user(db, "walk_leader"))
    login(coordinator, make_user(db, "coordinator"))
    html = leader.get("/dashboard?category=vegetation").get_data(as_text=True)
    assert 'class="duplicates"' in html and "/duplicate-of" not in html
    html = coordinator.get("/dashboard?category=vegetation").get_data(as_text=True)
    assert 'class="duplicates"' in html and "/duplicate-of" in html


@pytest.mark.parametrize(
    "url",
    [
        "/dashboard",
        "/dashboard/map.json",
        "/dashboard/observations.csv",
        "/dashboard/tasks.geojson",
    ],
)
def test_engineers_residents_and_strangers_are_refused(app, client, db, district, url):
    assert client.get(url).status_code in (302, 401)  # a stranger: to the login page
    join(client, district["walk"])  # a resident, by the invitation link
    assert client.get(url).status_code in (302, 401)
    party = insert_party(db, "Parkenheten", "park")
    create_user(db, "eva@example.se", "engineer", "Eva", PASSWORD, party_id=party)
    engineer = app.test_client()
    form = {"email": "eva@example.se", "password": PASSWORD}
    form["csrf_token"] = csrf_token(engineer, "/login")
    assert engineer.post("/login", data=form).status_code == 303
    assert engineer.get(url).status_code == 403


BAD = [
    "place=abc",
    "place=-1",
    "place=99999999999999999999999",
    "walk=1.5",
    "party=x",
    "category=weather",
    "state=lost",
    "kind=people",
    "overdue=maybe",
    "from=2025-13-01",
    "to=yesterday",
    "from=2025-04-02&to=2025-04-01",
    "q=" + "x" * 201,
    "q=%00",
    "page=0",
    "page=abc",
    "page=99999999999999999999",
]


@pytest.mark.parametrize("query", BAD)
def test_bad_filter_values_answer_400_with_a_message_never_500(
    client, coordinator, district, query
):
    page = client.get(f"/dashboard?{query}")
    assert page.status_code == 400
    assert 'role="alert"' in page.get_data(as_text=True)
    if not query.startswith("page="):
        data = client.get(f"/dashboard/map.json?{query}")
        assert data.status_code == 400 and data.get_json()["message"]
        assert client.get(f"/dashboard/observations.csv?{query}").status_code == 400


def test_a_bad_filter_is_left_out_and_the_good_ones_still_apply(client, coordinator, district):
    html = client.get("/dashboard?place={}&category=weather".format(district["racksta"])).get_data(
        as_text=True
    )
    assert re.findall(r'<li data-field="(\w+)"', html) == ["category"]
    found = {district["names"][(k, int(v))] for k, v in ITEM.findall(html)}
    assert found == {"o1", "o2", "o5", "t1"}


def test_empty_form_fields_mean_no_filter(client, coordinator, district):
    query = "place=&walk=&category=&state=&party=&kind=&from=&to=&q=&page="
    assert set(listed(client, district, query)) == set(district["names"].values())


def test_map_json_is_compact_json(client, coordinator, district):
    response = client.get("/dashboard/map.json")
    assert response.mimetype == "application/json"
    data = json.loads(response.get_data())
    assert set(data) == {
        *("scale", "categories", "states", "mode", "count", "extent"),
        *("observations", "tasks"),
    }
    assert data["mode"] == "points" and data["count"] == 8
    for kind in ("observations", "tasks"):
        lengths = {len(values) for values in data[kind].values()}
        assert len(lengths) == 1  # parallel arrays


def test_nav_links_to_the_dashboard_for_staff(client, coordinator):
    assert 'href="/dashboard"' in client.get("/dashboard").get_data(as_text=True)


def test_observation_without_position_is_listed_but_not_mapped(client, coordinator, db):
    racksta = make_place(db, geometry=RACKSTA)
    walk = make_walk(db, racksta)
    lost = observe(db, (None, None), "2025-06-01T10:00:00Z", walk=walk)
    html = client.get(f"/dashboard?walk={walk['id']}").get_data(as_text=True)
    assert f'data-key="{lost["key"]}"' in html
    assert (
        client.get(f"/dashboard/map.json?walk={walk['id']}").get_json()["observations"]["id"] == []
    )


def test_seed_load_fills_the_district_with_tasks_in_every_state(runner, db):
    """The benchmark's data: positions inside the places, walks on them, tasks in all states."""
    result = runner.invoke(args=["seed-load", "--observations", "3000", "--walks", "10"])
    assert result.exit_code == 0, result.output
    counts = {
        table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        for table in ("observations", "tasks", "walks", "task_observations", "places")
    }
    assert counts["observations"] == 3000 and counts["walks"] == 10
    assert counts["tasks"] == counts["task_observations"] == 900
    states = {row[0] for row in db.execute("SELECT DISTINCT state FROM tasks")}
    assert states == set(STATES)
    outside = db.execute(
        """SELECT count(*) FROM observations o JOIN places p ON p.id = o.place_id
           WHERE o.lat NOT BETWEEN p.min_lat AND p.max_lat
              OR o.lon NOT BETWEEN p.min_lon AND p.max_lon"""
    ).fetchone()[0]
    assert outside == 0
    assert db.execute("SELECT count(*) FROM tasks WHERE done_at > ?", [now()]).fetchone()[0] == 0
    # Every task has a case number, numbered per year without gaps in the order created.
    numbers = db.execute(
        """SELECT case_year, count(*), max(case_seq), count(DISTINCT case_seq) FROM tasks
           GROUP BY case_year"""
    ).fetchall()
    assert all(year and count == top == distinct for year, count, top, distinct in numbers)
    again = runner.invoke(args=["seed-load", "--observations", "10"])
    assert again.exit_code != 0 and "--append" in again.output  # never on top of real data


VALLINGBY_BOX = "17.860,59.360,17.880,59.366"


def test_many_points_come_as_clusters_counted_in_sql(app, client, coordinator, district):
    """Over the limit the answer is counts per grid cell; the counts add up to every point."""
    assert client.get("/dashboard/map.json").get_json()["mode"] == "points"
    app.config["MAP_POINTS_AT_MOST"] = 5
    data = client.get("/dashboard/map.json").get_json()
    assert data["mode"] == "clusters" and data["count"] == 8
    assert "observations" not in data and "tasks" not in data
    clusters = data["clusters"]
    assert len({len(values) for values in clusters.values()}) == 1  # parallel arrays
    assert sum(clusters["count"]) == 8 and sum(clusters["urgent"]) == 2  # o1 and t1
    # The district's two places are about a kilometre apart: two cells at least, each drawn
    # where its points are (between the extremes of the district's points).
    assert len(clusters["count"]) >= 2
    west, south, east, north = data["extent"]
    for lat, lon in zip(clusters["lat"], clusters["lon"], strict=True):
        assert south - 1e-5 <= lat / data["scale"] <= north + 1e-5
        assert west - 1e-5 <= lon / data["scale"] <= east + 1e-5
    # Zoomed right in on the spot, the cells are a few metres: each place splits.
    zoomed = client.get(f"/dashboard/map.json?bbox={VALLINGBY_BOX}&zoom=22").get_json()
    assert zoomed["mode"] == "points"  # 4 points in the box: under the limit
    app.config["MAP_POINTS_AT_MOST"] = 3
    zoomed = client.get(f"/dashboard/map.json?bbox={VALLINGBY_BOX}&zoom=22").get_json()
    assert zoomed["mode"] == "clusters" and sum(zoomed["clusters"]["count"]) == 4
    assert sorted(zoomed["clusters"]["count"]) == [2, 2]  # o3 with t2, o4 with t3: one spot each
    assert zoomed["count"] == 4
    assert zoomed["extent"] is None  # only without a box, where the map is fitted to it


def test_the_box_picks_what_can_be_seen(client, coordinator, district):
    assert mapped(client, district, f"bbox={VALLINGBY_BOX}&zoom=16") == {"o3", "o4", "t2", "t3"}
    assert mapped(client, district, "bbox=17.8,59.0,17.9,59.1&zoom=12") == set()
    everything = "bbox=-180,-90,180,90&zoom=10"
    assert mapped(client, district, everything) == set(district["names"].values())


def test_filters_still_apply_to_points_and_clusters(app, client, coordinator, district):
    query = f"bbox={VALLINGBY_BOX}&zoom=16&category=lighting"
    assert mapped(client, district, query) == {"o3", "t2"}
    app.config["MAP_POINTS_AT_MOST"] = 1
    data = client.get("/dashboard/map.json?category=lighting").get_json()
    assert data["mode"] == "clusters" and sum(data["clusters"]["count"]) == 5  # o1 o3 o5 t1 t2
    data = client.get(f"/dashboard/map.json?{query}").get_json()
    assert data["mode"] == "clusters" and sum(data["clusters"]["count"]) == 2
    urgent = client.get("/dashboard/map.json?urgent=1&kind=observations").get_json()
    assert urgent["count"] == 1 and urgent["mode"] == "points"


@pytest.mark.parametrize(
    "query",
    ["category=lighting", "state=open", "party={p1}", "overdue=1", "state=sent&category=lighting"],
)
def test_a_box_with_few_rows_checks_the_other_kind_row_by_row_with_the_same_answer(
    app, client, coordinator, district, query
):
    """A box holding few rows checks a filter on the other kind through each row's links
    (EXISTS) instead of listing the district's linked rows (IN): the points are the same."""
    query = f"bbox=-180,-90,180,90&zoom=10&{query_for(district, query)}"
    app.config["MAP_POINTS_AT_MOST"] = 100
    listed = mapped(client, district, query)
    assert listed
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mapdata, "NARROW_ROWS", 0)
        assert mapped(client, district, query) == listed


BAD_VIEWS = [
    "bbox=1,2,3",
    "bbox=a,b,c,d",
    "bbox=17.9,59.3,17.8,59.4",  # west after east
    "bbox=17.8,59.4,17.9,59.3",  # south after north
    "bbox=17.8,59.3,17.9,95",
    "bbox=nan,59.3,17.9,59.4",
    "bbox=1e999,59.3,17.9,59.4",
    "zoom=-1",
    "zoom=23",
    "zoom=1.5",
    "zoom=x",
    "zoom=" + "9" * 30,
]


@pytest.mark.parametrize("query", BAD_VIEWS)
def test_a_bad_box_or_zoom_is_a_400_in_swedish(client, coordinator, district, query):
    response = client.get(f"/dashboard/map.json?{query}")
    assert response.status_code == 400
    message = response.get_json()["message"]
    word = "Kartutsnitt" if query.startswith("bbox") else "Zoomnivå"
    assert message.startswith(f"{word}: ") and len(message) > len(word) + 10


def test_the_grid_never_has_more_cells_than_the_cap():
    """Whatever box and zoom are asked for, the cells over the box stay at most MAX_CELLS:
    the answer's size does not grow with the database."""
    for box, zoom in [
        ((-180.0, -90.0, 180.0, 90.0), 22),
        ((17.7, 59.2, 18.2, 59.5), 19),
        ((17.88, 59.35, 17.88, 59.35), 22),
        ((17.7, 59.2, 18.2, 59.5), None),
    ]:
        height, width = grid(grid_zoom(View(box, zoom), None))
        west, south, east, north = box
        assert ((east - west) / width + 2) * ((north - south) / height + 2) <= MAX_CELLS
    # Without a zoom, the grid is the one that draws the box about a screen across.
    height, width = grid(grid_zoom(View(None, None), (17.7, 59.2, 18.2, 59.5)))
    assert 0.5 / width == pytest.approx(FIT_PX / CELL_PX, rel=1)
