"""Places and zones are found through SQLite's R*Tree, kept equal to the tables by triggers,
and the answer is the one a scan of every polygon gives."""

import random

from fieldwalk import geo
from fieldwalk.parties.model import insert_party
from fieldwalk.places.model import insert_place, place_for_point, update_place
from fieldwalk.zones.model import delete_zone, insert_zone, update_zone, zones_at


def square(west: float, south: float, east: float, north: float) -> dict:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def triangle(west: float, south: float, east: float, north: float) -> dict:
    ring = [[west, south], [east, south], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def assert_tree_holds_the_boxes(db, table: str) -> None:
    rows = {r["id"]: r for r in db.execute(f"SELECT * FROM {table}")}  # noqa: S608
    tree = {r["id"]: r for r in db.execute(f"SELECT * FROM {table}_rtree")}  # noqa: S608
    assert set(tree) == set(rows)
    for key, row in rows.items():
        # 32-bit floats rounded outwards: the tree's box holds the table's.
        assert tree[key]["min_lat"] <= row["min_lat"] <= row["max_lat"] <= tree[key]["max_lat"]
        assert tree[key]["min_lon"] <= row["min_lon"] <= row["max_lon"] <= tree[key]["max_lon"]


def scan_place(db, lat: float, lon: float):
    """The smallest place holding the point, from every place: what the tree must agree with."""
    rows = db.execute("SELECT * FROM places ORDER BY id").fetchall()
    inside = [r for r in rows if geo.contains(geo.parse_polygon(r["geometry"]), lat, lon)]
    size = lambda r: (r["max_lat"] - r["min_lat"]) * (r["max_lon"] - r["min_lon"])  # noqa: E731
    return min(inside, key=size)["id"] if inside else None


def random_shape(rng: random.Random) -> dict:
    west, south = 17.8 + rng.random() * 0.2, 59.3 + rng.random() * 0.1
    width, height = rng.uniform(0.001, 0.08), rng.uniform(0.001, 0.04)
    shape = rng.choice([square, triangle])
    return shape(west, south, west + width, south + height)


def test_place_for_point_through_the_tree_agrees_with_a_scan_after_edits(db):
    rng = random.Random(3)
    ids = [insert_place(db, f"p{i}", f"Plats {i}", random_shape(rng)) for i in range(40)]
    for place_id in rng.sample(ids, 10):
        update_place(
            db, place_id, name="Ny", description="", kind="area", geometry=random_shape(rng)
        )
    for place_id in rng.sample(ids, 5):
        db.execute("DELETE FROM places WHERE id = ?", [place_id])
    assert_tree_holds_the_boxes(db, "places")
    found = 0
    for _i in range(400):
        lat, lon = 59.3 + rng.random() * 0.14, 17.8 + rng.random() * 0.28
        place = place_for_point(db, lat, lon)
        assert (place["id"] if place else None) == scan_place(db, lat, lon)
        found += place is not None
    assert 50 < found < 400  # the points fell inside and outside places


def test_zones_at_reads_the_tree_and_follows_insert_redraw_and_delete(db):
    party = insert_party(db, "Parkförvaltningen")
    big = insert_zone(db, party, "Stor", square(17.80, 59.30, 17.90, 59.40), "park")
    small = insert_zone(db, party, "Liten", square(17.85, 59.35, 17.86, 59.36), "park")
    assert [z.id for z in zones_at(db, 59.355, 17.855)] == [big, small]
    assert [z.id for z in zones_at(db, 59.31, 17.81)] == [big]
    update_zone(
        db,
        small,
        party_id=party,
        name="Flyttad",
        kind="park",
        geometry=square(17.81, 59.30, 17.82, 59.32),
    )
    assert [z.id for z in zones_at(db, 59.355, 17.855)] == [big]
    assert [z.id for z in zones_at(db, 59.31, 17.815)] == [big, small]
    delete_zone(db, big)
    assert [z.id for z in zones_at(db, 59.31, 17.815)] == [small]
    assert zones_at(db, 59.355, 17.855) == []
    assert_tree_holds_the_boxes(db, "zones")


def test_point_lookups_use_the_rtree_index(db):
    for table, alias in (("places", "places"), ("zones", "zones")):
        plan = " ".join(
            row[3]
            for row in db.execute(
                f"""EXPLAIN QUERY PLAN SELECT {alias}.* FROM {table}_rtree r
                    CROSS JOIN {table} ON {table}.id = r.id
                    WHERE r.min_lat <= 1 AND r.max_lat >= 1 AND r.min_lon <= 1
                      AND r.max_lon >= 1"""  # noqa: S608
            )
        )
        assert "VIRTUAL TABLE INDEX" in plan and f"SEARCH {table} USING INTEGER PRIMARY KEY" in plan
