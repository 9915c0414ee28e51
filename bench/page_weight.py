"""How many bytes a resident's phone downloads to open a walk and then the capture screen.

Run from the project root:

    .venv/bin/python bench/page_weight.py

It creates a fresh instance in a temporary folder (FIELDWALK_INSTANCE) with a place, a
coordinator and a walk made through the domain functions, serves it with gunicorn on a free
loopback port the way `make run` does, and lets a resident join the walk (that request is not
counted). Then headless Chromium, as a phone (360x740, touch) with an empty cache, opens the
walk page and follows its "Record an observation" link to the capture screen in the same tab,
so the second page reuses the cache as a real visit would.

Counted: every response that crossed the network, as served (compressed), headers included:
`request.sizes()`'s responseBodySize + responseHeadersSize. Responses from the memory or disk
cache or the service worker's cache cost nothing and are not counted; what the service worker
itself downloads (it precaches the app shell on install) is counted, as its own type. Map tiles
are blocked (and photos would be excluded: a new walk has none). The static files are served by
WhiteNoise from the minified files, bundles and `.br`/`.gz` copies `make assets` builds; where
those are missing or older than their sources they are built first (the compressed copies made
here are removed again at the end, so that a later edit to a static file cannot be shadowed by a
stale compressed copy; a stale minified file or bundle is never served).

The map (Leaflet and its style sheet, ~34 KB) loads only where a map is shown: with the walk
page, which always shows it, and on the capture screen only when asked; the service worker
does not precache it. So the figures are also given without it, "before the map is needed": what a
resident who opens the capture screen from the invitation link downloads.

Targets: under 75 KB in all, under 45 KB before the map is needed (for scale: FixMyStreet's
report page loads about 233 KB of gzipped JS and CSS). Prints PASS or FAIL and always exits 0:
it reports, it is not a test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

TARGET_BYTES = 75 * 1024
WITHOUT_MAP_TARGET_BYTES = 45 * 1024
MAP_FILES = ("/bundles/map", "/vendor/leaflet")  # the map's bundles (or their parts) and images
FIXMYSTREET_BYTES = 233 * 1024
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "screen": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "sv-SE",
    "timezone_id": "Europe/Stockholm",
}
COMPRESSIBLE = {".js", ".css", ".svg", ".json", ".txt", ".html", ".map"}
TILE_PATTERN = "*tile.openstreetmap.org*"
TYPES = ("document", "script", "stylesheet", "image", "fetch/xhr", "other", "service worker")


# --- static files --------------------------------------------------------------------------


def stale_or_missing(static: Path) -> list[Path]:
    """Compressible static files whose .gz copy is missing or not from the current source.

    `python -m whitenoise.compress` gives each copy its source's mtime, so a differing mtime
    means the source changed after the copy was made.
    """
    out = []
    for path in static.rglob("*"):
        if path.suffix not in COMPRESSIBLE or not path.is_file():
            continue
        gz = path.with_name(path.name + ".gz")
        if not gz.exists() or gz.stat().st_mtime != path.stat().st_mtime:
            out.append(path)
    return out


def build_static(static: Path) -> None:
    """Minify and bundle as `make assets` does, where the build is stale: pages use it then."""
    from fieldwalk.assets import build

    built = build(static)
    if built:
        print(f"static: ran `python -m fieldwalk.assets` ({len(built)} files minified or bundled)")


def compress_static(static: Path) -> list[Path]:
    """Build the .br/.gz copies when needed; return the copies written (to remove later)."""
    if not stale_or_missing(static):
        print("static: pre-compressed .br/.gz copies are up to date")
        return []
    before = {p for p in static.rglob("*") if p.suffix in (".gz", ".br")}
    subprocess.run(
        [sys.executable, "-m", "whitenoise.compress", "-q", str(static)], check=True, cwd=ROOT
    )
    written = [p for p in static.rglob("*") if p.suffix in (".gz", ".br") and p not in before]
    rebuilt = len([p for p in static.rglob("*") if p.suffix in (".gz", ".br")]) - len(written)
    print(
        f"static: ran `python -m whitenoise.compress static` ({len(written)} new copies, "
        f"{rebuilt} rebuilt); the new ones are removed at the end"
    )
    return written


# --- the instance and the server -----------------------------------------------------------


def make_instance(folder: Path) -> str:
    """A fresh database with a place, a coordinator and an ongoing walk; the invite token."""
    os.environ["FIELDWALK_INSTANCE"] = str(folder)
    from fieldwalk import create_app
    from fieldwalk.auth import create_user
    from fieldwalk.db import connect
    from fieldwalk.places.model import insert_place
    from fieldwalk.walks.model import insert_walk

    app = create_app()  # migrates the new database
    db = connect(app.config["DATABASE_PATH"])
    try:
        ring = [[17.876, 59.352], [17.889, 59.352], [17.889, 59.358], [17.876, 59.358]]
        place_id = insert_place(
            db, "racksta", "Råcksta", {"type": "Polygon", "coordinates": [ring + [ring[0]]]}
        )
        user_id = create_user(db, "samordnare@example.se", "coordinator", "Samordnare", "x" * 16)
        walk_id = insert_walk(
            db,
            {
                "place_id": place_id,
                "title": "Kvällsvandring i Råcksta",
                "starts_at": "2026-12-01T16:30",
                "meeting_point": "Vid tunnelbanans entré",
                "meeting_lat": 59.3551,
                "meeting_lon": 17.8823,
                "invitation_text": "Välkommen! Vi går en timme och tittar på belysning och stråk.",
                "state": "ongoing",
            },
            user_id,
        )
        (token,) = db.execute("SELECT invite_token FROM walks WHERE id = ?", [walk_id]).fetchone()
    finally:
        db.close()
    return token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(folder: Path) -> tuple[subprocess.Popen, str, str]:
    """gunicorn as `make run` starts it (else werkzeug's server); (process, base URL, how)."""
    port = free_port()
    env = dict(os.environ, FIELDWALK_INSTANCE=str(folder))
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if gunicorn.exists():
        command = [str(gunicorn), "--workers", "2", "--bind", f"127.0.0.1:{port}", "app:app"]
        how = "gunicorn, 2 workers (as `make run`)"
    else:
        command = [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)]
        how = "werkzeug's development server (gunicorn not installed)"
    process = subprocess.Popen(  # noqa: S603 -- our own interpreter and gunicorn
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(base + "/login", timeout=2):  # noqa: S310 -- loopback
                return process, base, how
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("server did not start within 30 s")


# --- measuring -----------------------------------------------------------------------------


def resource_kind(request) -> str:
    """The report's type for what the page asked for."""
    kind = request.resource_type
    if kind in ("fetch", "xhr"):
        return "fetch/xhr"
    return kind if kind in TYPES else "other"


class Tally:
    """Bytes per request, as served over the network."""

    def __init__(self, base: str):
        self.base = base
        self.rows: list[dict] = []
        self.step = ""
        self.via_worker: dict[str, str] = {}  # URL -> type, for page requests the worker answered

    def finished(self, request) -> None:
        response = request.response()
        if response is None or urlsplit(request.url).path.startswith("/photos/"):
            return
        if response.from_service_worker:
            # Answered by the worker: what crossed the network is the worker's own fetch (or
            # its earlier precache), counted below under the type the page asked for.
            self.via_worker[request.url] = resource_kind(request)
            return
        sizes = request.sizes()
        transferred = sizes["responseBodySize"] + sizes["responseHeadersSize"]
        if transferred <= 0:
            return  # memory or disk cache
        self.rows.append(
            {
                "step": self.step,
                "url": request.url,
                "by_worker": request.service_worker is not None,
                "type": "service worker" if request.service_worker else resource_kind(request),
                "status": response.status,
                "encoding": response.headers.get("content-encoding", "-"),
                "bytes": transferred,
                "body": sizes["responseBodySize"],
            }
        )

    def settle(self) -> None:
        """Give the worker's downloads the type of the page request they served, if any.

        What is left as "service worker" was for the worker alone: its script, its precache
        of files no page here asked for, the offline page.
        """
        for row in self.rows:
            if row["by_worker"] and row["url"] in self.via_worker:
                row["type"] = self.via_worker[row["url"]]


def measure(base: str, token: str) -> Tally:
    tally = Tally(base)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=base, **PHONE)
        context.on("requestfinished", tally.finished)

        # Join through the invitation (API requests share the cookies, not the cache).
        join_page = context.request.get(f"/j/{token}").text()
        csrf = join_page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        joined = context.request.post(
            f"/j/{token}",
            form={"csrf_token": csrf, "display_name": "Kim", "participant_role": "resident"},
        )
        assert joined.ok, joined.status
        walk_path = urlsplit(joined.url).path.removesuffix("/capture")

        page = context.new_page()
        # Map tiles never load: they are not ours to weigh, and the network may be closed.
        # (Blocked through CDP: Playwright's own routing would switch the HTTP cache off.)
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setBlockedURLs", {"urls": [TILE_PATTERN]})
        tally.step = "walk page"
        page.goto(walk_path, wait_until="load")
        page.wait_for_load_state("networkidle")
        tally.step = "capture screen"
        page.locator(f"a[href='{walk_path}/capture']").click()
        page.wait_for_url(f"**{walk_path}/capture")
        page.wait_for_load_state("networkidle")
        context.close()
        browser.close()
    tally.settle()
    return tally


