"""The map from the running counts per cell of each zoom's grid, of every row and of each facet
(fieldwalk/dashboard/mapcells.py): the cells, the links' copies and the counts across the links
equal a recount after every kind of write, the map's clusters made from them are the clusters
made from the points, and a box reads its own cells whatever else the database holds."""

import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import (
    build_once,
    city_point,
    login,
    make_place,
    make_user,
    restore,
    some_row,
    sqlite_steps,
)

from fieldwalk.dashboard import mapcells, mapdata
from fieldwalk.dashboard.filters import Filters
from fieldwalk.dashboard.mapcells import (
    EXTENT_LEVEL,
    LEVELS,
    clusters_from_cells,
    code,
    grid,
    rebuild_map_cells,
)
from fieldwalk.db import connect, transaction
from fieldwalk.migrations import migrations
from fieldwalk.parties.model import insert_party
from fieldwalk.tasks import untasked
from fieldwalk.tasks.untasked import UNTASKED


def cells(db) -> dict[tuple, tuple]:
    return {
        (r["kind"], r["cell"]): (
            r["n"],
            round(r["sum_lat"], 6),
            round(r["sum_lon"], 6),
            r["urgent"],
        )
        for r in db.execute("SELECT * FROM map_cells")
    }


def kept(db) -> tuple:
    """The cells, the counts across the links and by due day, and the links' copies,
    comparable."""
    return (
        cells(db),
        {
            tuple(r[:3]) + (round(r[3] or 0, 6), round(r[4] or 0, 6), *r[5:])
            for table in ("task_categories", "observation_states")
            for r in db.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608
        },
        set(
            db.execute(
                "SELECT task_id, observation_id, category, task_state, task_party"
                " FROM task_observations"
            )
        ),
        {
            (r[0], r[1], round(r[2] or 0, 6), round(r[3] or 0, 6), r[4], r[5])
            for r in db.execute("SELECT * FROM observation_due").fetchall()
        },
        {(r[0], r[1]): r[2] for r in db.execute("SELECT * FROM link_totals WHERE n != 0")},
        {(r[0], r[1]): r[2] for r in db.execute("SELECT * FROM due_totals WHERE n != 0")},
    )


def assert_cells_exact(db) -> None:
    before = kept(db)
    db.execute("BEGIN")
    rebuild_map_cells(db)
    after = kept(db)
    db.execute("ROLLBACK")
    assert after == before


def add_observation(db, lat, lon, urgent=False) -> str:
    observation_id = str(uuid.uuid4())
    db.execute(
        """INSERT INTO observations (id, category, urgent, lat, lon, body_hash, created_at,
               updated_at) VALUES (?, 'lighting', ?, ?, ?, 'x', '2026-11-02T10:00:00Z',
               '2026-11-02T10:00:00Z')""",
        [observation_id, int(urgent), lat, lon],
    )
    return observation_id


def add_task(db, lat, lon, priority="normal") -> int:
    return db.execute(
        """INSERT INTO tasks (measure, priority, lat, lon, created_at, updated_at)
           VALUES ('Åtgärd', ?, ?, ?, '2026-11-02T10:00:00Z', '2026-11-02T10:00:00Z')""",
        [priority, lat, lon],
    ).lastrowid


def inflate(db) -> None:
    """Make every cell hold 100 times its points, where they are: a map read from the cells
    shows it."""
    db.execute("UPDATE map_cells SET n = n * 100, sum_lat = sum_lat * 100, sum_lon = sum_lon * 100")


