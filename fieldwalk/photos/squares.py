"""List thumbnails: small square JPEGs made from a stored thumbnail, named after it.

Lists (a walk's observations, task lists, a resident's reports) show a photo as a 72 px
square, cropped to its centre (`object-fit: cover`). The stored thumbnail is 400 px on its long
edge; a phone at 2x or 3x needs 144 or 216 pixels. So each thumbnail gets two squares, 150 and
300 px (never enlarged: 300 is the short edge of a 4:3 photo's thumbnail), offered to the
browser with `srcset`. Each is a pure function of the thumbnail's bytes and named after the
thumbnail's file (`ab/<hash>.150.jpg` beside
`ab/<hash>.jpg`), so no row needs to name them: a photo stored before they existed gets them on
first request (photos/views.py) and check-photos counts them as its thumbnail's.
Pure functions: no Flask, no database, no files.
"""

from __future__ import annotations

import io
import re

from PIL import Image

# Widths in pixels: 150 covers a 72 px square up to 2x, 300 up to 4x.
EDGES = (150, 300)
QUALITY = 80
# A square's relative path: the thumbnail's, with its edge before the suffix.
_SQUARE = re.compile(r"^(?P<base>[0-9a-f]{2}/[0-9a-f]{64})\.(?P<edge>\d+)\.jpg$")


def square_path(thumb_relative: str, edge: int) -> str:
    """The relative path of a thumbnail's square of `edge` pixels."""
    stem = thumb_relative.rsplit(".", 1)[0]
    return f"{stem}.{edge}.jpg"


def square_paths(thumb_relative: str) -> list[str]:
    """Every square a thumbnail has, smallest first."""
    return [square_path(thumb_relative, edge) for edge in EDGES]


def parse_square_path(relative: str) -> tuple[str, int] | None:
    """(the thumbnail's relative path, edge) for a square's path; None for any other path."""
    match = _SQUARE.match(relative)
    if match is None or int(match["edge"]) not in EDGES:
        return None
    return f"{match['base']}.jpg", int(match["edge"])


def make_squares(thumb_jpeg: bytes) -> dict[int, bytes]:
    """The squares of a stored thumbnail (upright, metadata-free), by edge: its centre cropped
    to a square and reduced, never enlarged; nothing but pixels in the JPEG."""
    with Image.open(io.BytesIO(thumb_jpeg), formats=["JPEG"]) as im:
        im.load()
        side = min(im.size)
        left, top = (im.width - side) // 2, (im.height - side) // 2
        square = im.crop((left, top, left + side, top + side))
    squares = {}
    for edge in sorted(EDGES, reverse=True):  # each from the one above it: less to resample
        if square.width > edge:
            square = square.resize((edge, edge), Image.Resampling.HAMMING, reducing_gap=2.0)
        square.info.clear()
        if square.mode not in ("RGB", "L"):
            square = square.convert("RGB")
        out = io.BytesIO()
        square.save(out, "JPEG", quality=QUALITY)
        squares[edge] = out.getvalue()
    return dict(sorted(squares.items()))


def squares_by_path(thumb_relative: str, thumb_jpeg: bytes) -> dict[str, bytes]:
    """A thumbnail's squares by the relative path each is stored under."""
    return {
        square_path(thumb_relative, edge): data for edge, data in make_squares(thumb_jpeg).items()
    }
