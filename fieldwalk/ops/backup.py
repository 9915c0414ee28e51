"""Running fieldwalk for real: a health check, one JSON log line per request, backup and restore.

`GET /healthz` answers 200 or 503 for a load balancer or a monitor. Each request Flask answers
is logged as one JSON line on the `fieldwalk.request` logger (stderr unless logging is
configured otherwise), without query strings, bodies, cookies or the tokens in link paths.
`backup` copies the live database with SQLite's backup API, the photos it refers to and the
secret key into a dated folder (or archive) with a manifest of checksums; `restore` puts one
back into an empty instance, checking every byte.
(The secret key: see `fieldwalk.ops.keys`.)
"""

import hashlib
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlite_utils import Database

from fieldwalk.clock import stamp
from fieldwalk.db import connect
from fieldwalk.migrations import migrations
from fieldwalk.ops.keys import SECRET_FILE, key_report, restore_secret, write_secret
from fieldwalk.ops.sqlite import open_sqlite
from fieldwalk.photos.files import referenced_files

BACKUP_PREFIX = "fieldwalk-backup-"


BACKUP_FORMAT = "fieldwalk-backup"


MANIFEST = "manifest.json"


DB_FILE = "fieldwalk.db"


PHOTOS = "photos"


CHUNK = 1 << 20


class BackupError(click.ClickException):
    """A backup or restore that cannot go on; nothing was put in place."""


def _hash_file(path: Path) -> dict:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"sha256": digest.hexdigest(), "bytes": size}