def test_cells_follow_every_write(db):
    """Rows, links, categories, states, places and positions change at random; after each
    round the cells and counts kept by the triggers equal a recount from the rows, and so
    do the observations without a task."""
    rng = random.Random(32)
    places = [make_place(db), make_place(db, "vallingby", "Vällingby"), None]
    categories, states = ["lighting", "vegetation", "graffiti"], ["proposed", "sent", "done"]
    parties = [insert_party(db, "Parkingenjörerna"), insert_party(db, "Trafikkontoret"), None]

    def some(table: str, key: str):
        return some_row(db, rng, table, key)

    def some_link():
        return some("task_observations", "rowid")

    seen = [0, 0, 0, 0]
    for _round in range(12):
        for _i in range(40):
            kind = rng.choice(
                ["o+", "o+", "t+", "t+", "link+", "link+", "link-", "relink", "o~", "t~",
                 "cat~", "state~", "place~", "party~", "due~", "when~", "o-", "t-", "nowhere"]
            )  # fmt: skip
            lat, lon = city_point(rng)
            task, observation = some("tasks", "id"), some("observations", "id")
            if rng.random() < 0.5:  # a linked pair: what the counts across the links hold
                task = some("task_observations", "task_id") or task
                observation = some("task_observations", "observation_id") or observation
            if kind == "o+":
                observation = add_observation(db, lat, lon, rng.random() < 0.3)
                db.execute(
                    "UPDATE observations SET category = ?, place_id = ? WHERE id = ?",
                    [rng.choice(categories), rng.choice(places), observation],
                )
            elif kind == "t+":
                task = add_task(db, lat, lon, rng.choice(["normal", "urgent"]))
                db.execute(
                    "UPDATE tasks SET state = ?, place_id = ?, due_date = ? WHERE id = ?",
                    [rng.choice(states), rng.choice(places), due(rng), task],
                )
            elif kind == "nowhere":
                add_observation(db, None, None)
            elif kind == "link+" and task and observation:
                db.execute(
                    "INSERT OR IGNORE INTO task_observations (task_id, observation_id)"
                    " VALUES (?, ?)",
                    [task, observation],
                )
            elif kind == "link-":
                db.execute("DELETE FROM task_observations WHERE rowid = ?", [some_link()])
            elif kind == "relink" and task and observation:
                column, value = rng.choice([("task_id", task), ("observation_id", observation)])
                db.execute(
                    f"UPDATE OR IGNORE task_observations SET {column} = ? WHERE rowid = ?",  # noqa: S608
                    [value, some_link()],
                )
            elif kind == "o~" and observation:
                column, value = rng.choice(
                    [("lat", lat), ("lon", lon), ("urgent", 1), ("lat", None),
                     ("works_well", rng.choice([0, 1]))]
                )  # fmt: skip
                db.execute(
                    f"UPDATE observations SET {column} = ? WHERE id = ?",  # noqa: S608
                    [value, observation],
                )
                db.execute("UPDATE observations SET lon = NULL WHERE lat IS NULL")
            elif kind == "t~" and task:
                column, value = rng.choice([("lat", lat), ("lon", lon), ("priority", "urgent")])
                db.execute(f"UPDATE tasks SET {column} = ? WHERE id = ?", [value, task])  # noqa: S608
            elif kind == "cat~" and observation:
                db.execute(
                    "UPDATE observations SET category = ? WHERE id = ?",
                    [rng.choice(categories), observation],
                )
            elif kind == "state~" and task:
                db.execute("UPDATE tasks SET state = ? WHERE id = ?", [rng.choice(states), task])
            elif kind == "due~" and task:
                db.execute("UPDATE tasks SET due_date = ? WHERE id = ?", [due(rng), task])
            elif kind == "party~" and task:
                db.execute(
                    "UPDATE tasks SET party_id = ? WHERE id = ?", [rng.choice(parties), task]
                )
            elif kind == "place~":
                table, key = rng.choice([("observations", observation), ("tasks", task)])
                db.execute(
                    f"UPDATE {table} SET place_id = ? WHERE id = ?",  # noqa: S608
                    [rng.choice(places), key],
                )
            elif kind == "when~":
                table, column, key = rng.choice(
                    [("observations", "observed_at", observation), ("tasks", "created_at", task)]
                )
                db.execute(
                    f"UPDATE {table} SET {column} = ? WHERE id = ?",  # noqa: S608
                    [moment(rng), key],
                )
            elif kind == "o-" and observation:
                db.execute("DELETE FROM observations WHERE id = ?", [observation])
            elif kind == "t-" and task:
                db.execute("DELETE FROM tasks WHERE id = ?", [task])
        assert_cells_exact(db)
        # Triage's observations without a task (tasks/untasked.py) follow the same writes.
        kept_untasked = {tuple(r) for r in db.execute("SELECT * FROM observation_untasked")}
        sql = f"SELECT o.id, o.observed_at FROM observations o WHERE {UNTASKED}"  # noqa: S608
        assert kept_untasked == {tuple(r) for r in db.execute(sql)}
        assert untasked.count(db) == len(kept_untasked)
        row = db.execute(
            """SELECT (SELECT count(*) FROM task_categories),
                      (SELECT count(*) FROM observation_states),
                      (SELECT count(DISTINCT kind / 64) FROM map_cells),
                      (SELECT count(*) FROM observation_due)"""
        ).fetchone()
        seen = [max(a, b) for a, b in zip(seen, row, strict=True)]
    # every kind of count was kept
    assert seen[0] >= 3 and seen[1] >= 3 and seen[2] > 8 and seen[3] >= 1, seen