def is_map(url: str) -> bool:
    """Whether a response is part of the map, which pages load only when one is shown."""
    return any(part in urlsplit(url).path for part in MAP_FILES)


def kb(n: int) -> str:
    return f"{n / 1024:7.1f} KB"


def report(tally: Tally, how: str) -> None:
    print(f"server: {how}")
    total = sum(r["bytes"] for r in tally.rows)
    for step in ("walk page", "capture screen"):
        rows = [r for r in tally.rows if r["step"] == step]
        print(f"\n{step}: {len(rows)} responses, {kb(sum(r['bytes'] for r in rows))}")
        print(f"  {'all':>10}  {'headers':>10}  {'type':<15}{'enc':<5} st.  url")
        for r in sorted(rows, key=lambda r: -r["bytes"]):
            url = r["url"].removeprefix(tally.base)
            url = (url if len(url) <= 58 else url[:55] + "...") + (
                " (sw)" if r["by_worker"] else ""
            )
            print(
                f"  {kb(r['bytes'])}  {kb(r['bytes'] - r['body'])}  {r['type']:<15}"
                f"{r['encoding']:<5}{r['status']}  {url}"
            )
    by_type: dict[str, int] = defaultdict(int)
    for r in tally.rows:
        by_type[r["type"]] += r["bytes"]
    print("\nby type (both steps; (sw) above = downloaded by the service worker):")
    for kind in TYPES:
        print(f"  {kind:<15}{kb(by_type.get(kind, 0))}")
    print(f"  {'total':<15}{kb(total)}")
    headers = sum(r["bytes"] - r["body"] for r in tally.rows)
    print(
        f"  of which response headers {kb(headers).strip()} (HTTP/1.1 straight from gunicorn; "
        "behind an HTTP/2 proxy repeated headers shrink to a few bytes each)"
    )
    map_bytes = sum(r["bytes"] for r in tally.rows if is_map(r["url"]))
    before_map = total - map_bytes
    print(f"  {'the map':<15}{kb(map_bytes)}  (Leaflet and its style sheet, loaded when shown)")
    print(
        f"\nbefore the map is needed: {kb(before_map).strip()} (target under "
        f"{WITHOUT_MAP_TARGET_BYTES // 1024} KB) -> "
        f"{'PASS' if before_map < WITHOUT_MAP_TARGET_BYTES else 'FAIL'}"
    )
    verdict = "PASS" if total < TARGET_BYTES else "FAIL"
    print(
        f"\ntarget: under {TARGET_BYTES // 1024} KB in all -> {verdict} "
        f"({total / TARGET_BYTES:.0%} of the budget; FixMyStreet's report page loads about "
        f"{FIXMYSTREET_BYTES // 1024} KB of gzipped JS and CSS)"
    )
    bodies = total - headers
    print(
        f"bodies alone (what the FixMyStreet figure counts; headers as over HTTP/2): "
        f"{kb(bodies).strip()} -> {'PASS' if bodies < TARGET_BYTES else 'FAIL'}"
    )


def main() -> None:
    build_static(ROOT / "static")
    written = compress_static(ROOT / "static")
    folder = Path(tempfile.mkdtemp(prefix="fieldwalk-weight-"))
    server = None
    try:
        token = make_instance(folder)
        server, base, how = serve(folder)
        tally = measure(base, token)
        report(tally, how)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            server.stderr.close()
        shutil.rmtree(folder, ignore_errors=True)
        for path in written:
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
    sys.exit(0)
