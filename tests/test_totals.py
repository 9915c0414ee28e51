"""The reports' running totals equal a recount from the raw rows after every kind of write.

The expected totals are counted here in Python, with zoneinfo's Stockholm time, from the raw
rows: so the triggers' SQL (its own DST rule) and `recount` are both checked against an
independent count, after hand-built sequences through the domain functions and a randomised
sequence of raw writes (insert, edit of every counted column, re-route, delete, restore).
"""

import random
import re
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from conftest import login, make_event, make_place, make_staff, some_row

from fieldwalk.clock import STOCKHOLM
from fieldwalk.devtools.loadgen import history_days
from fieldwalk.events.model import insert_event
from fieldwalk.observations.model import put_observation, set_time_from_photo, validate
from fieldwalk.parties.model import insert_party
from fieldwalk.reports.figures import count_by_period, period_figures, week_report
from fieldwalk.reports.periods import Period, local_midnight, month_periods, week_period
from fieldwalk.reports.totals import (
    event_counts,
    observation_counts,
    recount,
    snapshot,
    spans_of,
    task_counts,
    task_states,
)
from fieldwalk.tasks.model import insert_task, transition
from fieldwalk.tasks.states import COORDINATOR, OPEN_STATES, Actor

COORD = Actor((COORDINATOR,), None, "test")
OTHER = {
    "type": "Polygon",
    "coordinates": [
        [[17.809, 59.372], [17.815, 59.372], [17.815, 59.375], [17.809, 59.375], [17.809, 59.372]]
    ],
}


def _buckets(at: str | None) -> list[tuple[str, str]]:
    if at is None:
        return []
    local = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(STOCKHOLM).date()
    monday = local - timedelta(days=local.weekday())
    return [("week", monday.isoformat()), ("month", local.replace(day=1).isoformat())]


def _local_day(at: str) -> date:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(STOCKHOLM).date()


def _overdue_steps(t) -> list[tuple[str, int]]:
    """A task's steps in the overdue count: +1 from the first day it is overdue at midnight
    (opened before, due before), -1 from the day after it was done; none while never."""
    if t["due_date"] is None or t["created_at"] is None:
        return []
    first = max(date.fromisoformat(t["due_date"]), _local_day(t["created_at"])) + timedelta(days=1)
    if t["state"] in OPEN_STATES:
        return [(first.isoformat(), 1)]
    if t["done_at"] is not None and first <= _local_day(t["done_at"]):
        after = _local_day(t["done_at"]) + timedelta(days=1)
        return [(first.isoformat(), 1), (after.isoformat(), -1)]
    return []


def _open_steps(t) -> list[tuple[str, int]]:
    """A task's steps in the open count: +1 from the day after it was opened, -1 from the day
    after it was done; for good while never done and open now; none when closed undated."""
    if t["created_at"] is None:
        return []
    opened = _local_day(t["created_at"]) + timedelta(days=1)
    if t["done_at"] is None:
        return [(opened.isoformat(), 1)] if t["state"] in OPEN_STATES else []
    done = _local_day(t["done_at"]) + timedelta(days=1)
    return [(opened.isoformat(), 1), (done.isoformat(), -1)] if opened <= done else []


