"""Photo ingest against real camera files (tests/data/photos) and generated hostile input."""

from __future__ import annotations

import io
import math
import struct
import time
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import exifread
import pytest
from conftest import png_chunk
from PIL import Image, ImageChops, ImageDraw, ImageStat, TiffImagePlugin

from fieldwalk import config
from fieldwalk.config import MAX_PHOTO_DECODE_BYTES
from fieldwalk.photos import decode as photo_decode
from fieldwalk.photos import pipeline as photos
from fieldwalk.photos import resample
from fieldwalk.photos.pipeline import Ingested, PhotoError, ingest, read_exif, sniff_format

PHOTOS = Path(__file__).parent / "data" / "photos"
CORPUS = sorted(p for p in PHOTOS.rglob("*") if p.is_file() and p.suffix != ".md")
GPS_IFD, EXIF_IFD = 0x8825, 0x8769
DATE_TIME_ORIGINAL, DATE_TIME = 0x9003, 0x0132
JFIF_KEYS = {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}
WRONG_TURNS = (
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.ROTATE_180,
)


def corpus(folder: str) -> list[Path]:
    return [p for p in CORPUS if p.parent.name == folder]


def ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.name}/{p.name}" for p in paths]


def jpeg_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims width x height RGB pixels; only one row is there."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" * (1 + 3 * width)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(row))
        + png_chunk(b"IEND", b"")
    )


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute grey-level difference of two images scaled to 120x90."""
    small_a, small_b = (im.convert("L").resize((120, 90)) for im in (a, b))
    return ImageStat.Stat(ImageChops.difference(small_a, small_b)).mean[0]


def jpeg_markers(data: bytes) -> list[int]:
    """Markers of the header segments of a JPEG, up to the start of scan."""
    markers, pos = [], 2
    while data[pos] == 0xFF and data[pos + 1] != 0xDA:
        markers.append(data[pos + 1])
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return markers


@pytest.fixture(scope="module")
def upright_reference() -> Image.Image:
    """landscape_1 (orientation 1, nothing to turn) as ingest stores it."""
    return jpeg_image(ingest((PHOTOS / "orientation" / "landscape_1.jpg").read_bytes()).display)


# --- EXIF: GPS and time ------------------------------------------------------------------


@pytest.mark.parametrize("path", corpus("gps"), ids=ids(corpus("gps")))
def test_gps_is_read_to_decimal_degrees_matching_the_raw_exif_rationals(path):
    data = path.read_bytes()
    with Image.open(path) as image:
        raw = image.getexif().get_ifd(GPS_IFD)
    expected = []
    for ref_tag, value_tag, negative in ((1, 2, "S"), (3, 4, "W")):
        deg, minutes, sec = (float(part) for part in raw[value_tag])
        value = deg + minutes / 60 + sec / 3600
        expected.append(-value if raw[ref_tag] == negative else value)

    gps, _ = read_exif(data)
    assert gps is not None
    assert gps == pytest.approx(tuple(expected), abs=1e-5)
    assert ingest(data).gps == gps
    # The corpus README places all of them in Tuscany.
    assert gps == pytest.approx((43.47, 11.88), abs=0.01)


@pytest.mark.parametrize("path", corpus("camera"), ids=ids(corpus("camera")))
def test_camera_files_give_the_exif_capture_time_as_iso_8601(path):
    with Image.open(path) as image:
        exif = image.getexif()
        raw = exif.get_ifd(EXIF_IFD).get(DATE_TIME_ORIGINAL) or exif.get(DATE_TIME)
    expected = datetime.strptime(raw, "%Y:%m:%d %H:%M:%S").isoformat() if raw else None

    result = ingest(path.read_bytes())
    assert result.taken_at == expected
    assert read_exif(path.read_bytes()) == (None, expected)
    assert result.gps is None


def test_camera_files_with_date_time_original_give_it_rather_than_the_edit_time():
    gps, taken_at = read_exif((PHOTOS / "camera" / "Canon_40D.jpg").read_bytes())
    assert taken_at == "2008-05-30T15:56:01"  # DateTimeOriginal; DateTime is 2008-07-31


def test_no_exif_jpeg_has_no_gps_and_only_its_photoshop_save_time():
    """no_exif.jpg does carry a small EXIF block, after a 26 KB XMP segment: no GPS and no
    DateTimeOriginal, only IFD0 DateTime (when Photoshop saved it), which is the fallback."""
    data = (PHOTOS / "camera" / "no_exif.jpg").read_bytes()
    result = ingest(data)
    assert result.gps is None
    assert result.taken_at == "2014-09-22T10:56:35"
    assert jpeg_image(result.display).size == (322, 466)


def test_gps_with_zero_denominators_or_impossible_coordinates_reads_as_none():
    image = Image.new("RGB", (64, 48), "gray")
    ratio = TiffImagePlugin.IFDRational
    cases = [
        ((ratio(43, 0), ratio(28, 1), ratio(0, 0)), (ratio(11, 1), ratio(53, 0), ratio(6, 1))),
        ((200.0, 0.0, 0.0), (11.0, 53.0, 6.0)),  # latitude beyond the pole
        ((43.0, 28.0, 2.0), (500.0, 0.0, 0.0)),  # longitude beyond the date line
        ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),  # what a receiver without a fix writes
    ]
    for lat, lon in cases:
        exif = Image.Exif()
        exif.get_ifd(GPS_IFD).update({1: "N", 2: lat, 3: "E", 4: lon})
        exif[DATE_TIME] = "0000:00:00 00:00:00"  # placeholder some cameras write
        data = encode(image, "JPEG", exif=exif)
        assert read_exif(data) == (None, None)
        assert ingest(data).gps is None


def test_gps_south_and_west_are_negative():
    exif = Image.Exif()
    exif.get_ifd(GPS_IFD).update({1: "S", 2: (33.0, 52.0, 4.0), 3: "W", 4: (151.0, 12.0, 36.0)})
    data = encode(Image.new("RGB", (8, 8)), "JPEG", exif=exif)
    gps, _ = read_exif(data)
    assert gps == pytest.approx((-(33 + 52 / 60 + 4 / 3600), -(151 + 12 / 60 + 36 / 3600)))


def test_read_exif_never_raises_on_garbage():
    for data in (b"", b"\xff\xd8\xff\xe1\xff\xffExif\x00\x00MM\x00*\xff\xff", b"junk" * 100):
        assert read_exif(data) == (None, None)


# --- orientation ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", corpus("orientation"), ids=ids(corpus("orientation")))
def test_every_exif_orientation_comes_out_upright_and_unmirrored(path, upright_reference):
    display = jpeg_image(ingest(path.read_bytes()).display)
    assert display.width > display.height
    assert display.size == upright_reference.size

    right = mean_difference(display, upright_reference)
    assert right < 8
    # A wrong transpose must be clearly worse, or this test could not catch one.
    for wrong in WRONG_TURNS:
        assert mean_difference(display.transpose(wrong), upright_reference) > 4 * right + 20


def test_orientation_files_store_turned_pixels_so_a_missing_turn_would_fail():
    reference = jpeg_image((PHOTOS / "orientation" / "landscape_1.jpg").read_bytes())
    for n in range(2, 9):
        stored = jpeg_image((PHOTOS / "orientation" / f"landscape_{n}.jpg").read_bytes())
        assert stored.getexif()[0x0112] == n
        if n >= 5:
            assert stored.height > stored.width  # 5-8 are stored on their side
        else:
            assert mean_difference(stored, reference) > 20


# --- HEIF ------------------------------------------------------------------------------------


def test_heif_sample_ingests_to_an_rgb_jpeg_of_its_size():
    result = ingest((PHOTOS / "heic" / "samplefilehub.heif").read_bytes())
    assert result.source_format == "heif"
    display = jpeg_image(result.display)
    assert display.mode == "RGB"
    assert display.size == (result.width, result.height) == (640, 426)


def test_heif_rotation_is_applied_once_not_again_from_its_exif(upright_reference):
    """pillow-heif writes orientation 6 as an irot box and keeps EXIF orientation 6; libheif
    turns the pixels while decoding, so turning again from the EXIF would be a second turn."""
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    with Image.open(PHOTOS / "orientation" / "landscape_1.jpg") as upright:
        stored = upright.reduce(2).transpose(Image.Transpose.ROTATE_90)  # a phone held upright
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (59.0, 21.0, 36.0), 3: "E", 4: (17.0, 52.0, 12.0)})
    data = encode(stored, "HEIF", exif=exif.tobytes(), quality=90)
    assert sniff_format(data) == "heif"

    result = ingest(data)
    display = jpeg_image(result.display)
    assert display.width > display.height
    assert mean_difference(display, upright_reference) < 8
    assert result.gps == pytest.approx((59.36, 17.87), abs=1e-6)


def test_heif_without_pillow_heif_is_refused_as_unsupported(monkeypatch):
    monkeypatch.setattr(photos, "_register_heif", lambda: False)  # as if not installed
    with pytest.raises(PhotoError) as err:
        ingest((PHOTOS / "heic" / "samplefilehub.heif").read_bytes())
    assert (err.value.code, err.value.status) == ("unsupported", 415)
    assert "HEIF" in err.value.detail


def test_truncated_heif_is_refused_as_undecodable():
    data = (PHOTOS / "heic" / "samplefilehub.heif").read_bytes()
    for cut in (len(data) // 2, 200):
        with pytest.raises(PhotoError) as err:
            ingest(data[:cut])
        assert (err.value.code, err.value.status) == ("undecodable", 422)


# --- colour -----------------------------------------------------------------------------------


def test_embedded_colour_profile_is_applied_before_it_is_dropped(upright_reference):
    """landscape_2-8 carry Apple's 'Generic RGB' profile (gamma 1.8), landscape_1 none: their
    pixel values differ, and only after converting through the profile do they match."""
    data = (PHOTOS / "orientation" / "landscape_3.jpg").read_bytes()
    with Image.open(io.BytesIO(data)) as stored:
        assert "Generic RGB" in stored.info["icc_profile"].decode("latin-1")
        unconverted = stored.transpose(Image.Transpose.ROTATE_180)
    assert mean_difference(unconverted, upright_reference) > 10
    assert mean_difference(jpeg_image(ingest(data).display), upright_reference) < 7


def test_broken_colour_profile_is_dropped_and_the_pixels_kept():
    image = Image.new("RGB", (50, 40), (200, 30, 30))
    result = ingest(encode(image, "JPEG", quality=95, icc_profile=b"not a profile" * 20))
    assert mean_difference(jpeg_image(result.display), image) < 3


# --- no metadata out -------------------------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS, ids=ids(CORPUS))
def test_stored_jpegs_carry_no_metadata_at_all(path):
    result = ingest(path.read_bytes())
    for data in (result.display, result.thumb):
        image = jpeg_image(data)
        assert not {"exif", "icc_profile", "xmp", "comment", "photoshop"} & image.info.keys()
        assert len(image.getexif()) == 0
        assert exifread.process_file(io.BytesIO(data), details=False) == {}
        assert b"Exif\x00\x00" not in data
        assert b"http://ns.adobe.com/xap" not in data
        assert b"Photoshop" not in data
        # Only the JFIF APP0 and the tables the decoder needs: no APP1-15, no COM segment.
        allowed = {0xE0, 0xDB, 0xC4, 0xC0, 0xDD}
        assert set(jpeg_markers(data)) <= allowed


def test_nikon_comment_and_xmp_are_not_carried_over():
    with Image.open(PHOTOS / "camera" / "Nikon_D70.jpg") as original:
        assert {"comment", "xmp", "exif", "icc_profile"} <= original.info.keys()
    result = ingest((PHOTOS / "camera" / "Nikon_D70.jpg").read_bytes())
    assert jpeg_image(result.display).info.keys() <= JFIF_KEYS


# --- the invalid/ corpus and generated hostile input ----------------------------------------


@pytest.mark.parametrize("path", corpus("invalid"), ids=ids(corpus("invalid")))
def test_damaged_files_ingest_or_refuse_cleanly_within_five_seconds(path):
    start = time.perf_counter()
    try:
        result = ingest(path.read_bytes())
    except PhotoError as err:
        assert err.status in (413, 415, 422)
    else:
        assert isinstance(result, Ingested)
        jpeg_image(result.display)
    assert time.perf_counter() - start < 5


def test_damaged_corpus_files_all_ingest_since_only_their_metadata_is_damaged():
    """Three hold no EXIF, only a large XMP segment (dropped); corrupted.jpg's EXIF still
    yields its capture time. Their pixels are intact, so refusing them would lose photos."""
    taken = {p.name: ingest(p.read_bytes()).taken_at for p in corpus("invalid")}
    assert taken == {
        "corrupted.jpg": "2015-09-08T11:02:17",
        "image00971.jpg": None,
        "image01088.jpg": None,
        "image01137.jpg": None,
    }


def test_zero_bytes_are_refused_as_empty():
    with pytest.raises(PhotoError) as err:
        ingest(b"")
    assert (err.value.code, err.value.status) == ("empty", 422)


def test_truncated_jpeg_is_refused_as_undecodable():
    data = (PHOTOS / "gps" / "DSCN0010.jpg").read_bytes()
    with pytest.raises(PhotoError) as err:
        ingest(data[: len(data) // 2])
    assert (err.value.code, err.value.status) == ("undecodable", 422)


def test_png_claiming_200_megapixels_is_refused_fast_without_decoding():
    data = png_claiming(20000, 10000)
    assert len(data) < 2000
    start = time.perf_counter()
    with pytest.raises(PhotoError) as err:
        ingest(data)
    assert time.perf_counter() - start < 1
    assert (err.value.code, err.value.status) == ("too_many_pixels", 413)


def test_jpeg_claiming_too_many_pixels_is_refused_from_its_header():
    data = bytearray(encode(Image.new("RGB", (16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    with pytest.raises(PhotoError) as err:
        ingest(bytes(data))
    assert err.value.code == "too_many_pixels"


def test_pixel_limit_is_checked_before_pillow_would_warn_of_a_bomb():
    """90 Mpx is over Pillow's DecompressionBombWarning threshold: the header check must
    refuse it before Pillow opens it, so not even a warning is emitted."""
    data = png_claiming(10000, 9000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(PhotoError) as err:
            ingest(data)
    assert err.value.code == "too_many_pixels"
    assert caught == []


def test_default_decode_limit_takes_phone_photos_and_refuses_deep_or_costly_images():
    """Phones write 12 to 48 megapixels: JPEGs (baseline or progressive, 4:2:0, decoded at a
    quarter or an eighth) and HEIC. A 50-megapixel 16-bit RGBA PNG is 400 MB of samples. HEVC
    is decoded whole: a 48-megapixel HEIC takes over 2 s of one core and is refused (the
    capture screen sends photos shrunk) by its memory, a 41-megapixel one by its time
    (MAX_HEIF_PIXELS); 12 and 24 megapixels are taken."""
    limit = MAX_PHOTO_DECODE_BYTES
    phone_420 = [(2, 2), (1, 1), (1, 1)]
    for width, height in ((4032, 3024), (8064, 6048), (8000, 6000)):
        scale = photos._dct_scale(width, 1600)
        for whole_image in (False, True):
            cost = photo_decode.jpeg_decode_bytes(width, height, phone_420, whole_image, scale)
            assert cost < limit
    for width, height in ((4032, 3024), (5712, 4284)):
        assert photo_decode.heif_decode_bytes(width, height) < limit
        assert width * height <= photo_decode.MAX_HEIF_PIXELS
    assert photo_decode.heif_decode_bytes(8064, 6048) > limit
    assert photo_decode.MAX_HEIF_PIXELS < 7452 * 5588
    assert photo_decode.png_decode_bytes(7071, 7071, 16, 6) > limit  # 16-bit RGBA
    assert photo_decode.png_decode_bytes(4032, 3024, 8, 6) < limit  # an RGBA screenshot-size PNG
    assert photo_decode.webp_decode_bytes(7071, 7071) > limit
    four_four_four = [(1, 1)] * 3
    assert photo_decode.jpeg_decode_bytes(7071, 7071, four_four_four, True, 4) > limit


def heic_claiming(width: int, height: int) -> bytes:
    """A real 64x64 HEIC whose image size box (ispe) claims width x height: libheif reads
    the size from it, so the pipeline's checks see the claim; decoding it then fails."""
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    data = encode(Image.new("RGB", (64, 64), (90, 120, 30)), "HEIF", quality=50)
    box = data.index(b"ispe") + 8  # after the box type, version and flags
    assert struct.unpack(">II", data[box : box + 8]) == (64, 64)
    return data[:box] + struct.pack(">II", width, height) + data[box + 8 :]


