"""Lighthouse on the walk page and the capture screen, as a resident's phone opens them.

Run from the project root (`make bench` runs it too):

    .venv/bin/python bench/lighthouse.py [--runs 3]

Lighthouse 13 comes from the npm registry into bench/lighthouse/ (not in git); this script
installs it there when it is missing (`npm install --prefix bench/lighthouse lighthouse@13`).
It drives Debian's chromium (CHROME_PATH=/usr/bin/chromium), headless, with Lighthouse's
default, mobile settings: a mid-range phone's screen, 4x slower CPU, slow 4G (simulated), and
the report in Swedish. Every run starts with an empty cache and no service worker: a first visit.

The app is served by gunicorn as `make run` serves it, on a fresh instance with one ongoing
walk, which a resident joins through the invitation link (that request is not measured; its
session cookie goes with every request Lighthouse makes). Map tiles come from a stand-in on
another loopback port (the same grey 256 px PNG for every tile): the network may be closed, and
OpenStreetMap's tile servers are not ours to load-test.

Each page is measured `--runs` times (3); the median of each category is compared with the
targets: performance at least 95, accessibility 100, best practices 100. Prints every run, the
medians, the audits that cost points in the median run, and PASS or FAIL; always exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import (
    BENCH,
    CHROMIUM,
    Client,
    Server,
    load_average,
    new_instance,
    seed_place,
    seed_user,
    seed_walk,
)
from PIL import Image, ImageDraw

LIGHTHOUSE = "13"
FOLDER = BENCH / "lighthouse"
CLI = FOLDER / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices")
TARGETS = {"performance": 95, "accessibility": 100, "best-practices": 100}
METRICS = (
    "first-contentful-paint",
    "largest-contentful-paint",
    "total-blocking-time",
    "cumulative-layout-shift",
    "speed-index",
)
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu --no-first-run --disable-sync"


def ensure_lighthouse() -> Path:
    """The Lighthouse CLI in bench/lighthouse/, installed from the npm registry if missing."""
    if not CLI.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("Lighthouse needs Node.js and npm: apt-get install nodejs npm")
        print(f"installing lighthouse@{LIGHTHOUSE} into {FOLDER} ...", flush=True)
        FOLDER.mkdir(exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(FOLDER), "--no-save", "--no-audit", "--no-fund",
             "--loglevel=error", f"lighthouse@{LIGHTHOUSE}"],
            check=True,
        )  # fmt: skip
    version = subprocess.run([str(CLI), "--version"], capture_output=True, text=True, check=True)
    print(f"lighthouse {version.stdout.strip()}, chromium {CHROMIUM}")
    return CLI


# --- the map tiles' stand-in -------------------------------------------------------------------


def tile_png() -> bytes:
    """A light grey 256 px tile with a faint grid, about what a quiet OSM tile weighs."""
    image = Image.new("RGB", (256, 256), (232, 229, 223))
    draw = ImageDraw.Draw(image)
    for i in range(0, 256, 64):
        draw.line((i, 0, i, 255), fill=(214, 210, 203))
        draw.line((0, i, 255, i), fill=(214, 210, 203))
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


class Tiles(BaseHTTPRequestHandler):
    """Answers every GET with the same tile, cacheable, over kept-alive connections, as a tile
    server does (http.server's default, HTTP/1.0, would open a connection per tile)."""

    body = b""
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("Cache-Control", "public, max-age=86400")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the page moved on
            self.wfile.write(self.body)

    def log_message(self, *args):  # quiet
        pass


def serve_tiles() -> ThreadingHTTPServer:
    Tiles.body = tile_png()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- measuring ---------------------------------------------------------------------------------


def lighthouse(cli: Path, url: str, cookie: str) -> dict:
    """One Lighthouse run on `url`; the report as parsed JSON."""
    command = [
        str(cli),
        url,
        "--output=json",
        "--output-path=stdout",
        "--quiet",
        "--locale=sv",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={CHROME_FLAGS}",
        f"--extra-headers={json.dumps({'Cookie': cookie})}",
    ]
    env = dict(os.environ, CHROME_PATH=CHROMIUM)
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"lighthouse failed on {url}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def scores(report: dict) -> dict[str, int]:
    return {c: round((report["categories"][c]["score"] or 0) * 100) for c in CATEGORIES}


def lost_points(report: dict) -> list[str]:
    """The audits that cost points, with what Lighthouse shows for them."""
    lines = []
    for category in CATEGORIES:
        for ref in report["categories"][category]["auditRefs"]:
            audit = report["audits"][ref["id"]]
            if ref["weight"] and audit["score"] is not None and audit["score"] < 1:
                shown = audit.get("displayValue", "")
                lines.append(f"    {category}: {ref['id']} (score {audit['score']:.2f}) {shown}")
                for item in (audit.get("details") or {}).get("items", [])[:3]:
                    what = item.get("description") or item.get("url") or item.get("node", {})
                    if isinstance(what, dict):
                        what = what.get("snippet") or what.get("selector") or ""
                    lines.append(f"      - {str(what)[:150]}")
    return lines


def metrics(report: dict) -> str:
    return ", ".join(
        f"{name.replace('-', ' ')} {report['audits'][name].get('displayValue', '?')}"
        for name in METRICS
    )


def measure(cli: Path, url: str, cookie: str, runs: int, name: str) -> bool:
    """Run Lighthouse `runs` times on one page; print each run and the medians; met targets?"""
    print(f"\n{name}: {url}")
    reports = []
    for i in range(runs):
        report = lighthouse(cli, url, cookie)
        reports.append(report)
        print(f"  run {i + 1}: {scores(report)}  ({metrics(report)})", flush=True)
    medians = {c: statistics.median(scores(r)[c] for r in reports) for c in CATEGORIES}
    # The run whose performance is the median, to show what cost points.
    middle = sorted(reports, key=lambda r: scores(r)["performance"])[len(reports) // 2]
    ok = all(medians[c] >= TARGETS[c] for c in CATEGORIES)
    print(f"  median of {runs}: " + ", ".join(f"{c} {medians[c]:g}" for c in CATEGORIES))
    for category in CATEGORIES:
        verdict = "PASS" if medians[category] >= TARGETS[category] else "FAIL"
        print(f"    {category}: {medians[category]:g} (target {TARGETS[category]}) -> {verdict}")
    element = middle["audits"].get("largest-contentful-paint-element", {})
    for item in (element.get("details") or {}).get("items", [])[:1]:
        for node in item.get("items", [])[:1]:
            snippet = node.get("node", {}).get("snippet", "")
            print(f"  largest contentful paint: {snippet[:120]}")
    lost = lost_points(middle)
    if lost:
        print("  what cost points in the median run:")
        print("\n".join(lost))
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cli = ensure_lighthouse()
    tiles = serve_tiles()
    os.environ["FIELDWALK_TILE_URL"] = f"http://127.0.0.1:{tiles.server_port}/{{z}}/{{x}}/{{y}}.png"
    folder = Path(tempfile.mkdtemp(prefix="fieldwalk-lighthouse-"))
    instance = folder / "instance"
    db = new_instance(instance)
    try:
        place_id = seed_place(db)
        coordinator = seed_user(db, "samordnare@example.se", token=False)
        walk = seed_walk(db, place_id, coordinator["id"], "Kvällsvandring i Råcksta")
        db.execute(
            "UPDATE walks SET meeting_point = ?, meeting_lat = ?, meeting_lon = ? WHERE id = ?",
            ["Vid tunnelbanans entré", 59.3551, 17.8823, walk["id"]],
        )
    finally:
        db.close()
    server = Server(instance)
    server.start()
    try:
        resident = Client(server.port)
        resident.join(walk["invite_token"], "Kim")
        cookie = "; ".join(f"{k}={v}" for k, v in resident.cookies.items())
        print(f"server: gunicorn, 2 workers (as `make run`); load average {load_average()}")
        results = [
            measure(cli, f"{server.url}/walks/{walk['id']}", cookie, args.runs, "walk page"),
            measure(
                cli, f"{server.url}/walks/{walk['id']}/capture", cookie, args.runs, "capture screen"
            ),
        ]
        print(f"\nall targets met: {'PASS' if all(results) else 'FAIL'}")
    finally:
        server.stop()
        tiles.shutdown()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
    sys.exit(0)