def _copy_stream(source: IO[bytes], target: Path) -> dict:
    """Copy bytes to a new file, synced to disk; return the sha256 and size of what was read."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with open(target, "xb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return {"sha256": digest.hexdigest(), "bytes": size}


def _integrity(conn: sqlite3.Connection) -> str:
    return conn.execute("PRAGMA integrity_check").fetchone()[0]


def _row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    names = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name"
    ).fetchall()
    # Table names come from sqlite_master, not from anyone's input.
    return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for (n,) in names}  # noqa: S608


def snapshot_database(source: Path, target: Path) -> None:
    """Copy a live database to `target` with SQLite's backup API, as of one moment.

    One step (pages=-1) copies under a single read transaction, which in WAL mode never blocks
    the app's writers; a copy in several steps restarts whenever the app commits in between.
    The copy is switched out of WAL mode so that it is one self-contained file.
    """
    if not source.is_file():
        raise BackupError(f"No database at {source}.")
    live, copy = connect(source), sqlite3.connect(target)
    try:
        live.conn.backup(copy, pages=-1)
        copy.execute("PRAGMA journal_mode = DELETE")
        result = _integrity(copy)
    finally:
        copy.close()
        live.close()
    if result != "ok":
        raise BackupError(f"The database copy failed its integrity check: {result}")


def describe_database(path: Path) -> dict:
    """Applied migrations, row counts per table, and the photo files the rows refer to."""
    conn = open_sqlite(path)
    try:
        db = Database(conn, execute_plugins=False)
        return {
            "migrations": [m.name for m in migrations.applied(db)],
            "tables": _row_counts(conn),
            "photo_files": sorted(referenced_files(db, with_squares=False)),
        }
    finally:
        conn.close()


def backup(
    db_path: Path,
    photo_dir: Path,
    dest: Path,
    archive: bool = False,
    secret_key: str | None = None,
) -> dict:
    """Write a dated backup (folder or .tar.gz) into `dest`; return its manifest and path.

    With `secret_key`, the key links and sessions are signed with is kept too (mode 0600).
    """
    created = datetime.now(UTC)
    name = BACKUP_PREFIX + created.strftime("%Y%m%dT%H%M%SZ")
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / (f"{name}.tar.gz" if archive else name)
    if final.exists():
        raise BackupError(f"{final} already exists; wait a second and try again.")
    # Built under a hidden name and renamed when complete: a cut-off backup never looks whole.
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dest))
    try:
        snapshot_database(db_path, work / DB_FILE)
        files = {DB_FILE: _hash_file(work / DB_FILE)}
        if secret_key:
            write_secret(work / SECRET_FILE, secret_key)
            files[SECRET_FILE] = _hash_file(work / SECRET_FILE)
        database = describe_database(work / DB_FILE)
        # Photo files are named by the hash of their content and never rewritten, and a photo
        # row is committed only after its files are in place (photo_store). So every file the
        # snapshot refers to was complete when the snapshot was taken and has the same bytes
        # now: copying the files after the snapshot gives a consistent pair. Files stored
        # since belong to rows the snapshot does not have and are left out. A referenced file
        # can only be missing if something deleted it: reported, not fatal. The list squares
        # (photos/squares.py) are left out: each is made again from its thumbnail when asked for.
        missing, corrupt = [], []
        for relative in database.pop("photo_files"):
            if not (photo_dir / relative).is_file():
                missing.append(relative)
                continue
            with open(photo_dir / relative, "rb") as f:
                files[f"{PHOTOS}/{relative}"] = info = _copy_stream(f, work / PHOTOS / relative)
            stem = Path(relative).stem
            if re.fullmatch(r"[0-9a-f]{64}", stem) and stem != info["sha256"]:
                corrupt.append(relative)
        manifest = {
            "format": BACKUP_FORMAT,
            "version": 1,
            "created_at": stamp(created),
            "database": {"file": DB_FILE, **database},
            "photos": {
                "copied": sum(1 for name in files if name.startswith(f"{PHOTOS}/")),
                "missing": missing,
                "corrupt": corrupt,
            },
            "secret_key": SECRET_FILE in files,
            "files": files,
        }
        with open(work / MANIFEST, "x") as f:
            f.write(json.dumps(manifest, indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if archive:
            partial = work / f"{name}.tar.gz"
            with tarfile.open(partial, "w:gz") as tar:
                # The manifest first, then the files in its order, so a restore reads forwards.
                for relative in [MANIFEST, *files]:
                    tar.add(work / relative, arcname=f"{name}/{relative}", recursive=False)
            os.chmod(partial, 0o600)  # like the folder: it holds password hashes
            os.replace(partial, final)
        else:
            os.replace(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {**manifest, "path": str(final)}


def _check_manifest(manifest: object) -> dict:
    """The manifest, refused unless it lists the database and only files under photos/."""
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        raise BackupError("This is not a fieldwalk backup (no fieldwalk manifest.json).")
    files = manifest.get("files")
    if not isinstance(files, dict) or DB_FILE not in files:
        raise BackupError("The backup's manifest lists no database.")
    for relative, info in files.items():
        parts = relative.split("/")
        if not (
            (relative in (DB_FILE, SECRET_FILE) or (parts[0] == PHOTOS and len(parts) > 1))
            and all(part not in ("", ".", "..") and "\\" not in part for part in parts)
            and isinstance(info, dict)
            and isinstance(info.get("sha256"), str)
            and isinstance(info.get("bytes"), int)
        ):
            raise BackupError(f"The manifest's entry for {relative!r} is not valid.")
    return manifest


@contextmanager
def _open_backup(source: Path) -> Iterator[tuple[dict, Callable[[str], IO[bytes]]]]:
    """The manifest and an opener for each listed file, from a backup folder or archive."""
    if source.is_dir():
        try:
            manifest = json.loads((source / MANIFEST).read_text())
        except (OSError, ValueError) as error:
            raise BackupError(f"No readable manifest.json in {source}.") from error
        yield _check_manifest(manifest), lambda relative: open(source / relative, "rb")  # noqa: SIM115
        return
    if not tarfile.is_tarfile(source):
        raise BackupError(f"{source} is neither a backup folder nor a backup archive.")
    # Files are read out of the archive by name into paths checked against the manifest:
    # nothing is ever extracted to a path of the archive's choosing.
    with tarfile.open(source, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        names = sorted((n for n in members if PurePosixPath(n).name == MANIFEST), key=len)
        if not names:
            raise BackupError(f"No manifest.json in {source}.")
        prefix = names[0].removesuffix(MANIFEST)
        try:
            manifest = json.load(tar.extractfile(members[names[0]]))
        except ValueError as error:
            raise BackupError(f"No readable manifest.json in {source}.") from error

        def opener(relative: str) -> IO[bytes]:
            if prefix + relative not in members:
                raise FileNotFoundError(f"{relative} is not in the archive")
            return tar.extractfile(members[prefix + relative])

        yield _check_manifest(manifest), opener


def instance_contents(db_path: Path, photo_dir: Path) -> list[str]:
    """What makes an instance not empty: rows in the database, files in the photo folder.

    A database the app has just created (migrated, no rows yet) counts as empty.
    """
    found = []
    if db_path.exists():
        try:
            conn = open_sqlite(db_path, "rw")
            try:
                counts = _row_counts(conn)
                # An R*Tree keeps its empty root node, an FTS5 table its structure and
                # settings, in shadow tables of their own: not data.
                virtual = conn.execute(
                    "SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'"
                ).fetchall()
            finally:
                conn.close()
            counts.pop("_sqlite_migrations", None)
            for (name,) in virtual:
                for shadow in ("node", "parent", "rowid", "data", "idx", "config", "docsize"):
                    counts.pop(f"{name}_{shadow}", None)
            rows = sum(counts.values())
        except sqlite3.Error:
            rows = -1  # not a database we can read: certainly not empty
        if rows:
            found.append(f"the database {db_path} holds data")
    if photo_dir.exists() and any(p.is_file() for p in photo_dir.rglob("*")):
        found.append(f"the photo folder {photo_dir} holds files")
    return found


def _refuse_unless_empty(db_path: Path, photo_dir: Path) -> None:
    found = instance_contents(db_path, photo_dir)
    if found:
        raise BackupError(
            f"Restore only writes into an empty instance, but {' and '.join(found)}."
            " Point FIELDWALK_INSTANCE at a new folder (or move this one aside) and retry."
        )


def _move_into_place(staging: Path, db_path: Path, photo_dir: Path) -> None:
    """Rename the staged photo folders into place, then the database: the restore's commit."""
    photo_dir.mkdir(parents=True, exist_ok=True)
    moved: list[Path] = []
    try:
        for entry in sorted((staging / PHOTOS).iterdir()):
            os.replace(entry, photo_dir / entry.name)  # over an empty folder at most
            moved.append(entry)
        for suffix in ("-wal", "-shm"):  # the empty database's; stale for the restored file
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        os.replace(staging / DB_FILE, db_path)
    except OSError:
        for entry in moved:
            os.replace(photo_dir / entry.name, entry)
        raise
    for folder in {photo_dir, db_path.parent}:
        fd = os.open(folder, os.O_RDONLY)  # make the renames durable
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def restore(source: Path, db_path: Path, photo_dir: Path, instance: Path) -> dict:
    """Restore a backup folder or archive into an empty instance; return its manifest.

    Every file is copied into a staging folder inside the instance, its checksum checked on
    the bytes read from the backup and again on the staged copy, and the database checked
    with PRAGMA integrity_check; only then is it renamed into place. Any failure leaves the
    instance as it was. The backup's secret key, when it has one, becomes the instance's
    (`secret_key` in the result says "restored", "same" or "missing").
    """
    _refuse_unless_empty(db_path, photo_dir)
    staging = Path(tempfile.mkdtemp(prefix=".fieldwalk-restore-", dir=instance))
    try:
        try:
            with _open_backup(source) as (manifest, opener):
                for relative, expected in manifest["files"].items():
                    with opener(relative) as f:
                        read = _copy_stream(f, staging / relative)
                    if read != {"sha256": expected["sha256"], "bytes": expected["bytes"]}:
                        raise BackupError(f"{relative} in the backup does not match its checksum.")
        except (OSError, EOFError, tarfile.TarError) as error:
            raise BackupError(f"Could not copy the backup: {error}") from error
        for relative, expected in manifest["files"].items():
            if _hash_file(staging / relative) != {k: expected[k] for k in ("sha256", "bytes")}:
                raise BackupError(f"The copy of {relative} does not match its checksum.")
        conn = open_sqlite(staging / DB_FILE)
        try:
            result = _integrity(conn)
        finally:
            conn.close()
        if result != "ok":
            raise BackupError(f"The backup's database failed its integrity check: {result}")
        (staging / PHOTOS).mkdir(exist_ok=True)
        missing = [
            relative
            for relative in describe_database(staging / DB_FILE)["photo_files"]
            if not (staging / PHOTOS / relative).is_file()
        ]
        _refuse_unless_empty(db_path, photo_dir)  # again: the copy may have taken a while
        try:
            _move_into_place(staging, db_path, photo_dir)
            secret = restore_secret(staging / SECRET_FILE, instance)
        except OSError as error:
            raise BackupError(f"Could not move the restored files into place: {error}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    conn = open_sqlite(db_path)
    try:
        result = _integrity(conn)
    finally:
        conn.close()
    return {**manifest, "integrity_check": result, "missing_photos": missing, "secret_key": secret}


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--archive", is_flag=True, help="Write one .tar.gz instead of a folder.")
@with_appcontext
def backup_command(dest: Path, archive: bool) -> None:
    """Back up the database and photos into DEST/fieldwalk-backup-<UTC time>, while serving.

    Example: flask --app app backup /var/backups/fieldwalk --archive
    """
    config = current_app.config
    manifest = backup(
        Path(config["DATABASE_PATH"]),
        Path(config["PHOTO_PATH"]),
        dest,
        archive,
        secret_key=config["SECRET_KEY"],
    )
    photos = manifest["photos"]
    for relative in photos["missing"]:
        click.echo(f"missing: {relative}", err=True)
    for relative in photos["corrupt"]:
        click.echo(f"damaged (bytes do not match the name): {relative}", err=True)
    rows = sum(manifest["database"]["tables"].values())
    click.echo(
        f"Backed up {rows} rows, {photos['copied']} photo files and the secret key (mode 0600:"
        f" keep the backup as safe as the server) to {manifest['path']}"
    )
    if photos["missing"] or photos["corrupt"]:
        raise BackupError(
            f"{len(photos['missing'])} photo file(s) missing and {len(photos['corrupt'])} damaged"
            " in the photo folder; the backup holds everything else."
        )


@click.command("restore")
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@with_appcontext
def restore_command(src: Path) -> None:
    """Restore a backup folder or .tar.gz into this instance, which must be empty.

    Stop the server first. Example:
    FIELDWALK_INSTANCE=/var/lib/fieldwalk flask --app app restore /var/backups/fieldwalk/fieldwalk-backup-20260101T020000Z
    """
    config = current_app.config
    instance_key = Path(current_app.instance_path) / SECRET_FILE
    key_from_file = (
        instance_key.is_file() and instance_key.read_text().strip() == config["SECRET_KEY"]
    )
    manifest = restore(
        src,
        Path(config["DATABASE_PATH"]),
        Path(config["PHOTO_PATH"]),
        Path(current_app.instance_path),
    )
    for relative in manifest["missing_photos"]:
        click.echo(f"not in the backup: {relative}", err=True)
    warning, report = key_report(
        manifest["secret_key"], key_from_file, config["SECRET_KEY"], instance_key
    )
    click.echo(report, err=warning)
    click.echo(
        f"Restored the backup of {manifest['created_at']} into {current_app.instance_path}:"
        f" {len(manifest['files'])} files, checksums verified;"
        f" PRAGMA integrity_check: {manifest['integrity_check']}."
    )


def init_app(app: Flask) -> None:
    """Register the backup and restore commands."""
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