def expected(db) -> dict[str, set[tuple]]:
    """Every totals table as it should be, counted from the raw rows in Python."""
    counted: dict[str, dict[tuple, list[int]]] = {
        "observation_totals": {},
        "event_totals": {},
        "task_totals": {},
        "task_state_totals": {},
        "overdue_deltas": {},
        "open_deltas": {},
    }

    def add(table, key, values):
        entry = counted[table].setdefault(key, [0] * len(values))
        for i, v in enumerate(values):
            entry[i] += v

    for o in db.execute("SELECT * FROM observations"):
        for span, starts in _buckets(o["observed_at"]):
            key = (span, starts, o["place_id"] or 0, o["category"])
            feeling = o["feeling"]
            add(
                "observation_totals",
                key,
                [1, int(bool(o["works_well"])), int(bool(o["urgent"])),
                 int(feeling is not None), feeling or 0],
            )  # fmt: skip
    for e in db.execute("SELECT * FROM events"):
        for span, starts in _buckets(e["occurred_at"]):
            add("event_totals", (span, starts, e["place_id"] or 0, e["type"], e["source"]), [1])
    for t in db.execute("SELECT * FROM tasks"):
        urgent = int(t["priority"] == "urgent")
        for measure, at in (("opened", t["created_at"]), ("done", t["done_at"])):
            for span, starts in _buckets(at):
                add("task_totals", (span, starts, t["place_id"] or 0, measure), [1, urgent])
        add("task_state_totals", (t["place_id"] or 0, t["party_id"] or 0, t["state"]), [1])
        for day, delta in _overdue_steps(t):
            add("overdue_deltas", (t["place_id"] or 0, day), [delta])
        for day, delta in _open_steps(t):
            add("open_deltas", (t["place_id"] or 0, day), [delta])
    for table in ("overdue_deltas", "open_deltas"):
        counted[table] = {k: v for k, v in counted[table].items() if v[0]}
    return {
        table: {(*key, *values) for key, values in rows.items()} for table, rows in counted.items()
    }


def assert_exact(db):
    """The kept totals equal the independent count, and `recount` rebuilds the same."""
    kept = snapshot(db)
    assert kept == expected(db)
    db.execute("BEGIN")
    recount(db)
    assert snapshot(db) == kept
    db.execute("ROLLBACK")


def clean_observation(app, **body):
    with app.test_request_context():
        return validate({"category": "lighting", **body}, 2000, 10)


@pytest.fixture
def places(db):
    return make_place(db), make_place(db, "vallingby", "Vällingby", OTHER)


