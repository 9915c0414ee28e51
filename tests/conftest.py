"""Shared fixtures: a fresh app on a real SQLite file in a temp dir, per test.

Helpers insert real rows through the domain functions (`make_place`, `make_user`,
`make_walk`, `make_event`), and `login`/`csrf_token` drive the real login form and CSRF tokens.
"""

import email
import io
import math
import os
import re
import shlex
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import zlib
from contextlib import closing
from email.policy import default as default_policy
from pathlib import Path

import numpy as np
import pytest
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient
from jinja2.bccache import Bucket, BytecodeCache
from PIL import Image
from pypdf import PdfReader
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from fieldwalk import create_app
from fieldwalk.auth import create_token, create_user
from fieldwalk.db import connect
from fieldwalk.events.model import insert_event
from fieldwalk.geo import EARTH_RADIUS_M
from fieldwalk.observations.model import put_observation, validate
from fieldwalk.observations.moderation import APPROVED, review
from fieldwalk.observations.record import record_observation, record_photo
from fieldwalk.parties.model import insert_party
from fieldwalk.photos.attach import PhotoSettings
from fieldwalk.photos.public import blur_pending, blur_photo
from fieldwalk.places.model import insert_place
from fieldwalk.tasks.model import get_task, insert_task, send_walk_tasks
from fieldwalk.tasks.states import COORDINATOR, Actor
from fieldwalk.walks.model import insert_walk

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
PHOTOS = DATA / "photos"
PASSWORD = "correct horse battery"
# The same login flow with a cheaper hash than scrypt: the suite logs in thousands of times.
FAST_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
# The limits tests store photos with when they call the domain directly (no app config).
PHOTO_SETTINGS = PhotoSettings(max_bytes=10**8, max_pixels=10**8, display_edge=1600, thumb_edge=400)

# Råcksta's old square, roughly: a small polygon around 59.355 N 17.882 E.
RACKSTA = {
    "type": "Polygon",
    "coordinates": [
        [[17.876, 59.352], [17.889, 59.352], [17.889, 59.358], [17.876, 59.358], [17.876, 59.352]]
    ],
}


def east_of_racksta(metres: float) -> tuple[float, float]:
    """A position `metres` due east of Råcksta's polygon (tests/conftest.py: its east edge is
    17.889 E), measured as the far rule measures."""
    lat = 59.355
    return lat, 17.889 + metres / (math.cos(math.radians(lat)) * EARTH_RADIUS_M * math.pi / 180)


@pytest.fixture(scope="session")
def migrated(tmp_path_factory) -> Path:
    """A database file with every migration applied, made once per test process.

    Each test's app starts from a copy of it: migrating a new file cost 0,14 s for each of
    three thousand tests. The migrations themselves are tested from an empty file
    (test_migrations.py) and from older databases with rows (test_mapcells.py).
    """
    instance = tmp_path_factory.mktemp("migrated") / "instance"
    path = Path(create_app({"TESTING": True, "INSTANCE": str(instance)}).config["DATABASE_PATH"])
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the file itself
    return path


def some_row(db, rng, table: str, key: str = "rowid"):
    """A row's `key` of `table` picked by the seeded generator `rng`, or None when it has no
    rows (SQLite's random() is not seeded: a random test's failure would not replay)."""
    count = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
    if not count:
        return None
    sql = f"SELECT {key} FROM {table} ORDER BY rowid LIMIT 1 OFFSET ?"  # noqa: S608
    return db.execute(sql, [rng.randrange(count)]).fetchone()[0]


def build_once(migrated: Path, tmp_path_factory, fill) -> tuple[Path, object]:
    """A copy of the migrated database with what `fill(db)` writes (for a module's many
    tests that each need the same few hundred rows), and what `fill` returned."""
    path = tmp_path_factory.mktemp("built") / migrated.name
    shutil.copyfile(migrated, path)
    conn = connect(path)
    try:
        value = fill(conn)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return path, value