def webp_claiming(width: int, height: int) -> bytes:
    """A real 64x64 extended WebP (VP8X, as with EXIF) whose canvas claims width x height."""
    data = bytearray(encode(scene(size=(64, 64)), "WEBP", exif=Image.Exif().tobytes()))
    assert data[12:16] == b"VP8X"
    data[24:30] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return bytes(data)


def png_claiming_deep(width: int, height: int, depth: int, colour: int) -> bytes:
    """A PNG whose header claims width x height at this depth and colour type; one row."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)


def refusal(data: bytes) -> str:
    """The code ingest refuses these bytes with, under the app's configured limits."""
    with pytest.raises(PhotoError) as err:
        ingest(
            data,
            max_bytes=config.MAX_PHOTO_BYTES,
            max_pixels=config.MAX_PHOTO_PIXELS,
            max_decode_bytes=config.MAX_PHOTO_DECODE_BYTES,
        )
    return err.value.code


@pytest.mark.parametrize(
    ("claiming", "largest_taken", "smallest_refused"),
    [
        pytest.param(heic_claiming, (5772, 4328), (5774, 4330), id="HEIC, 25 MP"),
        pytest.param(webp_claiming, (4564, 3422), (4566, 3424), id="WebP, 16 B a pixel"),
        pytest.param(
            lambda w, h: png_claiming_deep(w, h, 16, 6),
            (6454, 4840),
            (6456, 4842),
            id="16-bit RGBA PNG, 8 B a pixel",
        ),
    ],
)
def test_largest_images_bench_decode_limit_measures_are_taken_and_the_next_size_refused(
    claiming, largest_taken, smallest_refused
):
    """bench/decode_limit.py measures the costliest upload of each format at the largest
    4:3 size the configured limits take. Files claiming that size pass every cost check
    (their few real pixels then fail to decode); two pixels more each way are refused as too
    costly from the header, before any decoding."""
    assert refusal(claiming(*largest_taken)) == "undecodable"
    assert refusal(claiming(*smallest_refused)) == "too_costly"


