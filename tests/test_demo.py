"""seed-demo: the Hässelby-Vällingby demo district, loaded only in demo mode and only once."""

import json
import stat
from datetime import date
from pathlib import Path

from conftest import login, make_user, photo_files
from conftest import seed_demo as seed

from fieldwalk import geo
from fieldwalk.categories import CATEGORIES

# Where the 2024 report (Dnr HV 2024/46) puts each place, roughly.
STATED = {
    "hasselby-strand": (59.361, 17.832),
    "hasselby-gard": (59.367, 17.844),
    "racksta": (59.355, 17.882),
    "vallingby-centrum": (59.363, 17.872),
    "lov3-hasselby-gards-torg": (59.367, 17.844),
    "lov3-vallingby-centrum": (59.363, 17.872),
    "lov3-akermyntans-centrum": (59.374, 17.812),
}


def table_counts(db) -> dict[str, int]:
    tables = [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {t: db.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0] for t in tables}  # noqa: S608


def test_refuses_unless_demo_mode_is_on(app, runner, db):
    """Without FIELDWALK_DEMO=true nothing is created and the reason is printed."""
    assert app.config["DEMO"] is False
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "FIELDWALK_DEMO=true" in result.output
    counts = table_counts(db)
    assert all(counts[t] == 0 for t in ("users", "places", "walks", "observations", "photos"))
    assert not (Path(app.instance_path) / "demo_logins.json").exists()
    assert photo_files(app) == set()


def test_creates_places_around_their_real_locations(app, runner, db):
    """Seven places, four areas and three LOV 3 areas, each a real polygon where it belongs."""
    seed(app, runner)
    places = {r["slug"]: dict(r) for r in db.execute("SELECT * FROM places")}
    assert set(places) == set(STATED)
    kinds = [p["kind"] for p in places.values()]
    assert kinds.count("area") == 4 and kinds.count("lov3") == 3
    for slug, (lat, lon) in STATED.items():
        place = places[slug]
        geometry = geo.parse_polygon(place["geometry"])
        ring = geometry["coordinates"][0]
        assert 6 <= len(ring) - 1 <= 10, slug
        assert geo.haversine_m(place["center_lat"], place["center_lon"], lat, lon) < 600, slug
        across = geo.haversine_m(
            place["min_lat"], place["min_lon"], place["max_lat"], place["max_lon"]
        )
        assert 200 < across < 1500, (slug, across)
        assert geo.contains(geometry, place["center_lat"], place["center_lon"]), slug
        assert place["description"] and place["name"]


def test_creates_demo_staff_one_per_role(app, runner, db):
    """A walk leader, a coordinator, an admin, an engineer and a partner (the police), all
    marked as demo users."""
    _, logins = seed(app, runner)
    users = [dict(r) for r in db.execute("SELECT * FROM users ORDER BY role")]
    assert sorted(u["role"] for u in users) == [
        "admin",
        "coordinator",
        "engineer",
        "partner",
        "walk_leader",
    ]
    assert all(u["is_demo"] == 1 for u in users)
    assert all(u["email"].endswith("@demo.fieldwalk.se") and u["name"] for u in users)
    assert {u["email"]: u["role"] for u in users} == {e: r for e, (r, _) in logins.items()}
    path = Path(app.instance_path) / "demo_logins.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = {e["email"]: e["password"] for e in json.loads(path.read_text())}
    assert stored == {e: p for e, (_, p) in logins.items()}