def test_a_linked_row_moves_in_the_facets_it_has_through_its_links(db):
    """A task in a category's facet (through its link) and an observation in a state's move
    there when their position or urgency changes, and leave when the link goes."""
    observation, task = add_observation(db, 59.30, 17.90), add_task(db, 59.31, 17.91)
    db.execute("UPDATE tasks SET state = 'sent' WHERE id = ?", [task])
    db.execute(
        "INSERT INTO task_observations (task_id, observation_id) VALUES (?, ?)",
        [task, observation],
    )
    assert_cells_exact(db)
    # sent, open, tasked, no party
    assert db.execute("SELECT count(*) FROM observation_states").fetchone()[0] == 4
    for statement in (
        "UPDATE tasks SET lon = 17.95 WHERE id = ?",
        "UPDATE tasks SET lat = 59.35, priority = 'urgent' WHERE id = ?",
    ):
        db.execute(statement, [task])
        assert_cells_exact(db)
    for statement in (
        "UPDATE observations SET lon = 17.85 WHERE id = ?",
        "UPDATE observations SET lat = 59.28, urgent = 1 WHERE id = ?",
        "UPDATE observations SET category = 'graffiti' WHERE id = ?",
    ):
        db.execute(statement, [observation])
        assert_cells_exact(db)
    db.execute("UPDATE tasks SET state = 'done' WHERE id = ?", [task])
    assert_cells_exact(db)
    db.execute("UPDATE tasks SET party_id = ? WHERE id = ?", [insert_party(db, "Ägaren"), task])
    assert_cells_exact(db)
    db.execute("DELETE FROM task_observations WHERE task_id = ?", [task])
    assert_cells_exact(db)
    assert db.execute("SELECT count(*) FROM task_categories").fetchone()[0] == 0


def test_an_observation_is_due_when_its_first_open_task_is(db):
    """observation_due holds the earliest due date of an observation's open tasks, and
    follows links, states, due dates, moves and deletes (the cells with it)."""
    observation = add_observation(db, 59.30, 17.90)
    first, second = add_task(db, 59.31, 17.91), add_task(db, 59.32, 17.92)
    db.execute("UPDATE tasks SET due_date = '2026-03-01' WHERE id = ?", [first])
    db.execute("UPDATE tasks SET due_date = '2026-05-01', state = 'sent' WHERE id = ?", [second])

    def due() -> str | None:
        row = db.execute("SELECT due FROM observation_due WHERE observation_id = ?", [observation])
        found = row.fetchone()
        return found and found[0]

    for task in (second, first):
        db.execute(
            "INSERT INTO task_observations (task_id, observation_id) VALUES (?, ?)",
            [task, observation],
        )
    assert due() == "2026-03-01"
    steps = [
        ("UPDATE tasks SET state = 'done' WHERE id = ?", first, "2026-05-01"),
        ("UPDATE tasks SET due_date = '2026-02-01' WHERE id = ?", first, "2026-05-01"),
        ("UPDATE tasks SET state = 'accepted' WHERE id = ?", first, "2026-02-01"),
        ("UPDATE tasks SET due_date = NULL WHERE id = ?", first, "2026-05-01"),
        ("UPDATE observations SET lat = 59.28, urgent = 1 WHERE id = ?", observation, "2026-05-01"),
        (
            "UPDATE observations SET observed_at = '2026-01-02T08:00:00Z' WHERE id = ?",
            observation,
            "2026-05-01",
        ),  # copied, for the list of what is overdue (assert_cells_exact)
        ("DELETE FROM task_observations WHERE task_id = ?", second, None),
        ("UPDATE tasks SET due_date = '2026-04-01' WHERE id = ?", first, "2026-04-01"),
        (
            "UPDATE task_observations SET task_id = ? WHERE task_id = ?",
            (second, first),
            "2026-05-01",
        ),
        ("DELETE FROM tasks WHERE id = ?", second, None),
    ]
    for sql, params, expected in steps:
        db.execute(sql, list(params) if isinstance(params, tuple) else [params])
        assert due() == expected, sql
        assert_cells_exact(db)
    db.execute(
        "INSERT INTO task_observations (task_id, observation_id) VALUES (?, ?)",
        [first, observation],
    )
    assert due() == "2026-04-01"
    db.execute("DELETE FROM observations WHERE id = ?", [observation])
    assert due() is None
    assert_cells_exact(db)


