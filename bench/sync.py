"""Time the offline outbox's replay against plain uploads of the same photos; bytes per photo.

Run from the project root (`make bench` runs it too):

    .venv/bin/python bench/sync.py [--observations 200]

It serves a fresh instance as `make run` does (gunicorn, 2 workers, access log on), opens a
phone-sized Chromium (Debian's) with its own profile on the capture screen of a walk joined
through its invitation link, cuts the network (for the page and its service worker alike),
and records the observations through the capture screen itself: a category, a
12-megapixel phone photo (4000x3000 JPEG, quality 90, EXIF orientation 6 and a GPS
position; each one different) put into the photo input, a description, Save. So the capture
screen's own `prepare()` makes each photo smaller (long edge 2048 px, JPEG quality 0.85) and
`FieldwalkOutbox.add()` queues it in IndexedDB, as on a phone.

Then the phone is switched off (the browser closes) and on again with signal: the same
profile opened by a plain `chromium --headless` on the capture screen, with no Playwright and
no DevTools attached. That is on purpose: a browser driven by Playwright reports every
request to the driver with its body, which costs about 28 ms of CPU per 400 KB photo (in the
driver, the browser and the page; on 2 cores, taken from the server) and which no phone
pays. The page's outbox starts the replay when it loads. The replay's time is the server's:
from the start of its first request to the end of its last (from the app's request log),
and the run is over when the database holds every observation and photo. Playwright opens
the profile once more afterwards to check that the outbox is empty.

In the same run the same bytes go up as plain sequential requests (PUT the observation, then
PUT its photo) from a resident who joined through the invitation link, with the session
cookie and CSRF token a phone has (so the server does the same work: session, CSRF, the
residents' rate-limit counters), to a second server started the same way on a second fresh
instance: photos are stored once per content, so a server that already held these photos
would skip writing (and flushing) their files. Both phases start from an empty photo folder.

It prints the bytes sent per photo, both times (each measured the same way, from the
server's request log, and the plain upload's also by its client), their ratio against the
target (the outbox within 1.5x of the plain upload) and the server's own time per request
in each phase, then checks that the server holds exactly the observations and photos sent
and that the outbox is empty. It always exits 0.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path

from common import (
    CHROMIUM,
    CHROMIUM_ARGS,
    POSITION,
    Client,
    PhoneCamera,
    Server,
    connect,
    cpu_by_kind,
    describe_sizes,
    load_average,
    new_id,
    new_instance,
    seed_place,
    seed_user,
    seed_walk,
)
from PIL import Image
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

TARGET_RATIO = 1.5
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "screen": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "sv-SE",
    "timezone_id": "Europe/Stockholm",
    "permissions": ["geolocation"],
    "geolocation": {"latitude": POSITION[0], "longitude": POSITION[1], "accuracy": 8},
}
# Counts the outbox's entries (metadata only: photo bytes live in their own store).
COUNT_JS = """() => FieldwalkOutbox.all().then((entries) => entries.length)"""
# The downsized photos and bodies the outbox holds, a slice at a time, as base64.
READ_JS = """([from, to]) => FieldwalkOutbox.all().then((entries) => Promise.all(
  entries.slice(from, to).map((e) => FieldwalkOutbox.photoData(e.photos[0].id).then(
    (data) => new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve({
        id: e.id, state: e.state, body: e.body, photos: e.photos.length,
        type: e.photos[0].type, data: reader.result.split(',')[1] });
      reader.readAsDataURL(new Blob([data]));
    })))))"""


class Network:
    """The phone's network, cut for pages and the service worker alike (Playwright's offline
    switch alone does not stop the worker's own fetches); no routing at all while it is up."""

    def __init__(self, context: BrowserContext):
        self.context = context

    @staticmethod
    def _down(route) -> None:
        route.abort("internetdisconnected")

    def go_offline(self) -> None:
        self.context.route("**/*", self._down)
        self.context.set_offline(True)

    def go_online(self) -> None:
        self.context.unroute("**/*", self._down)
        self.context.set_offline(False)


