"""What the benchmarks share: the app under gunicorn on a free loopback port with a fresh
instance folder, rows seeded through the domain functions, a small HTTP client (its own
cookies, or a bearer token), and phone-like photos made in memory.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import http.cookies
import io
import json
import math
import os
import re
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))  # run from a clone, without installing

from photo_ingest import make_phone_jpeg  # noqa: E402  (bench/ is the script's own folder)
from sqlite_utils import Database  # noqa: E402

from fieldwalk import create_app  # noqa: E402
from fieldwalk.auth import create_token, create_user  # noqa: E402
from fieldwalk.db import connect  # noqa: E402
from fieldwalk.devtools.nginx import SITE_NAME, unchecked_tls  # noqa: E402
from fieldwalk.places.model import insert_place  # noqa: E402
from fieldwalk.walks.model import insert_walk  # noqa: E402

PASSWORD = "bench password, not a real one"  # noqa: S105  (a throwaway instance)
# Råcksta's old square, roughly, as in tests/conftest.py; POSITION lies inside it.
RACKSTA = {
    "type": "Polygon",
    "coordinates": [
        [[17.876, 59.352], [17.889, 59.352], [17.889, 59.358], [17.876, 59.358], [17.876, 59.352]]
    ],
}
POSITION = (59.35512, 17.88234)
CHROMIUM = "/usr/bin/chromium"
# Root in a container; the rest keeps Chromium from calling home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: figures taken beside busy processes mean little."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _process_kind(cmdline: str) -> str:
    if "gunicorn" in cmdline:
        return "server"
    if "run-driver" in cmdline:
        return "playwright driver"
    if "--type=renderer" in cmdline:
        return "renderer"
    if "NetworkService" in cmdline:
        return "network service"
    if "chromium" in cmdline:
        return "browser process" if "--type=" not in cmdline else "other browser processes"
    return "other"


def cpu_by_kind(root: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the live descendants of `root`, by kind:
    the server (gunicorn and its workers), Chromium's processes, Playwright's driver."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    kinds: dict[int, str] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        pid = int(entry.name)
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[pid] = int(fields[1])
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks
        kinds[pid] = _process_kind(cmdline)
    totals: dict[str, float] = {}
    for pid, seconds in used.items():
        ancestor, kind = pid, kinds[pid]
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
            if kinds.get(ancestor) == "server":
                kind = "server"  # gunicorn's workers are plain python processes
        if ancestor == root and pid != root:
            totals[kind] = totals.get(kind, 0.0) + seconds
    return totals


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


UNCHECKED_TLS = unchecked_tls()  # the front's throwaway certificate


def nice_group(pid: int, nice: int, what: str) -> None:
    """Lower the share of the CPU of a process in a session of its own, not only its threads'
    among themselves: with the kernel's autogroups (on here) a niceness or scheduling policy
    only ranks a group's own threads, and the group itself competes with the others at equal
    weight. So the group is niced too, as systemd's CPUWeight= does for a unit's cgroup
    (docs/systemd/fieldwalk-photos.service and fieldwalk-blur.service set both)."""
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
    except OSError as error:
        print(f"could not nice {what}'s autogroup ({error}); its own priority alone")


def exit_on_sigterm() -> None:
    """Make SIGTERM (kill, timeout) end the bench through its `finally` blocks and context
    managers, as Ctrl-C does, so the servers it started are stopped and not left running."""
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum, _frame) -> None:
    raise SystemExit(128 + signum)


class Server:
    """gunicorn serving `app:app` on 127.0.0.1, in its own process group, logs to files."""

    def __init__(
        self,
        instance: Path,
        workers: int = 2,
        args: tuple[str, ...] = (),
        name: str = "gunicorn",
        nice: int = 0,
        env: dict[str, str] | None = None,
    ):
        self.instance = instance
        self.env = env or {}  # as a unit's Environment= lines
        self.workers = workers
        self.args = list(args)
        self.nice = nice  # as a systemd unit's Nice= runs it
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout_path = instance.parent / f"{name}.out"
        self.stderr_path = instance.parent / f"{name}.err"
        self.process: subprocess.Popen | None = None

    @property
    def command(self) -> list[str]:
        return [
            *(["nice", "-n", str(self.nice)] if self.nice else []),
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(self.workers),
            "--bind",
            f"127.0.0.1:{self.port}",
            *self.args,
            "app:app",
        ]

    def start(self, timeout: float = 60) -> None:
        """Start gunicorn and wait until /healthz answers 200."""
        exit_on_sigterm()
        env = dict(os.environ, FIELDWALK_INSTANCE=str(self.instance), **self.env)
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=env, start_new_session=True, stdout=out, stderr=err
            )
        if self.nice:
            nice_group(self.process.pid, self.nice, "the photo pool")
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.stderr()[-3000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not answer /healthz:\n{self.stderr()[-3000:]}")
            time.sleep(0.2)

    def healthy(self) -> bool:
        try:
            return Client(self.port, timeout=2).get("/healthz").status == 200
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM to the whole group (graceful), SIGKILL when that takes too long."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --- seeded rows -------------------------------------------------------------------------------


def new_instance(folder: Path) -> Database:
    """A migrated instance folder (database, photos, secret key); a connection to its database."""
    app = create_app({"INSTANCE": str(folder)})
    return connect(app.config["DATABASE_PATH"])


def seed_place(db: Database) -> int:
    """The Råcksta square."""
    return insert_place(db, "racksta", "Råcksta", RACKSTA)


def seed_user(db: Database, email: str, role: str = "coordinator", token: bool = True) -> dict:
    """A staff user with PASSWORD, and a bearer token unless told otherwise."""
    user_id = create_user(db, email, role, email.split("@")[0], PASSWORD)
    return {
        "id": user_id,
        "email": email,
        "password": PASSWORD,
        "token": create_token(db, user_id, "bench") if token else None,
    }


def seed_walk(db: Database, place_id: int, user_id: int, title: str) -> dict:
    """An ongoing walk around the place; its row (id, invite_token, ...)."""
    walk_id = insert_walk(
        db,
        {"place_id": place_id, "title": title, "starts_at": "2026-12-01T16:30", "state": "ongoing"},
        user_id,
    )
    return dict(db.execute("SELECT * FROM walks WHERE id = ?", [walk_id]).fetchone())


def observation_body(walk_id: int, photo_ids: list[str], text: str) -> dict:
    """An observation as the capture screen sends it: a position from the phone, one photo."""
    return {
        "category": "lighting",
        "works_well": False,
        "description": text,
        "feeling": 2,
        "urgent": False,
        "walk_id": walk_id,
        "lat": POSITION[0],
        "lon": POSITION[1],
        "accuracy_m": 8,
        "location_source": "device",
        "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "photos": photo_ids,
    }


def new_id() -> str:
    return str(uuid.uuid4())


# --- HTTP --------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float
    headers: dict[str, str]

    def json(self) -> dict | None:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Client:
    """One person's HTTP client: its own cookies, or a bearer token. Over HTTPS (to nginx) it
    keeps its connection from request to request, as a phone's browser does, and makes a new
    one after `close()` (a phone back from a walk without signal); straight to gunicorn, one
    connection a request (its sync workers close each anyway). `source` is a loopback
    address to send from (127.0.0.2, ...): the app then sees another client address."""

    def __init__(
        self,
        port: int,
        bearer: str | None = None,
        timeout: float = 120,
        photo_port: int = 0,
        source: str = "",
        tls: bool = False,
    ):
        self.port = port
        self.tls = tls  # HTTPS, as phones reach nginx (a throwaway certificate, not checked)
        self.source = (source, 0) if source else None
        self.photo_port = photo_port or port  # photo uploads may go to a pool of their own
        self.bearer = bearer
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None
        self._kept: dict[int, http.client.HTTPSConnection] = {}  # by port, over HTTPS

    def close(self) -> None:
        """Drop the kept connections: the next request connects (and shakes hands) anew."""
        for conn in self._kept.values():
            conn.close()
        self._kept.clear()

    def _connection(self, port: int) -> tuple[http.client.HTTPConnection, bool]:
        """(a connection to `port`, whether it was kept from an earlier request)."""
        if not self.tls:
            conn = http.client.HTTPConnection(
                "127.0.0.1", port, timeout=self.timeout, source_address=self.source
            )
            return conn, False
        if port in self._kept:
            return self._kept[port], True
        self._kept[port] = http.client.HTTPSConnection(
            "127.0.0.1",
            port,
            timeout=self.timeout,
            source_address=self.source,
            context=UNCHECKED_TLS,
        )
        return self._kept[port], False

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict | None = None,
        port: int = 0,
    ) -> Answer:
        """Send one request; the time covers connecting (when a new connection is needed),
        sending and reading the whole answer."""
        headers = dict(headers or {})
        if not self.tls:
            headers["Connection"] = "close"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        if self.tls:  # the site's name, and the page a browser's form or script was on
            headers = {"Host": SITE_NAME, "Referer": f"https://{SITE_NAME}/", **headers}
        port = port or self.port
        start = time.perf_counter()
        conn, kept = self._connection(port)
        try:
            try:
                response = self._send(conn, method, path, body, headers)
            except (http.client.RemoteDisconnected, ConnectionError, ssl.SSLError):
                if not kept:
                    raise
                # nginx closed the idle kept connection meanwhile: a browser sends again.
                self.close()
                conn, kept = self._connection(port)
                response = self._send(conn, method, path, body, headers)
            data = response.read()
        except BaseException:
            self._drop(port, conn)
            raise
        for value in response.msg.get_all("Set-Cookie") or []:
            cookie = http.cookies.SimpleCookie()
            cookie.load(value)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        answer_headers = {k.lower(): v for k, v in response.getheaders()}
        if not self.tls or response.will_close:
            self._drop(port, conn)
        return Answer(response.status, data, time.perf_counter() - start, answer_headers)

    @staticmethod
    def _send(conn, method: str, path: str, body: bytes | None, headers: dict):
        # Refused before the body was all read: the answer may still be there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.request(method, path, body=body, headers=headers)
        return conn.getresponse()

    def _drop(self, port: int, conn) -> None:
        conn.close()
        if self._kept.get(port) is conn:
            del self._kept[port]

    def get(self, path: str) -> Answer:
        return self.request("GET", path, headers={"Accept": "text/html,application/json"})

    def post_form(self, path: str, fields: dict) -> Answer:
        return self.request(
            "POST",
            path,
            urllib.parse.urlencode(fields).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )

    def put_json(self, path: str, value: dict) -> Answer:
        return self.request("PUT", path, json.dumps(value).encode(), self._write_headers("json"))

    def put_photo(self, path: str, data: bytes) -> Answer:
        return self.request("PUT", path, data, self._write_headers("jpeg"), self.photo_port)

    def _write_headers(self, kind: str) -> dict:
        headers = {
            "Content-Type": "application/json" if kind == "json" else "image/jpeg",
            "Accept": "application/json",
        }
        if self.csrf and not self.bearer:
            headers["X-CSRFToken"] = self.csrf
        return headers

    def form_token(self, path: str) -> str:
        answer = self.get(path)
        match = CSRF_RE.search(answer.body.decode(errors="replace"))
        if not match:
            raise RuntimeError(f"no CSRF token on {path} (HTTP {answer.status})")
        return match.group(1) or match.group(2)

    def login(self, email: str, password: str) -> None:
        """Log in through the staff login form."""
        token = self.form_token("/login")
        answer = self.post_form(
            "/login", {"email": email, "password": password, "csrf_token": token}
        )
        if answer.status != 303:
            raise RuntimeError(f"login failed: HTTP {answer.status}")
        self.csrf = self.session_token()

    def join(self, invite_token: str, name: str) -> None:
        """Join a walk from its invitation link, as a resident's phone does."""
        path = f"/j/{invite_token}"
        token = self.form_token(path)
        answer = self.post_form(
            path, {"csrf_token": token, "display_name": name, "participant_role": "resident"}
        )
        if answer.status != 303:
            raise RuntimeError(f"join failed: HTTP {answer.status}")
        self.csrf = self.session_token()

    def session_token(self) -> str:
        """The CSRF token the outbox fetches before a replay."""
        return self.get("/api/v1/session").json()["csrf_token"]