@pytest.fixture
def city(db):
    """400 observations and 100 tasks spread over the city, some urgent."""
    with transaction(db):  # one commit, not one per row (the triggers run the same)
        rng = random.Random(7)
        points = []
        for i in range(400):
            lat, lon = city_point(rng)
            add_observation(db, lat, lon, urgent=i % 10 == 0)
            points.append((lat, lon))
        for i in range(100):
            lat, lon = city_point(rng)
            add_task(db, lat, lon, "urgent" if i % 4 == 0 else "normal")
            points.append((lat, lon))
    return points


def clusters(answer) -> list[tuple]:
    """An answer's clusters as (count, urgent, lat, lon), sorted."""
    c = answer["clusters"]
    return sorted(zip(c["count"], c["urgent"], c["lat"], c["lon"], strict=True))


def assert_same_clusters(fast, exact) -> None:
    """The same clusters, but for the last unit (1e-5 degree) of a mean summed in another
    order."""
    assert len(clusters(fast)) == len(clusters(exact))
    for a, b in zip(clusters(fast), clusters(exact), strict=True):
        assert a[:2] == b[:2] and abs(a[2] - b[2]) <= 1 and abs(a[3] - b[3]) <= 1


def assert_extent_within_a_cell(fast, exact) -> None:
    """Each end of the extent from the cells (their means at EXTENT_LEVEL) within a cell of
    that level of the points' own."""
    height, width = grid(EXTENT_LEVEL)
    for a, b, step in zip(fast["extent"], exact["extent"], [width, height] * 2, strict=True):
        assert abs(a - b) <= step


def test_whole_district_clusters_from_cells_are_the_clusters_of_the_points(app, client, db, city):
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 50
    fast = client.get("/dashboard/map.json").get_json()
    # The same question with a filter that keeps every row is answered from the points.
    exact = client.get("/dashboard/map.json?to=2100-12-31").get_json()
    assert fast["mode"] == exact["mode"] == "clusters"
    assert fast["count"] == exact["count"] == 500
    assert fast["cell"] == exact["cell"] and fast["extent"] == exact["extent"]
    assert sum(fast["clusters"]["count"]) == 500 and sum(fast["clusters"]["urgent"]) == 40 + 25
    assert_same_clusters(fast, exact)
    # Together the clusters sit at the mean of every point.
    c, scale = fast["clusters"], fast["scale"]
    mean_lat = sum(la * n for la, n in zip(c["lat"], c["count"], strict=True)) / 500 / scale
    assert mean_lat == pytest.approx(sum(p[0] for p in city) / 500, abs=1e-5)


def test_other_filters_still_read_the_points(app, client, db, city):
    """A filter the cells have no facet for (a date, two filters at once) is answered from
    the rows; one they have is answered from its cells."""
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 50
    inflate(db)
    assert client.get("/dashboard/map.json").get_json()["count"] != 500
    assert client.get("/dashboard/map.json?category=lighting").get_json()["count"] == 40000
    assert client.get("/dashboard/map.json?to=2100-12-31").get_json()["count"] == 500
    both = "/dashboard/map.json?category=lighting&state=proposed"
    assert client.get(both).get_json()["count"] == 0  # no links: no proposed lighting
    # Coarser than the first level's grid, its cells are grouped: every point, once.
    wide = client.get("/dashboard/map.json?bbox=16.0,58.0,20.0,61.0&zoom=7").get_json()
    assert wide["count"] == 50000 and wide["cell"] == list(grid(7))


def due(rng) -> str | None:
    """A due date within a year and a half of today either way, or none."""
    if rng.random() < 0.1:
        return None
    return (datetime.now(UTC).date() + timedelta(days=rng.randrange(-500, 500))).isoformat()