def test_heif_pixel_limit_refuses_a_real_heic_before_decoding_and_takes_it_at_its_size():
    pillow_heif = pytest.importorskip("pillow_heif")
    data = (PHOTOS / "heic" / "samplefilehub.heif").read_bytes()
    width, height = pillow_heif.open_heif(io.BytesIO(data)).size
    with pytest.raises(PhotoError) as err:
        ingest(data, max_heif_pixels=width * height - 1)
    assert (err.value.code, err.value.status) == ("too_costly", 413)
    assert ingest(data, max_heif_pixels=width * height).source_format == "heif"


def test_heif_byte_limit_refuses_a_real_heic_before_decoding_and_takes_it_at_its_size():
    """HEVC's decoding time grows with its bits too: a HEIC over MAX_HEIF_BYTES (less than
    the limit for other formats) is refused from its length."""
    data = (PHOTOS / "heic" / "samplefilehub.heif").read_bytes()
    with pytest.raises(PhotoError) as err:
        ingest(data, max_heif_bytes=len(data) - 1)
    assert (err.value.code, err.value.status) == ("too_costly", 413)
    assert ingest(data, max_heif_bytes=len(data)).source_format == "heif"
    assert photo_decode.MAX_HEIF_BYTES < config.MAX_PHOTO_BYTES