# --- photos --------------------------------------------------------------------------------


class PhoneCamera:
    """Phone-like photos of one busy scene (bench/photo_ingest.py's), each with its own mark,
    so no two photos are the same bytes (the store keeps one file per content)."""

    WIDTH, HEIGHT = 4000, 3000  # 12 megapixels, sensor landscape

    def __init__(self):
        with Image.open(io.BytesIO(make_phone_jpeg())) as image:
            self.scene = image.convert("RGB")
        # What a phone held upright shows (EXIF orientation 6), at the capture screen's size.
        upright = self.scene.transpose(Image.Transpose.ROTATE_270)
        scale = 2048 / max(upright.size)
        self.upright_2048 = upright.resize(
            (round(upright.width * scale), round(upright.height * scale)),
            Image.Resampling.LANCZOS,
        )

    @staticmethod
    def exif() -> Image.Exif:
        exif = Image.Exif()
        exif[0x0112] = 6  # sensor landscape, phone held upright
        gps = exif.get_ifd(0x8825)
        gps.update({1: "N", 2: (59.0, 21.0, 18.4), 3: "E", 4: (17.0, 52.0, 56.4)})
        return exif

    @staticmethod
    def _mark(image: Image.Image, n: int, cell: int) -> Image.Image:
        """Stamp `n` in binary as a row of squares, and a block whose colour depends on n."""
        image = image.copy()
        draw = ImageDraw.Draw(image)
        for bit in range(16):
            on = (n >> bit) & 1
            x = cell * (1 + bit * 2)
            draw.rectangle((x, cell, x + cell, 2 * cell), fill=(250, 250, 250) if on else (5, 5, 5))
        colour = ((n * 67) % 256, (n * 151) % 256, (n * 29) % 256)
        draw.rectangle((cell, 3 * cell, 8 * cell, 6 * cell), fill=colour)
        return image

    def original(self, n: int) -> bytes:
        """A 4000x3000 JPEG at quality 90 with EXIF orientation 6 and a GPS position."""
        out = io.BytesIO()
        self._mark(self.scene, n, 40).save(out, "JPEG", quality=90, exif=self.exif())
        return out.getvalue()

    def downsized(self, n: int) -> bytes:
        """What the capture screen sends: upright, 2048 px long edge, quality 85, no EXIF."""
        out = io.BytesIO()
        self._mark(self.upright_2048, n, 20).save(out, "JPEG", quality=85)
        return out.getvalue()