def join(page: Page, invite_token: str, walk_id: int) -> None:
    """Follow the invitation link and join as a resident, as a person does."""
    page.goto(f"/j/{invite_token}")
    page.locator("#display_name").fill("Kim")
    page.locator("main form button").click()
    page.wait_for_url(f"**/walks/{walk_id}/capture")
    # A worker in charge of the page, as on a phone that has been here before.
    page.wait_for_function("() => navigator.serviceWorker.ready.then((r) => !!r.active)")
    if not page.evaluate("!!navigator.serviceWorker.controller"):
        page.reload()


def record(page: Page, n: int, photo: bytes) -> None:
    """One observation through the capture screen, with one photo taken by the 'camera'."""
    page.locator("#category input[value=lighting]").check()
    page.locator("#photos").set_input_files(
        [{"name": f"IMG_{20260501 + n}.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    expect(page.locator("#photo-previews li")).to_have_count(1)
    page.locator("#description").fill(f"Trasig lampa vid gångvägen, nummer {n}")
    page.locator("#save").click()
    expect(page.locator("#description")).to_have_value("", timeout=60_000)  # queued


def read_outbox(page: Page, total: int) -> list[dict]:
    """Every queued entry with its downsized photo's bytes, oldest first."""
    entries = []
    for start in range(0, total, 10):
        for entry in page.evaluate(READ_JS, [start, start + 10]):
            entry["data"] = base64.b64decode(entry["data"])
            entries.append(entry)
    return entries


def replay_unwatched(
    profile: Path, server: Server, instance: Instance, total: int
) -> tuple[float, str]:
    """Open the phone's profile in a Chromium no test driver is attached to, on the capture
    screen; wait until the server holds every observation and photo. (Wall seconds from the
    browser's start, its start-up and the page load included; the CPU each process used.)"""
    url = f"{server.url}/walks/{instance.walk['id']}/capture"
    command = [
        CHROMIUM,
        "--headless",
        *CHROMIUM_ARGS,
        "--password-store=basic",  # as Playwright ran it: the session cookie reads back
        "--use-mock-keychain",
        f"--user-data-dir={profile}",
        "--window-size=360,740",
        url,
    ]
    cpu = cpu_by_kind(os.getpid())
    started = time.perf_counter()
    phone = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30 * 60
        while instance.counts()[:2] != (total, total):
            if phone.poll() is not None:
                raise RuntimeError(f"chromium exited with {phone.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"after 30 minutes the server holds {instance.counts()}")
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        time.sleep(1)  # the outbox deletes what the server confirmed
        used = cpu_used(cpu)
    finally:
        phone.terminate()  # as a person closes the app: IndexedDB writes are flushed
        try:
            phone.wait(30)
        except subprocess.TimeoutExpired:
            phone.kill()
            phone.wait(10)
    return seconds, used


def span(lines: list[dict]) -> float:
    """Seconds from the start of the first PUT to the end of the last, by the app's log."""
    ends, starts = [], []
    for line in lines:
        if line.get("method") != "PUT":
            continue
        end = datetime.fromisoformat(line["time"].replace("Z", "+00:00")).timestamp()
        ends.append(end)
        starts.append(end - (line.get("duration_ms") or 0.0) / 1000)
    return max(ends) - min(starts) if ends else float("nan")


def plain_upload(port: int, walk: dict, entries: list[dict]) -> tuple[float, int]:
    """The same photos as sequential PUTs by a resident who joined the walk through its
    invitation link, as a phone without the outbox would send them; (seconds, failures)."""
    client = Client(port)
    client.join(walk["invite_token"], "Kim")
    walk_id = walk["id"]
    failures = 0
    start = time.perf_counter()
    for entry in entries:
        observation_id, photo_id = new_id(), new_id()
        body = dict(entry["body"], walk_id=walk_id, photos=[photo_id])
        answer = client.put_json(f"/api/v1/observations/{observation_id}", body)
        failures += answer.status != 201
        answer = client.put_photo(
            f"/api/v1/observations/{observation_id}/photos/{photo_id}", entry["data"]
        )
        failures += answer.status != 201
    return time.perf_counter() - start, failures


def cpu_used(before: dict[str, float]) -> str:
    """CPU seconds each kind of process this bench started used since `before`."""
    after = cpu_by_kind(os.getpid())
    used = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    return ", ".join(f"{k} {v:.1f} s" for k, v in sorted(used.items(), key=lambda kv: -kv[1]))


def server_lines(server: Server, offset: int) -> tuple[list[dict], int]:
    """The app's JSON request lines written to gunicorn's stderr since `offset`."""
    text = server.stderr()
    lines = []
    for line in text[offset:].splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines, len(text)


def server_time(lines: list[dict]) -> str:
    """Requests and the app's mean time per kind of request, from its request log."""
    kinds: dict[str, list[float]] = {}
    for line in lines:
        path = line.get("path", "")
        if line.get("method") == "PUT":
            kind = "PUT photo" if "/photos/" in path else "PUT observation"
        else:
            kind = f"{line.get('method')} {path.split('/')[1] if '/' in path else path}"
        kinds.setdefault(kind, []).append(line.get("duration_ms") or 0.0)
    parts = [
        f"{kind}: {len(ms)} x {statistics.mean(ms):.0f} ms"
        for kind, ms in sorted(kinds.items(), key=lambda kv: -len(kv[1]))
    ]
    statuses: dict[int, int] = {}
    for line in lines:
        statuses[line.get("status")] = statuses.get(line.get("status"), 0) + 1
    return "; ".join(parts) + f"  (statuses {dict(sorted(statuses.items()))})"


class Instance:
    """A fresh instance folder with the Råcksta place, a coordinator and an ongoing walk."""

    def __init__(self, folder: Path, title: str):
        self.folder = folder
        db = new_instance(folder)
        self.user = seed_user(db, "coordinator@example.se")
        self.walk = seed_walk(db, seed_place(db), self.user["id"], title)
        self.database = db.conn.execute("PRAGMA database_list").fetchone()[2]
        db.close()

    def counts(self) -> tuple[int, int, int]:
        return walk_counts(self.database, self.walk["id"], self.folder / "photos")


def walk_counts(database: str, walk_id: int, photo_dir: Path) -> tuple[int, int, int]:
    """(observations, photos, photo rows whose display or thumbnail file is missing)."""
    db = connect(database)
    try:
        (observations,) = db.execute(
            "SELECT count(*) FROM observations WHERE walk_id = ?", [walk_id]
        ).fetchone()
        rows = db.execute(
            """SELECT photos.file, photos.thumb_file FROM photos
               JOIN observations ON observations.id = photos.observation_id
               WHERE observations.walk_id = ?""",
            [walk_id],
        ).fetchall()
    finally:
        db.close()
    missing = sum(1 for r in rows if not all((photo_dir / f).exists() for f in r))
    return observations, len(rows), missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=200)
    args = parser.parse_args()
    total = args.observations
    print(f"load average: {load_average()}; cpus: {os.cpu_count()}")

    with tempfile.TemporaryDirectory(prefix="fieldwalk-bench-sync-") as tmp:
        outbox_instance = Instance(Path(tmp) / "outbox", "Outbox walk")
        plain_instance = Instance(Path(tmp) / "plain", "Plain upload walk")
        camera = PhoneCamera()
        # As `make run` serves it; map tiles from a closed port, so nothing leaves the machine.
        os.environ["FIELDWALK_TILE_URL"] = "http://127.0.0.1:9/{z}/{x}/{y}.png"
        profile = Path(tmp) / "phone-profile"
        server = Server(outbox_instance.folder, workers=2, args=("--access-logfile", "-"))
        with server, sync_playwright() as playwright:
            phone = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS,
                base_url=server.url,
                **PHONE,
            )
            phone.set_default_timeout(30_000)
            page = phone.pages[0] if phone.pages else phone.new_page()
            walk = outbox_instance.walk
            join(page, walk["invite_token"], walk["id"])
            network = Network(phone)
            network.go_offline()

            print(f"recording {total} observations offline through the capture screen...")
            originals = []
            started = time.perf_counter()
            for n in range(total):
                photo = camera.original(n)
                originals.append(len(photo))
                record(page, n, photo)
                if (n + 1) % 50 == 0:
                    print(f"  {n + 1} queued ({time.perf_counter() - started:.0f} s)")
            entries = read_outbox(page, total)
            waiting = sum(1 for e in entries if e["state"] == "waiting" and e["photos"] == 1)
            print(f"  outbox: {len(entries)} entries, {waiting} waiting with one photo each")
            phone.close()  # switched off, with the outbox on it

            print("switched on again with signal, no test driver attached: replaying...")
            _, offset = server_lines(server, 0)
            outbox_wall, outbox_cpu = replay_unwatched(profile, server, outbox_instance, total)
            outbox_lines, offset = server_lines(server, offset)
            outbox_seconds = span(outbox_lines)

            phone = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, base_url=server.url, **PHONE
            )
            page = phone.pages[0] if phone.pages else phone.new_page()
            page.goto(f"/walks/{walk['id']}/capture")
            left = page.evaluate(COUNT_JS)
            phone.close()
            locked = server.stderr().count("database is locked")

        server = Server(
            plain_instance.folder, workers=2, args=("--access-logfile", "-"), name="plain"
        )
        with server:
            cpu, own = cpu_by_kind(os.getpid()), sum(os.times()[:2])
            plain_wall, failures = plain_upload(server.port, plain_instance.walk, entries)
            plain_cpu = f"{cpu_used(cpu)}, this script {sum(os.times()[:2]) - own:.1f} s"
            plain_lines, _ = server_lines(server, 0)
            plain_lines = [line for line in plain_lines if line.get("method") == "PUT"]
            plain_seconds = span(plain_lines)
            locked += server.stderr().count("database is locked")

        outbox_counts = outbox_instance.counts()
        plain_counts = plain_instance.counts()

    sizes = [len(e["data"]) for e in entries]
    with Image.open(io.BytesIO(entries[0]["data"])) as image:
        sent = f"{image.format} {image.width}x{image.height}, {len(image.getexif())} EXIF tags"
    print()
    print("bytes per photo, 12-megapixel phone photo (4000x3000, q90, EXIF orientation 6 + GPS):")
    print(f"  original as taken:          {describe_sizes(originals)}")
    print(f"  sent (capture screen, 2048 px, q0.85): {describe_sizes(sizes)}")
    body = statistics.mean(len(json.dumps(e["body"]).encode()) for e in entries)
    print(f"  plus the observation's JSON: mean {body:.0f} bytes")
    print(
        f"  sent / original: {statistics.mean(sizes) / statistics.mean(originals):.1%} "
        f"(saves {(statistics.mean(originals) - statistics.mean(sizes)) / 2**20:.2f} MiB a photo;"
        f" {sent}, sent as {entries[0]['type']})"
    )
    print()
    print(
        f"outbox replay:  {total} observations + {total} photos in {outbox_seconds:.1f} s, "
        f"{total / outbox_seconds:.2f} observations/s (first request to last, by the server)"
    )
    print(f"  from switching the phone on to all stored: {outbox_wall:.1f} s")
    print(f"  server: {server_time(outbox_lines)}")
    print(f"  CPU used: {outbox_cpu}")
    print(
        f"plain upload:   {total} observations + {total} photos in {plain_seconds:.1f} s, "
        f"{total / plain_seconds:.2f} observations/s (first request to last, by the server)"
        + (f"  ({failures} requests not answered 201)" if failures else "")
    )
    print(f"  by its client: {plain_wall:.1f} s")
    print(f"  server: {server_time(plain_lines)}")
    print(f"  CPU used: {plain_cpu}")
    ratio = outbox_seconds / plain_seconds
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    print(f"outbox / plain = {ratio:.2f}x   target <= {TARGET_RATIO}x   {verdict}")
    print()
    expected = (total, total, 0)
    for name, counts in (("outbox walk", outbox_counts), ("plain walk", plain_counts)):
        verdict = "ok" if counts == expected else "WRONG"
        print(
            f"server holds for the {name}: {counts[0]} observations, {counts[1]} photos, "
            f"{counts[2]} with a missing file (expected {total}, {total}, 0): {verdict}"
        )
    print(f"entries left in the outbox: {left}; 'database is locked' in the log: {locked}")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    try:
        main()
    except Exception:  # a bench reports what it can; it never fails `make bench`
        traceback.print_exc()
        print("bench/sync.py stopped on the error above.")
    sys.exit(0)
