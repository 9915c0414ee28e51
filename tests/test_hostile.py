"""Hostile uploads: every one is answered within 2 seconds, and what is refused leaves nothing.

The corpus is generated here, not committed: an empty file, a truncated JPEG, a PNG that
decompresses to 200 megapixels, a GIF and an SVG carrying script under a .jpg name, HTML
sent as image/jpeg, EXIF with division-by-zero GPS rationals and with absurd coordinates,
30 MB, a JPEG with 100 KB of junk after its end marker, and small files that are costly to
decode: a 389 KB 16-bit RGBA PNG of 50 megapixels (400 MB of samples), a 6 KB 1-bit PNG of
49 megapixels, and a progressive JPEG whose last scan is repeated 2000 times. Each goes
through both ways a phone sends a photo: the JSON API's photo PUT and the no-JavaScript
capture form. Each costly image is also decoded in a process of its own, whose memory
high-water mark must grow by less than 300 MB whether it is accepted or refused.

Decided: the two JPEGs whose pixels are sound are photos, so they are accepted (201, or the
form's 303) with no position taken from them (gps null) and, since only the re-encoded
pixels are stored, none of their junk; everything else is a 4xx with a message saying why.
"""

import io
import os
import struct
import subprocess
import sys
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import join, make_place, make_walk, png_chunk
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from fieldwalk.photos.files import row_files

pytestmark = pytest.mark.usefixtures("english")

ANSWER_WITHIN_SECONDS = 2.0  # the demand, asserted on every request below
JUNK = b"\x00JUNK" + bytes(range(256)) * 400  # about 100 KB, easy to look for afterwards


def jpeg(size=(640, 480), exif=None) -> bytes:
    """A real JPEG of noise (so it does not compress to nothing)."""
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


def gps_exif(latitude, longitude) -> Image.Exif:
    """EXIF whose GPS IFD holds these (degrees, minutes, seconds) rationals, north and east."""
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", tuple(IFDRational(*r) for r in latitude)
    gps[3], gps[4] = "E", tuple(IFDRational(*r) for r in longitude)
    return exif


# PNG colour types, and the samples each pixel holds.
GREY, RGB, PALETTE, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6
CHANNELS = {GREY: 1, RGB: 3, PALETTE: 1, GREY_ALPHA: 2, RGBA: 4}


def png_bomb(width=20_000, height=10_000, depth=1, colour=GREY) -> bytes:
    """A valid PNG of width x height (by default 1-bit grey, 200 megapixels) whose pixel data
    compresses to almost nothing: every row is a filter byte and zeros."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    row = b"\x00" * (1 + (width * depth * CHANNELS[colour] + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + (png_chunk(b"PLTE", b"\x00\x00\x00") if colour == PALETTE else b"")
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def scan_bomb(size=(2000, 2000), repeats=2000) -> bytes:
    """A progressive JPEG whose last scan is sent `repeats` times more: libjpeg warns and
    decodes each one again over the whole image, seconds of work from under a megabyte."""
    out = io.BytesIO()
    Image.new("RGB", size).save(out, "JPEG", progressive=True, quality=95)
    data = out.getvalue()
    end = data.rindex(b"\xff\xd9")
    last_scan = data[data.rindex(b"\xff\xda") : end]
    return data[:end] + last_scan * repeats + b"\xff\xd9"


def gif_with_script() -> bytes:
    out = io.BytesIO()
    Image.new("P", (16, 16)).save(out, "GIF", comment=b"<script>alert(1)</script>")
    return out.getvalue()


SVG = b"""<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" onload="alert(1)">
  <script>alert(document.cookie)</script><rect width="100" height="100"/>