def test_creates_a_planned_and_a_finished_walk_with_observations_and_photos(app, runner, db):
    """The finished walk has participants, observations inside its place, and geotagged photos."""
    seed(app, runner)  # how long it takes is measured by bench/demo.py, not here

    walks = {r["state"]: dict(r) for r in db.execute("SELECT * FROM walks")}
    assert sorted(walks) == ["finished", "planned"]
    today = date.today().isoformat()
    assert walks["planned"]["starts_at"] > today > walks["finished"]["starts_at"]
    for walk in walks.values():
        place = dict(db.execute("SELECT * FROM places WHERE id = ?", [walk["place_id"]]).fetchone())
        geometry = json.loads(place["geometry"])
        route = geo.parse_line(walk["route"])
        assert all(geo.contains(geometry, lat, lon) for lon, lat in route["coordinates"])
        assert geo.contains(geometry, walk["meeting_lat"], walk["meeting_lon"])
        assert walk["invitation_text"] and walk["meeting_point"]

    finished = walks["finished"]
    participants = [
        dict(r)
        for r in db.execute("SELECT * FROM walk_participants WHERE walk_id = ?", [finished["id"]])
    ]
    assert 3 <= len(participants) <= 4
    assert {p["participant_role"] for p in participants} <= {
        "resident",
        "police",
        "property_owner",
        "staff",
    }
    assert all(p["display_name"] for p in participants)

    place = dict(db.execute("SELECT * FROM places WHERE id = ?", [finished["place_id"]]).fetchone())
    geometry = json.loads(place["geometry"])
    observations = [dict(r) for r in db.execute("SELECT * FROM observations")]
    assert 6 <= len(observations) <= 8
    assert {o["walk_id"] for o in observations} == {finished["id"]}
    assert {o["participant_id"] for o in observations} <= {p["id"] for p in participants}
    for o in observations:
        assert geo.contains(geometry, o["lat"], o["lon"]), o["description"]
        assert o["location_source"] == "device" and o["accuracy_m"] > 0
        assert o["category"] in CATEGORIES and 1 <= o["feeling"] <= 5
        assert o["distance_m"] == 0 and o["place_id"] == place["id"]
    assert sum(o["urgent"] for o in observations) >= 2
    assert sum(o["works_well"] for o in observations) >= 1

    photos = [dict(r) for r in db.execute("SELECT * FROM photos")]
    with_photos = {p["observation_id"] for p in photos}
    assert len(with_photos) > len(observations) / 2
    for o in observations:  # every declared photo arrived
        assert {p["id"] for p in photos if p["observation_id"] == o["id"]} == set(
            json.loads(o["photo_ids"])
        )
    root = Path(app.config["PHOTO_PATH"])
    for p in photos:
        assert (root / p["file"]).is_file() and (root / p["thumb_file"]).is_file()
        assert (p["width"], p["height"]) == (1600, 1200) and p["source_format"] == "jpeg"
        assert geo.contains(geometry, p["gps_lat"], p["gps_lon"])
        assert p["taken_at"][:10] == finished["starts_at"][:10]


def test_seeding_twice_changes_nothing(app, runner, db):
    """A second run adds no rows, writes no files and prints the same passwords."""
    _, first = seed(app, runner)
    counts, files = table_counts(db), photo_files(app)
    result, second = seed(app, runner)
    assert table_counts(db) == counts
    assert photo_files(app) == files
    assert second == first and len(first) == 5
    assert "(0 new rows)" in result.output


def test_printed_logins_work_on_the_login_form(app, runner):
    """Each printed email and password logs in through the real form (303)."""
    _, logins = seed(app, runner)
    assert len(logins) == 5
    for email, (role, password) in logins.items():
        login(app.test_client(), {"email": email, "password": password, "role": role})


def test_lost_logins_file_gives_new_passwords_that_work(app, runner):
    """Without the logins file, the demo users get the newly printed passwords."""
    _, first = seed(app, runner)
    (Path(app.instance_path) / "demo_logins.json").unlink()
    _, second = seed(app, runner)
    assert second.keys() == first.keys() and second != first
    for email, (role, password) in second.items():
        login(app.test_client(), {"email": email, "password": password, "role": role})


def test_refuses_to_take_over_a_real_account(app, runner, db):
    """A real user who holds a demo email is left alone, and the seed stops."""
    make_user(db, role="admin", email="admin@demo.fieldwalk.se")
    app.config["DEMO"] = True
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "real user" in result.output
    assert [tuple(r) for r in db.execute("SELECT email, is_demo FROM users")] == [
        ("admin@demo.fieldwalk.se", 0)
    ]


def test_demo_fixes_are_routed_by_the_demo_zones_and_the_engineer_has_a_party(app, runner, db):
    app.config["DEMO"] = True
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    # The walk's fixes (the weekly meetings' decisions are tasks too, without a walk).
    tasks = [dict(r) for r in db.execute("SELECT * FROM tasks WHERE walk_id IS NOT NULL")]
    assert len(tasks) == 6
    assert all(t["state"] == "proposed" and t["party_id"] for t in tasks)
    reasons = {json.loads(t["routing_reason"])["reason"] for t in tasks}
    assert reasons == {"zone"}
    engineer = db.execute("SELECT * FROM users WHERE role = 'engineer'").fetchone()
    party = db.execute("SELECT name FROM parties WHERE id = ?", [engineer["party_id"]]).fetchone()
    assert party["name"].startswith("Parkingenjörerna")
    assert db.execute("SELECT count(*) FROM zones").fetchone()[0] == 6
    total = db.execute("SELECT count(*) FROM tasks").fetchone()[0]
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == total, (
        "seeding twice adds none"
    )
