"""Redaction by hand: staff blur rectangles, turn a photo, or hide it.

Blurring and turning are applied on the server to every copy: the display copy and the
thumbnail staff see are rewritten, and the public copies are made again from them (faces
found afresh), so no copy anywhere still shows what was blurred. The unredacted files are
deleted; only with KEEP_ORIGINAL_PHOTOS is the upload itself kept (`original_file`, which is
never served). Each change is in the audit log with who made it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image
from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.photos.faces import Box, blur_regions
from fieldwalk.photos.files import (
    content_path,
    ensure_files,
    remove_unreferenced,
    row_files,
    write_file,
)
from fieldwalk.photos.model import get_photo, replace_photo_files, set_photo_hidden
from fieldwalk.photos.public import QUALITY, blur_photo

TURNS = {
    0: None,
    90: Image.Transpose.ROTATE_270,  # a quarter turn clockwise
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


MAX_BOXES = 30


class RedactionError(ValueError):
    """A rectangle or a turn that cannot be applied; .code names which."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def parse_box(text: str, width: int, height: int) -> Box:
    """'x,y,w,h' in the display copy's pixels as a box clipped to the photo."""
    try:
        x, y, w, h = (round(float(part)) for part in text.split(","))
    except ValueError as error:
        raise RedactionError("box") from error
    if w <= 0 or h <= 0:
        raise RedactionError("box")
    box = Box(max(0, x), max(0, y), min(width, x + w), min(height, y + h))
    if box.right - box.left < 2 or box.bottom - box.top < 2:
        raise RedactionError("box_outside")
    return box


def redact(
    db: Database,
    photo_dir: Path,
    photo_id: str,
    *,
    boxes: list[Box],
    turn: int,
    hide: bool,
    thumb_edge: int,
    user_id: int | None,
    actor: str,
) -> dict:
    """Blur `boxes` (display pixels) and turn the photo `turn` degrees clockwise, on every
    copy; hide it or show it again. Returns the photo's row as it is now."""
    if turn not in TURNS:
        raise RedactionError("turn")
    if len(boxes) > MAX_BOXES:
        raise RedactionError("too_many")
    photo = get_photo(db, photo_id)
    stamp = now()
    if boxes or turn:
        with Image.open(photo_dir / photo["file"]) as opened:
            image = opened.convert("RGB")
        image = blur_regions(image, boxes)
        if TURNS[turn] is not None:
            image = image.transpose(TURNS[turn])
        display = _jpeg(image)
        small = image.copy()
        small.thumbnail((thumb_edge, thumb_edge), Image.Resampling.HAMMING)
        thumb = _jpeg(small)
        files = {content_path(display): display, content_path(thumb): thumb}
        for data in files.values():
            write_file(photo_dir, data)
        old = row_files(photo)  # those still referenced afterwards stay
        with transaction(db):
            ensure_files(photo_dir, files)
            replace_photo_files(
                db,
                photo_id,
                content_path(display),
                content_path(thumb),
                image.width,
                image.height,
                len(boxes),
            )
            _log(db, stamp, user_id, actor, photo_id, "redact", boxes=len(boxes), turn=turn)
        # The unredacted copies go (unless another photo has the very same bytes).
        remove_unreferenced(db, photo_dir, [f for f in old if f])
        blur_photo(db, photo_dir, photo_id, thumb_edge)
    if hide != bool(photo["hidden_at"]):
        with transaction(db):
            set_photo_hidden(db, photo_id, hide, user_id, stamp)
            _log(db, stamp, user_id, actor, photo_id, "hide" if hide else "show")
    return get_photo(db, photo_id)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


def _log(db, stamp, user_id, actor, photo_id, action, **detail) -> None:
    db.execute(
        """INSERT INTO audit_log (at, user_id, action, entity, entity_id, detail, actor)
           VALUES (?, ?, ?, 'photo', ?, ?, ?)""",
        [stamp, user_id, action, photo_id, json.dumps(detail), actor],
    )
