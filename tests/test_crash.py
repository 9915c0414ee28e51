"""A power cut mid-upload: gunicorn killed with SIGKILL while phones are sending loses nothing
it confirmed, doubles nothing when the phones resend, and leaves a sound database with no
photo row pointing at nothing (and no file without its row once `check-photos --fix` ran).
"""

import hashlib
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from conftest import free_port, make_place, make_walk
from PIL import Image, ImageDraw

from fieldwalk import create_app
from fieldwalk.auth import create_token, create_user
from fieldwalk.db import connect

ROOT = Path(__file__).resolve().parent.parent
PHONES = 4
OBSERVATIONS_PER_PHONE = 10
KILL_AFTER = 24  # confirmed answers, of 2 * PHONES * OBSERVATIONS_PER_PHONE
POSITION = (59.35512, 17.88234)  # inside conftest's Råcksta


class Gunicorn:
    """The app under gunicorn (2 workers, as `make run`), in its own process group."""

    def __init__(self, instance: Path, log: Path):
        self.instance, self.log, self.port = instance, log, free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ, FIELDWALK_INSTANCE=str(self.instance))
        command = [sys.executable, "-m", "gunicorn", "--workers", "2"]
        command += ["--bind", f"127.0.0.1:{self.port}", "app:app"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 30
        while not self.healthy():
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)

    def healthy(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def kill(self) -> None:
        """SIGKILL every process of the server at once: master and workers."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def make_photo(n: int) -> bytes:
    """A distinct 1600x1200 JPEG that takes the photo pipeline a moment (noise compresses
    badly and resizes slowly)."""
    noise = Image.effect_noise((1600, 1200), 40 + n % 20).convert("RGB")
    draw = ImageDraw.Draw(noise)
    draw.rectangle((20 * n, 20, 20 * n + 200, 220), fill=((n * 37) % 256, (n * 91) % 256, 200))
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=90)
    return out.getvalue()


class Item:
    """One observation with its photo, as a phone's outbox holds it."""

    def __init__(self, walk_id: int, n: int):
        self.id, self.photo_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.photo = make_photo(n)
        self.body = {
            "category": "lighting",
            "description": f"Lampa {n} är trasig",
            "walk_id": walk_id,
            "lat": POSITION[0],
            "lon": POSITION[1],
            "photos": [self.photo_id],
        }
        self.observation_confirmed = False
        self.photo_confirmed = False

    def requests(self):
        """What is still to send: (kind, method path, body, content type, expected id)."""
        path = f"/api/v1/observations/{self.id}"
        if not self.observation_confirmed:
            yield "observation", path, json.dumps(self.body).encode(), "application/json", self.id
        if not self.photo_confirmed:
            yield "photo", f"{path}/photos/{self.photo_id}", self.photo, "image/jpeg", self.photo_id


class Phones:
    """Phones sending their items in order; the K-th confirmation pulls the plug."""

    def __init__(self, server: Gunicorn, token: str, items: list[list[Item]]):
        self.server, self.token, self.items = server, token, items
        self.lock = threading.Lock()
        self.confirmed = 0
        self.in_flight = 0
        self.killed_with_in_flight: int | None = None
        self.interrupted: list[str] = []  # sent, and the connection died without an answer
        self.refused = 0  # never reached the server
        self.answers: list[int] = []

    def send(self, method_path: str, body: bytes, content_type: str) -> tuple[int, dict | None]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.request(
                "PUT",
                method_path,
                body=body,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": content_type,
                    "Accept": "application/json",
                },
            )
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, None

    def run_phone(self, items: list[Item], kill: bool) -> None:
        """Send each item's observation, then its photo; stop at the first failure, as the
        outbox does, leaving the rest for the next replay."""
        for item in items:
            for kind, path, body, content_type, expected in item.requests():
                with self.lock:
                    self.in_flight += 1
                try:
                    status, answer = self.send(path, body, content_type)
                except ConnectionRefusedError:
                    self.refused += 1
                    return
                except (OSError, http.client.HTTPException) as error:
                    self.interrupted.append(f"{kind} {expected}: {type(error).__name__}")
                    return
                finally:
                    with self.lock:
                        self.in_flight -= 1
                self.answers.append(status)
                if status not in (200, 201) or not answer or answer.get("id") != expected:
                    return
                setattr(item, f"{kind}_confirmed", True)
                with self.lock:
                    self.confirmed += 1
                    pull = (
                        kill
                        and self.killed_with_in_flight is None
                        and self.confirmed >= KILL_AFTER
                        and self.in_flight > 0
                    )
                    if pull:
                        self.killed_with_in_flight = self.in_flight
                        self.server.kill()  # under the lock: no thread counts a new request

    def run(self, kill: bool) -> None:
        threads = [
            threading.Thread(target=self.run_phone, args=(items, kill)) for items in self.items
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)