def moment(rng) -> str:
    """A UTC time in 2025 or 2026 up to now, some within an hour of a Stockholm midnight."""
    day = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(0, 700))
    return (day + timedelta(minutes=rng.choice([-61, -59, 1, rng.randrange(0, 1440)]))).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def fill_linked_city(db) -> list:
    """300 observations of three categories and 100 tasks in three states, in two places and
    none, 150 links between them, some urgent; the places."""
    with transaction(db):  # one commit, not one per row (the triggers run the same)
        rng = random.Random(11)
        places = [make_place(db), make_place(db, "vallingby", "Vällingby"), None]
        parties = [insert_party(db, "Parkingenjörerna"), insert_party(db, "Trafikkontoret"), None]
        observations, tasks = [], []
        for i in range(300):
            observation = add_observation(db, *city_point(rng), urgent=i % 7 == 0)
            db.execute(
                """UPDATE observations SET category = ?, place_id = ?, observed_at = ?
                   WHERE id = ?""",
                [rng.choice(["lighting", "graffiti", "paths"]), rng.choice(places), moment(rng),
                 observation],
            )  # fmt: skip
            observations.append(observation)
        for i in range(100):
            task = add_task(db, *city_point(rng), "urgent" if i % 5 == 0 else "normal")
            db.execute(
                """UPDATE tasks SET state = ?, place_id = ?, created_at = ?, party_id = ?, due_date = ?
                   WHERE id = ?""",
                [
                    rng.choice(["proposed", "sent", "done"]),
                    rng.choice(places),
                    moment(rng),
                    rng.choice(parties),
                    due(rng),
                    task,
                ],
            )
            tasks.append(task)
        for _i in range(150):
            db.execute(
                "INSERT OR IGNORE INTO task_observations (task_id, observation_id) VALUES (?, ?)",
                [rng.choice(tasks), rng.choice(observations)],
            )
    return places


@pytest.fixture(scope="module")
def linked_city_file(migrated, tmp_path_factory):
    return build_once(migrated, tmp_path_factory, fill_linked_city)


@pytest.fixture
def linked_city(db, linked_city_file):
    """The linked city (fill_linked_city) in the test's database; its places."""
    path, places = linked_city_file
    restore(db, path)
    return places


def linked_parties(db) -> list[int]:
    return [row[0] for row in db.execute("SELECT id FROM parties ORDER BY id")]


FACET_QUERIES = [
    "category=lighting",
    "category=graffiti&kind=tasks",
    "state=sent",
    "state=open",
    "state=done&kind=observations",
    "place={place}",
    "place={place}&kind=tasks",
    "state=untasked",
    "state=untasked&kind=observations",
    "party={party}",
    "party={party}&kind=observations",
    "party=none",
    "overdue=1",
    "overdue=1&kind=observations",
    "overdue=1&kind=tasks",
    "category=lighting&state=open",
    "category=graffiti&state=sent",
    "category=lighting&state=open&kind=tasks",
    "category=paths&state=proposed&kind=observations",
    "category=lighting&state=untasked",
    "place={place}&state=open",
    "place={place}&category=lighting",
    "place={place}&state=sent&kind=observations",
    "place={place}&category=graffiti&kind=tasks",
    "place={place}&state=untasked",
]


@pytest.mark.parametrize("query", FACET_QUERIES)
@pytest.mark.parametrize("zoom", [11, 14])
def test_a_map_filtered_by_a_facet_is_the_clusters_of_the_rows_it_keeps(
    app, client, db, linked_city, query, zoom
):
    """The same question with a filter that keeps every row besides is answered from the
    rows: the facet's cells give the same clusters, in a box and without one."""
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 10
    query = query.format(place=linked_city[0], party=linked_parties(db)[0])
    box = f"bbox=17.7,59.2,18.2,59.5&zoom={zoom}"
    fast = client.get(f"/dashboard/map.json?{query}&{box}").get_json()
    exact = client.get(f"/dashboard/map.json?{query}&{box}&to=2100-12-31").get_json()
    assert fast["mode"] == exact["mode"] == "clusters"
    assert fast["count"] == exact["count"] > 10
    assert_same_clusters(fast, exact)
    whole = client.get(f"/dashboard/map.json?{query}").get_json()
    rows = client.get(f"/dashboard/map.json?{query}&to=2100-12-31").get_json()
    assert whole["count"] == rows["count"] == exact["count"]
    # The facet's extent is its cells' means: within a cell of the points' own.
    assert_extent_within_a_cell(whole, rows)