def test_stockholm_weeks_in_sql_match_zoneinfo_across_both_dst_changes(db):
    """The triggers' SQL Stockholm time puts the hours around each change where zoneinfo does."""
    place = make_place(db)
    # Every hour that is Sunday or a month's last day in UTC but may be the next week or
    # month in Stockholm (22:00Z is 00:00 in summer, 23:00 in winter), 2024 to 2027.
    moments = []
    day = date(2024, 1, 1)
    while day < date(2028, 1, 1):
        if day.weekday() == 6 or (day + timedelta(days=1)).day == 1:
            moments += [datetime.combine(day, time(h, 30), UTC) for h in (21, 22, 23)]
        day += timedelta(days=1)
    for moment in moments:
        make_event(db, place, occurred_at=moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert_exact(db)


def test_domain_writes_edits_reroutes_and_deletes_keep_the_totals_exact(app, db, places):
    racksta, vallingby = places
    parks = insert_party(db, "Parkförvaltningen")
    traffic = insert_party(db, "Trafikkontoret")
    # An observation through the one path (outside a walk: its place by its position).
    first, _ = put_observation(
        db, str(uuid.uuid4()), clean_observation(app, lat=59.355, lon=17.882), walk=None
    )
    outside, _ = put_observation(
        db,
        str(uuid.uuid4()),
        clean_observation(app, lat=59.0, lon=18.5, urgent=True, category="graffiti"),
        walk=None,
    )
    assert_exact(db)
    # Dated later by its photo: moves to the photo's week.
    set_time_from_photo(db, first, (datetime.now(UTC) - timedelta(days=20)).isoformat())
    assert (
        db.execute(
            "SELECT observed_source FROM observations WHERE id = ?", [first["id"]]
        ).fetchone()[0]
        == "photo"
    )
    assert_exact(db)
    task = insert_task(
        db,
        observation_ids=[first["id"]],
        measure="Byt lampan",
        party_id=parks,
        suggestion={"party_id": parks},
        priority="urgent",
        actor=COORD,
        place_id=racksta,
    )
    assert_exact(db)
    changed = transition(db, task, "send", COORD, version=1)
    changed = transition(db, task, "not_ours", COORD, version=changed["version"], note="Inte vår")
    assert_exact(db)
    changed = transition(
        db, task, "reroute", COORD, version=changed["version"], party_id=traffic, note="Gatan"
    )
    assert task_states(db, racksta) == {traffic: {"proposed": 1}}
    changed = transition(db, task, "send", COORD, version=changed["version"])
    changed = transition(db, task, "done", COORD, version=changed["version"], note="Klart")
    assert_exact(db)
    changed = transition(db, task, "reopen", COORD, version=changed["version"], note="Trasig igen")
    assert_exact(db)
    insert_event(
        db,
        occurred_at="2026-03-29T00:30:00Z",
        type="violence",
        source="police",
        lat=59.355,
        lon=17.882,
    )
    make_event(db, vallingby, occurred_at="2026-10-25T00:59:59Z", type="vandalism")
    assert_exact(db)
    # Edits of every counted column, a move to another place and out of every place.
    for sql, params in (
        ("UPDATE observations SET category = 'vegetation' WHERE id = ?", [first["id"]]),
        ("UPDATE observations SET works_well = 1, urgent = 1 WHERE id = ?", [first["id"]]),
        ("UPDATE observations SET place_id = ? WHERE id = ?", [vallingby, first["id"]]),
        ("UPDATE observations SET place_id = NULL WHERE id = ?", [first["id"]]),
        ("UPDATE observations SET place_id = ? WHERE id = ?", [racksta, outside["id"]]),
        ("UPDATE events SET place_id = ?, type = 'littering' WHERE place_id IS NULL", [vallingby]),
        ("UPDATE tasks SET place_id = ?, priority = 'normal' WHERE id = ?", [vallingby, task]),
    ):
        db.execute(sql, params)
        assert_exact(db)
    # Delete, and restore the same row.
    row = dict(db.execute("SELECT * FROM observations WHERE id = ?", [outside["id"]]).fetchone())
    db.execute("DELETE FROM observations WHERE id = ?", [outside["id"]])
    assert_exact(db)
    db["observations"].insert(row)
    assert_exact(db)
    db.execute("DELETE FROM task_observations")
    db.execute("DELETE FROM tasks")
    db.execute("DELETE FROM event_links")
    db.execute("DELETE FROM events")
    db.execute("DELETE FROM observations WHERE id != ?", [outside["id"]])
    assert_exact(db)
    assert snapshot(db)["task_totals"] == set()


def test_a_random_sequence_of_writes_keeps_the_totals_exact(db, places):
    rng = random.Random(18)
    place_ids = [*places, None]
    categories = ["lighting", "graffiti", "vegetation", "other"]
    start = datetime(2025, 3, 20, tzinfo=UTC)

    def moment():
        return (start + timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60, 7))).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )

    deleted: list[dict] = []
    for step in range(300):
        kind = rng.choice(["obs+", "obs+", "obs~", "obs-", "restore", "ev+", "ev~", "ev-",
                           "task+", "task~", "task-"])  # fmt: skip
        if kind == "obs+":
            at = moment()
            db.execute(
                """INSERT INTO observations (id, place_id, category, urgent, works_well,
                       body_hash, created_at, updated_at, observed_at, feeling)
                   VALUES (?, ?, ?, ?, ?, 'x', ?, ?, ?, ?)""",
                [str(uuid.uuid4()), rng.choice(place_ids), rng.choice(categories),
                 rng.random() < 0.2, rng.random() < 0.2, at, at,
                 rng.choice([at, moment(), None]), rng.choice([None, 1, 2, 3, 4, 5])],
            )  # fmt: skip
        elif kind == "obs~":
            column, value = rng.choice(
                [("observed_at", moment()), ("place_id", rng.choice(place_ids)),
                 ("category", rng.choice(categories)), ("urgent", rng.random() < 0.5),
                 ("works_well", rng.random() < 0.5), ("description", "ändrad"),
                 ("feeling", rng.choice([None, 1, 5]))]
            )  # fmt: skip
            db.execute(
                f"""UPDATE observations SET {column} = ?
                    WHERE rowid = ?""",  # noqa: S608 - a column of the list above
                [value, some_row(db, rng, "observations")],
            )
        elif kind == "obs-":
            row = db.execute(
                "SELECT * FROM observations WHERE rowid = ?", [some_row(db, rng, "observations")]
            ).fetchone()
            if row:
                deleted.append(dict(row))
                db.execute("DELETE FROM observations WHERE id = ?", [row["id"]])
        elif kind == "restore" and deleted:
            db["observations"].insert(deleted.pop(rng.randrange(len(deleted))))
        elif kind == "ev+":
            db.execute(
                """INSERT INTO events (occurred_at, place_id, lat, lon, type, source, created_at)
                   VALUES (?, ?, 59.3, 17.9, ?, ?, ?)""",
                [moment(), rng.choice(place_ids), rng.choice(["violence", "vandalism"]),
                 rng.choice(["police", "public"]), moment()],
            )  # fmt: skip
        elif kind == "ev~":
            column, value = rng.choice(
                [("occurred_at", moment()), ("place_id", rng.choice(place_ids)),
                 ("type", "littering"), ("source", "staff")]
            )  # fmt: skip
            db.execute(
                f"""UPDATE events SET {column} = ?
                    WHERE id = ?""",  # noqa: S608 - a column of the list above
                [value, some_row(db, rng, "events", "id")],
            )
        elif kind == "ev-":
            db.execute("DELETE FROM events WHERE id = ?", [some_row(db, rng, "events", "id")])
        elif kind == "task+":
            at = moment()
            db.execute(
                """INSERT INTO tasks (place_id, measure, state, priority, created_at, updated_at,
                       done_at, party_id, due_date) VALUES (?, 'Åtgärd', ?, ?, ?, ?, ?, NULL, ?)""",
                [rng.choice(place_ids), rng.choice(["proposed", "sent", "done"]),
                 rng.choice(["normal", "urgent"]), at, at, rng.choice([None, moment()]),
                 rng.choice([None, moment()[:10], moment()[:10]])],
            )  # fmt: skip
        elif kind == "task~":
            column, value = rng.choice(
                [("created_at", moment()), ("done_at", rng.choice([None, moment()])),
                 ("place_id", rng.choice(place_ids)), ("priority", "urgent"),
                 ("state", rng.choice(["sent", "done", "not_ours", "accepted"])),
                 ("measure", "Ny"), ("due_date", rng.choice([None, moment()[:10]]))]
            )  # fmt: skip
            db.execute(
                f"""UPDATE tasks SET {column} = ?
                    WHERE id = ?""",  # noqa: S608 - a column of the list above
                [value, some_row(db, rng, "tasks", "id")],
            )
        elif kind == "task-":
            db.execute("DELETE FROM tasks WHERE id = ?", [some_row(db, rng, "tasks", "id")])
        if step % 10 == 0:
            assert snapshot(db) == expected(db), f"after step {step} ({kind})"
    assert_exact(db)
    assert len(snapshot(db)["observation_totals"]) > 20  # the sequence did write