def restore(db, path: Path) -> None:
    """Make the test's database hold what the file at `path` holds (SQLite's backup: safe
    with the app's other connections open)."""
    with closing(sqlite3.connect(path)) as source:
        source.backup(db.conn)


class CompiledTemplates(BytecodeCache):
    """Templates compiled once per test process, not again by each test's new app (the
    bucket's key holds the source's checksum: an edited template is compiled again)."""

    def __init__(self):
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


@pytest.fixture
def app(tmp_path, migrated):
    """An app whose instance folder (database, photos, secret) lives in a temp dir."""
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    shutil.copyfile(migrated, instance / migrated.name)
    app = create_app({"TESTING": True, "INSTANCE": str(instance)})
    app.jinja_env.bytecode_cache = COMPILED_TEMPLATES
    yield app


@pytest.fixture
def db(app):
    """A connection to the app's database."""
    conn = connect(app.config["DATABASE_PATH"])
    yield conn
    conn.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def make_place(db, slug="racksta", name="Råcksta", geometry=None, **kwargs) -> int:
    return insert_place(db, slug, name, geometry or RACKSTA, **kwargs)


def make_user(
    db, role="coordinator", email=None, name="", password=PASSWORD, real_hash=False
) -> dict:
    """A staff user who logs in with `password`. PASSWORD is stored under FAST_HASH unless
    `real_hash`: the app's own scrypt costs 0,1 s a hash and a login (a third of
    test_dashboard.py's time when every test paid it)."""
    email = email or f"{role}@example.se"
    fast = password == PASSWORD and not real_hash
    user_id = create_user(db, email, role, name, None if fast else password)
    if fast:
        set_fast_password(db, user_id)
    return {"id": user_id, "email": email, "role": role, "password": password}


def set_fast_password(db, user_id: int) -> None:
    """Give a user PASSWORD under FAST_HASH (the login form checks it like any other)."""
    db.execute("UPDATE users SET password_hash = ? WHERE id = ?", [FAST_HASH, user_id])


def make_staff(db, role="coordinator", email=None, *, party_id=None, name="") -> dict:
    """A user of `role` who logs in through the real form with PASSWORD, cheaply hashed.

    An engineer belongs to a party: `party_id`, or a party of their own.
    """
    if role == "engineer" and party_id is None:
        party_id = insert_party(db, f"Parti för {role}")
    email = email or f"{role}@example.se"
    user_id = create_user(db, email, role, name, None, party_id=party_id)
    set_fast_password(db, user_id)
    return {"id": user_id, "email": email, "role": role, "password": PASSWORD, "party_id": party_id}


def make_token(db, role="coordinator", email=None) -> str:
    """An API token (as `create-token` makes) of a new user of `role`."""
    user = make_staff(db, role, email or f"{role}-api@example.se")
    return create_token(db, user["id"], "test")


def make_walk(db, place_id, created_by=None, **values) -> dict:
    values = {
        "place_id": place_id,
        "title": "Kvällsvandring",
        "starts_at": "2026-12-01T16:30",
        **values,
    }
    walk_id = insert_walk(db, values, created_by)
    row = db.execute("SELECT * FROM walks WHERE id = ?", [walk_id]).fetchone()
    return dict(row)


def make_event(db, place_id=None, **values) -> int:
    """An event through the domain function: drug dealing reported by the police, unless told."""
    values = {
        "occurred_at": "2026-11-20T17:30:00Z",
        "type": "drug_dealing",
        "source": "police",
        "place_id": place_id,
        **values,
    }
    event_id, _created = insert_event(db, **values)
    return event_id


