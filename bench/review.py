"""How fast the coordinators' review screens are on two years of a district: 100,000
observations, 30,000 tasks, 200 walks and about 5 events per place and day (seed-load's).

Run from the project root:

    .venv/bin/python bench/review.py            # builds the database once, then reuses it
    .venv/bin/python bench/review.py --rebuild  # makes it again

The database is built by `flask --app app seed-load --observations 100000` (in a subprocess,
timed) into bench/out/review/instance/, which is git-ignored, and reused while it holds
100,000 observations and seed-load's events (a database from before events is built again);
the app migrates it on start, so new indexes reach it. The weekly meeting's page is measured
with a joint assessment (two versions) at every place for the week and the week before, and a
decision per place at the week before's meeting, added once through the domain functions.

Requests go through Flask's test client in this process (no HTTP server, no compression, the
request log off): the figures are the app's own work, from the WSGI call to the last byte of
the body. While a request runs, every SQL statement it sends is recorded (sqlite3's trace
callback, with the values bound); the same statements are then replayed on a fresh
connection and read to the end: that is the "bare SQL" beside each request, measured in the
same run, alternating with the requests so both see the same machine load.

CPU time (the process's, `time.process_time`) is printed beside the wall time of each request:
what the request itself cost, apart from waiting for a machine shared with other work.

Targets: every page and map request under 150 ms at the 95th percentile and within 3x of its
bare SQL (median against median); the weekly meeting's page and its CSV under 150 ms at the
95th percentile; the full CSV export at 50,000 rows/s or more with flat
memory (the peak of Python's allocations while streaming it, tracemalloc, grows by less than
16 MB however large the export: the export itself is tens of MB). Prints PASS or FAIL for each
and always exits 0: it reports, it is not a test.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import fieldwalk.db as fieldwalk_db  # noqa: E402

OUT = ROOT / "bench" / "out" / "review"
INSTANCE = OUT / "instance"
OBSERVATIONS = 100_000
EVENTS_PER_DAY = 5  # seed-load's default, per place
RUNS = 30
WARMUP = 3
TARGET_P95_MS = 150
TARGET_RATIO = 3.0
TARGET_ROWS_PER_S = 50_000
TARGET_GROWTH_MB = 16
EMAIL = "bench-coordinator@example.se"


def build(rebuild: bool) -> None:
    """Make the 100k database with seed-load unless a complete one is there."""
    database = INSTANCE / "fieldwalk.db"
    if database.exists() and not rebuild:
        conn = sqlite3.connect(database)
        try:
            count = conn.execute("SELECT count(*) FROM observations").fetchone()[0]
            events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        except sqlite3.Error:  # no events table: built before events existed
            count = events = 0
        finally:
            conn.close()
        if count >= OBSERVATIONS and events:
            print(f"Reusing {database} ({count:,} observations, {events:,} events).")
            return
        if count >= OBSERVATIONS:
            print(f"{database} has no events: building it again.")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    INSTANCE.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FIELDWALK_INSTANCE": str(INSTANCE)}
    flask = [sys.executable, "-m", "flask", "--app", "app", "seed-load"]
    started = time.perf_counter()
    options = ["--observations", str(OBSERVATIONS), "--events-per-day", str(EVENTS_PER_DAY)]
    subprocess.run([*flask, *options], cwd=ROOT, env=env, check=True)
    print(f"seed-load took {time.perf_counter() - started:.1f} s (subprocess, app start included)")


class Recorder:
    """Records the SQL every connection the app opens sends, while `on`."""

    def __init__(self):
        self.statements: list[str] = []
        self.on = False
        self._connect = fieldwalk_db.connect

    def install(self) -> None:
        def connect(path):
            db = self._connect(path)
            db.conn.set_trace_callback(self._trace)
            return db

        fieldwalk_db.connect = connect

    def _trace(self, sql: str) -> None:
        if self.on and not sql.lstrip().upper().startswith("PRAGMA"):
            self.statements.append(sql)


def replay(statements: list[str]) -> float:
    """Run the statements on a fresh connection, reading every row; return milliseconds."""
    started = time.perf_counter()
    conn = sqlite3.connect(INSTANCE / "fieldwalk.db")
    try:
        for sql in statements:
            conn.execute(sql).fetchall()
    finally:
        conn.close()
    return (time.perf_counter() - started) * 1000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def meeting_records(db, user_id: int, week: tuple[int, int]) -> None:
    """What a weekly meeting leaves behind, once: at every place an assessment of the week
    (changed once) and of the week before, and a decision at the week before's meeting."""
    from fieldwalk.reports.assessments import latest_version, save_assessment
    from fieldwalk.reports.decisions import record_decision
    from fieldwalk.reports.periods import shift_week, week_text
    from fieldwalk.tasks.states import COORDINATOR, Actor

    this, before = week_text(*week), week_text(*shift_week(*week, -1))
    actor = Actor((COORDINATOR,), user_id, "bench")
    for (place_id,) in db.execute("SELECT id FROM places ORDER BY id").fetchall():
        if latest_version(db, place_id, this) is not None:
            continue
        for when, levels in ((before, ("uneasy",)), (this, ("serious", "acute"))):
            for version, level in enumerate(levels):
                save_assessment(
                    db, place_id=place_id, week=when, level=level, written_by=user_id,
                    text="Fler händelser kvällstid; polisen ökar närvaron.", based_on=version,
                )  # fmt: skip
        record_decision(
            db, place_id=place_id, week=before, measure="Klipp buskaget vid trappan.",
            party_id=None, due_date="2030-01-01", actor=actor, reason="bench",
        )  # fmt: skip


