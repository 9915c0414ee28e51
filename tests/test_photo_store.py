"""Photo files on disk: temporary files left by killed workers are cleaned up, and only those.

A worker writes each photo file to a `.tmp-` name and renames it into place. A worker killed
in between (gunicorn's timeout, the OOM killer, a deploy) leaves the temporary file behind.
One older than an hour is such a leftover: no upload takes that long. A younger one may be an
upload in flight, and must be left alone, whoever is cleaning.
"""

import json
import os
import time
from datetime import datetime
from pathlib import Path

from fieldwalk import create_app
from fieldwalk.clock import STOCKHOLM
from fieldwalk.photos.files import TEMP_PREFIX, check_photos

HOUR = 3600


def temp_file(photo_dir: Path, name: str, age_seconds: float, folder: str = "ab") -> Path:
    """A temporary file as write_file leaves it, last written `age_seconds` ago."""
    parent = photo_dir / folder if folder else photo_dir
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / f"{TEMP_PREFIX}{name}"
    path.write_bytes(b"half a photo")
    stamp = time.time() - age_seconds
    os.utime(path, (stamp, stamp))
    return path


def test_app_start_removes_temp_files_of_killed_workers_but_not_uploads_in_flight(tmp_path):
    instance = tmp_path / "instance"
    photo_dir = instance / "photos"
    stale = temp_file(photo_dir, "abc.123.456", 2 * HOUR)
    stale_check = temp_file(photo_dir, "healthz-x1y2", 2 * HOUR, folder="")
    fresh = temp_file(photo_dir, "def.789.012", 60)
    kept = photo_dir / "ab" / "abcdef.jpg"
    kept.write_bytes(b"a stored photo")
    os.utime(kept, (time.time() - 48 * HOUR,) * 2)

    create_app({"TESTING": True, "INSTANCE": str(instance)})

    assert not stale.exists() and not stale_check.exists()
    assert fresh.exists()
    assert kept.exists()  # not a temporary file, whatever its age: check-photos judges it


def test_check_photos_fix_removes_stale_temp_files_and_leaves_uploads_in_flight(app, runner):
    photo_dir = Path(app.config["PHOTO_PATH"])
    stale = temp_file(photo_dir, "abc.123.456", 2 * HOUR)
    fresh = temp_file(photo_dir, "def.789.012", 60)

    listed = runner.invoke(args=["check-photos"])
    assert f"orphan: ab/{stale.name}" in listed.output
    assert fresh.name not in listed.output
    assert stale.exists()  # listing removes nothing

    fixed = runner.invoke(args=["check-photos", "--fix"])
    assert f"removed: ab/{stale.name}" in fixed.output
    assert not stale.exists()
    assert fresh.exists()
    assert runner.invoke(args=["check-photos"]).output.strip() == (
        "0 orphan file(s), 0 missing file(s)."
    )


def test_seed_load_gives_observations_photos_stored_as_uploads_are(app, runner, db):
    """`seed-load --photos N`: N observations declare one photo each, stored with its files,
    its own bytes, and the observation's position and Stockholm time in its EXIF; a second
    run gives photos only to observations that had none."""
    args = ["seed-load", "--observations", "40", "--walks", "2", "--events-per-day", "0"]
    result = runner.invoke(args=[*args, "--photos", "3"])
    assert result.exit_code == 0, result.output
    assert "and 3 photos" in result.output
    rows = db.execute(
        """SELECT p.*, o.photo_ids, o.lat, o.lon, o.observed_at FROM photos p
           JOIN observations o ON o.id = p.observation_id"""
    ).fetchall()
    assert len(rows) == 3 and len({row["sha256"] for row in rows}) == 3
    photo_dir = Path(app.config["PHOTO_PATH"])
    for row in rows:
        assert json.loads(row["photo_ids"]) == [row["id"]]
        assert abs(row["gps_lat"] - row["lat"]) < 0.0005
        assert abs(row["gps_lon"] - row["lon"]) < 0.0005
        observed = datetime.fromisoformat(row["observed_at"].replace("Z", "+00:00"))
        assert row["taken_at"] == observed.astimezone(STOCKHOLM).replace(tzinfo=None).isoformat()
        for column in ("file", "thumb_file"):
            assert (photo_dir / row[column]).is_file()
    assert check_photos(db, photo_dir) == {"orphans": [], "missing": []}
    assert (
        db.execute("SELECT count(*) FROM photos WHERE public_file IS NOT NULL").fetchone()[0] == 0
    )

    again = runner.invoke(args=[*args, "--append", "--seed", "2", "--photos", "5"])
    assert again.exit_code == 0, again.output
    per_observation = db.execute(
        "SELECT count(*) FROM photos GROUP BY observation_id HAVING count(*) > 1"
    ).fetchall()
    assert db.execute("SELECT count(*) FROM photos").fetchone()[0] == 8 and not per_observation