def test_reports_read_the_totals_and_say_what_a_raw_count_says(db, places):
    """Week figures and monthly counts from the totals equal the raw rows' count."""
    racksta, _ = places
    for day in range(0, 60, 3):
        at = (datetime(2026, 10, 1, 12, tzinfo=UTC) + timedelta(days=day)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        db.execute(
            """INSERT INTO observations (id, place_id, category, urgent, body_hash, created_at,
                   updated_at) VALUES (?, ?, 'lighting', ?, 'x', ?, ?)""",
            [str(uuid.uuid4()), racksta, day % 2, at, at],
        )
        make_event(db, racksta, occurred_at=at)
    period = week_period(2026, 44)
    assert spans_of(period) == ("week", ["2026-10-26"])
    assert spans_of(Period(period.start, period.end + timedelta(days=1))) is None
    figures = period_figures(db, period)
    raw = db.execute(
        "SELECT count(*), sum(urgent) FROM observations WHERE observed_at >= ? AND observed_at < ?",
        [period.start_utc, period.end_utc],
    ).fetchone()
    assert (figures[racksta]["observations"], figures[racksta]["urgent_observations"]) == tuple(raw)
    assert (
        observation_counts(db, "week", ["2026-10-26"])[racksta]["lighting"]["observations"]
        == raw[0]
    )
    assert sum(event_counts(db, "week", ["2026-10-26"]).values()) == raw[0]
    assert task_counts(db, "week", ["2026-10-26"]) == {}
    months = month_periods(date(2026, 10, 1), 2)
    assert count_by_period(db, "observations", "observed_at", months)[racksta] == [11, 9]
    report = week_report(db, 2026, 44)
    assert report["rows"][0]["figures"][0]["observations"] == raw[0]
    assert report["rows"][0]["events"][0]["total"] == raw[0]
    # A period that is not whole weeks or months is counted from the rows, the same way.
    odd = Period(local_midnight(date(2026, 10, 29)), local_midnight(date(2026, 11, 2)))
    assert period_figures(db, odd)[racksta]["observations"] == raw[0] - 1


def test_recount_command_rebuilds_broken_totals_and_check_says_so(app, db, runner, places):
    racksta, _ = places
    make_event(db, racksta)
    make_event(db, racksta, occurred_at="2026-11-21T10:00:00Z")
    db.execute("UPDATE event_totals SET events = 7")
    db.execute("DELETE FROM observation_totals")
    result = runner.invoke(args=["recount", "--check"])
    assert result.exit_code == 1
    assert "event_totals: 2 row(s) differed" in result.output
    assert db.execute("SELECT sum(events) FROM event_totals").fetchone()[0] == 14
    result = runner.invoke(args=["recount"])
    assert result.exit_code == 0, result.output
    assert "event_totals: 2 row(s) differed, 2 row(s)" in result.output
    assert snapshot(db) == expected(db)
    result = runner.invoke(args=["recount", "--check"])
    assert result.exit_code == 0
    assert "event_totals: right" in result.output


def test_place_page_counts_tasks_per_party_from_the_totals(client, db, places):
    racksta, _ = places
    parks = insert_party(db, "Parkförvaltningen")
    for state in ("proposed", "sent", "done", "not_ours"):
        db.execute(
            """INSERT INTO tasks (place_id, party_id, measure, state, created_at, updated_at)
               VALUES (?, ?, 'Åtgärd', ?, '2026-11-02T10:00:00Z', '2026-11-02T10:00:00Z')""",
            [racksta, parks, state],
        )
    assert task_states(db, racksta) == {parks: {"proposed": 1, "sent": 1, "done": 1, "not_ours": 1}}
    login(client, make_staff(db))
    page = client.get(f"/places/{racksta}").get_data(as_text=True)
    row = re.search(rf'<tr data-party="{parks}">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r"<td>(\d+)</td>", row) == ["2", "1", "1"]


def test_seed_load_spreads_history_with_its_size_and_keeps_the_totals(runner, db):
    """seed-load reaches further back for more observations, and its bulk writes keep the
    totals as exact as single writes do."""
    assert history_days(2_000) == history_days(10_000) == 365
    assert 365 < history_days(100_000) < history_days(1_000_000) == 5 * 365
    result = runner.invoke(args=["seed-load", "--observations", "2000", "--walks", "4"])
    assert result.exit_code == 0, result.output
    oldest = db.execute("SELECT min(observed_at) FROM observations").fetchone()[0]
    age = datetime.now(UTC) - datetime.fromisoformat(oldest.replace("Z", "+00:00"))
    assert 355 < age.days <= 366
    result = runner.invoke(
        args=[
            "seed-load",
            "--observations",
            "500",
            "--walks",
            "0",
            "--seed",
            "2",
            "--append",
            "--days",
            "400",
        ]
    )
    assert result.exit_code == 0, result.output
    oldest = db.execute("SELECT min(observed_at) FROM observations").fetchone()[0]
    age = datetime.now(UTC) - datetime.fromisoformat(oldest.replace("Z", "+00:00"))
    assert 300 < age.days <= 401
    assert_exact(db)
