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

TEMP_PREFIX = ".tmp-"


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
    for row in db.execute(
        "SELECT file, thumb_file, original_file, public_file, public_thumb_file FROM photos"
    ):
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