</svg>"""
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


@dataclass(frozen=True)
class Upload:
    name: str
    filename: str
    data: bytes
    content_type: str
    api_status: int
    form_status: int
    message: str | None  # what the person is told; None when the photo is accepted

    @property
    def accepted(self) -> bool:
        return self.message is None


def corpus() -> list[Upload]:
    """Every hostile upload with the answer it must get (built once, in the test run)."""
    photo = jpeg()
    not_photo = "This is not a photo. Use JPEG, PNG, WebP or HEIC."
    damaged = "The photo could not be read; it may be damaged."
    costly = (
        "The image is too large to process here. Take it with “Take photo”, which makes it"
        " smaller, or save it at a lower resolution."
    )
    return [
        Upload("zero bytes", "empty.jpg", b"", "image/jpeg", 422, 422, "The photo is empty."),
        Upload(
            "truncated JPEG", "cut.jpg", photo[: len(photo) // 2], "image/jpeg", 422, 422, damaged
        ),
        Upload(
            "PNG of 200 megapixels",
            "bomb.png",
            png_bomb(),
            "image/png",
            413,
            413,
            "The photo has too many pixels.",
        ),
        Upload("GIF with script", "cat.jpg", gif_with_script(), "image/jpeg", 415, 415, not_photo),
        Upload("SVG with script", "map.jpg", SVG, "image/jpeg", 415, 415, not_photo),
        Upload("HTML as image/jpeg", "page.jpg", HTML, "image/jpeg", 415, 415, not_photo),
        Upload(
            "30 MB",
            "huge.jpg",
            b"\xff\xd8\xff\xe0" + os.urandom(30 * 2**20),
            "image/jpeg",
            413,
            413,
            "The photo is too large (at most 25 MB).",
        ),
        Upload(
            "GPS rationals dividing by zero",
            "gps-zero.jpg",
            jpeg(exif=gps_exif([(59, 0), (21, 0), (0, 0)], [(17, 0), (52, 1), (0, 0)])),
            "image/jpeg",
            201,
            303,
            None,
        ),
        Upload(
            "GPS at 500 N 900 E",
            "gps-absurd.jpg",
            jpeg(exif=gps_exif([(500, 1), (0, 1), (0, 1)], [(900, 1), (0, 1), (0, 1)])),
            "image/jpeg",
            201,
            303,
            None,
        ),
        Upload(
            "100 KB after the end marker", "trailer.jpg", photo + JUNK, "image/jpeg", 201, 303, None
        ),
        Upload(
            "16-bit RGBA PNG of 50 megapixels",
            "deep.png",
            png_bomb(7071, 7071, 16, RGBA),
            "image/png",
            413,
            413,
            costly,
        ),
        Upload(
            "1-bit PNG of 49 megapixels",
            "bits.png",
            png_bomb(7000, 7000),
            "image/png",
            201,
            303,
            None,
        ),
        Upload(
            "progressive JPEG of 2000 scans",
            "scans.jpg",
            scan_bomb(),
            "image/jpeg",
            413,
            413,
            costly,
        ),
    ]


CORPUS = corpus()


def files(photo_dir: Path) -> set[Path]:
    """Every file under the photo folder, temporary ones included."""
    return {p for p in photo_dir.rglob("*") if p.is_file()}


def count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


def timed(send):
    """Send a request; return the response after checking it came within the limit."""
    start = time.monotonic()
    response = send()
    elapsed = time.monotonic() - start
    assert elapsed < ANSWER_WITHIN_SECONDS, f"answered after {elapsed:.2f} s"
    return response


@pytest.fixture
def phone(app, db):
    """A resident's phone that joined a walk: its client, CSRF token, walk and photo folder."""
    walk = make_walk(db, make_place(db))
    client = app.test_client()
    token = join(client, walk)
    return {"client": client, "token": token, "walk": walk, "dir": Path(app.config["PHOTO_PATH"])}


def assert_accepted_without_position_or_junk(db, photo_dir: Path, before: set[Path]) -> None:
    (row,) = db.execute("SELECT * FROM photos").fetchall()
    assert row["gps_lat"] is None and row["gps_lon"] is None
    added = files(photo_dir) - before
    assert {p.relative_to(photo_dir).as_posix() for p in added} == set(row_files(row))
    assert not any(JUNK[:200] in p.read_bytes() for p in added)