def test_24_megapixel_heic_passes_the_checks_and_48_is_refused_as_too_costly():
    """Phones' default HEICs are 12 or 24 megapixels; the opt-in mode is 48."""
    assert refusal(heic_claiming(4032, 3024)) == "undecodable"
    assert refusal(heic_claiming(5712, 4284)) == "undecodable"
    assert refusal(heic_claiming(8064, 6048)) == "too_costly"


def png_of(width: int, height: int, depth: int, colour: int) -> bytes:
    """A PNG of zeros with this IHDR: the rows compress to almost nothing."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width * depth * channels + 7) // 8)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def test_deep_png_is_refused_from_its_header_as_too_costly():
    data = png_of(2000, 1000, 16, 6)  # 16 MB of samples
    with pytest.raises(PhotoError) as err:
        ingest(data, max_decode_bytes=15_000_000)
    assert (err.value.code, err.value.status) == ("too_costly", 413)
    assert ingest(data, max_decode_bytes=17_000_000).width == 1600


def test_jpeg_of_too_many_scans_is_refused_whatever_its_size():
    image = encode(scene(size=(64, 48)), "JPEG", progressive=True)
    end = image.rindex(b"\xff\xd9")
    last_scan = image[image.rindex(b"\xff\xda") : end]
    more = photo_decode.MAX_JPEG_SCANS - image.count(b"\xff\xda")  # libjpeg wrote 10
    within = image[:end] + last_scan * more + b"\xff\xd9"
    beyond = image[:end] + last_scan * (more + 1) + b"\xff\xd9"
    assert ingest(within).width == 64
    with pytest.raises(PhotoError) as err:
        ingest(beyond)
    assert (err.value.code, err.value.status) == ("too_costly", 413)


def test_exif_thumbnail_scans_do_not_count_as_the_photos_own():
    """A camera JPEG carries a JPEG thumbnail (with its own start of scan) inside its EXIF."""
    data = (PHOTOS / "gps" / "DSCN0010.jpg").read_bytes()
    assert data.count(b"\xff\xda") == 2
    assert ingest(data, max_decode_bytes=640 * 480 * 4).width == 640


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("RGBA", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("1", "PNG"), ("I;16", "PNG")],
)
def test_band_by_band_flattening_matches_flattening_the_whole_image(mode, fmt):
    """Large images not in RGB, grey or CMYK are flattened and reduced a band at a time;
    the result looks as the whole image flattened, then reduced, does."""
    big = Image.new("RGBA", (3000, 2200), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    for i in range(40):
        draw.rectangle((i * 70, i * 50, i * 70 + 400, i * 50 + 90), fill=(i * 6, 200, 90, 255))
    source = big if mode == "RGBA" else big.convert("RGB").convert(mode if mode != "I;16" else "I")
    if mode == "I;16":
        source = source.point(lambda v: v * 257).convert("I;16")
    result = ingest(encode(source, fmt))
    reference = photos._flatten(Image.open(io.BytesIO(encode(source, fmt))))
    reference = reference.convert("RGB").resize((result.width, result.height))
    assert (result.width, result.height) == (1600, 1173)
    assert mean_difference(jpeg_image(result.display), reference) < 3


def test_pixel_limit_is_a_parameter():
    data = encode(Image.new("RGB", (300, 200)), "PNG")
    with pytest.raises(PhotoError) as err:
        ingest(data, max_pixels=50_000)
    assert (err.value.code, err.value.status) == ("too_many_pixels", 413)
    assert ingest(data, max_pixels=60_000).width == 300


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8" + b"\xff" * 5_000_000,  # fill bytes that never reach a marker
        b"\xff\xd8" + b"\xff\xe2\x00\x02" * 1_000_000,  # a million empty segments
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + png_chunk(b"tEXt", b"a\x00b") * 300_000,
    ],
    ids=["jpeg-fill-bytes", "jpeg-empty-segments", "png-text-chunks"],
)
def test_headers_that_never_reach_the_pixels_are_refused_in_bounded_time(data):
    """Pillow walks these headers in Python: millions of steps would take it seconds."""
    start = time.perf_counter()
    with pytest.raises(PhotoError) as err:
        ingest(data)
    assert time.perf_counter() - start < 0.5
    assert (err.value.code, err.value.status) == ("undecodable", 422)
    assert read_exif(data) == (None, None)


@pytest.mark.parametrize(
    "data",
    [
        encode(Image.new("P", (32, 32)), "GIF"),
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
        b"%PDF-1.7\n",
        b"\x00\x00\x00\x00",
    ],
    ids=["gif", "svg-with-script", "html", "pdf", "nulls"],
)
def test_non_images_are_refused_as_not_image_whatever_their_name(data):
    assert sniff_format(data) is None
    with pytest.raises(PhotoError) as err:
        ingest(data)
    assert (err.value.code, err.value.status) == ("not_image", 415)


def test_avif_is_refused_as_unsupported():
    data = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 64
    assert sniff_format(data) is None
    with pytest.raises(PhotoError) as err:
        ingest(data)
    assert (err.value.code, err.value.status) == ("unsupported", 415)


def test_upload_over_max_bytes_is_refused_as_too_large():
    data = (PHOTOS / "gps" / "DSCN0010.jpg").read_bytes()
    with pytest.raises(PhotoError) as err:
        ingest(data, max_bytes=len(data) - 1)
    assert (err.value.code, err.value.status) == ("too_large", 413)
    assert ingest(data, max_bytes=len(data)).source_format == "jpeg"


def test_jpeg_with_junk_after_its_end_marker_ingests_like_the_clean_file():
    clean = (PHOTOS / "gps" / "DSCN0010.jpg").read_bytes()
    padded = clean + bytes(range(256)) * 400  # 100 KB after EOI
    result, reference = ingest(padded), ingest(clean)
    assert result.display == reference.display
    assert result.gps == reference.gps


def test_png_with_a_broken_crc_is_refused_as_undecodable():
    data = bytearray(encode(Image.new("RGB", (64, 64), "teal"), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 6] ^= 0xFF  # flip bits inside the compressed pixels
    with pytest.raises(PhotoError) as err:
        ingest(bytes(data))
    assert err.value.code == "undecodable"


# --- formats and modes --------------------------------------------------------------------


def scene(mode: str = "RGB", size: tuple[int, int] = (320, 240)) -> Image.Image:
    image = Image.new("RGB", size, (30, 120, 200))
    ImageDraw.Draw(image).ellipse((40, 40, 200, 180), fill=(240, 200, 40))
    return image.convert(mode)


def transparent_png() -> bytes:
    image = Image.new("RGBA", (100, 80), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((0, 0, 49, 79), fill=(200, 0, 0, 255))
    return encode(image, "PNG")


def sixteen_bit_png() -> bytes:
    image = Image.new("I;16", (256, 64))
    image.putdata([x * 257 for _ in range(64) for x in range(256)])  # 0..65535 left to right
    return encode(image, "PNG")


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (encode(scene(), "PNG"), "png"),
        (encode(scene(), "WEBP", quality=80), "webp"),
        (encode(scene(), "WEBP", lossless=True), "webp"),
        (transparent_png(), "png"),
        (encode(scene("LA"), "PNG"), "png"),
        (encode(scene("P"), "PNG", transparency=0), "png"),
        (encode(scene("CMYK"), "JPEG"), "jpeg"),
        (encode(scene("L"), "JPEG"), "jpeg"),
        (encode(scene("1"), "PNG"), "png"),
        (sixteen_bit_png(), "png"),
    ],
    ids=[
        "png",
        "webp",
        "webp-lossless",
        "rgba-png",
        "la-png",
        "p-png",
        "cmyk-jpeg",
        "grey-jpeg",
        "1bit-png",
        "16bit-png",
    ],
)
def test_other_formats_and_modes_ingest_to_rgb_jpeg(data, fmt):
    assert sniff_format(data) == fmt
    result = ingest(data)
    assert result.source_format == fmt
    display, thumb = jpeg_image(result.display), jpeg_image(result.thumb)
    assert display.mode == thumb.mode == "RGB"
    assert display.size == (result.width, result.height)


def test_multi_picture_jpeg_gives_its_first_picture():
    """MPO (stereo or depth pairs from some cameras and phones) opens as a JPEG; the second
    picture is dropped with the rest of the file."""
    first, second = Image.new("RGB", (3300, 2000), "red"), Image.new("RGB", (3300, 2000), "blue")
    data = encode(first, "MPO", save_all=True, append_images=[second])
    result = ingest(data)
    assert (result.source_format, result.width, result.height) == ("jpeg", 1600, 970)
    red, green, blue = jpeg_image(result.display).getpixel((800, 485))
    assert red > 240 and green < 15 and blue < 15


def test_transparency_is_composited_on_white():
    display = jpeg_image(ingest(transparent_png()).display)
    red_r, red_g, _ = display.getpixel((10, 40))
    white = display.getpixel((90, 40))
    assert red_r > 180 and red_g < 40
    assert min(white) > 245


def test_sixteen_bit_grey_is_scaled_not_clipped_to_white():
    display = jpeg_image(ingest(sixteen_bit_png()).display).convert("L")
    assert display.getpixel((2, 30)) < 10
    assert 110 < display.getpixel((128, 30)) < 145
    assert display.getpixel((253, 30)) > 245


def test_cmyk_jpeg_keeps_its_colours():
    display = jpeg_image(ingest(encode(scene("CMYK"), "JPEG", quality=95)).display)
    assert mean_difference(display, scene()) < 6


# --- resampling -------------------------------------------------------------------------------


def psnr(a: Image.Image, b: Image.Image) -> float:
    """Peak signal-to-noise ratio of two images of one size and mode, in dB."""
    squares = ImageStat.Stat(ImageChops.difference(a, b).point(lambda v: v * v)).mean
    mse = sum(squares) / len(squares)
    return 10 * math.log10(255**2 / mse) if mse else math.inf


@pytest.mark.parametrize("mode", sorted(resample.BANDS))
@pytest.mark.parametrize(
    ("source", "size"),
    [
        ((2000, 1500), (1600, 1200)),
        ((2001, 1333), (1600, 1066)),
        ((1999, 1501), (1600, 1201)),
        ((5000, 1), (1600, 1)),
        ((3, 2000), (1, 1600)),
    ],
)
def test_libvips_resizes_every_flat_mode_to_exactly_the_size_asked(mode, source, size):
    """Each band stays itself (no band order or row stride mixed up): a flat colour comes
    out that colour, at exactly the size asked, in the same mode."""
    colour = {"L": 77, "RGB": (200, 30, 90), "CMYK": (10, 200, 40, 120)}[mode]
    out = resample.resize(Image.new(mode, source, colour), size)
    assert (out.mode, out.size) == (mode, size)
    assert out.getextrema() == ((colour, colour) if mode == "L" else tuple((c, c) for c in colour))


def test_libvips_resizes_a_real_photo_as_pillows_lanczos_does():
    """The same kernel (Lanczos-3): over 52 dB from Pillow's LANCZOS, where HAMMING is at 50
    and a one-pixel shift at 37."""
    with Image.open(PHOTOS / "mobile" / "jolla.jpg") as stored:
        stored.draft("RGB", (stored.width // 2, stored.height // 2))
        photo = stored.convert("RGB")
    size = (round(photo.width * 0.8), round(photo.height * 0.8))
    reference = photo.resize(size, Image.Resampling.LANCZOS)
    assert psnr(resample.resize(photo, size), reference) > 52


@pytest.mark.parametrize("mode", ["CMYK", "L"])
def test_large_cmyk_and_grey_jpegs_keep_their_colours_through_libvips(mode):
    """Over the display edge after draft(), so libvips resizes the decoded CMYK or grey."""
    original = scene(mode, (3400, 2550))
    result = ingest(encode(original, "JPEG", quality=95))
    assert (result.width, result.height) == (1600, 1200)
    assert mean_difference(jpeg_image(result.display), original.convert("RGB")) < 6


def test_a_large_photo_with_a_colour_profile_is_resized_then_converted(upright_reference):
    """landscape_3 (Apple's 'Generic RGB' profile, turned 180 degrees) enlarged past the
    display edge: libvips resizes its pixels, the profile then converts them and the turn
    makes them upright, as for the small one."""
    with Image.open(PHOTOS / "orientation" / "landscape_3.jpg") as stored:
        icc, exif = stored.info["icc_profile"], stored.info["exif"]
        large = stored.resize((stored.width * 6, stored.height * 6), Image.Resampling.BICUBIC)
    result = ingest(encode(large, "JPEG", quality=95, icc_profile=icc, exif=exif))
    assert max(result.width, result.height) == 1600
    assert mean_difference(jpeg_image(result.display), upright_reference) < 7


# --- sizes ------------------------------------------------------------------------------------


def test_large_photos_are_reduced_to_the_display_and_thumb_edges():
    for path in (PHOTOS / "mobile" / "jolla.jpg", PHOTOS / "invalid" / "corrupted.jpg"):
        result = ingest(path.read_bytes())
        display, thumb = jpeg_image(result.display), jpeg_image(result.thumb)
        assert max(display.size) == 1600
        assert max(thumb.size) == 400
        with Image.open(path) as original:
            ratio = original.width / original.height
        assert display.width / display.height == pytest.approx(ratio, abs=0.01)


def test_large_png_is_reduced_and_custom_edges_are_respected():
    data = encode(scene(size=(3000, 2000)), "PNG")
    result = ingest(data, display_edge=1000, thumb_edge=120)
    assert (result.width, result.height) == (1000, 667)
    assert jpeg_image(result.thumb).size == (120, 80)
    assert mean_difference(jpeg_image(result.display), scene(size=(3000, 2000))) < 4


def test_small_photos_are_not_upscaled():
    result = ingest((PHOTOS / "camera" / "Canon_40D.jpg").read_bytes())
    assert (result.width, result.height) == (100, 68)
    assert jpeg_image(result.thumb).size == (100, 68)


def test_parallel_ingests_give_the_same_bytes_as_one_at_a_time():
    paths = corpus("orientation") + [PHOTOS / "mobile" / "jolla.jpg"]
    alone = [ingest(p.read_bytes()) for p in paths]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda p: ingest(p.read_bytes()), paths * 2))
    assert together == alone * 2