def make_observation_with_photo(app, db, walk: dict, photo: Path, **values) -> tuple[str, dict]:
    """An observation on `walk` near Råcksta's square with one photo (bytes of `photo`), stored
    through the one path every observation takes; (observation id, photo row)."""
    observation_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
    body = {
        "category": "lighting",
        "description": "Gatlyktan är släckt.",
        "walk_id": walk["id"],
        "lat": 59.3551,
        "lon": 17.8822,
        "location_source": "device",
        "captured_at": "2026-11-28T16:45:00Z",
        "photos": [photo_id],
        **values,
    }
    settings = PhotoSettings.from_config(app.config)
    record_observation(
        db,
        Path(app.config["PHOTO_PATH"]),
        observation_id,
        validate(body, 2000, 12),
        settings,
        walk=walk,
        photos=[(photo_id, photo.read_bytes(), None)],
    )
    row = db.execute("SELECT * FROM photos WHERE id = ?", [photo_id]).fetchone()
    return observation_id, dict(row)


def table_row(html: str, place_id, label: str) -> list[str]:
    """The cells of one figure's line in one place's table, as text."""
    section = html.split(f'data-place="{place_id}"', 1)[1].split("</section>", 1)[0]
    row = re.search(rf'<th scope="row">{re.escape(label)}</th>(.*?)</tr>', section, re.S)
    assert row, f"no line {label!r} for place {place_id}"
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", c)).strip() for c in cells]


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token(client, path="/login") -> str:
    """A real CSRF token, read from a page's form."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def login(client, user: dict) -> str:
    """Log in through the form; return a CSRF token valid for the session."""
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": user["email"], "password": user["password"], "csrf_token": token}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    # The session's token, as the outbox gets it (every role lands on a different page).
    return client.get("/api/v1/session").get_json()["csrf_token"]


def record_on_form(
    client,
    walk: dict,
    csrf: str,
    description: str = "",
    *,
    category: str = "lighting",
    photo: bytes | None = None,
    **extra,
) -> str:
    """An observation sent through the capture form without JavaScript by the phone in
    `client` (with one photo, given as a JPEG's bytes, and any `extra` fields); its id."""
    observation_id = str(uuid.uuid4())
    data = {
        "id": observation_id,
        "category": category,
        "description": description,
        "csrf_token": csrf,
        **extra,
    }
    if photo is not None:
        data["photos"] = (io.BytesIO(photo), "photo.jpg", "image/jpeg")
    response = client.post(f"/walks/{walk['id']}/observations", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    return observation_id


def observation_body(walk_id=None, **values) -> dict:
    """A valid JSON API observation near Råcksta's square, as the outbox sends it."""
    return {
        "category": "lighting",
        "description": "Lampan vid trappan är trasig.",
        "feeling": 2,
        "walk_id": walk_id,
        "lat": 59.3551,
        "lon": 17.8822,
        **values,
    }


def join(client, walk: dict, name="Kim", role="resident", **extra) -> str:
    """Join a walk through its invitation link as a resident; return a CSRF token.

    `extra` are more form fields, such as follow="1", follow_email="kim@example.se"."""
    token = csrf_token(client, f"/j/{walk['invite_token']}")
    response = client.post(
        f"/j/{walk['invite_token']}",
        data={"csrf_token": token, "display_name": name, "participant_role": role, **extra},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return token


LOGIN_LINE = re.compile(r"^\s+(\S+@demo\.fieldwalk\.se)\s+(\S+)\s+(\S+)$", re.MULTILINE)


def seed_demo(app, runner):
    """Run seed-demo in demo mode; return (result, {email: (role, password)})."""
    app.config["DEMO"] = True
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    logins = {
        email: (role, password) for email, role, password in LOGIN_LINE.findall(result.output)
    }
    return result, logins


def approve_public(db, observation_id: str, decision: str = APPROVED) -> None:
    """Staff's "Visa publikt" on an observation (or keep it private), as the domain does it."""
    review(db, observation_id, decision, user_id=None, actor="test")


def blur_all(app, db, only: list[str] | None = None) -> int:
    """Make every photo's face-blurred public copies now, as `flask blur-pending` does (or
    only those of the photos `only` names)."""
    photo_dir, edge = Path(app.config["PHOTO_PATH"]), app.config["PHOTO_THUMB_EDGE"]
    if only is not None:
        return sum(blur_photo(db, photo_dir, photo_id, edge) for photo_id in only)
    return blur_pending(db, photo_dir, edge)


class LiveServer:
    """The app served over real HTTP on a free loopback port, in a thread."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


class Collector:
    """An aiosmtpd handler that keeps every message that arrives, parsed and as raw bytes."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content
        message = email.message_from_bytes(raw, policy=default_policy)
        self.messages.append({"rcpt": list(envelope.rcpt_tos), "message": message, "raw": raw})
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        """The messages that were delivered to `address`, oldest first."""
        return [m["message"] for m in self.messages if address in m["rcpt"]]


def sqlite_steps(db, call) -> int:
    """The thousands of steps SQLite's virtual machine takes on `db`'s connection during
    `call()`: what a query reads, counted the same on a quiet machine and a loaded one."""
    counted = [0]

    def count():
        counted[0] += 1

    db.conn.set_progress_handler(count, 1000)
    try:
        call()
    finally:
        db.conn.set_progress_handler(None, 1000)
    return counted[0]


def pdf_text(data: bytes) -> str:
    """The text of a PDF, its whitespace made single spaces."""
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body and CRC."""
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def sharpness(image: Image.Image | bytes, box) -> float:
    """How much fine detail a region (x0, y0, x1, y1) of an image (or an image file's bytes)
    has: the variance of its Laplacian. A blurred region has little."""
    if isinstance(image, bytes):
        image = Image.open(io.BytesIO(image))
    grey = np.asarray(image.convert("L").crop(box), dtype=np.float64)
    lap = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(lap.var())


def error_text(html: str, field_id: str) -> str:
    """The error message a form shows under the field `field_id`."""
    match = re.search(rf'<p class="error" id="{field_id}-error">([^<]*)</p>', html)
    assert match, f"no error message for {field_id}"
    return match.group(1)


def photo_files(app) -> set[str]:
    """Every file in the app's photo folder, by its path inside it."""
    root = Path(app.config["PHOTO_PATH"])
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def city_point(rng) -> tuple[float, float]:
    """A position anywhere in Stockholm's western suburbs, drawn by `rng`."""
    return 59.25 + rng.random() * 0.15, 17.8 + rng.random() * 0.3


CANON = PHOTOS / "camera" / "Canon_40D.jpg"  # has EXIF (camera, date) that must not survive
STAFF = Actor(kinds=(COORDINATOR,), user_id=None, label="test")


def make_observation(
    db,
    walk,
    description="Gatlyktan vid tunnelbanan är släckt.",
    category="lighting",
    photo: Path | None = None,
    participant_id=None,
    device_key_hash=None,
    photo_dir: Path | None = None,
) -> str:
    """Store an observation (with one photo when given) on a walk; return its id."""
    observation_id = str(uuid.uuid4())
    photo_id = str(uuid.uuid4())
    body = {
        "category": category,
        "description": description,
        "walk_id": walk["id"],
        "lat": 59.3551,
        "lon": 17.8822,
        "photos": [photo_id] if photo else [],
    }
    observation, _ = put_observation(
        db,
        observation_id,
        validate(body, 2000, 12),
        walk=walk,
        participant_id=participant_id,
        device_key_hash=device_key_hash,
    )
    if photo:
        record_photo(db, photo_dir, observation, photo_id, photo.read_bytes(), PHOTO_SETTINGS)
    return observation_id


def make_task(db, observation_id, party_id, measure, due_date=None, priority="normal") -> int:
    """A proposed task for an observation, routed to `party_id`."""
    return insert_task(
        db,
        observation_ids=[observation_id],
        measure=measure,
        party_id=party_id,
        suggestion={"party_id": party_id},
        priority=priority,
        due_date=due_date,
        actor=STAFF,
    )


def make_sent_tasks(db, walk, party_id, measures, **task_values) -> list[int]:
    """One observation and one task per measure for the party, sent; return the task ids."""
    ids = [
        make_task(
            db, make_observation(db, walk, f"Observation for {m}"), party_id, m, **task_values
        )
        for m in measures
    ]
    send_walk_tasks(db, walk["id"], STAFF)
    return ids


def state(db, task_id) -> str:
    """A task's state, as stored now."""
    return get_task(db, task_id)["state"]


def link_path(token: str) -> str:
    """The page a party's signed link opens."""
    return f"/l/{token}"


def post_action(client, token, task_id, action, version, csrf=True, **fields):
    """A step on a task, sent from the page a party's signed link opens (with the page's
    CSRF token unless `csrf` is False)."""
    data = {"action": action, "version": str(version), **fields}
    if csrf:
        data["csrf_token"] = csrf_token(client, link_path(token))
    return client.post(f"/l/{token}/tasks/{task_id}", data=data, content_type="multipart/form-data")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unit_gunicorn_args(unit: str, port: int, timeout: int | None = None) -> list[str]:
    """The gunicorn arguments of a systemd unit in docs/systemd (its ExecStart, as deployed),
    bound to `port` on loopback, with another --timeout when given."""
    text = (ROOT / "docs" / "systemd" / unit).read_text().replace("\\\n", " ")
    args = shlex.split(re.search(r"ExecStart=(.*?app:app)", text, re.S).group(1))[1:-1]
    args[args.index("--bind") + 1] = f"127.0.0.1:{port}"
    if timeout is not None:
        args[args.index("--timeout") + 1] = str(timeout)
    return args


def start_gunicorn(app, args: list[str], port: int) -> subprocess.Popen:
    """gunicorn serving app:app on the test app's instance, in its own process group (stop it
    with os.killpg), once its /healthz answers."""
    env = dict(os.environ, FIELDWALK_INSTANCE=app.config["INSTANCE"])
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *args, "app:app"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _i in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
            return process
        except OSError:
            assert process.poll() is None, "gunicorn exited"
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer")


@pytest.fixture
def smtp(app):
    """A real SMTP server on a free loopback port, and the app configured to use it."""
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, SMTP_STARTTLS=False)
    yield handler
    controller.stop()


def mail_bodies(message) -> tuple[str, str]:
    """The plain-text and HTML bodies of an email."""
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


@pytest.fixture
def live_server(app):
    with LiveServer(app) as server:
        yield server


class EnglishClient(FlaskClient):
    """A test client whose browser asks for English."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def english(app):
    """Clients made after this ask for English: for tests that read English UI text.

    Swedish is the default; tests/test_i18n.py proves that and the catalogue itself.
    """
    app.test_client_class = EnglishClient
    return app


def add_observation_row(
    db,
    place_id,
    observed_at,
    *,
    created_at=None,
    feeling=None,
    category="lighting",
    description="",
    lat=None,
    lon=None,
    urgent=False,
) -> str:
    """An observation row observed at `observed_at` (received at `created_at`, the same when
    not given), as a hand-built report figure needs: no walk, no photo."""
    observation_id = str(uuid.uuid4())
    db.execute(
        """INSERT INTO observations (id, place_id, category, feeling, description, lat, lon,
               urgent, body_hash, created_at, updated_at, observed_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'test', ?, ?, ?)""",
        [observation_id, place_id, category, feeling, description, lat, lon, int(urgent),
         created_at or observed_at, created_at or observed_at, observed_at],
    )  # fmt: skip
    return observation_id


def add_task_row(
    db,
    place_id,
    state,
    created_at,
    *,
    done_at=None,
    party_id=None,
    observation_ids=(),
    measure=None,
    lat=None,
    lon=None,
    priority="normal",
) -> int:
    """A task row with the given times (a report's history), linked to its observations."""
    task_id = db.execute(
        """INSERT INTO tasks (place_id, party_id, measure, state, priority, lat, lon,
               created_at, updated_at, done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            place_id,
            party_id,
            measure if measure is not None else f"Åtgärd {state}",
            state,
            priority,
            lat,
            lon,
            created_at,
            created_at,
            done_at,
        ],
    ).lastrowid
    for observation_id in observation_ids:
        db.execute(
            "INSERT INTO task_observations (task_id, observation_id) VALUES (?, ?)",
            [task_id, observation_id],
        )
    return task_id