def check_photos(instance: Path, *options: str) -> str:
    """`flask --app app check-photos`, as an administrator runs it; its output."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "check-photos", *options],
        cwd=ROOT,
        env=dict(os.environ, FIELDWALK_INSTANCE=str(instance)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def seeded(tmp_path) -> dict:
    """A fresh instance with a walk, and a coordinator's bearer token (what the phones use)."""
    instance = tmp_path / "instance"
    app = create_app({"INSTANCE": str(instance)})
    db = connect(app.config["DATABASE_PATH"])
    user_id = create_user(db, "coordinator@example.se", "coordinator", "Anna", "a long password")
    seeded = {
        "instance": instance,
        "database": app.config["DATABASE_PATH"],
        "token": create_token(db, user_id, "crash test"),
        "walk": make_walk(db, make_place(db), user_id, state="ongoing"),
    }
    db.close()
    return seeded


@pytest.fixture
def server(seeded, tmp_path):
    """The instance's gunicorn, not started yet; killed whatever the test does."""
    server = Gunicorn(seeded["instance"], tmp_path / "gunicorn.log")
    yield server
    server.kill()


def test_sigkill_mid_upload_loses_nothing_confirmed_and_the_resend_doubles_nothing(seeded, server):
    items = [
        [
            Item(seeded["walk"]["id"], p * OBSERVATIONS_PER_PHONE + i)
            for i in range(OBSERVATIONS_PER_PHONE)
        ]
        for p in range(PHONES)
    ]
    everything = [item for phone in items for item in phone]
    server.start()
    phones = Phones(server, seeded["token"], items)
    phones.run(kill=True)

    assert server.process.poll() is not None, "the server was killed mid-upload"
    assert phones.killed_with_in_flight, "requests were in flight when the plug was pulled"
    assert phones.interrupted, "at least one request was cut off without an answer"
    confirmed = [
        (i.id, i.photo_id, i.photo_confirmed) for i in everything if i.observation_confirmed
    ]
    assert KILL_AFTER <= phones.confirmed < 2 * len(everything)

    # Straight after the crash, before anything else touches the database.
    db = connect(seeded["database"])
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for observation_id, photo_id, photo_confirmed in confirmed:
            assert (
                db.execute(
                    "SELECT count(*) FROM observations WHERE id = ?", [observation_id]
                ).fetchone()[0]
                == 1
            ), "a confirmed observation survived the crash"
            if photo_confirmed:
                assert (
                    db.execute(
                        "SELECT count(*) FROM photos WHERE id = ? AND observation_id = ?",
                        [photo_id, observation_id],
                    ).fetchone()[0]
                    == 1
                ), "a confirmed photo survived the crash"
    finally:
        db.close()

    # The phones' outboxes resend everything that was not confirmed, after the restart.
    server.start()
    resend = Phones(server, seeded["token"], items)
    resend.run(kill=False)
    assert not resend.interrupted and not resend.refused, resend.interrupted
    assert all(i.observation_confirmed and i.photo_confirmed for i in everything), resend.answers
    assert set(resend.answers) <= {200, 201}
    server.stop()

    db = connect(seeded["database"])
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = {r["id"]: dict(r) for r in db.execute("SELECT * FROM observations")}
        photos = {r["id"]: dict(r) for r in db.execute("SELECT * FROM photos")}
        created = dict(
            db.execute(
                """SELECT entity_id, count(*) FROM audit_log
                   WHERE action = 'create' AND entity = 'observation' GROUP BY entity_id"""
            ).fetchall()
        )
    finally:
        db.close()
    assert sorted(rows) == sorted(i.id for i in everything), "every observation, once"
    assert sorted(photos) == sorted(i.photo_id for i in everything), "every photo, once"
    assert set(created.values()) == {1}, "each observation was created exactly once"
    photo_dir = seeded["instance"] / "photos"
    for item in everything:
        photo = photos[item.photo_id]
        assert photo["observation_id"] == item.id
        assert photo["sha256"] == hashlib.sha256(item.photo).hexdigest()
        for column in ("file", "thumb_file"):
            assert (photo_dir / photo[column]).is_file(), "no photo row points at nothing"

    # A file written just before the kill whose row never committed is an orphan: --fix
    # removes it, and then there are none. Files that rows refer to stay.
    report = check_photos(seeded["instance"])
    assert report.strip().endswith("0 missing file(s).")
    if not report.startswith("0 orphan"):
        check_photos(seeded["instance"], "--fix")
        report = check_photos(seeded["instance"])
    assert report.strip() == "0 orphan file(s), 0 missing file(s).", report
    for photo in photos.values():
        assert (photo_dir / photo["file"]).is_file()