def measure(client, recorder: Recorder, url: str, headers: dict | None = None) -> dict:
    """Median and p95 of the request (wall and CPU time) and of its bare SQL, interleaved."""
    recorder.on = True
    recorder.statements.clear()
    response = client.get(url, headers=headers or {})
    recorder.on = False
    statements = list(recorder.statements)
    assert response.status_code == 200, (url, response.status_code)
    size = len(response.get_data())
    for _ in range(WARMUP):
        client.get(url, headers=headers or {}).get_data()
        replay(statements)
    requests, cpu, bare = [], [], []
    for _ in range(RUNS):
        started, started_cpu = time.perf_counter(), time.process_time()
        client.get(url, headers=headers or {}).get_data()
        requests.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        bare.append(replay(statements))
    return {
        "median": statistics.median(requests),
        "p95": percentile(requests, 95),
        "cpu_median": statistics.median(cpu),
        "cpu_p95": percentile(cpu, 95),
        "bare_median": statistics.median(bare),
        "bare_p95": percentile(bare, 95),
        "queries": len(statements),
        "bytes": size,
    }


def export(client, recorder: Recorder, url: str, rows: int) -> dict:
    """Stream an export: rows/s (three runs, best), then its memory growth (tracemalloc)."""
    recorder.statements.clear()
    timings, size = [], 0
    for run in range(3):
        recorder.on = run == 0
        started = time.perf_counter()
        response = client.get(url)
        assert response.status_code == 200 and response.is_streamed, url
        size = sum(len(chunk) for chunk in response.response)
        response.close()
        timings.append(time.perf_counter() - started)
    recorder.on = False
    statements = list(recorder.statements)
    bare = [replay(statements) for _ in range(3)]
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    response = client.get(url)
    for _chunk in response.response:
        pass
    response.close()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    seconds = min(timings)
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "bytes": size,
        "growth_mb": (peak - base) / 1e6,
        "bare_ms": min(bare),
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="make the database again")
    args = parser.parse_args()
    build(args.rebuild)

    recorder = Recorder()
    recorder.install()
    from fieldwalk import create_app
    from fieldwalk.auth import create_user, find_user_by_email
    from fieldwalk.reports.periods import last_complete_week, week_period, week_text
    from fieldwalk.security import start_session

    app = create_app({"INSTANCE": str(INSTANCE), "REQUEST_LOG": False})
    db = fieldwalk_db.connect(app.config["DATABASE_PATH"])
    user = find_user_by_email(db, EMAIL)
    user_id = user["id"] if user else create_user(db, EMAIL, "coordinator", "Bench", "x" * 20)
    place = db.execute(
        """SELECT places.id, places.name, count(*) AS n FROM observations
           JOIN places ON places.id = observations.place_id
           GROUP BY places.id ORDER BY n DESC LIMIT 1"""
    ).fetchone()
    week = last_complete_week(datetime.now(UTC))
    meeting_records(db, user_id, week)
    counts = {
        table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        for table in ("observations", "tasks", "walks", "events", "places")
    }
    week_events = db.execute(
        "SELECT count(*) FROM events WHERE occurred_at >= ? AND occurred_at < ?",
        [week_period(*week).start_utc, week_period(*week).end_utc],
    ).fetchone()[0]
    session_id = start_session(db, user_id, "bench")  # a real login session, as a browser has
    db.close()
    print(
        f"Database: {counts['observations']:,} observations, {counts['tasks']:,} tasks, "
        f"{counts['walks']:,} walks, {counts['events']:,} events at {counts['places']} places "
        f"({week_events:,} in {week_text(*week)}). SQLite {sqlite3.sqlite_version}, Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}. The busiest place: {place['name']} ({place['n']:,})."
    )
    print(
        f"Flask test client in-process; {RUNS} runs after {WARMUP} warm-up, each followed by "
        "its bare SQL on a fresh connection.\n"
    )

    client = app.test_client()
    with client.session_transaction() as session:
        session["user_id"], session["sid"] = user_id, session_id
    place_id = place["id"]
    pages = [
        ("dashboard list page (whole page)", "/dashboard", None),
        ("map data, whole district", "/dashboard/map.json", None),
        ("map data, one place (the busiest)", f"/dashboard/map.json?place={place_id}", None),
        (
            "filtered list, place+category+state (htmx)",
            f"/dashboard?place={place_id}&category=lighting&state=open",
            {"HX-Request": "true"},
        ),
    ]
    # The weekly meeting's page and its CSV: p95 only (they are many small queries and a lot
    # of HTML, not one big query, so "within 3x of the bare SQL" says little about them).
    meeting = []
    if "reports.week" in app.view_functions:
        meeting = [
            (f"weekly meeting page, {week_text(*week)}", f"/reports/week?week={week_text(*week)}"),
            (
                f"weekly meeting CSV, {week_text(*week)}",
                f"/reports/week.csv?week={week_text(*week)}",
            ),
        ]
    else:
        print("No /reports/week in this app: not measured.\n")

    header = f"{'what':<48} {'request ms':>17} {'CPU ms':>17} {'bare SQL ms':>17} {'ratio':>6}"
    print(f"{header}  verdict")
    print(f"{'':<48} {'median':>8} {'p95':>8} {'median':>8} {'p95':>8} {'median':>8} {'p95':>8}")
    results = []
    for label, url, headers in pages + [(label, url, None) for label, url in meeting]:
        r = measure(client, recorder, url, headers)
        ratio = r["median"] / r["bare_median"] if r["bare_median"] else float("inf")
        ok = r["p95"] < TARGET_P95_MS and (ratio <= TARGET_RATIO or url.startswith("/reports"))
        results.append(ok)
        print(
            f"{label:<48} {r['median']:8.1f} {r['p95']:8.1f} {r['cpu_median']:8.1f} "
            f"{r['cpu_p95']:8.1f} {r['bare_median']:8.1f} {r['bare_p95']:8.1f} {ratio:5.1f}x  "
            f"{verdict(ok)}  ({r['queries']} queries, {r['bytes'] / 1024:,.0f} KB)"
        )
    print(
        f"  targets: p95 < {TARGET_P95_MS} ms; the dashboard's also request median <= "
        f"{TARGET_RATIO:g}x bare SQL median\n"
    )

    for label, url, rows in (
        ("CSV export, every observation", "/dashboard/observations.csv", counts["observations"]),
        ("CSV export, every task", "/dashboard/tasks.csv", counts["tasks"]),
    ):
        r = export(client, recorder, url, rows)
        ok = r["rows_per_s"] >= TARGET_ROWS_PER_S and r["growth_mb"] < TARGET_GROWTH_MB
        results.append(ok)
        print(
            f"{label:<48} {r['rows']:,} rows, {r['bytes'] / 1e6:.1f} MB in {r['seconds']:.2f} s"
            f" = {r['rows_per_s']:,.0f} rows/s (its query alone: {r['bare_ms']:.0f} ms); "
            f"peak Python memory +{r['growth_mb']:.1f} MB  {verdict(ok)}"
        )
    print(
        f"  targets: >= {TARGET_ROWS_PER_S:,} rows/s, memory growth < {TARGET_GROWTH_MB} MB "
        "(flat: the export is streamed)\n"
    )
    print(f"{sum(results)} of {len(results)} PASS.")


if __name__ == "__main__":
    main()
