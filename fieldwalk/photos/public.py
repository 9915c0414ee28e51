"""The copies of a photo that anyone but staff sees: every face found blurred.

An upload is stored as it came (upright, stripped, resized: fieldwalk/photos/attach.py) and
answered at once; its public copies (display and thumbnail) are made afterwards, off the
request, because finding faces costs about two seconds of one core. Until they exist the
photo is served to no one but staff and the phone that took it (fieldwalk/photos/views.py),
so nothing unblurred is ever shown publicly, not even in between.

Two ways run `blur_pending`: a thread in each app process, woken by every stored photo
(`wake`), and `flask --app app blur-pending [--watch]` from cron or as a service, which
also catches whatever a restart left half done. A photo is claimed before the work, so two
processes never blur the same one twice.

As deployed (docs/systemd/fieldwalk-blur.service) the service does it all, at idle priority
(SCHED_IDLE: only on cores nothing else wants): after a city's evening of walks the faces of
3,000 photos are some two hours of one core, and on a thread in each pool they took the
cores the uploads, the observations and the pages were waiting for (bench/load.py --burst).
"""

from __future__ import annotations

import atexit
import io
import logging
import threading
from datetime import timedelta
from pathlib import Path

from PIL import Image
from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import connect, transaction
from fieldwalk.photos import faces
from fieldwalk.photos.files import content_path, ensure_files, remove_unreferenced, write_file
from fieldwalk.photos.model import (
    claim_for_blur,
    get_photo,
    photos_without_public_copies,
    release_blur_claim,
    set_public_copies,
)

log = logging.getLogger("fieldwalk.photos")


QUALITY = 82


# A claim older than this is taken to be from a process that died.
CLAIM_MINUTES = 10


def blurred_copies(display: bytes, thumb_edge: int) -> tuple[bytes, bytes, int] | None:
    """Public display and thumbnail JPEGs of a display JPEG, faces blurred, and how many faces;
    None when there is no face (the original copies may then be shown as they are)."""
    with Image.open(io.BytesIO(display)) as opened:
        image = opened.convert("RGB")
    blurred, boxes = faces.blur_faces(image)
    if not boxes:
        return None
    small = blurred.copy()
    small.thumbnail((thumb_edge, thumb_edge), Image.Resampling.HAMMING)
    return _jpeg(blurred), _jpeg(small), len(boxes)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


def blur_photo(
    db: Database,
    photo_dir: Path,
    photo_id: str,
    thumb_edge: int,
    stop: threading.Event | None = None,
) -> bool:
    """Make one photo's public copies if nobody else is at it; True when they were made.

    Once `stop` is set (the service is being stopped) the photo at hand is left as it was,
    its claim given back, rather than its files written and never recorded."""
    stamp = now()
    stale = now(-timedelta(minutes=CLAIM_MINUTES))
    with transaction(db):
        if not claim_for_blur(db, photo_id, stamp, stale):
            return False
    photo = get_photo(db, photo_id)
    display = (photo_dir / photo["file"]).read_bytes()
    made = blurred_copies(display, thumb_edge)
    if stop is not None and stop.is_set():
        with transaction(db):
            release_blur_claim(db, photo_id, stamp)
        return False
    if made is None:
        with transaction(db):
            return set_public_copies(
                db, photo_id, photo["file"], photo["file"], photo["thumb_file"], 0
            )
    public_display, public_thumb, count = made
    files = {content_path(public_display): public_display, content_path(public_thumb): public_thumb}
    for data in files.values():
        write_file(photo_dir, data)
    with transaction(db):
        ensure_files(photo_dir, files)
        done = set_public_copies(
            db,
            photo_id,
            photo["file"],
            content_path(public_display),
            content_path(public_thumb),
            count,
        )
    if not done:  # redacted meanwhile: the next run blurs the new display file
        remove_unreferenced(db, photo_dir, list(files))
    return done


def blur_pending(
    db: Database,
    photo_dir: Path,
    thumb_edge: int,
    limit: int | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Make the public copies of every photo still without them (at most `limit`, until
    `stop` is set); how many."""
    made = 0
    while limit is None or made < limit:
        batch = photos_without_public_copies(db, 20)
        progress = False
        for photo in batch:
            if stop is not None and stop.is_set():
                return made
            try:
                if blur_photo(db, photo_dir, photo["id"], thumb_edge, stop):
                    made += 1
                    progress = True
            except (OSError, Image.UnidentifiedImageError) as error:
                log.error("blur %s: %s", photo["id"], error)
        if not progress:
            return made
    return made


class BlurWorker:
    """A thread that makes public copies whenever `wake` is called (and once a minute).

    The process waits for it when it exits (`stop`, run at exit): the photo at hand is given
    back after its faces are found, and the rest are left for the next run. A daemon thread
    cut off mid-inference by the interpreter's end aborted the whole process (onnxruntime:
    "terminate called without an active exception", exit status 134): a gunicorn worker
    restarting, and any command that records photos (`seed-demo`, so `make run`: seen once in
    seven runs; `import-outbox`)."""

    # How long an exiting process waits for the photo at hand (one photo's faces: ~2 s).
    STOP_WAIT_S = 60

    def __init__(self, database_path: str | Path, photo_dir: str | Path, thumb_edge: int):
        self.database_path = database_path
        self.photo_dir = Path(photo_dir)
        self.thumb_edge = thumb_edge
        self._event = threading.Event()
        self._idle = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wake(self) -> None:
        """Ask for a run now (starting the thread on first use)."""
        with self._lock:
            if self._stop.is_set():
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="blur", daemon=True)
                self._thread.start()
                atexit.register(self.stop)
        self._idle.clear()
        self._event.set()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the worker has nothing left to do; False if it still had after `timeout`."""
        return self._idle.wait(timeout)

    def stop(self) -> None:
        """End the thread after the photo at hand (given back unfinished), and wait for it."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        self._event.set()
        if thread is not None:
            thread.join(self.STOP_WAIT_S)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._event.wait(60)
            self._event.clear()
            if self._stop.is_set():
                break
            try:
                db = connect(self.database_path)
                try:
                    blur_pending(db, self.photo_dir, self.thumb_edge, stop=self._stop)
                finally:
                    db.close()
            except Exception:  # a thread that dies would leave every later photo unblurred
                log.exception("blurring photos failed")
            if not self._event.is_set():
                self._idle.set()


_workers: list[BlurWorker] = []


def register(worker: BlurWorker) -> None:
    """Let `wake` reach this worker (one per app process)."""
    _workers.append(worker)


def wake() -> None:
    """A photo was stored: have this process's worker (if it has one) make its copies."""
    for worker in _workers:
        worker.wake()
