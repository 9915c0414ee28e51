"""The server's half of "nothing lost, nothing doubled": concurrent replays and outbox import."""

import io
import json
import threading
import urllib.request
import uuid
import zipfile
from pathlib import Path

from conftest import PHOTOS, make_place, make_user, make_walk

from fieldwalk.auth import create_token
from fieldwalk.photos.files import row_files

PHOTO = PHOTOS / "camera" / "Canon_40D.jpg"


def _put(url: str, token: str, body: bytes, content_type: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=body,
        method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _race(n: int, call) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _files(app) -> set[str]:
    root = Path(app.config["PHOTO_PATH"])
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_twenty_concurrent_identical_puts_store_one_observation_and_one_photo(app, db, live_server):
    place_id = make_place(db)
    user = make_user(db, "coordinator")
    walk = make_walk(db, place_id, created_by=user["id"])
    token = create_token(db, user["id"])
    observation_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
    body = json.dumps(
        {
            "category": "lighting",
            "description": "Trasig lampa",
            "walk_id": walk["id"],
            "lat": 59.355,
            "lon": 17.882,
            "photos": [photo_id],
        }
    ).encode()
    url = f"{live_server.url}/api/v1/observations/{observation_id}"

    answers = _race(20, lambda: _put(url, token, body, "application/json"))
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(201) == 1 and statuses.count(200) == 19, statuses
    assert all(payload["id"] == observation_id for _, payload in answers)

    data = PHOTO.read_bytes()
    photo_answers = _race(20, lambda: _put(f"{url}/photos/{photo_id}", token, data, "image/jpeg"))
    photo_statuses = sorted(status for status, _ in photo_answers)
    assert photo_statuses.count(201) == 1 and photo_statuses.count(200) == 19, photo_statuses

    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM photos").fetchone()[0] == 1
    row = db.execute("SELECT * FROM photos").fetchone()
    assert _files(app) == set(row_files(row)), "one display, one thumbnail and its list squares"


def _outbox_zip(entries: list[dict], photos: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "outbox.json",
            json.dumps({"format": "fieldwalk-outbox", "version": 1, "entries": entries}),
        )
        for name, data in photos.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_import_outbox_stores_everything_once_even_when_run_twice(app, db, runner, tmp_path):
    place_id = make_place(db)
    walk = make_walk(db, place_id)
    entries, photos = [], {}
    for i in range(3):
        photo_id = str(uuid.uuid4())
        entries.append(
            {
                "id": str(uuid.uuid4()),
                "walk_id": walk["id"],
                "state": "waiting",
                "body": {
                    "category": "upkeep",
                    "description": f"Skräp {i}",
                    "walk_id": walk["id"],
                    "lat": 59.355,
                    "lon": 17.882,
                    "photos": [photo_id],
                },
                "photos": [
                    {"id": photo_id, "type": "image/jpeg", "file": f"photos/{photo_id}.bin"}
                ],
            }
        )
        photos[f"photos/{photo_id}.bin"] = PHOTO.read_bytes()
    export = tmp_path / "outbox.zip"
    export.write_bytes(_outbox_zip(entries, photos))

    first = runner.invoke(args=["import-outbox", str(export)])
    assert first.exit_code == 0, first.output
    assert "3 new" in first.output
    second = runner.invoke(args=["import-outbox", str(export)])
    assert second.exit_code == 0, second.output
    assert "0 new, 3 already stored" in second.output
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 3
    assert db.execute("SELECT count(*) FROM photos").fetchone()[0] == 3


def test_import_outbox_reports_a_conflicting_entry_and_a_broken_file(app, db, runner, tmp_path):
    place_id = make_place(db)
    walk = make_walk(db, place_id)
    observation_id = str(uuid.uuid4())
    body = {"category": "upkeep", "description": "A", "walk_id": walk["id"], "photos": []}
    export = tmp_path / "a.zip"
    export.write_bytes(_outbox_zip([{"id": observation_id, "body": body, "photos": []}], {}))
    assert runner.invoke(args=["import-outbox", str(export)]).exit_code == 0
    changed = dict(body, description="B")
    other = tmp_path / "b.zip"
    other.write_bytes(_outbox_zip([{"id": observation_id, "body": changed, "photos": []}], {}))
    result = runner.invoke(args=["import-outbox", str(other)])
    assert result.exit_code == 1
    assert "other content" in result.output
    assert db.execute("SELECT description FROM observations").fetchone()[0] == "A"

    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    result = runner.invoke(args=["import-outbox", str(broken)])
    assert result.exit_code != 0
    assert "Cannot read" in result.output


def test_import_outbox_keeps_what_the_phone_read_from_each_photo(app, db, runner, tmp_path):
    """An exported outbox lists each photo's EXIF position and time (its bytes have none)."""
    from PIL import Image

    walk = make_walk(db, make_place(db))
    out = io.BytesIO()
    with Image.open(PHOTOS / "gps" / "DSCN0010.jpg") as image:
        image.convert("RGB").save(out, "JPEG", quality=85)  # as the phone sends it: no EXIF
    observation_id, good, bad = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    listed = [
        {
            "id": good,
            "file": f"photos/{good}.bin",
            "gps": [59.3551, 17.8822],
            "taken_at": "2026-11-28T16:40:05",
        },
        {"id": bad, "file": f"photos/{bad}.bin", "gps": [0, 0], "taken_at": "not a time"},
    ]
    body = {"category": "upkeep", "walk_id": walk["id"], "photos": [good, bad]}
    export = tmp_path / "outbox.zip"
    export.write_bytes(
        _outbox_zip(
            [{"id": observation_id, "walk_id": walk["id"], "body": body, "photos": listed}],
            {f"photos/{good}.bin": out.getvalue(), f"photos/{bad}.bin": out.getvalue() + b"\0"},
        )
    )
    result = runner.invoke(args=["import-outbox", str(export)])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: dict(r) for r in db.execute("SELECT * FROM photos")}
    assert (rows[good]["gps_lat"], rows[good]["gps_lon"]) == (59.3551, 17.8822)
    assert rows[good]["taken_at"] == "2026-11-28T16:40:05"
    assert (rows[bad]["gps_lat"], rows[bad]["taken_at"]) == (None, None)
    observation = db.execute("SELECT * FROM observations").fetchone()
    assert (observation["lat"], observation["location_source"]) == (59.3551, "photo")
    assert (observation["observed_at"], observation["observed_source"]) == (
        "2026-11-28T15:40:05Z",
        "photo",
    )
