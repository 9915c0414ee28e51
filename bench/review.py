"""What the coordinators' review screens cost as the district grows, over real HTTP: 10,000
and 100,000 observations (1,000,000 with --million).

Run from the project root:

    .venv/bin/python bench/review.py                  # 10k and 100k
    .venv/bin/python bench/review.py --million        # and 1M (seeding it takes long)
    .venv/bin/python bench/review.py --sizes 10000    # just these sizes
    .venv/bin/python bench/review.py --rebuild        # seed the databases again

Each size's database is made once by `flask --app app seed-load --observations N` (in a
subprocess, timed) into bench/out/review/N/instance/, which is git-ignored, and reused while it
holds N observations; the app migrates it on start, so new indexes reach it.

The app is served as deployed: gunicorn with 2 sync workers (bench/common.py's Server), the
app compressing pages and JSON itself (Flask-Compress, brotli for a client that asks, as
browsers do). One logged-in coordinator (bench/common.py's Client, with `Accept-Encoding: br,
gzip`) asks for each endpoint 30 times after 3 warm-ups (the CSV export 3 times after 1),
one at a time: the wall time of each request, from connecting to the last byte read; the bytes
on the wire (the body as sent, compressed when it was); and beside them the server's CPU time
per request (user + system of gunicorn's processes, read from /proc over the runs). `/healthz`,
measured the same way in the same run, is the baseline: what any request costs here.

The map is asked unfiltered (the whole district, the busiest place's box at zoom 16, a
street at zoom 18) and, as after a filter change, without a box but filtered: by a category,
by this year, by the busiest place, by the tasks still open (a filter on the other kind of
row, through the links), and by a text with a category or the open tasks. The dashboard's
list is asked filtered too (a category, the open tasks, overdue, not yet a task, a text with
a category), and a task of the busiest place (its duplicate form lists the nearest tasks).

Then, per endpoint, the growth from the smallest size to the largest, and for a map answer
the rows it counts at each size (a text search's hits grow with the database). Targets (issue 18):
every page and map answer p95 under 150 ms (the annual follow-up's year pages, one place and
the whole district: under 300 ms, issue 13), every map answer under 200 KB on the wire, at
most 2x growth in p95 from the smallest size to the largest (the CSV export holds every row:
it grows with them and is shown, not judged). Prints PASS or FAIL for each and always exits 0:
it reports, it is not a test.

Last, the duplicate hints at a hotspot: /dashboard on 10,000 observations plus 3,000 newest
problems at one spot (each a duplicate of all the others) against the same with the 3,000
scattered over the district, the baseline (`--no-hotspot` skips it).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import (
    PASSWORD,
    POSITION,
    ROOT,
    Client,
    Server,
    connect,
    cpu_by_kind,
    create_app,
    new_id,
    percentile,
    seed_user,
)

from fieldwalk.observations.model import put_observation, validate

OUT = ROOT / "bench" / "out" / "review"
SIZES = (10_000, 100_000)
MILLION = 1_000_000
RUNS, WARMUP = 30, 3
EXPORT_RUNS, EXPORT_WARMUP = 3, 1
WORKERS = 2
TARGET_P95_MS = 150
TARGET_YEAR_P95_MS = 300  # the annual follow-up (issue 13): a year of figures per page
TARGET_MAP_KB = 200
TARGET_GROWTH = 2.0
EMAIL = "bench-review@example.se"
HOTSPOT, HOTSPOT_BASE = 3000, 10_000
HEADERS = {"Accept": "text/html,application/json", "Accept-Encoding": "br, gzip"}


def instance_for(size: int) -> Path:
    return OUT / str(size) / "instance"


def build(size: int, rebuild: bool, instance: Path | None = None) -> bool:
    """Make the database of `size` observations with seed-load unless a complete one is there;
    True when it was made."""
    instance = instance or instance_for(size)
    database = instance / "fieldwalk.db"
    if database.exists() and not rebuild:
        conn = sqlite3.connect(database)
        try:
            count = conn.execute("SELECT count(*) FROM observations").fetchone()[0]
        except sqlite3.Error:
            count = 0
        finally:
            conn.close()
        if count >= size:
            print(f"Reusing {database} ({count:,} observations).")
            return False
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    instance.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FIELDWALK_INSTANCE": str(instance)}
    flask = [sys.executable, "-m", "flask", "--app", "app", "seed-load"]
    started = time.perf_counter()
    subprocess.run([*flask, "--observations", str(size)], cwd=ROOT, env=env, check=True)
    print(f"seed-load {size:,} took {time.perf_counter() - started:.1f} s (app start included)")
    return True


def prepare(size: int) -> dict:
    """The coordinator to log in as, the busiest place and boxes around it, the row counts."""
    db = connect(instance_for(size) / "fieldwalk.db")
    try:
        if not db.execute("SELECT 1 FROM users WHERE email = ?", [EMAIL]).fetchone():
            seed_user(db, EMAIL, token=False)
        place = db.execute(
            """SELECT place_id AS id, count(*) AS n FROM observations
               WHERE place_id IS NOT NULL GROUP BY place_id ORDER BY n DESC LIMIT 1"""
        ).fetchone()
        south, west, north, east = db.execute(
            """SELECT min(lat), min(lon), max(lat), max(lon) FROM observations
               WHERE place_id = ? AND lat IS NOT NULL""",
            [place["id"]],
        ).fetchone()
        party = db.execute(
            """SELECT party_id FROM tasks WHERE party_id IS NOT NULL
               GROUP BY party_id ORDER BY count(*) DESC LIMIT 1"""
        ).fetchone()[0]
        task = db.execute(
            """SELECT max(id) FROM tasks WHERE place_id = ? AND state IN ('proposed', 'sent')""",
            [place["id"]],
        ).fetchone()[0]
        counts = {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("observations", "tasks", "walks", "places")
        }
    finally:
        db.close()
    lat, lon = (south + north) / 2, (west + east) / 2
    return {
        "place": place["id"],
        "place_n": place["n"],
        "party": party,
        "task": task,
        "place_box": f"{west:.5f},{south:.5f},{east:.5f},{north:.5f}",
        # About what a phone shows at zoom 18: a street, 300 by 600 m.
        "street_box": f"{lon - 0.0026:.5f},{lat - 0.0014:.5f},{lon + 0.0026:.5f},{lat + 0.0014:.5f}",
        "counts": counts,
        "year": datetime.now(UTC).year,
    }


def endpoints(facts: dict) -> list[tuple[str, str, str]]:
    """(kind, label, path): kind is baseline, page, map, year (the annual follow-up, judged
    against its own target) or export."""
    place = facts["place"]
    return [
        ("baseline", "/healthz (baseline)", "/healthz"),
        ("page", "dashboard", "/dashboard"),
        ("map", "map.json, whole district, no bbox", "/dashboard/map.json"),
        (
            "map",
            "map.json, bbox busiest place, zoom 16",
            f"/dashboard/map.json?bbox={facts['place_box']}&zoom=16",
        ),
        (
            "map",
            "map.json, bbox one street, zoom 18",
            f"/dashboard/map.json?bbox={facts['street_box']}&zoom=18",
        ),
        # A filter change asks again without a box: the filters people use most.
        ("map", "map.json, filter: one category", "/dashboard/map.json?category=lighting"),
        ("map", "map.json, filter: this year", f"/dashboard/map.json?from={facts['year']}-01-01"),
        ("map", "map.json, filter: busiest place", f"/dashboard/map.json?place={place}"),
        ("map", "map.json, filter: open tasks", "/dashboard/map.json?state=open"),
        # Filters the running counts have no cells of their own for, or two at once: these
        # count the rows they keep (mapdata.py), so they grow with the database.
        ("map", "map.json, filter: not yet a task", "/dashboard/map.json?state=untasked"),
        ("map", "map.json, filter: overdue", "/dashboard/map.json?overdue=1"),
        ("map", "map.json, filter: busiest party", f"/dashboard/map.json?party={facts['party']}"),
        ("map", "map.json, filter: text", "/dashboard/map.json?q=lampa"),
        (
            "map",
            "map.json, filter: category and open",
            "/dashboard/map.json?category=lighting&state=open",
        ),
        # A text search with another filter: from the text index and what its keys hold.
        (
            "map",
            "map.json, filter: text and category",
            "/dashboard/map.json?q=lampa&category=lighting",
        ),
        ("map", "map.json, filter: text and open", "/dashboard/map.json?q=lampa&state=open"),
        # A text search's hits grow with the database; it counts them from the text index.
        ("page", "dashboard, text search", "/dashboard?q=lampa"),
        ("page", "dashboard, text and category", "/dashboard?q=lampa&category=lighting"),
        # The list beside the map, filtered as the map above: a filter on the other kind of
        # row is counted from the text index's keys, its page read in order.
        ("page", "dashboard, filter: one category", "/dashboard?category=lighting"),
        ("page", "dashboard, filter: open tasks", "/dashboard?state=open"),
        ("page", "dashboard, filter: overdue", "/dashboard?overdue=1"),
        ("page", "dashboard, filter: not yet a task", "/dashboard?state=untasked"),
        # A task of the busiest place: its duplicate form offers the nearest tasks.
        ("page", "task page, busiest place", f"/tasks/{facts['task']}"),
        ("page", "task list, open tasks", "/tasks"),
        ("page", "triage", "/tasks/triage"),
        ("page", "week page (lägesbild)", "/reports/week"),
        ("page", "busiest place page", f"/places/{place}"),
        ("year", "year page, busiest place", f"/reports/year/places/{place}"),
        ("year", "year page, whole district", "/reports/year"),
        ("export", "CSV export, every observation", "/dashboard/observations.csv"),
    ]


def server_cpu() -> float:
    return cpu_by_kind(os.getpid()).get("server", 0.0)


def measure(client: Client, path: str, runs: int, warmup: int) -> dict:
    """Wall times, server CPU per request and bytes on the wire for `runs` requests."""
    for _ in range(warmup):
        answer = client.request("GET", path, headers=HEADERS)
        assert answer.status == 200, (path, answer.status, answer.body[:300])
    walls, sizes = [], []
    cpu_before, client_before = server_cpu(), time.process_time()
    for _ in range(runs):
        answer = client.request("GET", path, headers=HEADERS)
        assert answer.status == 200, (path, answer.status)
        walls.append(answer.seconds * 1000)
        sizes.append(len(answer.body))
    cpu = (server_cpu() - cpu_before) * 1000 / runs
    return {
        "p50": statistics.median(walls),
        "p95": percentile(walls, 95),
        "cpu": cpu,
        "client_cpu": (time.process_time() - client_before) * 1000 / runs,
        "bytes": max(sizes),
        "encoding": answer.headers.get("content-encoding", "-"),
    }


def run_size(size: int) -> dict[str, dict]:
    facts = prepare(size)
    counts = facts["counts"]
    print(
        f"\n== {counts['observations']:,} observations, {counts['tasks']:,} tasks, "
        f"{counts['walks']:,} walks, {counts['places']} places; the busiest place "
        f"#{facts['place']} holds {facts['place_n']:,}. Load average {os.getloadavg()[0]:.1f}."
    )
    results = {}
    with Server(instance_for(size), workers=WORKERS, args=("--timeout", "120")) as server:
        client = Client(server.port)
        client.login(EMAIL, PASSWORD)
        print(
            f"{'what':<40} {'p50 ms':>8} {'p95 ms':>8} {'server CPU':>11} {'KB on wire':>11}"
            f" {'enc':>4}  verdict"
        )
        for kind, label, path in endpoints(facts):
            runs, warmup = (EXPORT_RUNS, EXPORT_WARMUP) if kind == "export" else (RUNS, WARMUP)
            r = measure(client, path, runs, warmup)
            r["kind"] = kind
            if kind == "map":  # the rows the answer counts (in its clusters or points)
                r["rows"] = client.get(path).json()["count"]
            results[label] = r
            ok = None
            if kind in ("page", "map", "year"):
                ok = r["p95"] < (TARGET_YEAR_P95_MS if kind == "year" else TARGET_P95_MS)
                if kind == "map":
                    ok = ok and r["bytes"] / 1024 < TARGET_MAP_KB
            verdict = "" if ok is None else ("PASS" if ok else "FAIL")
            print(
                f"{label:<40} {r['p50']:8.1f} {r['p95']:8.1f} {r['cpu']:8.1f} ms"
                f" {r['bytes'] / 1024:11,.1f} {r['encoding']:>4}  {verdict}"
            )
    print(
        f"  {RUNS} runs after {WARMUP} warm-up ({EXPORT_RUNS} after {EXPORT_WARMUP} for the"
        " export), one at a time; server CPU is gunicorn's user+system per request."
        f" Targets: p95 < {TARGET_P95_MS} ms (pages, maps), < {TARGET_YEAR_P95_MS} ms (year"
        f" pages), map answers < {TARGET_MAP_KB} KB."
    )
    return results


def growth(all_results: dict[int, dict[str, dict]]) -> None:
    sizes = sorted(all_results)
    if len(sizes) < 2:
        return
    small, large = sizes[0], sizes[-1]
    print(f"\n== growth from {small:,} to {large:,} observations ({large // small}x the rows)")
    print(
        f"{'what':<40} {'p95 ms':>17} {'x':>6} {'CPU ms':>17} {'x':>6} {'KB':>19}  verdict"
        "  rows counted (maps)"
    )
    for label, before in all_results[small].items():
        after = all_results[large][label]
        p95_x = after["p95"] / before["p95"]
        cpu_x = after["cpu"] / before["cpu"] if before["cpu"] else float("nan")
        ok = p95_x <= TARGET_GROWTH if before["kind"] in ("page", "map", "year") else None
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        print(
            f"{label:<40} {before['p95']:8.1f}{after['p95']:9.1f} {p95_x:5.1f}x"
            f" {before['cpu']:8.1f}{after['cpu']:9.1f} {cpu_x:5.1f}x"
            f" {before['bytes'] / 1024:9,.1f}{after['bytes'] / 1024:10,.1f}  {verdict:<7}"
            + (f"  {before['rows']:,} -> {after['rows']:,}" if "rows" in before else "")
        )
    print(
        f"  target: p95 grows at most {TARGET_GROWTH:g}x for pages and map answers. Rows"
        " counted: what a map answer sums up (the points in its clusters): a text search's grow"
        " with the database, and its time with them (it reads each hit's key)."
    )


def add_hotspot(instance: Path, at_one_spot: bool) -> None:
    """HOTSPOT lighting problems, the newest in the district (one a minute until now): all at
    POSITION, or scattered over the district (the quiet streets)."""
    app = create_app({"INSTANCE": str(instance), "REQUEST_LOG": False})
    db = connect(app.config["DATABASE_PATH"])
    rng = random.Random(18)
    try:
        south, west, north, east = db.execute(
            "SELECT min(lat), min(lon), max(lat), max(lon) FROM observations"
        ).fetchone()
        now = datetime.now(UTC)
        with db.conn:
            for i in range(HOTSPOT):
                lat, lon = (
                    POSITION
                    if at_one_spot
                    else (rng.uniform(south, north), rng.uniform(west, east))
                )
                body = {"category": "lighting", "lat": lat, "lon": lon, "description": "Mörkt"}
                observation, _ = put_observation(db, new_id(), validate(body, 2000, 12), walk=None)
                at = (now - timedelta(minutes=i + 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
                db.execute(
                    "UPDATE observations SET observed_at = ?, created_at = ? WHERE id = ?",
                    [at, at, observation["id"]],
                )
    finally:
        db.close()


def hotspot(rebuild: bool) -> None:
    """/dashboard with HOTSPOT problems at one spot (every one a duplicate of the others)
    against the same number scattered: the duplicate hints' cost at a hotspot."""
    print(
        f"\n== duplicate hints: {HOTSPOT:,} problems at one spot, against as many scattered"
        f" (the baseline), on {HOTSPOT_BASE:,} observations; /dashboard lists the newest 50"
    )
    results = {}
    for name, at_one_spot in (("scattered (baseline)", False), ("at one spot", True)):
        instance = OUT / f"hotspot-{'spot' if at_one_spot else 'scattered'}" / "instance"
        if build(HOTSPOT_BASE, rebuild, instance) or not (instance / "hotspot").exists():
            add_hotspot(instance, at_one_spot)
            (instance / "hotspot").write_text("added\n")
        with Server(instance, workers=WORKERS, args=("--timeout", "120")) as server:
            client = Client(server.port)
            connection = connect(instance / "fieldwalk.db")
            if not connection.execute("SELECT 1 FROM users WHERE email = ?", [EMAIL]).fetchone():
                seed_user(connection, EMAIL, token=False)
            connection.close()
            client.login(EMAIL, PASSWORD)
            results[name] = r = measure(client, "/dashboard", RUNS, WARMUP)
            print(
                f"{'/dashboard, ' + name:<40} {r['p50']:8.1f} {r['p95']:8.1f} {r['cpu']:8.1f} ms"
                f" {r['bytes'] / 1024:11,.1f} {r['encoding']:>4}"
            )
    spot, base = results["at one spot"], results["scattered (baseline)"]
    print(
        f"  at one spot / scattered: p50 {spot['p50'] / base['p50']:.2f}x,"
        f" server CPU {spot['cpu'] / base['cpu']:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="seed the databases again")
    parser.add_argument("--million", action="store_true", help="also 1,000,000 observations")
    parser.add_argument("--sizes", type=int, nargs="+", help="observation counts to measure")
    parser.add_argument("--no-hotspot", action="store_true", help="skip the hotspot phase")
    args = parser.parse_args()
    sizes = args.sizes or [*SIZES, *([MILLION] if args.million else [])]
    print(
        f"SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs;"
        f" gunicorn {WORKERS} sync workers on 127.0.0.1, the app compressing as deployed."
    )
    results = {}
    for size in sizes:
        build(size, args.rebuild)
        results[size] = run_size(size)
    growth(results)
    if not args.no_hotspot:
        hotspot(args.rebuild)


if __name__ == "__main__":
    main()
