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

from sqlite_utils import Database

from fieldwalk.db import transaction
from fieldwalk.photos import squares

TEMP_PREFIX = ".tmp-"
# A temporary file last written longer ago than this was left by a worker killed while it
# wrote (no upload takes an hour); a younger one may be an upload in flight: leave it alone.
STALE_TEMP_SECONDS = 3600


def content_path(data: bytes, suffix: str = ".jpg") -> str:
    """The relative path a file with these bytes is stored under."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest}{suffix}"


def write_file(photo_dir: Path, data: bytes, suffix: str = ".jpg") -> str:
    """Write bytes under their content hash (atomically); return the relative path."""
    relative = content_path(data, suffix)
    digest = relative.split("/")[1].split(".")[0]
    target = photo_dir / relative
    if not target.exists():
        _write_atomically(target, data, digest)
    return relative


def write_at(photo_dir: Path, relative: str, data: bytes) -> str:
    """Write bytes at this relative path (atomically) unless a file is there; return the path."""
    target = photo_dir / relative
    if not target.exists():
        _write_atomically(target, data, Path(relative).stem)
    return relative


def _write_atomically(target: Path, data: bytes, tag: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.parent / f"{TEMP_PREFIX}{tag}.{os.getpid()}.{time.monotonic_ns()}"
    with open(temp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, target)


def ensure_square(photo_dir: Path, relative: str) -> bool:
    """Make a list thumbnail (photos/squares.py) of a stored thumbnail if it is not on disk
    yet; False when `relative` names no square or its thumbnail is missing or unreadable."""
    parsed = squares.parse_square_path(relative)
    if parsed is None:
        return False
    if (photo_dir / relative).exists():
        return True
    thumb_relative, edge = parsed
    try:
        thumb = (photo_dir / thumb_relative).read_bytes()
        made = squares.make_squares(thumb)
    except (OSError, ValueError, SyntaxError):  # missing, or not a JPEG Pillow can read
        return False
    for each, data in made.items():
        write_at(photo_dir, squares.square_path(thumb_relative, each), data)
    return True


def row_files(row) -> list[str]:
    """Every file a photo row (a dict or sqlite3.Row) stands for: its own, its blurred public
    copies, and the list squares of both thumbnails."""
    row = dict(row)
    own = [
        row.get(column)
        for column in ("file", "thumb_file", "original_file", "public_file", "public_thumb_file")
    ]
    thumbs = [row.get(column) for column in ("thumb_file", "public_thumb_file")]
    return [f for f in own if f] + [
        s for thumb in thumbs if thumb for s in squares.square_paths(thumb)
    ]


def _own_files(db: Database) -> set[str]:
    files: set[str] = set()
    for row in db.execute(
        "SELECT file, thumb_file, original_file, public_file, public_thumb_file FROM photos"
    ):
        files.update(f for f in row if f)
    return files


def referenced_files(db: Database, with_squares: bool = True) -> set[str]:
    """Every file path some row refers to, with the list squares of each thumbnail unless
    told not to (a backup leaves them out: they are made again on first request)."""
    own = _own_files(db)
    if not with_squares:
        return own
    thumbs = {
        thumb
        for row in db.execute("SELECT DISTINCT thumb_file, public_thumb_file FROM photos")
        for thumb in row
    }
    return own | {path for thumb in thumbs if thumb for path in squares.square_paths(thumb)}


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
        write_at(photo_dir, relative, data)


def stale_temp_files(photo_dir: Path, older_than: float = STALE_TEMP_SECONDS) -> list[str]:
    """Temporary files (TEMP_PREFIX) last written more than `older_than` seconds ago."""
    cutoff = time.time() - older_than
    stale = []
    for path in photo_dir.rglob(f"{TEMP_PREFIX}*"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                stale.append(str(path.relative_to(photo_dir)))
        except FileNotFoundError:  # renamed into place or removed meanwhile
            continue
    return sorted(stale)


def remove_stale_temp_files(photo_dir: Path) -> list[str]:
    """Delete the temporary files killed workers left; return their paths."""
    stale = stale_temp_files(photo_dir)
    for relative in stale:
        (photo_dir / relative).unlink(missing_ok=True)
    return stale


def check_photos(db: Database, photo_dir: Path, fix: bool = False) -> dict:
    """Files no row refers to, and rows whose file is missing; remove the orphans with fix.

    A temporary file is an orphan only once it is stale: a younger one may be an upload
    still writing it.
    """
    # Under the write lock, so no upload commits a row for a file while it is judged; an
    # upload whose file is removed here writes it again before its insert (ensure_files).
    with transaction(db):
        referenced = referenced_files(db)
        own = _own_files(db)  # a missing square is made again when asked for: not missing
        stale = set(stale_temp_files(photo_dir))
        on_disk = set()
        for path in photo_dir.rglob("*"):
            relative = str(path.relative_to(photo_dir))
            if path.is_file() and (not path.name.startswith(TEMP_PREFIX) or relative in stale):
                on_disk.add(relative)
        orphans = sorted(p for p in on_disk if p not in referenced)
        missing = sorted(p for p in own if p not in on_disk)
        if fix:
            for relative in orphans:
                (photo_dir / relative).unlink(missing_ok=True)
    return {"orphans": orphans, "missing": missing}
