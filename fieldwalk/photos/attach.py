"""Storing a photo of an observation, or an after-photo of a task: one function, `store_photo`.

The bytes go through the pipeline (checked, upright, resized, stripped of metadata), the files
are written under their content hash, and the row that refers to them is inserted in one
write transaction that first re-checks the files under the lock (a concurrent cleanup may have
removed an identical file meanwhile). A photo UUID is stored once: the same bytes again are
answered with the stored row, other bytes or another owner are a conflict. On any failure the
files this call wrote that no row refers to are removed, so nothing is left half-stored.

A process decodes one photo at a time (`DECODING`): the photo pool runs threaded workers
(docs/systemd/fieldwalk-photos.service) so that a health check or a slow client never waits
behind a decode, and the lock keeps what decoding costs, in cores and in memory, to one photo
per worker process, as it was with one thread per worker.
"""

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from fieldwalk.db import transaction
from fieldwalk.observations.model import (
    set_location_from_photo,
    set_time_from_photo,
    touch_observation,
)
from fieldwalk.photos import pipeline, public, squares
from fieldwalk.photos.files import content_path, ensure_files, remove_unreferenced, write_at
from fieldwalk.photos.model import get_photo, insert_photo
from fieldwalk.places.nearness import near_place

# One decode at a time in this process; other threads wait here, holding no pixels.
DECODING = threading.Lock()


class PhotoConflict(Exception):
    """Other bytes, or another observation or task, already hold this photo UUID."""


class PhotoNotDeclared(Exception):
    """The observation did not declare this photo UUID."""


@dataclass(frozen=True)
class PhotoSettings:
    """The photo limits and sizes; read from the app's configuration in one place."""

    max_bytes: int
    max_pixels: int
    display_edge: int
    thumb_edge: int
    keep_original: bool = False
    far_metres: float | None = None
    max_decode_bytes: int | None = None  # None: the pipeline's own default

    @classmethod
    def from_config(cls, config: Mapping) -> "PhotoSettings":
        """The settings an app is configured with (MAX_PHOTO_BYTES and friends)."""
        return cls(
            max_bytes=config["MAX_PHOTO_BYTES"],
            max_pixels=config["MAX_PHOTO_PIXELS"],
            display_edge=config["PHOTO_DISPLAY_EDGE"],
            thumb_edge=config["PHOTO_THUMB_EDGE"],
            keep_original=config["KEEP_ORIGINAL_PHOTOS"],
            far_metres=config["FAR_FROM_PLACE_METRES"],
            max_decode_bytes=config["MAX_PHOTO_DECODE_BYTES"],
        )


def ingest(data: bytes, settings: PhotoSettings) -> pipeline.Ingested:
    """Run the photo pipeline with these limits, one photo at a time in this process; raises
    pipeline.PhotoError when refused."""
    with DECODING:
        return pipeline.ingest(
            data,
            max_bytes=settings.max_bytes,
            max_pixels=settings.max_pixels,
            display_edge=settings.display_edge,
            thumb_edge=settings.thumb_edge,
            **(
                {"max_decode_bytes": settings.max_decode_bytes} if settings.max_decode_bytes else {}
            ),
        )


def store_photo(
    db: Database,
    photo_dir: Path,
    photo_id: str,
    data: bytes,
    settings: PhotoSettings,
    *,
    observation: dict | None = None,
    task_id: int | None = None,
    place_geometry: dict | None = None,
    ingested: pipeline.Ingested | None = None,
    phone_gps: tuple[float, float] | None = None,
    phone_taken_at: str | None = None,
) -> tuple[dict, bool]:
    """Store a photo of `observation`, or an after-photo of task `task_id`, once.

    Returns (row, created). An observation's photo must be one it declared; when the
    observation has no position, a photo position near its place (`place_geometry`) becomes
    its position, and a photo's time its time where the phone gave none. Where the bytes carry
    no EXIF, `phone_gps` and `phone_taken_at` (what the phone read from the original before it
    made it smaller, checked by photos/hints.py) stand in. Inside an outer transaction (a task's state change, a form that stores the
    observation and its photos together) the caller removes the written files if that
    transaction fails: see `files_of`. Raises PhotoNotDeclared, PhotoConflict, or
    pipeline.PhotoError for a refused upload.
    """
    if (observation is None) == (task_id is None):
        raise ValueError("a photo belongs to exactly one observation or one task")
    if observation is not None and photo_id not in json.loads(observation["photo_ids"]):
        raise PhotoNotDeclared(photo_id)
    owner = {"observation_id": observation["id"]} if observation else {"task_id": task_id}
    sha = hashlib.sha256(data).hexdigest()
    existing = _stored(db, photo_id, sha, owner)
    if existing is not None:
        return existing, False

    ingested = ingested or ingest(data, settings)
    files = files_of(ingested, data if settings.keep_original else None)
    try:
        for relative, content in files.items():
            write_at(photo_dir, relative, content)
        with transaction(db):
            existing = _stored(db, photo_id, sha, owner)
            if existing is not None:
                return existing, False
            ensure_files(photo_dir, files)
            gps = ingested.gps or phone_gps
            taken_at = ingested.taken_at or phone_taken_at
            gps_lat, gps_lon = gps or (None, None)
            insert_photo(
                db,
                {
                    "id": photo_id,
                    "observation_id": owner.get("observation_id"),
                    "task_id": owner.get("task_id"),
                    "sha256": sha,
                    "file": content_path(ingested.display),
                    "thumb_file": content_path(ingested.thumb),
                    "original_file": (
                        content_path(data, suffix=".orig") if settings.keep_original else None
                    ),
                    "width": ingested.width,
                    "height": ingested.height,
                    "bytes": len(data),
                    "source_format": ingested.source_format,
                    "gps_lat": gps_lat,
                    "gps_lon": gps_lon,
                    "taken_at": taken_at,
                },
            )
            if observation is not None:
                if (
                    gps
                    and observation["lat"] is None
                    and near_place(place_geometry, *gps, settings.far_metres)
                ):
                    set_location_from_photo(db, observation["id"], *gps)
                set_time_from_photo(db, observation, taken_at)
                touch_observation(db, observation["id"])
            stored = get_photo(db, photo_id)
        if not db.conn.in_transaction:  # inside an outer write, its caller wakes the worker
            public.wake()
        return stored, True
    except BaseException:
        if not db.conn.in_transaction:
            remove_unreferenced(db, photo_dir, list(files))
        raise


def files_of(ingested: pipeline.Ingested, original: bytes | None = None) -> dict[str, bytes]:
    """The files a photo is stored as, by relative path (a small photo's display and thumbnail
    can be the same bytes, and so one file), with the thumbnail's list squares."""
    thumb = content_path(ingested.thumb)
    files = {
        content_path(ingested.display): ingested.display,
        thumb: ingested.thumb,
        **squares.squares_by_path(thumb, ingested.thumb),
    }
    if original is not None:
        files[content_path(original, suffix=".orig")] = original
    return files


def _stored(db: Database, photo_id: str, sha: str, owner: dict) -> dict | None:
    """The stored row for this UUID if it holds the same bytes for the same owner."""
    existing = get_photo(db, photo_id)
    if existing is None:
        return None
    if existing["sha256"] != sha or any(existing[k] != v for k, v in owner.items()):
        raise PhotoConflict(photo_id)
    return existing
