"""A whole walk uploading at once while coordinators browse: latency, errors, and nothing lost.

Run from the project root (`make bench` runs it too):

    .venv/bin/python bench/load.py [--phones 20] [--observations 50] [--coordinators 5]
                                   [--workers 4] [--photo-workers 2] [--think 0.5]
                                   [--gunicorn-args "..."]
    .venv/bin/python bench/load.py --burst      # issue 18: 300 phones x 10 photos at once

`--burst` is the evening after a city's walks: 300 phones each emptying an outbox of 10
observations with a photo at the same moment (`--phones 300 --observations 10`): every phone
joins its walk first (as it did on the walk), then all get their signal back in the same
instant, and the 5 minutes are counted from then. Each phone then waits a random moment of
up to `--spread` seconds before it sends, as its outbox does on `online` (3 s, read from
static/js/outbox.js); `--spread 0` has all 300 send their first observation in the same
instant. The phones
spread over loopback addresses 127.0.1.x, ten to an address, as phones on different networks
are (one address for all would meet the per-address write limit, as it should). Its targets:
every observation and photo stored exactly once within 5 minutes, observation PUT p95 under
300 ms, the coordinators' pages p95 under 500 ms meanwhile.

People reach the pools through the example nginx site (docs/nginx/fieldwalk.conf) over
HTTPS with a throwaway certificate, as deployed: nginx buffers each request whole, so a slow
client (here, one of the bench's own threads waiting for the GIL) never holds a sync worker,
and the pools trust its X-Forwarded-For as their units do. `--front none` sends to the pools'
ports directly (the default when nginx is not installed). With `--burst` it also prints a
time line per 10 s from the burst's start: the observation PUTs' p95 and slowest as the
phones see them, the app's own p95 for them, and the main pool's /healthz.

It serves a fresh instance as deployed (docs/deploy.md): two gunicorn pools on 127.0.0.1,
the main one of sync workers, as many as docs/systemd/fieldwalk.service gives it, and the
photo pool with the workers, worker class and threads of fieldwalk-photos.service (gthread;
`--photo-worker-options "--worker-class sync"` for the sync workers it had before), each
with its own control socket folder. Without nginx the phones send their photo PUTs to the
photo pool's port and everything else to the main one, as docs/nginx/fieldwalk.conf routes
them. `--photo-workers 0` serves everything from the main pool, for
comparison (add `--workers 6` for one pool with as many workers). Then it starts, each in
its own thread:

- phones: each joins the walk through its invitation link (a resident's session cookie and
  the CSRF token from /api/v1/session, as the outbox uses), then records its observations
  one after another through the JSON API, exactly as the outbox replays them: PUT the
  observation (declaring its photo), then PUT the photo (a 2048 px JPEG as the capture screen
  makes it, 300-600 KB, every one different). An answer other than 201 is an error; the
  phone then sends the same request again (at most 3 times), as the outbox would.
- coordinators: each logs in, then browses in a loop until the phones are done: the walk
  list, the walk's page, its live observation list, the dashboard, the task list and the
  page of an observation just stored, pausing `--think` seconds between pages.

It prints requests per second, the 50th/95th/99th percentile latency of each kind of
request (measured by the client: connecting, sending, waiting, reading the answer) beside
the app's own time for it (from its JSON request log: the difference is time spent waiting
for a free worker), what each pool served, errors by status, the "database is locked" lines
in gunicorn's logs, then checks the database holds exactly phones x observations
observations and photos with their files, and that `flask --app app check-photos` finds no
orphans. Targets: zero errors, zero "database is locked", p95 of observation writes (the
observation PUT) under 300 ms. The photo PUT's and the coordinators' pages' p95 are
reported beside them, without a target.

Attackers (`--attackers 2`, 0 for none) run beside the phones, each from a loopback address
of its own (127.0.0.11, ...), as residents who joined another walk, and send as fast as the
server answers until the phones are done: a 389 KB PNG of 50 megapixels in 16-bit RGBA
(400 MB of samples), a 6 KB 1-bit PNG of 49 megapixels (accepted: a new observation each
time, so it is decoded each time), a progressive JPEG whose last scan is repeated 2000
times, and a 10 MB JSON observation body of `"photos": [0, 0, ...]`. Over a write limit
(429) an attacker joins again, with a fresh phone. Their answers are printed by kind; an
answer other than the expected refusal (or acceptance) counts as an attack that got
through. Throughout, /healthz of each pool is asked every `--health-every` seconds, as a
load balancer would: target, each pool's slowest answer under 1 s (with `--burst`, from
the burst's start: the phones' joins at one instant before it, a day's walks squeezed into a
second, are shown beside it). It always exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from math import nan
from pathlib import Path
from queue import Empty

from common import (
    ROOT,
    Answer,
    Client,
    PhoneCamera,
    Server,
    connect,
    describe_sizes,
    free_port,
    load_average,
    new_id,
    new_instance,
    nice_group,
    observation_body,
    percentile,
    png_bomb,
    scan_bomb,
    seed_place,
    seed_user,
    seed_walk,
)
from units import unit_environment, unit_nice, unit_worker_options, unit_workers

from fieldwalk.devtools.nginx import (
    SITE,
    find_nginx,
    loopback_site,
    nginx_options,
    running_nginx,
    self_signed_certificate,
)

TARGET_P95_MS = 300
TARGET_HEALTH_MAX_MS = 1000
BURST_PHONES, BURST_OBSERVATIONS, PHONES_PER_ADDRESS = 300, 10, 10
TARGET_BURST_SECONDS, TARGET_PAGES_P95_MS = 300, 500
ATTEMPTS = 3
PAGES = "GET /"  # the coordinators' requests are the kinds that start with it


def outbox_spread() -> float:
    """Seconds a phone's outbox waits at most, at random, when its signal returns before it
    sends (ONLINE_SPREAD_MS in static/js/outbox.js)."""
    found = re.search(r"ONLINE_SPREAD_MS = (\d+);", (ROOT / "static/js/outbox.js").read_text())
    return int(found.group(1)) / 1000


@contextlib.contextmanager
def blur_service(instance: Path, log: Path) -> Iterator[subprocess.Popen]:
    """docs/systemd/fieldwalk-blur.service as it runs: `flask blur-pending --watch` on the
    instance, its threads at SCHED_IDLE (the unit's CPUSchedulingPolicy=idle, by chrt) in a
    session of its own whose autogroup is niced to 19 (as the unit's CPUWeight=idle lowers its
    cgroup: with autogroups a thread's policy only ranks it within its group); stopped by
    SIGTERM as systemd stops it, which lets it give back the photo at hand."""
    command = [sys.executable, "-m", "flask", "--app", "app", "blur-pending", "--watch"]
    if shutil.which("chrt"):
        command = ["chrt", "--idle", "0", *command]
    with open(log, "ab") as err:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            command,
            cwd=ROOT,
            env=dict(os.environ, FIELDWALK_INSTANCE=str(instance)),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    nice_group(process.pid, 19, "the blur service")
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def blurred_count(database: str) -> tuple[int, int]:
    """(photos with their public copies made, photos)."""
    db = connect(database)
    try:
        return db.execute("SELECT count(public_file), count(*) FROM photos").fetchone()  # type: ignore[return-value]
    finally:
        db.close()


@contextlib.contextmanager
def running(server: Server, runtime: Path):
    """Run `server` with its own XDG_RUNTIME_DIR, as each systemd unit has its own: newer
    gunicorn keeps its control socket there, and two pools must not share one."""
    runtime.mkdir()
    before = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    try:
        server.start()
    finally:
        if before is None:
            del os.environ["XDG_RUNTIME_DIR"]
        else:
            os.environ["XDG_RUNTIME_DIR"] = before
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Route:
    """Where the people's requests go: nginx's port for all (HTTPS, as deployed), or without
    a front the main pool's port and the photo pool's for photo uploads."""

    main: int
    photos: int
    tls: bool = False

    def client(self, **options) -> Client:
        return Client(self.main, photo_port=self.photos, tls=self.tls, **options)


@contextlib.contextmanager
def nginx_front(folder: Path, main: int, photos: int) -> Iterator[Route]:
    """The example site (docs/nginx/fieldwalk.conf) on loopback in front of the two pools,
    as deployed (its export pool's upstream falls back to the main pool here)."""
    nginx = find_nginx()
    if nginx is None:
        raise RuntimeError("no nginx: install Debian's nginx, or use --front none")
    folder.mkdir()
    http_port, https_port = free_port(), free_port()
    site = loopback_site(
        SITE.read_text(), http_port, https_port, {5000: main, 5001: photos, 5002: main}
    )
    options = nginx_options(folder, site, *self_signed_certificate(folder))
    with running_nginx(nginx, options, https_port):
        yield Route(https_port, https_port, tls=True)


def app_starts(log: str, kind: str, since: float) -> list[tuple[float, float]]:
    """(seconds after `since`, the app's own seconds) of each `kind` request in a request log."""
    found = []
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        with contextlib.suppress(ValueError, KeyError):
            entry = json.loads(line)
            if request_kind(entry["method"], entry["path"]) != kind:
                continue
            ended = datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()
            seconds = entry["duration_ms"] / 1000
            found.append((ended - seconds - since, seconds))
    return found


def nginx_starts(log: str, kind: str, since: float) -> dict[str, list[tuple[float, float]]]:
    """From nginx's timed access log (fieldwalk/devtools/nginx.py): (seconds after `since`,
    seconds) of each `kind` request, as nginx had it (from its first byte read to its answer
    sent) and as the pool took it (nginx's upstream time, from connecting to the pool to its
    whole answer): what the client adds is the rest. Refusals (4xx, the attackers') are left out."""
    found: dict[str, list[tuple[float, float]]] = {"nginx": [], "upstream": []}
    for line in log.splitlines():
        parts = line.split()
        if len(parts) != 6 or request_kind(parts[4], parts[5]) != kind or parts[3] >= "400":
            continue
        with contextlib.suppress(ValueError):
            ended, seconds = float(parts[0]), float(parts[1])
            found["nginx"].append((ended - seconds - since, seconds))
            # Sent again to the next server: "0.004, 0.120"; "-" when no pool was reached.
            upstream = [float(v) for v in parts[2].replace(",", " ").split() if v != "-"]
            if upstream:
                found["upstream"].append((ended - seconds - since, sum(upstream)))
    return found


def print_timeline(
    since: float,
    kinds: list[tuple[str, Stats]],
    servers: dict[str, list[tuple[float, float]]],
    window: float = 10,
) -> None:
    """Per `window` seconds from `since` (the burst's start), each kind's answers with their
    p95 and slowest latency, and the p95 of each of `servers` (the app's own time for the first
    kind, nginx's): when in the burst the time went, and where."""
    print(
        f"\nper {window:.0f} s from the burst's start (answers, p95/max ms; then the p95 of "
        + ", ".join(servers)
        + "):"
    )
    print(
        "from s  "
        + "".join(f"{kind:>34}" for kind, _stats in kinds)
        + "".join(f"{name:>10}" for name in servers)
    )
    buckets: dict[int, dict[str, list[float]]] = {}
    for kind, stats in kinds:
        for ended, seconds in zip(stats.ended[kind], stats.seconds[kind], strict=True):
            at = ended - seconds - since
            if at >= 0:
                buckets.setdefault(int(at // window), {}).setdefault(kind, []).append(seconds)
    for name, series in servers.items():
        for at, seconds in series:
            if at >= 0:
                buckets.setdefault(int(at // window), {}).setdefault(name, []).append(seconds)
    for n in sorted(buckets):
        cells = []
        for kind, _stats in kinds:
            found = sorted(buckets[n].get(kind, []))
            cells.append(
                f"{len(found):>8} {percentile(found, 95) * 1000:>10.0f} {found[-1] * 1000:>10.0f}    "
                if found
                else f"{'':>34}"
            )
        for name in servers:
            own = buckets[n].get(name, [])
            cells.append(f"{percentile(own, 95) * 1000:>10.0f}" if own else f"{'':>10}")
        print(f"{n * window:>6.0f}  " + "".join(cells))


class Stats:
    """Latencies and answers per kind of request, from every thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.ended: dict[str, list[float]] = defaultdict(list)  # perf_counter at each answer
        self.errors: Counter = Counter()
        self.statuses: Counter = Counter()
        self.first_errors: list[str] = []

    def export(self) -> dict:
        """What was counted, to send from a phones' process to the parent."""
        with self.lock:
            return {
                "seconds": dict(self.seconds),
                "ended": dict(self.ended),
                "errors": self.errors,
                "statuses": self.statuses,
                "first_errors": self.first_errors,
            }

    def merge(self, counted: dict) -> None:
        """Add what another process counted (`export`)."""
        with self.lock:
            for kind, values in counted["seconds"].items():
                self.seconds[kind].extend(values)
            for kind, values in counted["ended"].items():
                self.ended[kind].extend(values)
            self.errors.update(counted["errors"])
            self.statuses.update(counted["statuses"])
            self.first_errors.extend(counted["first_errors"][: 10 - len(self.first_errors)])

    def add(self, kind: str, seconds: float, status: int | str, ok: bool, detail: str = ""):
        with self.lock:
            self.seconds[kind].append(seconds)
            self.ended[kind].append(time.perf_counter())
            self.statuses[(kind, status)] += 1
            if not ok:
                self.errors[(kind, status)] += 1
                if len(self.first_errors) < 10:
                    self.first_errors.append(f"{kind}: {status} {detail[:200]}")


def timed(stats: Stats, kind: str, call, expect: tuple[int, ...]):
    """Make one request through `call()`, count it; the answer, or None on a network error."""
    start = time.perf_counter()
    try:
        answer = call()
    except OSError as error:
        stats.add(kind, time.perf_counter() - start, type(error).__name__, False, str(error))
        return None
    ok = answer.status in expect
    stats.add(kind, answer.seconds, answer.status, ok, answer.body.decode(errors="replace"))
    return answer


def deliver(stats: Stats, kind: str, call) -> None:
    """Send until the server confirms (200/201), at most ATTEMPTS times, as the outbox does."""
    for _attempt in range(ATTEMPTS):
        answer = timed(stats, kind, call, (201,))
        if answer is not None and answer.status in (200, 201):
            return


def phone(
    route: Route,
    walk: dict,
    number: int,
    photos: list[bytes],
    stats: Stats,
    stored: list[str],
    deadline: float,
    source: str = "",
    together: threading.Barrier | None = None,
    spread: float = 0.0,
) -> None:
    """Join the walk, then send each observation and its photo, in order, as the outbox does.
    With `together`, every phone joins first (on the walk) and all get their signal back at
    once; each then waits a random moment of up to `spread` seconds, as the outbox does on
    `online`, and sends."""
    client = route.client(source=source)
    start = time.perf_counter()
    try:
        client.join(walk["invite_token"], f"Phone {number}")
    except (OSError, RuntimeError) as error:
        stats.add("join (link + session)", time.perf_counter() - start, "join", False, str(error))
        if together is not None:
            together.abort()
        return
    stats.add("join (link + session)", time.perf_counter() - start, 200, True)
    client.close()  # offline on the walk: back in signal, the phone connects anew
    if together is not None:
        together.wait()
        time.sleep(random.uniform(0, spread))
    for n, photo in enumerate(photos):
        if time.monotonic() > deadline:
            return
        observation_id, photo_id = new_id(), new_id()
        body = observation_body(walk["id"], [photo_id], f"Phone {number}, observation {n}")
        path = f"/api/v1/observations/{observation_id}"
        deliver(stats, "PUT observation", partial(client.put_json, path, body))
        deliver(stats, "PUT photo", partial(client.put_photo, f"{path}/photos/{photo_id}", photo))
        with stats.lock:
            stored.append(observation_id)


class Announced(list):
    """The observations a phones' process stored, each also put on a queue for the parent
    (its coordinators open the latest)."""

    def __init__(self, queue):
        super().__init__()
        self.queue = queue

    def append(self, observation_id: str) -> None:
        super().append(observation_id)
        self.queue.put(observation_id)


def phones_process(
    phones: list[tuple[int, list[bytes], str]],
    route: Route,
    walk: dict,
    deadline: float,
    together,
    stored_queue,
    results,
    spread: float = 0.0,
) -> None:
    """A process of its own for some of the phones, each on a thread of it: 300 phones on
    threads of one Python process took turns at its GIL to send, which no phone does (its
    wait was counted in its latency). Sends what it counted to `results` at the end."""
    random.seed()  # each process its own dice, not a copy of the parent's
    stats, stored = Stats(), Announced(stored_queue)
    threads = [
        threading.Thread(
            target=phone,
            args=(route, walk, number, photos, stats, stored, deadline, source, together, spread),
            daemon=True,
        )
        for number, photos, source in phones
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(stats.export())


def collect_stored(queue, stored: list[str], done) -> None:
    """Keep `stored` up to date from the phones' processes until `done`."""
    while not done.is_set() or not queue.empty():
        with contextlib.suppress(Empty):
            stored.append(queue.get(timeout=0.2))


# What each attack sends, and the answers that mean the server held: the costly images are
# refused (413) or, the 1-bit one, accepted; a write limit (429) is the server holding too.
ATTACKS = {
    "16-bit RGBA PNG, 50 MP": (413, 429),
    "1-bit PNG, 49 MP": (201, 429),
    "JPEG of 2000 scans": (413, 429),
    "10 MB JSON body": (413, 429, "reset"),  # or the connection closed before it was all sent
}


def hostile_uploads(walk_id: int) -> dict[str, bytes]:
    """The attackers' payloads, made once."""
    photos = [0] * 3_400_000  # 10 MB of "0, "
    return {
        "16-bit RGBA PNG, 50 MP": png_bomb(7071, 7071, 16, 6),
        "1-bit PNG, 49 MP": png_bomb(7000, 7000, 1, 0),
        "JPEG of 2000 scans": scan_bomb(),
        "10 MB JSON body": json.dumps(
            {"category": "lighting", "walk_id": walk_id, "photos": photos}
        ).encode(),
    }


def attacker(
    route: Route, walk: dict, number: int, hostile: dict, stats: Stats, done, made
) -> None:
    """Send the hostile uploads over and over, from an address of its own, until done."""
    client = None
    while not done.is_set():
        if client is None:
            client = route.client(source=f"127.0.0.{11 + number}")
            try:
                client.join(walk["invite_token"], f"Attacker {number}")
            except (OSError, RuntimeError) as error:
                stats.add("join", 0.0, type(error).__name__, False, str(error))
                client = None
                done.wait(1)
                continue
            # An observation whose photo never arrives: each refused upload tries its slot.
            held, slot = new_id(), new_id()
            body = observation_body(walk["id"], [slot], f"Attacker {number}")
            client.put_json(f"/api/v1/observations/{held}", body)
        accepted, photo = new_id(), new_id()
        body = observation_body(walk["id"], [photo], f"Attacker {number}, 1-bit")
        if client.put_json(f"/api/v1/observations/{accepted}", body).status == 201:
            with stats.lock:
                made["observations"] += 1
        sends = [
            ("16-bit RGBA PNG, 50 MP", f"/api/v1/observations/{held}/photos/{slot}"),
            ("1-bit PNG, 49 MP", f"/api/v1/observations/{accepted}/photos/{photo}"),
            ("JPEG of 2000 scans", f"/api/v1/observations/{held}/photos/{slot}"),
        ]
        answers = []
        for kind, path in sends:
            answer = timed(
                stats, kind, partial(client.put_photo, path, hostile[kind]), ATTACKS[kind]
            )
            answers.append(answer)
            if answer is not None and kind == "1-bit PNG, 49 MP" and answer.status == 201:
                with stats.lock:
                    made["photos"] += 1
        kind = "10 MB JSON body"
        path = f"/api/v1/observations/{new_id()}"
        answers.append(
            timed(stats, kind, partial(send_body, client, path, hostile[kind]), ATTACKS[kind])
        )
        if any(a is not None and a.status == 429 for a in answers):
            client = None  # over a write limit: come back as a new phone


def send_body(client: Client, path: str, body: bytes) -> Answer:
    """PUT a JSON body; a server that answers before reading it all may close the connection
    while it is still being sent ("reset"): refused just the same."""
    start = time.perf_counter()
    try:
        return client.request("PUT", path, body, client._write_headers("json"))
    except (ConnectionResetError, BrokenPipeError):
        return Answer("reset", b"", time.perf_counter() - start, {})


def watch_health(port: int, kind: str, stats: Stats, done, every: float) -> None:
    """Ask /healthz every `every` seconds until done, as a load balancer would."""
    client = Client(port, timeout=30)
    while not done.is_set():
        timed(stats, kind, lambda: client.get("/healthz"), (200,))
        done.wait(every)


def coordinator(
    route: Route, user: dict, walk: dict, stats: Stats, stored: list[str], done, think: float
) -> None:
    """Log in, then browse until the phones are done."""
    client = route.client()
    try:
        client.login(user["email"], user["password"])
    except (OSError, RuntimeError) as error:
        stats.add("login", 0.0, "login", False, str(error))
        return
    pages = [
        ("GET /", "/"),
        ("GET /walks/<id>", f"/walks/{walk['id']}"),
        ("GET /walks/<id>/observations", f"/walks/{walk['id']}/observations"),
        ("GET /dashboard", "/dashboard"),
        ("GET /tasks", "/tasks"),
        ("GET /observations/<uuid>", None),
    ]
    rng = random.Random(user["id"])
    while not done.is_set():
        for kind, path in pages:
            if done.is_set():
                return
            if path is None:
                with stats.lock:
                    if not stored:
                        continue
                    path = f"/observations/{rng.choice(stored[-50:])}"
            timed(stats, kind, lambda p=path: client.get(p), (200,))
            done.wait(think)


def request_kind(method: str, path: str) -> str:
    """The client's name for a request the app logged (its JSON request line)."""
    parts = path.strip("/").split("/")
    if method == "PUT":
        return "PUT photo" if "photos" in parts else "PUT observation"
    if parts[0] in ("j", "login") or path == "/api/v1/session":
        return "join (link + session)" if parts[0] != "login" else "login"
    if parts[0] == "walks" and len(parts) > 1:
        return "GET /walks/<id>" + ("/observations" if len(parts) > 2 else "")
    if parts[0] == "observations":
        return "GET /observations/<uuid>"
    return f"{method} /{parts[0]}"


def server_seconds(log: str) -> dict[str, list[float]]:
    """The app's own time per request (its JSON request lines on stderr), by kind; only the
    phones' and coordinators' requests (from 127.0.0.1, and 127.0.1.x in a --burst), not the
    attackers' (127.0.0.11 and on)."""
    seconds: dict[str, list[float]] = defaultdict(list)
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        address = entry.get("remote_addr", "127.0.0.1")
        if address != "127.0.0.1" and not address.startswith("127.0.1."):
            continue
        if entry.get("duration_ms") is not None and entry.get("path") != "/healthz":
            kind = request_kind(entry.get("method", ""), entry.get("path", ""))
            seconds[kind].append(entry["duration_ms"] / 1000)
    return seconds


def health_app_seconds(log: str) -> list[float]:
    """The app's own time answering /healthz, from one pool's request log."""
    seconds = []
    for line in log.splitlines():
        if line.startswith("{") and '"/healthz"' in line:
            with contextlib.suppress(ValueError, KeyError):
                seconds.append(json.loads(line)["duration_ms"] / 1000)
    return seconds


def attacker_app_seconds(log: str) -> dict[tuple[str, int], list[float]]:
    """The app's own time for the attackers' requests (not from 127.0.0.1), by kind and
    status: what each attack cost a worker, apart from waiting for one."""
    seconds: dict[tuple[str, int], list[float]] = defaultdict(list)
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        address = entry.get("remote_addr", "127.0.0.1")
        if address == "127.0.0.1" or address.startswith("127.0.1.") or entry.get("method") != "PUT":
            continue
        kind = request_kind(entry["method"], entry.get("path", ""))
        seconds[(kind, entry.get("status"))].append(entry.get("duration_ms", 0) / 1000)
    return seconds


def check_photos(instance: Path) -> str:
    """`flask --app app check-photos` on the instance: its summary line."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "check-photos"],
        cwd=ROOT,
        env=dict(os.environ, FIELDWALK_INSTANCE=str(instance)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return (result.stdout.strip().splitlines() or ["(no output)"])[-1] + (
        f" [exit {result.returncode}]" if result.returncode else ""
    )


def database_counts(
    database: str, photo_dir: Path, walk_id: int | None = None
) -> tuple[int, int, int, str]:
    """(observations, photos, photo rows with a missing file, integrity_check), of one walk."""
    db = connect(database)
    try:
        (observations,) = db.execute(
            "SELECT count(*) FROM observations WHERE walk_id = ?", [walk_id]
        ).fetchone()
        rows = db.execute(
            """SELECT file, thumb_file FROM photos
               JOIN observations ON observations.id = photos.observation_id
               WHERE observations.walk_id = ?""",
            [walk_id],
        ).fetchall()
        (integrity,) = db.execute("PRAGMA integrity_check").fetchone()
    finally:
        db.close()
    missing = sum(1 for r in rows if not all((photo_dir / f).exists() for f in r))
    return observations, len(rows), missing, integrity


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, help="default 20 (300 with --burst)")
    parser.add_argument("--observations", type=int, help="per phone; default 50 (10 with --burst)")
    parser.add_argument("--coordinators", type=int, default=5)
    parser.add_argument(
        "--workers",
        type=int,
        default=unit_workers("fieldwalk.service"),
        help="the main pool's gunicorn workers (default: as docs/systemd/fieldwalk.service)",
    )
    parser.add_argument("--think", type=float, default=0.5, help="coordinators' pause, seconds")
    parser.add_argument("--gunicorn-args", default="--timeout 60", help="more gunicorn options")
    parser.add_argument(
        "--photo-workers",
        type=int,
        default=unit_workers("fieldwalk-photos.service"),
        help="the photo pool's gunicorn workers, which serve the photo PUTs as nginx routes "
        "them (default: as docs/systemd/fieldwalk-photos.service); 0: one pool serves all",
    )
    parser.add_argument(
        "--photo-worker-options",
        default=unit_worker_options("fieldwalk-photos.service"),
        help="the photo pool's worker class and threads (default: as its unit, gthread); "
        "'--worker-class sync' for the sync workers it had before",
    )
    parser.add_argument(
        "--photo-nice",
        type=int,
        default=unit_nice("fieldwalk-photos.service"),
        help="the photo pool's niceness (default: its unit's Nice=)",
    )
    parser.add_argument(
        "--blur",
        choices=("service", "pools"),
        default="service",
        help="who blurs the photos' faces: the blur service at idle priority, as the units "
        "deploy it (default), or a thread in each pool's every process, as before",
    )
    parser.add_argument("--max-seconds", type=float, default=900, help="stop phones after this")
    parser.add_argument("--logs", type=Path, help="a folder to copy the servers' logs to")
    parser.add_argument(
        "--spread",
        type=float,
        default=outbox_spread(),
        help="with --burst: the most a phone waits, at random, once its signal is back, before "
        "it sends (default: as static/js/outbox.js waits on `online`); 0: all in the same instant",
    )
    parser.add_argument(
        "--phone-processes",
        type=int,
        default=4,
        help="processes the phones' threads are spread over (each phone a thread): in one, "
        "300 phones took turns at its GIL",
    )
    parser.add_argument(
        "--attackers", type=int, default=2, help="clients sending hostile uploads; 0: none"
    )
    parser.add_argument(
        "--health-every", type=float, default=0.5, help="seconds between /healthz requests"
    )
    parser.add_argument(
        "--front",
        choices=("nginx", "none"),
        default="nginx" if find_nginx() else "none",
        help="people reach the pools through the example nginx site over HTTPS, as deployed"
        " (the default when nginx is installed), or straight on the pools' ports",
    )
    parser.add_argument(
        "--burst",
        action="store_true",
        help="300 phones x 10 observations with a photo at once, from many addresses (issue 18)",
    )
    args = parser.parse_args()
    defaults = (BURST_PHONES, BURST_OBSERVATIONS) if args.burst else (20, 50)
    args.phones = args.phones or defaults[0]
    args.observations = args.observations or defaults[1]
    total = args.phones * args.observations
    print(f"load average: {load_average()}; cpus: {os.cpu_count()}")

    with tempfile.TemporaryDirectory(prefix="fieldwalk-bench-load-") as tmp:
        instance = Path(tmp) / "instance"
        db = new_instance(instance)
        place_id = seed_place(db)
        users = [seed_user(db, f"coordinator{i}@example.se") for i in range(args.coordinators)]
        walk = seed_walk(db, place_id, users[0]["id"] if users else None, "Kvällsvandring")
        # The attackers join a walk of their own: the phones' counts and pages stay theirs.
        attack_walk = seed_walk(db, place_id, users[0]["id"] if users else None, "Annan vandring")
        database = db.conn.execute("PRAGMA database_list").fetchone()[2]
        db.close()

        started = time.perf_counter()
        camera = PhoneCamera()
        photos = [camera.downsized(n) for n in range(total)]
        print(
            f"{total} distinct 2048 px photos made in {time.perf_counter() - started:.0f} s: "
            f"{describe_sizes([len(p) for p in photos])}"
        )

        hostile = hostile_uploads(attack_walk["id"]) if args.attackers else {}
        if hostile:
            sizes = ", ".join(
                f"{kind} {len(data) / 1024:,.0f} KiB" for kind, data in hostile.items()
            )
            print(f"{args.attackers} attackers, each sending in turn: {sizes}")
        gunicorn_args = tuple(shlex.split(args.gunicorn_args))
        # Behind nginx the pools trust its X-Forwarded-For, as the units say: the per-address
        # write limits then see each phone's address.
        behind = (
            {"FIELDWALK_PROXY_FIX_X_FOR": "1", "FIELDWALK_PROXY_FIX_X_PROTO": "1"}
            if args.front == "nginx"
            else {}
        )
        # Faces: as the units say (FIELDWALK_FACE_BLUR_IN_PROCESS=false, the blur service does
        # them), or a thread in each process.
        behind |= (
            unit_environment("fieldwalk.service", "FIELDWALK_FACE_BLUR_IN_PROCESS")
            if args.blur == "service"
            else {"FIELDWALK_FACE_BLUR_IN_PROCESS": "true"}
        )
        print(
            "faces blurred by the blur service at idle priority (docs/systemd/fieldwalk-blur.service)"
            if args.blur == "service"
            else "faces blurred by a thread in every process of both pools (--blur pools)"
        )
        print(
            "people reach the pools through nginx (docs/nginx/fieldwalk.conf) over HTTPS"
            if behind
            else "people reach the pools' ports directly (--front none)"
        )
        server = Server(instance, workers=args.workers, args=gunicorn_args, env=behind)
        print(f"main pool: gunicorn {' '.join(server.command[3:])}")
        photo_server = None
        if args.photo_workers:
            photo_args = (*shlex.split(args.photo_worker_options), *gunicorn_args)
            photo_server = Server(
                instance,
                args.photo_workers,
                photo_args,
                "gunicorn-photos",
                nice=args.photo_nice,
                # glibc's malloc settings as the unit's (read as the process starts)
                env=behind | unit_environment("fieldwalk-photos.service", "GLIBC_TUNABLES"),
            )
            print(f"photo pool: {' '.join(photo_server.command).replace(sys.executable, 'python')}")
            print(
                f"photo pool's malloc: {photo_server.env.get('GLIBC_TUNABLES', 'glibc defaults')}"
            )
            print(
                f"photo pool's malloc: {photo_server.env.get('GLIBC_TUNABLES', 'glibc defaults')}"
            )
        else:
            print("photo pool: none (--photo-workers 0), the main pool serves the photos too")
        print(
            f"{args.phones} phones x {args.observations} observations with a photo"
            + (f" (each starting within {args.spread:g} s of the burst)" if args.burst else "")
            + f", {args.coordinators} coordinators browsing (think {args.think} s)..."
        )
        stats = Stats()
        attacks, health = Stats(), Stats()
        made = {"observations": 0, "photos": 0}  # what the attackers got stored
        stored: list[str] = []
        done = threading.Event()
        with contextlib.ExitStack() as pools:
            pools.enter_context(running(server, Path(tmp) / "run-main"))
            if photo_server:
                pools.enter_context(running(photo_server, Path(tmp) / "run-photos"))
            if args.blur == "service":
                pools.enter_context(blur_service(instance, Path(tmp) / "blur.err"))
            if args.front == "nginx":
                route = pools.enter_context(
                    nginx_front(
                        Path(tmp) / "nginx",
                        server.port,
                        photo_server.port if photo_server else server.port,
                    )
                )
            else:
                route = Route(server.port, photo_server.port if photo_server else server.port)
            deadline = time.monotonic() + args.max_seconds
            # The burst: the phones joined on their walks; after them, all send at once.
            # The phones run in processes of their own (--phone-processes), forked before
            # any thread starts here.
            fork = multiprocessing.get_context("fork")
            released = fork.Value("d", 0.0)  # perf_counter (the same clock in every process)
            released_wall = fork.Value("d", 0.0)
            together = (
                fork.Barrier(
                    args.phones,
                    action=lambda: (
                        setattr(released, "value", time.perf_counter()),
                        setattr(released_wall, "value", time.time()),
                    ),
                )
                if args.burst
                else None
            )
            stored_queue, results = fork.Queue(), fork.Queue()
            everyone = [
                (
                    i,
                    photos[i * args.observations : (i + 1) * args.observations],
                    f"127.0.1.{1 + i // PHONES_PER_ADDRESS}" if args.burst else "",
                )
                for i in range(args.phones)
            ]
            processes = min(args.phone_processes, args.phones)
            phones = [
                fork.Process(
                    target=phones_process,
                    args=(
                        everyone[n::processes],
                        route,
                        walk,
                        deadline,
                        together,
                        stored_queue,
                        results,
                        args.spread,
                    ),
                    daemon=True,  # ended with the bench, stopped from outside or not
                )
                for n in range(processes)
            ]
            start = time.perf_counter()
            for process in phones:
                process.start()
            phones_done_event = threading.Event()
            collector = threading.Thread(
                target=collect_stored, args=(stored_queue, stored, phones_done_event), daemon=True
            )
            browsers = [
                threading.Thread(
                    target=coordinator,
                    args=(route, user, walk, stats, stored, done, args.think),
                    daemon=True,
                )
                for user in users
            ]
            attackers = [
                threading.Thread(
                    target=attacker,
                    args=(route, attack_walk, i, hostile, attacks, done, made),
                    daemon=True,
                )
                for i in range(args.attackers)
            ]
            # Each pool asked directly, as the load balancer (nginx's upstream) would see it.
            pools_health = [("GET /healthz, main pool", server.port)]
            if photo_server:
                pools_health.append(("GET /healthz, photo pool", photo_server.port))
            watchers = [
                threading.Thread(
                    target=watch_health,
                    args=(port, kind, health, done, args.health_every),
                    daemon=True,
                )
                for kind, port in pools_health
            ]
            for thread in [collector, *watchers, *attackers, *browsers]:
                thread.start()
            reported = 0
            while reported < len(phones):
                try:
                    stats.merge(results.get(timeout=1))
                    reported += 1
                except Empty:
                    if not any(process.is_alive() for process in phones) and results.empty():
                        print(f"{len(phones) - reported} phones' process(es) died unreported")
                        break
            for process in phones:
                process.join()
            phones_done = time.perf_counter()
            phones_seconds = phones_done - (released.value or start)
            phones_done_event.set()
            collector.join()
            blurred_then = blurred_count(database)
            done.set()
            for thread in browsers + attackers + watchers:
                thread.join()
            seconds = time.perf_counter() - start
        main_log = server.stderr()
        log = main_log + (photo_server.stderr() if photo_server else "")
        app_seconds = server_seconds(log)
        attack_seconds = attacker_app_seconds(log)
        health_app = {"GET /healthz, main pool": health_app_seconds(server.stderr())}
        if photo_server:
            health_app["GET /healthz, photo pool"] = health_app_seconds(photo_server.stderr())
        served = {"main pool": server_seconds(server.stderr())}
        if photo_server:
            served["photo pool"] = server_seconds(photo_server.stderr())
        locked = log.count("database is locked")
        tracebacks = log.count("Traceback")
        counts = database_counts(database, instance / "photos", walk["id"])
        blurred_end, after_phones = blurred_count(database), time.perf_counter() - phones_done
        if args.logs:  # the pools' and nginx's logs, to look into
            args.logs.mkdir(parents=True, exist_ok=True)
            for log_file in [*Path(tmp).glob("*.err"), *Path(tmp).glob("nginx/*.log")]:
                shutil.copy(log_file, args.logs / log_file.name)
        orphans = check_photos(instance)
        front_log = Path(tmp) / "nginx" / "access.log"
        nginx_log = front_log.read_text() if front_log.exists() else ""

    if released.value:
        print_timeline(
            released.value,
            [("PUT observation", stats), ("GET /healthz, main pool", health)],
            {
                "app": app_starts(main_log, "PUT observation", released_wall.value),
                **nginx_starts(nginx_log, "PUT observation", released_wall.value),
            },
        )
    requests = sum(len(v) for v in stats.seconds.values())
    print()
    print(
        f"{requests} requests in {seconds:.1f} s: {requests / seconds:.1f} requests/s; "
        f"the phones were done after {phones_seconds:.1f} s "
        f"({len(stored) / phones_seconds:.1f} observations with photo/s)"
    )
    print(
        "latency as the client sees it (connect, send, wait for a worker, answer), and the "
        "app's own time\nper request from its request log (the rest is waiting for a worker):"
    )
    print(
        f"{'request':<30} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        f"  {'app p50':>8} {'app p95':>8}"
    )
    for kind in sorted(stats.seconds):
        ms = [s * 1000 for s in stats.seconds[kind]]
        app_ms = [s * 1000 for s in app_seconds.get(kind, [])]
        print(
            f"{kind:<30} {len(ms):>6} {percentile(ms, 50):>8.0f} {percentile(ms, 95):>8.0f} "
            f"{percentile(ms, 99):>8.0f} {max(ms):>8.0f}  {percentile(app_ms, 50):>8.0f} "
            f"{percentile(app_ms, 95):>8.0f}"
        )
    for pool, kinds in served.items():
        by_kind = ", ".join(f"{kind} {len(v)}" for kind, v in sorted(kinds.items()))
        print(f"{pool} served: {by_kind or 'nothing'}")
    errors = sum(stats.errors.values())
    by_status = ", ".join(f"{k} {s}: {n}" for (k, s), n in sorted(stats.errors.items(), key=str))
    print(f"errors: {errors}" + (f" ({by_status})" if errors else ""))
    for line in stats.first_errors:
        print(f"  {line}")
    print(f"'database is locked' in gunicorn's log: {locked}; tracebacks: {tracebacks}")
    observations, photo_rows, missing, integrity = counts
    whole = (observations, photo_rows, missing) == (total, total, 0) and integrity == "ok"
    print(
        f"database: {observations} observations, {photo_rows} photos, {missing} with a missing "
        f"file, integrity {integrity} (expected {total}, {total}, 0): {'ok' if whole else 'WRONG'}"
    )
    print(f"check-photos: {orphans}")
    if args.attackers:
        print(
            f"attackers ({args.attackers}, as residents of another walk; latency as they see it,"
            " answers by status):"
        )
        print(f"{'attack':<30} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  answers")
        for kind in ATTACKS:
            ms = [s * 1000 for s in attacks.seconds.get(kind, [])]
            answers = ", ".join(
                f"{status}: {n}"
                for (k, status), n in sorted(attacks.statuses.items(), key=str)
                if k == kind
            )
            print(
                f"{kind:<30} {len(ms):>6} {percentile(ms, 50):>8.0f} {percentile(ms, 95):>8.0f} "
                f"{max(ms, default=float('nan')):>8.0f}  {answers}"
            )
        print(
            f"the attackers got {made['observations']} observations and {made['photos']} 1-bit "
            "photos stored on their walk"
        )
        costs = ", ".join(
            f"{kind} {status}: {len(v)}, p50 {percentile([x * 1000 for x in v], 50):.0f} ms, "
            f"max {max(v) * 1000:.0f} ms"
            for (kind, status), v in sorted(attack_seconds.items(), key=str)
        )
        print(f"the app's own time for the attackers' writes (from its log): {costs}")
        for line in attacks.first_errors:
            print(f"  got through: {line}")
    for kind in sorted(health.seconds):
        ms = [s * 1000 for s in health.seconds[kind]]
        app_ms = [s * 1000 for s in health_app.get(kind, [])]
        print(
            f"{kind}: {len(ms)} answers, p50 {percentile(ms, 50):.0f} ms, "
            f"p95 {percentile(ms, 95):.0f} ms, max {max(ms):.0f} ms "
            f"(the app's own time: p95 {percentile(app_ms, 95):.0f} ms, "
            f"max {max(app_ms, default=float('nan')):.0f} ms)"
        )
    print()
    p95 = percentile([s * 1000 for s in stats.seconds["PUT observation"]], 95)
    p95_photo = percentile([s * 1000 for s in stats.seconds["PUT photo"]], 95)
    print(f"errors: {errors}   target 0   {'PASS' if errors == 0 else 'FAIL'}")
    print(f"'database is locked': {locked}   target 0   {'PASS' if locked == 0 else 'FAIL'}")
    verdict = "PASS" if p95 < TARGET_P95_MS else "FAIL"
    print(f"p95 observation PUT: {p95:.0f} ms   target < {TARGET_P95_MS} ms   {verdict}")
    print(f"p95 photo PUT: {p95_photo:.0f} ms   (reported, no target)")
    for pool in ("main pool", "photo pool"):
        kind = f"GET /healthz, {pool}"
        if kind not in health.seconds and not health.errors.get(kind):
            continue
        # With --burst, the phones first join their walks all at one instant (a day's walks
        # squeezed into a second): the target is for the burst after it, the joins' answers
        # are shown beside it.
        answered = list(zip(health.seconds.get(kind, []), health.ended.get(kind, []), strict=True))
        since = released.value or 0.0
        joining = [s * 1000 for s, ended in answered if ended < since]
        health_max = max((s * 1000 for s, ended in answered if ended >= since), default=nan)
        health_errors = sum(n for (k, _status), n in health.errors.items() if k == kind)
        verdict = "PASS" if health_max < TARGET_HEALTH_MAX_MS and not health_errors else "FAIL"
        print(
            f"max /healthz ({pool}, every {args.health_every} s"
            f"{', from the burst' if released.value else ''}): {health_max:.0f} ms, "
            f"{health_errors} errors   target < {TARGET_HEALTH_MAX_MS} ms   {verdict}"
            + (
                f"   (while the {args.phones} phones joined at once: max"
                f" {max(joining, default=nan):.0f} ms, reported)"
                if released.value
                else ""
            )
        )
    if args.attackers:
        through = sum(attacks.errors.values())
        print(
            f"attacks that got through (an answer other than refused, or accepted for the 1-bit"
            f" PNG): {through}   target 0   {'PASS' if through == 0 else 'FAIL'}"
        )
    pages = {k: [s * 1000 for s in v] for k, v in stats.seconds.items() if k.startswith(PAGES)}
    every_page = [ms for values in pages.values() for ms in values]
    each = ", ".join(
        f"{k.removeprefix('GET ')} {percentile(v, 95):.0f}" for k, v in sorted(pages.items())
    )
    if args.burst:
        pages_p95 = percentile(every_page, 95)
        verdict = "PASS" if pages_p95 < TARGET_PAGES_P95_MS else "FAIL"
        print(
            f"p95 coordinator pages: {pages_p95:.0f} ms ({each})   "
            f"target < {TARGET_PAGES_P95_MS} ms   {verdict}"
        )
        exact = whole and len(stored) == total
        verdict = "PASS" if exact and phones_seconds < TARGET_BURST_SECONDS else "FAIL"
        print(
            f"every observation and photo stored exactly once: {'yes' if exact else 'NO'}, "
            f"after {phones_seconds:.0f} s   target < {TARGET_BURST_SECONDS} s   {verdict}"
        )
    else:
        print(
            f"p95 coordinator pages: {percentile(every_page, 95):.0f} ms ({each})   "
            "(reported, no target)"
        )
    print(
        f"faces: public copies of {blurred_then[0]} of {blurred_then[1]} photos made when the "
        f"phones were done, {blurred_end[0]} when the bench stopped "
        f"{after_phones:.0f} s later (reported, no target: until then a photo is "
        "shown to staff and its phone only)"
    )
    pools = f"main pool {args.workers} workers" + (
        f" + photo pool {args.photo_workers}" if args.photo_workers else ", no photo pool"
    )
    print(f"layout: {pools}; load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    try:
        main()
    except Exception:  # a bench reports what it can; it never fails `make bench`
        traceback.print_exc()
        print("bench/load.py stopped on the error above.")
    sys.exit(0)