@pytest.mark.parametrize("kind", ["all", "observations", "tasks"])
@pytest.mark.parametrize("box", [None, (17.7, 59.2, 18.2, 59.5)])
@pytest.mark.parametrize("backs", [(60, 60, 900), (5,)], ids=["years", "this month"])
def test_overdue_is_the_cells_of_its_due_years_months_and_days(db, linked_city, kind, box, backs):
    """On a day in the middle of a month, with tasks due around it and years before (or
    none due before this month's 10th): what is overdue from the cells of the whole years',
    this year's whole months' and this month's days before today equals the rows counted
    alone, in a box and without one."""
    rng = random.Random(5)
    today, tz = "2026-06-15", ZoneInfo("Europe/Stockholm")
    for (task,) in db.execute("SELECT id FROM tasks").fetchall():
        back = rng.choice(backs)
        day = date(2026, 6, 15) + timedelta(days=rng.randrange(-back, 20))
        db.execute("UPDATE tasks SET due_date = ? WHERE id = ?", [day.isoformat(), task])
    # Open tasks due on this month's first day, the day before today and today (not overdue).
    for day in ("2026-06-01", "2026-06-14", "2026-06-15")[len(backs) == 1 :]:
        db.execute(
            """UPDATE tasks SET due_date = ? WHERE id IN (SELECT id FROM tasks
                   WHERE state IN ('proposed', 'sent')
                   AND due_date NOT BETWEEN '2026-06-01' AND '2026-06-15' LIMIT 3)""",
            [day],
        )
    this_month = db.execute(
        """SELECT count(DISTINCT due_date) FROM tasks WHERE due_date IN
           ('2026-06-01', '2026-06-14', '2026-06-15') AND state IN ('proposed', 'sent')"""
    ).fetchone()[0]
    assert this_month == 3 - (len(backs) == 1)  # the days' part is tried at its ends
    view = mapdata.View(box=box, zoom=None if box is None else 12)
    f = Filters(overdue=True, kind=kind)
    answer = mapdata.map_answer(db, f, view, today, tz, 10)
    assert answer == mapdata._by_due_dates(db, f, view, today, 10)  # from the cells
    fast = json.loads(answer)
    rows = Filters(overdue=True, kind=kind, date_to=date(2100, 12, 31))
    exact = json.loads(mapdata.map_answer(db, rows, view, today, tz, 10))
    assert fast["mode"] == exact["mode"] == "clusters"
    assert fast["count"] == exact["count"] > 10
    assert_same_clusters(fast, exact)
    if box is None:
        assert_extent_within_a_cell(fast, exact)


def test_a_map_filtered_by_a_facet_reads_its_cells(app, client, db, linked_city):
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 10
    inflate(db)
    assert client.get("/dashboard/map.json?state=open").get_json()["count"] > 1000
    # Two filters the cells keep together.
    for pair in ("category=lighting&state=open", f"place={linked_city[0]}&state=open"):
        assert client.get(f"/dashboard/map.json?{pair}").get_json()["count"] > 1000
    # The cells of the years, months and days of what is overdue.
    assert client.get("/dashboard/map.json?overdue=1").get_json()["count"] > 1000
    # Every observation's cells less those of the observations with a task.
    assert client.get("/dashboard/map.json?state=untasked").get_json()["count"] > 1000
    box = "bbox=17.7,59.2,18.2,59.5&zoom=12"
    assert client.get(f"/dashboard/map.json?state=untasked&{box}").get_json()["count"] > 1000


def test_finer_than_the_last_level_the_points_answer(app, client, db, street):
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 100
    inflate(db)
    west, south, east, north = 17.8100, 59.3740, 17.8125, 59.3749
    inside = sum(south <= la <= north and west <= lo <= east for la, lo in street)
    answer = client.get(f"/dashboard/map.json?bbox={west},{south},{east},{north}&zoom=21")
    data = answer.get_json()
    assert data["mode"] == "clusters" and data["count"] == inside > 100
    assert data["cell"] == list(grid(LEVELS[-1] + 1))  # zoom 21 over this box: too many cells


@pytest.fixture
def street(db):
    """1,000 observations and 200 tasks in a 300 by 200 metre block, some urgent."""
    with transaction(db):  # one commit, not one per row (the triggers run the same)
        rng = random.Random(18)
        points = []
        for i in range(1200):
            lat, lon = 59.3740 + rng.random() * 0.0018, 17.8100 + rng.random() * 0.0050
            if i < 1000:
                add_observation(db, lat, lon, urgent=i % 10 == 0)
            else:
                add_task(db, lat, lon, "urgent" if i % 4 == 0 else "normal")
            points.append((lat, lon))
    return points


@pytest.mark.parametrize("zoom", [12, 14, 16, 18, 19])
def test_a_box_of_the_unfiltered_map_is_the_clusters_of_its_points(app, client, db, street, zoom):
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 100
    box = "17.8090,59.3735,17.8160,59.3765"
    fast = client.get(f"/dashboard/map.json?bbox={box}&zoom={zoom}").get_json()
    # A filter that keeps every row makes the same question read every point.
    exact = client.get(f"/dashboard/map.json?bbox={box}&zoom={zoom}&to=2100-12-31").get_json()
    assert fast["mode"] == exact["mode"] == "clusters"
    assert fast["cell"] == exact["cell"] == list(grid(zoom))
    assert fast["count"] == exact["count"] == 1200
    assert sum(fast["clusters"]["urgent"]) == 100 + 50
    assert_same_clusters(fast, exact)
    # The cells read are the box's: a point outside it is not counted.
    add_observation(db, 59.3800, 17.8300)
    again = client.get(f"/dashboard/map.json?bbox={box}&zoom={zoom}").get_json()
    assert again["count"] == 1200


