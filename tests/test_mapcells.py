"""The whole district's map from the fine grid of running counts (fieldwalk/dashboard/mapcells.py):
the cells equal a recount after every kind of write, and the map's clusters made from them
hold every point, where the points are, as the clusters made from the points do."""

import random
import uuid

import pytest
from conftest import login, make_user

from fieldwalk.dashboard.mapcells import FINE_DEGREES, LEVELS, MIN_RATIO, rebuild_map_cells


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


def test_whole_district_clusters_from_cells_hold_every_point_where_it_is(app, client, db, city):
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 50
    fast = client.get("/dashboard/map.json").get_json()
    # The same question with a filter that keeps every row is answered from the points.
    exact = client.get("/dashboard/map.json?from=2000-01-01").get_json()
    assert fast["mode"] == exact["mode"] == "clusters"
    assert fast["count"] == exact["count"] == 500
    assert fast["cell"] == exact["cell"] and fast["cell"][0] >= MIN_RATIO * FINE_DEGREES
    assert fast["extent"] == exact["extent"]
    for answer in (fast, exact):
        clusters = answer["clusters"]
        assert sum(clusters["count"]) == 500 and sum(clusters["urgent"]) == 40 + 25
        # Each cluster sits at the mean of its points: together, the mean of every point.
        scale = answer["scale"]
        mean_lat = sum(la * n for la, n in zip(clusters["lat"], clusters["count"], strict=True))
        assert mean_lat / 500 / scale == pytest.approx(sum(p[0] for p in city) / 500, abs=1e-5)
    # Cell by cell the two agree but for points within a fine cell of an edge.
    moved = sum(
        abs(a - b)
        for a, b in zip(
            sorted(fast["clusters"]["count"]), sorted(exact["clusters"]["count"]), strict=False
        )
    )
    assert abs(len(fast["clusters"]["count"]) - len(exact["clusters"]["count"])) <= 10
    assert moved <= 100


def test_filtered_maps_still_read_the_points(app, client, db, city):
    """Filters are answered from the rows: cells know neither category nor time."""
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 50
    db.execute("UPDATE map_cells SET n = n * 100")  # a wrong grid would show
    assert client.get("/dashboard/map.json").get_json()["count"] != 500
    assert client.get("/dashboard/map.json?category=lighting").get_json()["count"] == 400
    # A box at zoom 19 asks for a grid finer than the finest cells: the points answer.
    boxed = client.get("/dashboard/map.json?bbox=17.7,59.2,18.2,59.5&zoom=19").get_json()
    assert sum(boxed["clusters"]["count"]) == 500


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


@pytest.mark.parametrize("zoom", [14, 16, 18])
def test_a_box_of_the_unfiltered_map_is_clustered_from_the_cells_where_the_points_are(
    app, client, db, street, zoom
):
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 100
    box = "17.8090,59.3735,17.8160,59.3765"
    fast = client.get(f"/dashboard/map.json?bbox={box}&zoom={zoom}").get_json()
    # A filter that keeps every row makes the same question read every point.
    exact = client.get(f"/dashboard/map.json?bbox={box}&zoom={zoom}&from=2000-01-01").get_json()
    assert fast["mode"] == exact["mode"] == "clusters"
    assert fast["cell"] == exact["cell"]
    level = next(i for i, d in enumerate(LEVELS) if fast["cell"][0] >= MIN_RATIO * d)
    assert level == (0 if zoom < 16 else 1)
    for answer in (fast, exact):
        clusters = answer["clusters"]
        assert sum(clusters["count"]) == answer["count"] == 1200
        assert sum(clusters["urgent"]) == 100 + 50
        scale = answer["scale"]
        mean = sum(la * n for la, n in zip(clusters["lat"], clusters["count"], strict=True))
        assert mean / 1200 / scale == pytest.approx(sum(p[0] for p in street) / 1200, abs=1e-5)
    # Each cell goes whole to one cluster: at most a cell's points sit beside where they are.
    assert len(fast["clusters"]["count"]) == pytest.approx(len(exact["clusters"]["count"]), rel=0.3)
    # The cells read are the box's: a point outside it is not counted.
    add_observation(db, 59.3800, 17.8300)
    again = client.get(f"/dashboard/map.json?bbox={box}&zoom={zoom}").get_json()
    assert again["count"] == 1200


def test_a_box_with_few_points_sends_them_whole(app, client, db, street):
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 100
    answer = client.get("/dashboard/map.json?bbox=17.8100,59.3740,17.8105,59.3742&zoom=18")
    assert answer.get_json()["mode"] == "points"


def test_recount_rebuilds_the_map_cells(db, runner, city):
    db.execute("DELETE FROM map_cells WHERE kind = 1")
    result = runner.invoke(args=["recount"])
    assert result.exit_code == 0, result.output
    assert "map_cells: rebuilt" in result.output
    assert db.execute("SELECT sum(n) FROM map_cells WHERE kind < 2").fetchone()[0] == 500