# Adam7's passes: first column and row, and the step between columns and between rows.
ADAM7 = [
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
]


def png_bomb(
    width: int, height: int, depth: int, colour: int, row_filter: int = 0, interlaced: bool = False
) -> bytes:
    """A valid PNG of zeros, width x height, at this bit depth and colour type (0 grey,
    6 RGBA): each row is a filter byte (`row_filter`: 0 none ... 4 Paeth, which the decoder
    then applies to every row) and zeros, so it compresses to almost nothing. `interlaced`:
    in Adam7's seven passes."""
    channels = {0: 1, 6: 4}[colour]
    passes = ADAM7 if interlaced else [(0, 0, 1, 1)]
    compressor = zlib.compressobj(9)
    idat = []
    for x0, y0, dx, dy in passes:
        pass_width, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if pass_width > 0:  # a pass with no columns has no rows either
            row = bytes([row_filter]) + b"\x00" * ((pass_width * depth * channels + 7) // 8)
            idat += [compressor.compress(row) for _ in range(rows)]
    idat.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, int(interlaced))
    return png_file(ihdr, b"".join(idat))


def png_file(ihdr: bytes, idat: bytes) -> bytes:
    """A PNG of this IHDR body and this zlib stream of filtered rows."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def scan_bomb(size: int = 2000, repeats: int = 2000) -> bytes:
    """A progressive JPEG whose last scan is sent `repeats` more times."""
    out = io.BytesIO()
    Image.new("RGB", (size, size)).save(out, "JPEG", progressive=True, quality=95)
    return repeat_last_scan(out.getvalue(), repeats)


def repeat_last_scan(jpeg: bytes, repeats: int) -> bytes:
    """A progressive JPEG with its last scan sent `repeats` more times: libjpeg passes over
    the whole image's coefficients once more for each."""
    end = jpeg.rindex(b"\xff\xd9")
    return jpeg[:end] + jpeg[jpeg.rindex(b"\xff\xda") : end] * repeats + b"\xff\xd9"


# --- figures --------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of values; nan for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


def describe_sizes(sizes: list[int]) -> str:
    """mean / median / min / max of byte counts, in KiB."""
    return (
        f"mean {statistics.mean(sizes) / 1024:.0f} KiB, median {statistics.median(sizes) / 1024:.0f}"
        f" KiB, min {min(sizes) / 1024:.0f} KiB, max {max(sizes) / 1024:.0f} KiB"
    )