def test_a_box_costs_its_own_cells_whatever_else_the_rows_hold(db, street):
    """The street at zoom 18 reads the same cells with 20,000 more observations to its east
    and west, in the same rows of the grid, and as many more elsewhere."""
    box = (17.8090, 59.3735, 17.8160, 59.3765)

    def read():
        return clusters_from_cells(db, ("observations", "tasks"), 18, 100_000, box)

    before, shown = sqlite_steps(db, read), read()
    rng = random.Random(3)
    db.execute("BEGIN")  # one transaction: the triggers run as on any insert
    for _i in range(10_000):
        lat = 59.3735 + rng.random() * 0.0030
        add_observation(db, lat, rng.choice([17.70, 17.95]) + rng.random() * 0.1)
        add_observation(db, 59.20 + rng.random() * 0.15, 18.0 + rng.random() * 0.2)
    db.execute("COMMIT")
    assert read() == shown
    assert sqlite_steps(db, read) <= before * 1.1 + 1


def test_a_box_with_few_points_sends_them_whole(app, client, db, street):
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 100
    answer = client.get("/dashboard/map.json?bbox=17.8100,59.3740,17.8105,59.3742&zoom=18")
    assert answer.get_json()["mode"] == "points"


@pytest.mark.parametrize(
    ("first", "added"),
    [
        (
            mapcells.due_year_facet(2000),
            {
                "tasks": (mapcells.TASK_DUE_YEAR,),
                "observation_due": (mapcells.OBSERVATION_DUE_YEAR,),
            },
        ),
        (
            mapcells.DUE_DAY_FACETS,
            {"tasks": (mapcells.TASK_DUE_DAY,), "observation_due": (mapcells.OBSERVATION_DUE_DAY,)},
        ),
    ],
    ids=["m057 due years", "m062 due days"],
)
def test_a_migration_adds_a_facets_cells_as_a_rebuild_would(db, linked_city, first, added):
    """A migration that adds facets (the years, the days open tasks are due on) counts only
    them: the cells and the triggers are then what building everything again gives, and stay
    so on writes."""
    db.execute("UPDATE tasks SET due_date = '2025-03-0' || (id % 9 + 1) WHERE id % 2 = 0")
    low = first * mapcells.FACET_STEP
    db.execute("DELETE FROM map_cells WHERE kind BETWEEN ? AND ?", [low, low + 10**6])
    assert mapcells.add_facets(db, added) > 0
    assert_cells_exact(db)
    db.execute("UPDATE tasks SET due_date = '2024-11-30', state = 'sent' WHERE id % 3 = 0")
    assert_cells_exact(db)


def test_recount_rebuilds_the_map_cells(db, runner, city):
    db.execute("DELETE FROM map_cells WHERE kind % 2 = 1")
    db.execute("DELETE FROM observation_untasked")
    result = runner.invoke(args=["recount"])
    assert result.exit_code == 0, result.output
    assert "map_cells: rebuilt" in result.output
    assert "observations without a task: rebuilt, 400 row(s)" in result.output
    assert db.execute("SELECT count(*) FROM observation_untasked").fetchone()[0] == 400
    for zoom in LEVELS:
        kinds = (code("observations", zoom), code("tasks", zoom))
        total = db.execute("SELECT sum(n) FROM map_cells WHERE kind IN (?, ?)", kinds)
        assert total.fetchone()[0] == 500


def test_a_filtered_map_without_a_box_is_the_points_grouped_on_the_grid_that_fits_them(
    app, client, db, street
):
    """Counted once on the finest grid and gathered into the one that fits the extent: the
    clusters are what grouping every point on that grid gives, here in Python."""
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 100
    answer = client.get("/dashboard/map.json?to=2100-12-31").get_json()
    lats, lons = [p[0] for p in street], [p[1] for p in street]
    assert answer["extent"] == [min(lons), min(lats), max(lons), max(lats)]
    height, width = answer["cell"]
    assert (height, width) in [grid(zoom) for zoom in range(10, 19)]
    grouped: dict[tuple, list] = {}
    for lat, lon in street:
        into = grouped.setdefault((int((lat + 90) / height), int((lon + 180) / width)), [])
        into.append((lat, lon))
    expected = sorted(
        (
            len(points),
            round(sum(p[0] for p in points) / len(points) * answer["scale"]),
            round(sum(p[1] for p in points) / len(points) * answer["scale"]),
        )
        for points in grouped.values()
    )
    c = answer["clusters"]
    got = sorted(zip(c["count"], c["lat"], c["lon"], strict=True))
    assert len(got) == len(expected) > 1
    for a, b in zip(got, expected, strict=True):
        assert a[0] == b[0] and abs(a[1] - b[1]) <= 1 and abs(a[2] - b[2]) <= 1


