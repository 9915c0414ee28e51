"""Photo files on disk and their rows: store once, serve without metadata, find orphans.

Files are named by the hash of their content and written to a temporary name, then renamed
into place, so a reader never sees half a file and the same image stored twice is one file.
A row refers to a file only once the row is committed; a crash in between leaves at most an
unreferenced file, which `flask --app app check-photos --fix` removes.
"""

import hashlib
import os
import time
from pathlib import Path

import click
from flask import Blueprint, Flask, abort, current_app, send_from_directory, url_for
from flask.cli import with_appcontext
from sqlite_utils import Database

from fieldwalk import photos as photo_pipeline
from fieldwalk.db import connect, now, transaction
from fieldwalk.observations import set_location_from_photo

bp = Blueprint("photo_files", __name__)
TEMP_PREFIX = ".tmp-"
ONE_YEAR = 365 * 24 * 3600


class PhotoConflict(Exception):
    """Other bytes were already stored under this photo UUID."""


class PhotoNotDeclared(Exception):
    """The observation did not declare this photo UUID."""


def content_path(data: bytes, suffix: str = ".jpg") -> str:
    """The relative path a file with these bytes is stored under."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest}{suffix}"


def write_file(photo_dir: Path, data: bytes, suffix: str = ".jpg") -> str:
    """Write bytes under their content hash (atomically); return the relative path."""
    relative = content_path(data, suffix)
    digest = relative.split("/")[1].split(".")[0]
    target = photo_dir / relative
    if target.exists():
        return relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.parent / f"{TEMP_PREFIX}{digest}.{os.getpid()}.{time.monotonic_ns()}"
    with open(temp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, target)
    return relative


def referenced_files(db: Database) -> set[str]:
    """Every file path some row refers to."""
    files: set[str] = set()
    for row in db.execute("SELECT file, thumb_file, original_file FROM photos"):
        files.update(f for f in row if f)
    return files


def remove_unreferenced(db: Database, photo_dir: Path, paths: list[str]) -> None:
    """Delete those of `paths` that no row refers to, holding the write lock.

    Under the lock no other upload can commit a row for the same content meanwhile; an upload
    that wrote the same file earlier re-checks it under the lock before its insert
    (`ensure_files`), so deleting here never leaves a row pointing at nothing.
    """
    with transaction(db):
        still = referenced_files(db)
        for relative in paths:
            if relative not in still:
                (photo_dir / relative).unlink(missing_ok=True)


def ensure_files(photo_dir: Path, files: dict[str, bytes]) -> None:
    """Rewrite any of these content-named files a concurrent cleanup removed (call under lock)."""
    for relative, data in files.items():
        if not (photo_dir / relative).exists():
            write_file(photo_dir, data, suffix=Path(relative).suffix)


def get_photo(db: Database, photo_id: str) -> dict | None:
    """One photo row, or None."""
    row = db.execute("SELECT * FROM photos WHERE id = ?", [photo_id]).fetchone()
    return dict(row) if row else None


def put_photo(
    db: Database,
    photo_dir: Path,
    observation: dict,
    photo_id: str,
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    display_edge: int,
    thumb_edge: int,
    keep_original: bool = False,
    far_metres: float | None = None,
    place_geometry: dict | None = None,
    ingested: photo_pipeline.Ingested | None = None,
    phone_gps: tuple[float, float] | None = None,
    phone_taken_at: str | None = None,
    timezone: str = "UTC",
) -> tuple[dict, bool]:
    """Store a photo of an observation once; return (row, created).

    Where the bytes carry no EXIF position or time, `phone_gps` and `phone_taken_at` (what the
    phone read before it made the photo smaller, checked by fieldwalk/photo_hints.py) stand in.
    The photo's position and time become the observation's where it has none of its own.
    Raises PhotoNotDeclared, PhotoConflict, or photos.PhotoError for a refused upload.
    """
    import json
    from datetime import UTC, datetime

    from fieldwalk.photo_hints import set_time_from_photo

    if photo_id not in json.loads(observation["photo_ids"]):
        raise PhotoNotDeclared(photo_id)
    sha = hashlib.sha256(data).hexdigest()
    existing = get_photo(db, photo_id)
    if existing is not None:
        if existing["sha256"] != sha or existing["observation_id"] != observation["id"]:
            raise PhotoConflict(photo_id)
        return existing, False

    ingested = ingested or photo_pipeline.ingest(
        data,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        display_edge=display_edge,
        thumb_edge=thumb_edge,
    )
    written = [content_path(ingested.display), content_path(ingested.thumb)]
    if keep_original:
        written.append(content_path(data, suffix=".orig"))
    try:
        write_file(photo_dir, ingested.display)
        write_file(photo_dir, ingested.thumb)
        if keep_original:
            write_file(photo_dir, data, suffix=".orig")
    except BaseException:
        if not db.conn.in_transaction:
            remove_unreferenced(db, photo_dir, written)
        raise
    try:
        with transaction(db):
            existing = get_photo(db, photo_id)
            if existing is not None:
                if existing["sha256"] != sha or existing["observation_id"] != observation["id"]:
                    raise PhotoConflict(photo_id)
                return existing, False
            files = {written[0]: ingested.display, written[1]: ingested.thumb}
            if keep_original:
                files[written[2]] = data
            ensure_files(photo_dir, files)
            gps = ingested.gps or phone_gps
            taken_at = ingested.taken_at or phone_taken_at
            gps_lat, gps_lon = gps or (None, None)
            db.execute(
                """INSERT INTO photos (id, observation_id, sha256, file, thumb_file, original_file,
                       width, height, bytes, source_format, gps_lat, gps_lon, taken_at, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    photo_id,
                    observation["id"],
                    sha,
                    written[0],
                    written[1],
                    written[2] if keep_original else None,
                    ingested.width,
                    ingested.height,
                    len(data),
                    ingested.source_format,
                    gps_lat,
                    gps_lon,
                    taken_at,
                    now(),
                ],
            )
            if gps and observation["lat"] is None and _near(gps, place_geometry, far_metres):
                set_location_from_photo(db, observation["id"], *gps)
            if taken_at:
                set_time_from_photo(db, observation["id"], taken_at, timezone, datetime.now(UTC))
            db.execute(
                "UPDATE observations SET updated_at = ? WHERE id = ?", [now(), observation["id"]]
            )
            return get_photo(db, photo_id), True
    except BaseException:
        if not db.conn.in_transaction:
            remove_unreferenced(db, photo_dir, written)
        raise


