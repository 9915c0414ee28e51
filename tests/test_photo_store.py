"""Photo files on disk: temporary files left by killed workers are cleaned up, and only those.

A worker writes each photo file to a `.tmp-` name and renames it into place. A worker killed
in between (gunicorn's timeout, the OOM killer, a deploy) leaves the temporary file behind.
One older than an hour is such a leftover: no upload takes that long. A younger one may be an
upload in flight, and must be left alone, whoever is cleaning.
"""

import os
import time
from pathlib import Path

from fieldwalk import create_app
from fieldwalk.photos.files import TEMP_PREFIX

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