DATE_SPANS = [
    "from=2025-03-01&to=2025-08-31",
    "from=2025-03-15&to=2026-02-10",
    "from=2025-01-10",
    "from=2026-11-01",
    "from=2025-06-01&to=2025-06-30&kind=tasks",
    "from=2025-06-02&to=2026-07-01&kind=observations",
    "from=2025-03-15&to=2026-02-10&category=lighting",
    "from=2025-01-10&category=graffiti&kind=tasks",
    "from=2025-06-02&to=2026-07-01&category=paths&kind=observations",
]


@pytest.mark.parametrize("query", DATE_SPANS)
@pytest.mark.parametrize("box", [None, "bbox=17.7,59.2,18.2,59.5&zoom=12"])
def test_a_map_filtered_by_dates_is_the_clusters_of_the_rows_it_keeps(
    app, client, db, linked_city, query, box
):
    """Whole months from their facets' cells, the days at each end from the rows: the same
    clusters as counting every row the dates keep."""
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 10
    url = f"/dashboard/map.json?{query}" + (f"&{box}" if box else "")
    fast = client.get(url).get_json()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mapdata, "_month_span", lambda *_args: None)
        exact = client.get(url).get_json()
    assert fast["count"] == exact["count"]
    if fast["mode"] == "points":
        assert exact["mode"] == "points"
        return
    assert fast["cell"] == exact["cell"] or box is None
    if fast["cell"] == exact["cell"]:
        assert_same_clusters(fast, exact)
    if box is None:
        assert_extent_within_a_cell(fast, exact)


def test_a_map_filtered_by_dates_reads_the_months_cells(app, client, db, linked_city):
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 10
    inflate(db)
    assert client.get("/dashboard/map.json?from=2025-01-01").get_json()["count"] == 40000
    # With a category: the months' cells of that category.
    lighting = client.get("/dashboard/map.json?from=2025-01-01&category=lighting").get_json()
    assert lighting["count"] > 1000


@pytest.mark.parametrize(
    "stop",
    [
        "m050_map_month_categories",
        "m057_map_due_years",
        "m059_due_totals",
        "m060_observation_due_observed",
        "m062_map_due_days",
    ],
)
def test_an_older_database_upgrades_with_each_row_counted_once(tmp_path, stop):
    """Rows written by an older version (before the migrations that build the map's cells
    and totals and add to them), then every migration at once: the cells and totals are
    what a recount makes (m057 once counted its facets a second time after m050's build)."""
    db = connect(tmp_path / "old.db")
    with transaction(db):
        migrations.apply(db, stop_before=stop)
    rng = random.Random(3)
    observations = [add_observation(db, *city_point(rng), urgent=i % 3 == 0) for i in range(40)]
    for _i in range(20):
        task = add_task(db, *city_point(rng))
        db.execute(
            "UPDATE tasks SET state = ?, due_date = ? WHERE id = ?",
            [rng.choice(["sent", "proposed", "done"]), rng.choice([None, "2024-05-01", "2026-03-01"]),
             task],
        )  # fmt: skip
        db.execute(
            "INSERT OR IGNORE INTO task_observations (task_id, observation_id) VALUES (?, ?)",
            [task, rng.choice(observations)],
        )
    if stop == "m060_observation_due_observed":  # observation_due as it was before m060
        db.execute("DROP TRIGGER observations_due_observed")
        db.execute("DROP INDEX observation_due_observed")
        db.execute("ALTER TABLE observation_due DROP COLUMN observed")
    with transaction(db):
        migrations.apply(db)
    assert db.execute("SELECT count(*) FROM due_totals WHERE n > 0").fetchone()[0] >= 2
    assert db.execute("SELECT count(*) FROM observation_due WHERE observed IS NOT NULL").fetchone()[
        0
    ]
    assert_cells_exact(db)
    db.close()
