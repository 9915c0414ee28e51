"""Backups: a consistent copy taken while phones write, restored exactly, or not at all."""

import hashlib
import io
import json
import sqlite3
import tarfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import make_place, make_user, make_walk
from PIL import Image, ImageDraw

from fieldwalk import create_app
from fieldwalk.auth import create_token
from fieldwalk.ops.backup import instance_contents
from fieldwalk.parties.model import insert_party
from fieldwalk.tasks.links import create_party_link
from fieldwalk.tasks.model import insert_task, transition
from fieldwalk.tasks.states import Actor


def _jpeg(n: int) -> bytes:
    """A small photo that differs from every other n, so each is stored as its own files."""
    image = Image.new("RGB", (800, 600), ((n * 37) % 256, (n * 91) % 256, (n * 53) % 256))
    ImageDraw.Draw(image).text((10, 10), f"photo {n}", fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _put(url: str, token: str, body: bytes, content_type: str) -> int:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url,
        data=body,
        method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _record(client, token: str, walk: dict, n: int) -> str:
    """One observation with one photo through the API, as the outbox sends them."""
    observation_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {token}"}
    body = {"category": "lighting", "description": f"Lampa {n}", "walk_id": walk["id"]}
    url = f"/api/v1/observations/{observation_id}"
    assert client.put(url, json={**body, "photos": [photo_id]}, headers=headers).status_code == 201
    response = client.put(
        f"{url}/photos/{photo_id}",
        data=_jpeg(n),
        headers={**headers, "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 201
    return observation_id


@pytest.fixture
def recorded(app, db, client):
    """An instance holding a walk with three observations and their photos."""
    user = make_user(db, "coordinator")
    walk = make_walk(db, make_place(db), created_by=user["id"])
    token = create_token(db, user["id"])
    for n in range(3):
        _record(client, token, walk, n)
    return app


def _rows(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, read without changing the file."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            table: sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)  # noqa: S608
            for table in tables
        }
    finally:
        conn.close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def _new_instance(tmp_path: Path, name: str):
    return create_app({"TESTING": True, "INSTANCE": str(tmp_path / name)})


def _backup(app, dest: Path, *args: str) -> Path:
    result = app.test_cli_runner().invoke(args=["backup", str(dest), *args])
    assert result.exit_code == 0, result.output
    (made,) = dest.iterdir()
    return made


def _restore(app, source: Path):
    return app.test_cli_runner().invoke(args=["restore", str(source)])


def _assert_empty(app) -> None:
    instance = Path(app.instance_path)
    db_path, photo_dir = Path(app.config["DATABASE_PATH"]), Path(app.config["PHOTO_PATH"])
    assert instance_contents(db_path, photo_dir) == []
    assert _files(photo_dir) == set()
    assert not list(instance.glob(".fieldwalk-restore-*")), "no staging folder left behind"


def test_backup_while_phones_write_restores_the_snapshot_row_for_row_and_file_for_file(
    app, db, live_server, tmp_path
):
    user = make_user(db, "coordinator")
    walk = make_walk(db, make_place(db), created_by=user["id"])
    token = create_token(db, user["id"])
    stop, confirmed, errors = threading.Event(), [], []

    def phone(first: int):
        n = first
        while not stop.is_set():
            n += 1
            observation_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
            url = f"{live_server.url}/api/v1/observations/{observation_id}"
            body = {"category": "upkeep", "description": f"Skräp {n}", "walk_id": walk["id"]}
            body["photos"] = [photo_id]
            statuses = [
                _put(url, token, json.dumps(body).encode(), "application/json"),
                _put(f"{url}/photos/{photo_id}", token, _jpeg(n), "image/jpeg"),
            ]
            if statuses != [201, 201]:
                errors.append((observation_id, statuses))
                return
            confirmed.append(observation_id)

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 30
        while len(confirmed) < count and not errors and time.monotonic() < deadline:
            time.sleep(0.02)

    # Two phones write for a second or two; the backup runs in the middle of it.
    phones = [threading.Thread(target=phone, args=(k * 10_000,)) for k in range(2)]
    started = time.monotonic()
    for thread in phones:
        thread.start()
    try:
        wait_for(4)
        backup_dir = _backup(app, tmp_path / "backups")
        wait_for(len(confirmed) + 4)
        time.sleep(max(0.0, 1.5 - (time.monotonic() - started)))
    finally:
        stop.set()
        for thread in phones:
            thread.join(30)
    assert errors == []

    snapshot = _rows(backup_dir / "fieldwalk.db")
    live_count = db.execute("SELECT count(*) FROM observations").fetchone()[0]
    assert 4 <= len(snapshot["observations"]) < live_count, "taken while writes went on"
    assert snapshot["photos"], "the snapshot holds photos"

    restored = _new_instance(tmp_path, "restored")
    _assert_empty(restored)
    result = _restore(restored, backup_dir)
    assert result.exit_code == 0, result.output
    assert "checksums verified" in result.output and "integrity_check: ok" in result.output

    restored_db = Path(restored.config["DATABASE_PATH"])
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert _sha256(restored_db) == manifest["files"]["fieldwalk.db"]["sha256"]
    assert _rows(restored_db) == snapshot, "every row of every table, exactly"

    # Internally consistent: every file a photo row names is there, with the live bytes.
    source_photos = Path(app.config["PHOTO_PATH"])
    restored_photos = Path(restored.config["PHOTO_PATH"])
    conn = sqlite3.connect(f"{restored_db.as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        photo_rows = conn.execute("SELECT * FROM photos").fetchall()
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
    referenced = {row[column] for row in photo_rows for column in ("file", "thumb_file")}
    for relative in referenced:
        data = (restored_photos / relative).read_bytes()
        assert data == (source_photos / relative).read_bytes()
        assert hashlib.sha256(data).hexdigest() == Path(relative).stem
    assert _files(restored_photos) == referenced, "no file without a row, no row without a file"


def test_manifest_lists_every_file_with_sha256_and_size_the_migrations_and_row_counts(
    recorded, db, tmp_path
):
    backup_dir = _backup(recorded, tmp_path / "backups")
    manifest = json.loads((backup_dir / "manifest.json").read_text())

    on_disk = _files(backup_dir) - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    assert sum(1 for f in on_disk if f.startswith("photos/")) == 6, "3 photos and 3 thumbnails"
    for relative, info in manifest["files"].items():
        assert info == {
            "sha256": _sha256(backup_dir / relative),
            "bytes": (backup_dir / relative).stat().st_size,
        }
    applied = [r[0] for r in db.execute("SELECT name FROM _sqlite_migrations ORDER BY rowid")]
    assert manifest["database"]["migrations"] == applied
    assert manifest["database"]["tables"]["observations"] == 3
    assert manifest["database"]["tables"]["photos"] == 3
    assert manifest["photos"] == {"copied": 6, "missing": [], "corrupt": []}
    assert backup_dir.name == "fieldwalk-backup-" + manifest["created_at"].replace("-", "").replace(
        ":", ""
    )


def test_archive_backup_restores_the_same_rows_and_photo_files(recorded, tmp_path):
    archive = _backup(recorded, tmp_path / "backups", "--archive")
    assert archive.name.endswith(".tar.gz") and archive.stat().st_mode & 0o077 == 0

    restored = _new_instance(tmp_path, "restored")
    result = _restore(restored, archive)

    assert result.exit_code == 0, result.output
    assert _rows(Path(restored.config["DATABASE_PATH"])) == _rows(
        Path(recorded.config["DATABASE_PATH"])
    )
    source, target = Path(recorded.config["PHOTO_PATH"]), Path(restored.config["PHOTO_PATH"])
    # List squares (photos/squares.py) are left out: they are made again on first request.
    stored = {f for f in _files(source) if f.count(".") == 1}
    assert _files(target) == stored
    assert all((target / f).read_bytes() == (source / f).read_bytes() for f in stored)


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damaged", ["photo in a folder", "database in a folder", "photo in an archive"]
)
def test_restore_refuses_a_backup_with_one_changed_byte_and_leaves_the_instance_empty(
    recorded, tmp_path, damaged
):
    archive = "archive" in damaged
    backup = _backup(recorded, tmp_path / "backups", *(["--archive"] if archive else []))
    if archive:
        unpacked = tmp_path / "unpacked"
        with tarfile.open(backup) as tar:
            tar.extractall(unpacked, filter="data")
        (folder,) = unpacked.iterdir()
        _flip_a_byte(next((folder / "photos").rglob("*.jpg")))
        backup.unlink()
        with tarfile.open(backup, "w:gz") as tar:
            tar.add(folder, arcname=folder.name)
    elif "photo" in damaged:
        _flip_a_byte(next((backup / "photos").rglob("*.jpg")))
    else:
        _flip_a_byte(backup / "fieldwalk.db")

    restored = _new_instance(tmp_path, "restored")
    result = _restore(restored, backup)

    assert result.exit_code != 0
    assert "does not match its checksum" in result.output
    _assert_empty(restored)


def test_restore_refuses_an_instance_that_already_holds_data(recorded, tmp_path):
    backup_dir = _backup(recorded, tmp_path / "backups")
    before = _rows(Path(recorded.config["DATABASE_PATH"]))

    result = _restore(recorded, backup_dir)

    assert result.exit_code != 0
    assert "only writes into an empty instance" in result.output
    assert _rows(Path(recorded.config["DATABASE_PATH"])) == before


def test_restore_refuses_an_instance_whose_photo_folder_holds_a_file(recorded, tmp_path):
    backup_dir = _backup(recorded, tmp_path / "backups")
    target = _new_instance(tmp_path, "restored")
    stray = Path(target.config["PHOTO_PATH"]) / "ab" / "stray.jpg"
    stray.parent.mkdir()
    stray.write_bytes(b"not mine")

    result = _restore(target, backup_dir)

    assert result.exit_code != 0 and "photo folder" in result.output
    assert _files(Path(target.config["PHOTO_PATH"])) == {"ab/stray.jpg"}


def test_restore_refuses_a_manifest_that_names_a_path_outside_the_instance(recorded, tmp_path):
    backup_dir = _backup(recorded, tmp_path / "backups")
    manifest_path = backup_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["photos/../../escaped.jpg"] = {"sha256": "0" * 64, "bytes": 1}
    manifest_path.write_text(json.dumps(manifest))

    restored = _new_instance(tmp_path, "restored")
    result = _restore(restored, backup_dir)

    assert result.exit_code != 0 and "not valid" in result.output
    assert not (tmp_path / "escaped.jpg").exists()
    _assert_empty(restored)


def test_backup_reports_a_missing_photo_file_and_still_writes_everything_else(recorded, tmp_path):
    photo_dir = Path(recorded.config["PHOTO_PATH"])
    lost = sorted(f for f in _files(photo_dir) if f.count(".") == 1)[0]  # not a list square
    (photo_dir / lost).unlink()

    result = recorded.test_cli_runner().invoke(args=["backup", str(tmp_path / "backups")])

    assert result.exit_code == 1
    assert f"missing: {lost}" in result.output
    (backup_dir,) = (tmp_path / "backups").iterdir()
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["photos"]["missing"] == [lost]
    assert len(manifest["files"]) == 1 + 1 + 5  # the database, the key, the photos left


# --- the secret key (issue 14, defect D) ----------------------------------------------------


@pytest.fixture
def linked(recorded, db):
    """The recorded instance with a task sent to a party, and the party's emailed link."""
    party = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    observation_id = db.execute("SELECT id FROM observations LIMIT 1").fetchone()[0]
    coordinator = Actor(("coordinator",), None, "test")
    task_id = insert_task(
        db,
        observation_ids=[observation_id],
        measure="Byt lampan",
        party_id=party,
        suggestion={"party_id": party},
        actor=coordinator,
    )
    transition(db, task_id, "send", coordinator, version=1)
    walk_id = db.execute("SELECT walk_id FROM tasks WHERE id = ?", [task_id]).fetchone()[0]
    with recorded.app_context():
        token = create_party_link(db, party, walk_id, None, 30)
    assert recorded.test_client().get(f"/l/{token}").status_code == 200
    return recorded, f"/l/{token}"


def test_links_emailed_before_a_backup_open_after_restoring_it(linked, tmp_path):
    app, link = linked
    backup_dir = _backup(app, tmp_path / "backups")
    secret = backup_dir / "secret_key"
    assert secret.stat().st_mode & 0o777 == 0o600, "as protected as the backup"
    assert backup_dir.stat().st_mode & 0o077 == 0
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["secret_key"] is True and "secret_key" in manifest["files"]

    restored = _new_instance(tmp_path, "restored")
    assert restored.config["SECRET_KEY"] != app.config["SECRET_KEY"], "a fresh instance's own"
    result = _restore(restored, backup_dir)
    assert result.exit_code == 0, result.output
    assert "Restored the secret key" in result.output and "WARNING" not in result.output

    started = _new_instance(tmp_path, "restored")  # the server, started after the restore
    assert started.config["SECRET_KEY"] == app.config["SECRET_KEY"]
    assert started.test_client().get(link).status_code == 200
    key_file = Path(started.instance_path) / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_an_archive_keeps_the_secret_key_too(linked, tmp_path):
    app, link = linked
    archive = _backup(app, tmp_path / "backups", "--archive")
    assert archive.stat().st_mode & 0o077 == 0
    restored = _new_instance(tmp_path, "restored")
    assert _restore(restored, archive).exit_code == 0
    assert _new_instance(tmp_path, "restored").test_client().get(link).status_code == 200


def test_restoring_a_backup_without_the_key_says_loudly_that_links_break(linked, tmp_path):
    app, link = linked
    backup_dir = _backup(app, tmp_path / "backups")
    (backup_dir / "secret_key").unlink()  # as an older fieldwalk made it
    manifest_path = backup_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["files"]["secret_key"]
    manifest_path.write_text(json.dumps(manifest))

    restored = _new_instance(tmp_path, "restored")
    result = _restore(restored, backup_dir)

    assert result.exit_code == 0, result.output
    assert "WARNING: this backup holds no secret key" in result.output
    assert "404" in result.output and "new link" in result.output
    assert _new_instance(tmp_path, "restored").test_client().get(link).status_code == 404


def test_a_configured_secret_key_that_differs_from_the_backups_is_a_warning(linked, tmp_path):
    app, _link = linked
    backup_dir = _backup(app, tmp_path / "backups")
    restored = create_app(
        {"TESTING": True, "INSTANCE": str(tmp_path / "restored"), "SECRET_KEY": "another-key"}
    )
    result = _restore(restored, backup_dir)
    assert result.exit_code == 0, result.output
    assert "WARNING: SECRET_KEY is set in the configuration" in result.output