@pytest.mark.parametrize("upload", CORPUS, ids=[u.name for u in CORPUS])
def test_api_photo_put_answers_hostile_upload_quickly_and_stores_nothing_refused(db, phone, upload):
    client, token, walk = phone["client"], phone["token"], phone["walk"]
    observation_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
    created = client.put(
        f"/api/v1/observations/{observation_id}",
        json={"category": "lighting", "walk_id": walk["id"], "photos": [photo_id]},
        headers={"X-CSRFToken": token},
    )
    assert created.status_code == 201
    before, rows = files(phone["dir"]), count(db, "photos")

    response = timed(
        lambda: client.put(
            f"/api/v1/observations/{observation_id}/photos/{photo_id}",
            data=upload.data,
            content_type=upload.content_type,
            headers={"X-CSRFToken": token},
        )
    )

    assert response.status_code == upload.api_status, response.get_json()
    if upload.accepted:
        assert response.get_json()["gps"] is None
        assert_accepted_without_position_or_junk(db, phone["dir"], before)
    else:
        assert response.get_json()["message"] == upload.message
        assert count(db, "photos") == rows
        assert files(phone["dir"]) == before
    # The observation has no position from the photo either way.
    assert db.execute("SELECT lat FROM observations").fetchone()[0] is None


@pytest.mark.parametrize("upload", CORPUS, ids=[u.name for u in CORPUS])
def test_no_js_form_answers_hostile_upload_quickly_and_stores_nothing_refused(db, phone, upload):
    client, token, walk = phone["client"], phone["token"], phone["walk"]
    before = files(phone["dir"])
    observation_id = str(uuid.uuid4())

    fields = {
        "id": observation_id,
        "category": "lighting",
        "description": "Trasig lampa",
        "csrf_token": token,
        "photos": FileStorage(
            io.BytesIO(upload.data), upload.filename, "photos", upload.content_type
        ),
    }
    # Encoded in memory: the test client spools a large form to a temp file it never closes.
    boundary, body = encode_multipart(MultiDict(fields))
    response = timed(
        lambda: client.post(
            f"/walks/{walk['id']}/observations",
            data=body,
            content_type=f"multipart/form-data; boundary={boundary}",
        )
    )

    assert response.status_code == upload.form_status
    if upload.accepted:
        assert count(db, "observations") == 1
        assert_accepted_without_position_or_junk(db, phone["dir"], before)
    else:
        html = response.get_data(as_text=True)
        assert f"{upload.filename}: {upload.message}" in html
        assert count(db, "observations") == 0
        assert count(db, "photos") == 0
        assert files(phone["dir"]) == before


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


# Each costly image, made when its test runs, and what ingest must make of it: "accepted", or
# the code it is refused with. Accepted or refused, decoding it must stay under 300 MB.
COSTLY = {
    "16-bit RGBA PNG of 50 megapixels": (lambda: png_bomb(7071, 7071, 16, RGBA), "too_costly"),
    "16-bit grey PNG of 50 megapixels": (lambda: png_bomb(7071, 7071, 16, GREY), "accepted"),
    "8-bit RGBA PNG of 50 megapixels": (lambda: png_bomb(7071, 7071, 8, RGBA), "accepted"),
    "palette PNG of 50 megapixels": (lambda: png_bomb(7071, 7071, 8, PALETTE), "accepted"),
    "1-bit PNG of 49 megapixels": (lambda: png_bomb(7000, 7000), "accepted"),
    "lossless WebP of 50 megapixels": (
        lambda: encoded(Image.new("RGB", (7071, 7071)), "WEBP", lossless=True, method=0),
        "too_costly",
    ),
    "progressive 4:4:4 JPEG of 50 megapixels": (
        lambda: encoded(
            Image.new("RGB", (7071, 7071)), "JPEG", progressive=True, subsampling=0, quality=95
        ),
        "too_costly",
    ),
}
MEMORY_LIMIT = 300 * 10**6
# Run in a process of its own: the resident-set high-water mark is the process's, and Pillow
# keeps pixels in C buffers that tracemalloc does not see.
DECODE_IN_A_CHILD = """
import resource, sys
from fieldwalk.photos import pipeline as photos
data = sys.stdin.buffer.read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    photos.ingest(data)
    outcome = "accepted"
except photos.PhotoError as error:
    outcome = error.code
print(outcome, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


@pytest.mark.parametrize("name", COSTLY)
def test_decoding_a_costly_image_stays_under_300_mb_accepted_or_refused(name):
    make, expected = COSTLY[name]
    child = subprocess.run(
        [sys.executable, "-c", DECODE_IN_A_CHILD],
        input=make(),
        capture_output=True,
        cwd=Path(__file__).parent.parent,
        check=True,
    )
    outcome, grown = child.stdout.decode().split()
    assert outcome == expected
    assert int(grown) < MEMORY_LIMIT, f"decoding grew the process by {int(grown) / 1e6:.0f} MB"
