"""Made-up events: the demo district's year at its open drug scenes, and seed-load's bulk."""

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from conftest import seed_demo

from fieldwalk import geo
from fieldwalk.clock import now
from fieldwalk.devtools.demo import demo_uuid
from fieldwalk.devtools.loadgen import history_days

STOCKHOLM = ZoneInfo("Europe/Stockholm")
SCENES = ("hasselby-strand", "hasselby-gard", "racksta", "vallingby-centrum")


def test_demo_has_a_year_of_events_at_the_four_open_drug_scenes(app, runner, db):
    seed_demo(app, runner)
    rows = [
        dict(r)
        for r in db.execute(
            """SELECT events.*, places.slug, places.geometry FROM events
               JOIN places ON places.id = events.place_id"""
        )
    ]
    by_scene = {slug: [r for r in rows if r["slug"] == slug] for slug in SCENES}
    assert {r["slug"] for r in rows} == set(SCENES)
    today = datetime.now(UTC).astimezone(STOCKHOLM).date()
    for slug, events in by_scene.items():
        assert 300 < len(events) < 1500, slug
        months = {e["occurred_at"][:7] for e in events}
        assert len(months) >= 12, slug  # every month of the year
        oldest = min(e["occurred_at"] for e in events)
        assert oldest >= (today - timedelta(days=367)).isoformat(), slug
        assert {e["type"] for e in events} >= {"drug_dealing", "drug_use"}, slug
    assert max(r["occurred_at"] for r in rows) <= now()
    # Inside their place when they have a point; mostly in the evening and at night.
    for r in rows:
        if r["lat"] is not None:
            assert geo.contains(json.loads(r["geometry"]), r["lat"], r["lon"])
    hours = [
        datetime.fromisoformat(r["occurred_at"].replace("Z", "+00:00")).astimezone(STOCKHOLM).hour
        for r in rows
    ]
    assert sum(h >= 16 or h < 3 for h in hours) > 0.7 * len(hours)
    # The guards report most at the LOV 3 squares, the field workers at Råcksta.
    share = {
        slug: {s: sum(e["source"] == s for e in events) / len(events) for s in ("guards", "staff")}
        for slug, events in by_scene.items()
    }
    assert share["vallingby-centrum"]["guards"] > share["racksta"]["guards"]
    assert share["racksta"]["staff"] > share["vallingby-centrum"]["staff"]


def test_demo_clearing_maltesholmstorget_moved_the_scene_to_racksta(app, runner, db):
    """The spring operation: fewer events at Maltesholmstorget, more at Råcksta, than in the
    two months before it."""
    seed_demo(app, runner)
    today = datetime.now(UTC).astimezone(STOCKHOLM).date()

    def count(slug: str, first: int, last: int) -> int:
        """Events at a scene from `first` to `last` days before today."""
        return db.execute(
            """SELECT count(*) FROM events JOIN places ON places.id = events.place_id
               WHERE places.slug = ? AND occurred_at >= ? AND occurred_at < ?""",
            [
                slug,
                (today - timedelta(days=first)).isoformat(),
                (today - timedelta(days=last)).isoformat(),
            ],
        ).fetchone()[0]

    assert count("hasselby-strand", 230, 171) < 0.6 * count("hasselby-strand", 290, 231)
    assert count("racksta", 230, 171) > 1.5 * count("racksta", 290, 231)


def test_demo_events_point_at_the_walks_observations_and_seeding_again_adds_none(app, runner, db):
    seed_demo(app, runner)
    links = db.execute(
        "SELECT observation_id FROM event_links WHERE observation_id IS NOT NULL ORDER BY id"
    ).fetchall()
    assert [r[0] for r in links] == [
        demo_uuid("observation:bushes"),
        demo_uuid("observation:litter"),
    ]
    police = db.execute(
        """SELECT count(*) FROM events JOIN users ON users.id = events.created_by
           WHERE users.role = 'partner' AND events.source = 'police'"""
    ).fetchone()[0]
    assert police > 100  # the police enter their own events
    before = db.execute("SELECT count(*) FROM events").fetchone()[0]
    again, _logins = seed_demo(app, runner)
    assert "(0 new rows)" in again.output
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == before


def test_seed_load_adds_events_per_place_and_day(runner, db):
    result = runner.invoke(
        args=["seed-load", "--observations", "200", "--walks", "2", "--events-per-day", "1"]
    )
    assert result.exit_code == 0, result.output
    places = db.execute("SELECT count(*) FROM places").fetchone()[0]
    events = db.execute("SELECT count(*) FROM events").fetchone()[0]
    assert f"{events} events" in result.output
    days = history_days(200)  # seed-load's history grows with its observations
    assert 0.9 * days * places < events < 1.1 * days * places
    outside = db.execute(
        """SELECT count(*) FROM events e JOIN places p ON p.id = e.place_id
           WHERE e.lat IS NOT NULL AND (e.lat NOT BETWEEN p.min_lat AND p.max_lat
                                        OR e.lon NOT BETWEEN p.min_lon AND p.max_lon)"""
    ).fetchone()[0]
    assert outside == 0
    assert (
        db.execute("SELECT count(*) FROM events WHERE occurred_at > ?", [now()]).fetchone()[0] == 0
    )
    with_point = db.execute("SELECT count(*) FROM events WHERE lat IS NOT NULL").fetchone()[0]
    assert 0.4 * events < with_point < 0.6 * events
    assert db.execute("SELECT count(DISTINCT type) FROM events").fetchone()[0] == 7