def put_task_photo(
    db: Database,
    photo_dir: Path,
    task_id: int,
    photo_id: str,
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    display_edge: int,
    thumb_edge: int,
    keep_original: bool = False,
    **_ignored,
) -> tuple[dict, bool]:
    """Store an after-photo of a task once; return (row, created).

    Same pipeline and table as observation photos. Call it inside the transaction that
    changes the task, so the photo and the state change are stored together or not at all.
    Raises PhotoConflict, or photos.PhotoError for a refused upload.
    """
    sha = hashlib.sha256(data).hexdigest()
    existing = get_photo(db, photo_id)
    if existing is not None:
        if existing["sha256"] != sha or existing["task_id"] != task_id:
            raise PhotoConflict(photo_id)
        return existing, False
    ingested = photo_pipeline.ingest(
        data,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        display_edge=display_edge,
        thumb_edge=thumb_edge,
    )
    written = [content_path(ingested.display), content_path(ingested.thumb)]
    try:
        write_file(photo_dir, ingested.display)
        write_file(photo_dir, ingested.thumb)
        with transaction(db):
            ensure_files(photo_dir, {written[0]: ingested.display, written[1]: ingested.thumb})
            gps_lat, gps_lon = ingested.gps or (None, None)
            db.execute(
                """INSERT INTO photos (id, observation_id, task_id, sha256, file, thumb_file,
                       width, height, bytes, source_format, gps_lat, gps_lon, taken_at, created_at)
                   VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    photo_id,
                    task_id,
                    sha,
                    written[0],
                    written[1],
                    ingested.width,
                    ingested.height,
                    len(data),
                    ingested.source_format,
                    gps_lat,
                    gps_lon,
                    ingested.taken_at,
                    now(),
                ],
            )
            return get_photo(db, photo_id), True
    except BaseException:
        if not db.conn.in_transaction:
            remove_unreferenced(db, photo_dir, written)
        raise


def list_task_photos(db: Database, task_id: int) -> list[dict]:
    """A task's after-photos, oldest first."""
    return [
        dict(r)
        for r in db.execute(
            "SELECT * FROM photos WHERE task_id = ? ORDER BY created_at, id", [task_id]
        )
    ]


def _near(gps: tuple[float, float], geometry: dict | None, far_metres: float | None) -> bool:
    from fieldwalk import geo

    if geometry is None or far_metres is None:
        return False
    return geo.distance_to_polygon_m(geometry, *gps) <= far_metres


def check_photos(db: Database, photo_dir: Path, fix: bool = False) -> dict:
    """Files no row refers to, and rows whose file is missing; remove the orphans with fix."""
    # Under the write lock, so no upload commits a row for a file while it is judged; an
    # upload whose file is removed here writes it again before its insert (ensure_files).
    with transaction(db):
        referenced = referenced_files(db)
        on_disk = {str(p.relative_to(photo_dir)) for p in photo_dir.rglob("*") if p.is_file()}
        orphans = sorted(p for p in on_disk if p not in referenced)
        missing = sorted(p for p in referenced if p not in on_disk)
        if fix:
            for relative in orphans:
                (photo_dir / relative).unlink(missing_ok=True)
    return {"orphans": orphans, "missing": missing}


def photo_url(relative: str) -> str:
    """The URL of a stored photo file."""
    return url_for("photo_files.serve", relative=relative)


@bp.get("/photos/<path:relative>")
def serve(relative: str):
    """Serve a stored image: content-addressed, so cacheable for ever; no metadata inside."""
    if relative.startswith(".") or "/." in relative or not relative.endswith(".jpg"):
        abort(404)
    response = send_from_directory(
        current_app.config["PHOTO_PATH"], relative, mimetype="image/jpeg", max_age=ONE_YEAR
    )
    response.cache_control.immutable = True
    return response


@click.command("check-photos")
@click.option("--fix", is_flag=True, help="Remove files that no row refers to.")
@with_appcontext
def check_photos_command(fix: bool) -> None:
    """List photo files no row refers to and rows whose file is missing.

    Example: flask --app app check-photos --fix
    """
    db = connect(current_app.config["DATABASE_PATH"])
    try:
        report = check_photos(db, Path(current_app.config["PHOTO_PATH"]), fix=fix)
    finally:
        db.close()
    for path in report["orphans"]:
        click.echo(f"{'removed' if fix else 'orphan'}: {path}")
    for path in report["missing"]:
        click.echo(f"missing: {path}")
    click.echo(
        f"{len(report['orphans'])} orphan file(s), {len(report['missing'])} missing file(s)."
    )
    if report["missing"]:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    """Register photo serving and the check-photos command."""
    app.register_blueprint(bp)
    app.cli.add_command(check_photos_command)
    app.jinja_env.globals["photo_url"] = photo_url
