"""The unfiltered map from the running counts per cell of each zoom's grid
(fieldwalk/dashboard/mapcells.py): the cells equal a recount after every kind of write, the
map's clusters made from them are the clusters made from the points, and a box reads its own
cells whatever else the database holds."""

import random
import uuid

import pytest
from conftest import login, make_user, sqlite_steps

from fieldwalk.dashboard.mapcells import LEVELS, clusters_from_cells, code, grid, rebuild_map_cells


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


def assert_cells_exact(db) -> None:
    kept = cells(db)
    db.execute("BEGIN")
    rebuild_map_cells(db)
    assert cells(db) == kept
    db.execute("ROLLBACK")


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


def city_point(rng):
    return 59.25 + rng.random() * 0.15, 17.8 + rng.random() * 0.3


def inflate(db) -> None:
    """Make every cell hold 100 times its points, where they are: a map read from the cells
    shows it."""
    db.execute("UPDATE map_cells SET n = n * 100, sum_lat = sum_lat * 100, sum_lon = sum_lon * 100")


def test_cells_follow_every_write(db):
    rng = random.Random(32)
    for _i in range(200):
        kind = rng.choice(["o+", "o+", "t+", "o~", "t~", "o-", "t-", "nowhere"])
        lat, lon = city_point(rng)
        if kind == "o+":
            add_observation(db, lat, lon, rng.random() < 0.3)
        elif kind == "t+":
            add_task(db, lat, lon, rng.choice(["normal", "urgent"]))
        elif kind == "nowhere":
            add_observation(db, None, None)
        elif kind == "o~":
            column, value = rng.choice([("lat", lat), ("lon", lon), ("urgent", 1), ("lat", None)])
            db.execute(
                f"""UPDATE observations SET {column} = ?
                    WHERE rowid = (SELECT rowid FROM observations ORDER BY random() LIMIT 1)""",  # noqa: S608
                [value],
            )
            db.execute("UPDATE observations SET lon = NULL WHERE lat IS NULL")
            db.execute(
                "UPDATE observations SET lat = 59.3, lon = 17.9 WHERE lat IS NULL AND id LIKE 'a%'"
            )
        elif kind == "t~":
            column, value = rng.choice([("lat", lat), ("lon", lon), ("priority", "urgent")])
            db.execute(
                f"""UPDATE tasks SET {column} = ?
                    WHERE id = (SELECT id FROM tasks ORDER BY random() LIMIT 1)""",  # noqa: S608
                [value],
            )
        elif kind == "o-":
            db.execute(
                "DELETE FROM observations WHERE rowid = (SELECT rowid FROM observations LIMIT 1)"
            )
        else:
            db.execute("DELETE FROM tasks WHERE id = (SELECT id FROM tasks LIMIT 1)")
    assert_cells_exact(db)
    assert db.execute("SELECT count(*) FROM map_cells").fetchone()[0] > 20


@pytest.fixture
def city(db):
    """400 observations and 100 tasks spread over the city, some urgent."""
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


def test_whole_district_clusters_from_cells_are_the_clusters_of_the_points(app, client, db, city):
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 50
    fast = client.get("/dashboard/map.json").get_json()
    # The same question with a filter that keeps every row is answered from the points.
    exact = client.get("/dashboard/map.json?from=2000-01-01").get_json()
    assert fast["mode"] == exact["mode"] == "clusters"
    assert fast["count"] == exact["count"] == 500
    assert fast["cell"] == exact["cell"] and fast["extent"] == exact["extent"]
    assert sum(fast["clusters"]["count"]) == 500 and sum(fast["clusters"]["urgent"]) == 40 + 25
    assert_same_clusters(fast, exact)
    # Together the clusters sit at the mean of every point.
    c, scale = fast["clusters"], fast["scale"]
    mean_lat = sum(la * n for la, n in zip(c["lat"], c["count"], strict=True)) / 500 / scale
    assert mean_lat == pytest.approx(sum(p[0] for p in city) / 500, abs=1e-5)


def test_filtered_maps_still_read_the_points(app, client, db, city):
    """Filters are answered from the rows: cells know neither category nor time."""
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 50
    inflate(db)
    assert client.get("/dashboard/map.json").get_json()["count"] != 500
    assert client.get("/dashboard/map.json?category=lighting").get_json()["count"] == 400
    # Coarser than the first level's grid, its cells are grouped: every point, once.
    wide = client.get("/dashboard/map.json?bbox=16.0,58.0,20.0,61.0&zoom=7").get_json()
    assert wide["count"] == 50000 and wide["cell"] == list(grid(7))


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
    exact = client.get(f"/dashboard/map.json?bbox={box}&zoom={zoom}&from=2000-01-01").get_json()
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
    for _i in range(10_000):
        lat = 59.3735 + rng.random() * 0.0030
        add_observation(db, lat, rng.choice([17.70, 17.95]) + rng.random() * 0.1)
        add_observation(db, 59.20 + rng.random() * 0.15, 18.0 + rng.random() * 0.2)
    assert read() == shown
    assert sqlite_steps(db, read) <= before * 1.1 + 1


def test_a_box_with_few_points_sends_them_whole(app, client, db, street):
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 100
    answer = client.get("/dashboard/map.json?bbox=17.8100,59.3740,17.8105,59.3742&zoom=18")
    assert answer.get_json()["mode"] == "points"


def test_recount_rebuilds_the_map_cells(db, runner, city):
    db.execute("DELETE FROM map_cells WHERE kind % 2 = 1")
    result = runner.invoke(args=["recount"])
    assert result.exit_code == 0, result.output
    assert "map_cells: rebuilt" in result.output
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
    answer = client.get("/dashboard/map.json?from=2000-01-01").get_json()
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
