"""Photo ingest: untrusted upload bytes in, upright metadata-free JPEGs and a few facts out.

Pure functions only: no Flask, no database, no files. The caller stores what `ingest`
returns. Everything a hostile or broken upload can do ends as a `PhotoError`.
"""

from __future__ import annotations

import functools
import io
import os
import re
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import exifread
import numpy as np
from PIL import Image

from fieldwalk.photos import decode as photo_decode
from fieldwalk.photos import resample

try:
    from PIL import ImageCms
except ImportError:  # Pillow built without littlecms: colours pass through unconverted
    ImageCms = None


class PhotoError(Exception):
    """Refused upload. .code is one of 'empty', 'too_large', 'too_many_pixels', 'too_costly'
    (decoding would hold too much memory or, a HEIF, take too long: see photo_decode),
    'not_image', 'unsupported', 'undecodable'; .status is the HTTP status to answer with."""

    def __init__(self, code: str, status: int, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Ingested:
    """What one accepted photo turns into; display and thumb carry no metadata at all."""

    display: bytes
    thumb: bytes
    width: int
    height: int
    source_format: str
    gps: tuple[float, float] | None
    taken_at: str | None


# ISO-BMFF brands of HEVC-coded HEIF, what phones write. mif1/msf1 are the generic HEIF
# brands, which AVIF files list too; pillow-heif 1.x no longer decodes AV1, so AVIF brands
# exclude a file and ingest refuses it as 'unsupported'.
_HEVC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_AVIF_BRANDS = {b"avif", b"avis"}
_GENERIC_HEIF_BRANDS = {b"mif1", b"msf1"}
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "heif": "HEIF"}
# EXIF orientation -> the transpose that makes the stored pixels upright (as exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PROGRESSIVE_SOF_MARKERS = {0xC2, 0xC6, 0xCA, 0xCE}
# Decoded modes the pipeline resizes as they are; any other is flattened band by band.
_FLAT_MODES = ("RGB", "L", "CMYK")
# Header walks are Python loops, here and in Pillow: a file of millions of tiny segments
# must be refused after a bounded number of steps, not walked for seconds.
_MAX_SEGMENTS = 1024
# EXIF never legitimately needs more; the cap bounds exifread's work on hostile input.
_MAX_EXIF_BYTES = 256 * 1024
_DATE_RE = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
# Once draft() has done the big reduction, resampling is the largest cost. A flat image
# (_FLAT_MODES) is resized by libvips (_shrink); an image flattened band by band (16-bit,
# alpha, palette, HEIF) by Pillow with its HAMMING filter, which costs what BILINEAR does
# and keeps edges about as crisp as LANCZOS.
_FILTER = Image.Resampling.HAMMING
_WORKERS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def sniff_format(data: bytes) -> str | None:
    """Name the image format from magic bytes only: 'jpeg', 'png', 'webp', 'heif' or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    brands = _ftyp_brands(data)
    if brands & _HEVC_BRANDS or (brands & _GENERIC_HEIF_BRANDS and not brands & _AVIF_BRANDS):
        return "heif"
    return None


def read_exif(data: bytes) -> tuple[tuple[float, float] | None, str | None]:
    """Return (gps, taken_at) from the EXIF of an image; never raises: bad EXIF gives Nones."""
    gps, taken_at, _ = _read_metadata(data, sniff_format(data))
    return gps, taken_at


def ingest(
    data: bytes,
    *,
    max_bytes: int = 25 * 1024 * 1024,
    max_pixels: int = 50_000_000,
    display_edge: int = 1600,
    thumb_edge: int = 400,
    quality: int = 82,
    max_decode_bytes: int = 250_000_000,
    max_heif_pixels: int = photo_decode.MAX_HEIF_PIXELS,
    max_heif_bytes: int = photo_decode.MAX_HEIF_BYTES,
) -> Ingested:
    """Check, decode and re-encode an upload as upright, metadata-free display and thumb JPEGs.

    Raises PhotoError for anything that is not an acceptable photo; no other exception.
    """
    if not data:
        raise PhotoError("empty", 422, "the upload has no bytes")
    if len(data) > max_bytes:
        raise PhotoError("too_large", 413, f"{len(data)} bytes; the limit is {max_bytes}")
    fmt = sniff_format(data)
    if fmt is None:
        if _ftyp_brands(data) & _AVIF_BRANDS:
            raise PhotoError("unsupported", 415, "AVIF images are not supported")
        raise PhotoError("not_image", 415, "not a JPEG, PNG, WebP or HEIF image")
    if fmt == "heif" and not _register_heif():
        raise PhotoError("unsupported", 415, "HEIF support (pillow-heif) is not installed")
    if fmt == "heif" and len(data) > max_heif_bytes:  # HEVC's time grows with its bits
        raise PhotoError(
            "too_costly", 413, f"a HEIF file of {len(data)} bytes; the limit is {max_heif_bytes}"
        )
    # Bombs are refused from the header alone, before Pillow (which would warn) opens them.
    size = _header_size(data, fmt)
    if size is None and fmt != "heif":  # libheif parses HEIF boxes in C, and checks sizes
        raise PhotoError("undecodable", 422, f"no usable {fmt} header")
    _check_pixels(size, max_pixels)
    if size is not None:  # HEIF's cost is checked once libheif has read its boxes
        _check_decode_cost(data, fmt, size, display_edge, max_decode_bytes)
    gps, taken_at, orientation = _read_metadata(data, fmt)
    try:
        # Pillow's JPEG encoder releases the GIL: the display is turned and encoded on a
        # worker while this thread makes the thumbnail from the same reduced pixels. (The
        # upload's hash is the store's: fieldwalk/photos/attach.py.)
        with ThreadPoolExecutor(_WORKERS) as pool:
            reduced, turn = _decode(
                data,
                fmt,
                orientation,
                display_edge,
                max_pixels,
                pool,
                max_decode_bytes,
                max_heif_pixels,
            )
            display = pool.submit(_upright_jpeg, reduced, turn, quality)
            # A 4x reduction: reduce() averages each 4x4 block (box filter, nearly free), which
            # keeps more of the edges than reduce(2) plus a resample (bench/photo_ingest.py).
            small = _shrink(reduced, thumb_edge, 1.0)
            # A photo already within thumb_edge is not enlarged. Copy it then: the worker
            # is saving that very object, and Pillow's save is not safe to share.
            thumb, _, _ = _upright_jpeg(small.copy() if small is reduced else small, turn, quality)
            display_jpeg, width, height = display.result()
            result = Ingested(
                display=display_jpeg,
                thumb=thumb,
                width=width,
                height=height,
                source_format=fmt,
                gps=gps,
                taken_at=taken_at,
            )
    except PhotoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise PhotoError("too_many_pixels", 413, str(err)) from err
    except Exception as err:  # any decoder failure is the upload's fault, never a 500
        raise PhotoError("undecodable", 422, f"{type(err).__name__}: {err}") from err
    return result


# --- pixels ------------------------------------------------------------------------------


def _decode(
    data, fmt, orientation, edge, max_pixels, pool, max_decode_bytes=None, max_heif_pixels=None
):
    """Decode at the least cost that still gives `edge` pixels: (sRGB image, transpose).

    The transpose that makes it upright is returned, not applied, so that it runs on the
    smallest images, after every reduction.
    """
    if fmt == "heif":
        heif = _decode_heif(data, edge, max_pixels, pool, max_decode_bytes, max_heif_pixels)
        return heif, None
    with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[fmt]]) as im:
        _check_pixels(im.size, max_pixels)
        icc = im.info.get("icc_profile")
        if fmt == "jpeg":
            # The long edge is the same whichever way the photo is turned, so the DCT
            # scale can be chosen on the stored size.
            scale = _dct_scale(max(im.size), edge)
            if scale > 1:
                im.draft(im.mode, (im.width // scale, im.height // scale))
        im.load()
        if im.mode in _FLAT_MODES:
            flat = im
        else:  # no full-size flattened copy beside the decoded pixels
            flat = photo_decode.shrink_in_bands(
                lambda top, bottom: im.crop((0, top, im.width, bottom)),
                im.size,
                edge,
                _flatten,
                _FILTER,
                pool,
            )
    rgb = _to_srgb(_shrink(flat, edge, 2.0), icc)
    rgb.info.clear()  # nothing (EXIF, XMP, ICC, comment) must reach the encoder
    # pillow-heif applies the container's rotation (irot/imir) while decoding and resets
    # the EXIF orientation to 1, so HEIF pixels are already upright: never turn them twice.
    return rgb, None if fmt == "heif" else _TRANSPOSE.get(orientation)


def _decode_heif(
    data, edge, max_pixels, pool, max_decode_bytes, max_heif_pixels=None
) -> Image.Image:
    """Decode a HEIF image to an sRGB image within `edge`, reading libheif's RGB in bands.

    libheif applies the container's rotation (irot/imir) while decoding, so the pixels come
    out upright. Pillow would copy the whole RGB into an image of 4 bytes a pixel; bands
    copy a few rows at a time. Over `max_heif_pixels` it is refused as too costly before
    decoding: HEVC is decoded whole, and its time grows with its pixels.
    """
    import pillow_heif

    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)  # boxes only
    _check_pixels(heif.size, max_pixels)
    if max_decode_bytes is not None:
        _refuse_costly(photo_decode.heif_decode_bytes(*heif.size), max_decode_bytes)
    count = heif.size[0] * heif.size[1]
    if max_heif_pixels is not None and count > max_heif_pixels:
        raise PhotoError(
            "too_costly", 413, f"a HEIF image of {count} pixels; the limit is {max_heif_pixels}"
        )
    icc = heif.info.get("icc_profile")
    pixels, stride, mode = heif.data, heif.stride, heif.mode  # decodes

    def band(top: int, bottom: int) -> Image.Image:
        rows = pixels[top * stride : bottom * stride]
        return Image.frombuffer(mode, (heif.size[0], bottom - top), rows, "raw", mode, stride, 1)

    flat = photo_decode.shrink_in_bands(band, heif.size, edge, _flatten, _FILTER, pool)
    rgb = _to_srgb(flat, icc)
    rgb.info.clear()
    return rgb


def _upright_jpeg(im: Image.Image, turn, quality: int) -> tuple[bytes, int, int]:
    """Turn upright and encode with nothing but pixels: no EXIF, XMP, ICC or comment."""
    if turn is not None:
        im = im.transpose(turn)
    im.info.clear()
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue(), im.width, im.height


def _dct_scale(long_edge: int, edge: int) -> int:
    """Largest JPEG DCT reduction (1, 2, 4, 8) that keeps the long edge >= edge."""
    for scale in (8, 4, 2):
        if -(-long_edge // scale) >= edge:
            return scale
    return 1


def _flatten(im: Image.Image) -> Image.Image:
    """Bring any decoded mode to RGB, L or CMYK: alpha on white, 16-bit scaled to 8."""
    if im.mode == "1":
        return im.convert("L")  # a quarter of the bytes RGB would take, and still grey
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im if im.mode == "RGBA" else im.convert("RGBA")
        flat = Image.new("RGB", im.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba)  # an RGBA mask is its alpha: no copy of the channel
        return flat
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        # convert("L") would clip 16-bit values at 255 and turn the photo white.
        return im.convert("I").point(lambda v: v / 257).convert("L")
    if im.mode in ("RGB", "L", "CMYK"):
        return im
    return im.convert("RGB")


def _shrink(im: Image.Image, edge: int, reducing_gap: float) -> Image.Image:
    """Resize so the long edge is at most `edge` (never enlarge).

    As Pillow's `reducing_gap`: whole blocks are first averaged while the image is over
    `reducing_gap` times the size asked (reduce(), a box filter, nearly free), then libvips's
    Lanczos-3 (fieldwalk/photos/resample.py) makes the exact size from what is left.
    """
    long_edge = max(im.size)
    if long_edge <= edge:
        return im
    w, h = max(1, round(im.width * edge / long_edge)), max(1, round(im.height * edge / long_edge))
    factor = (int(im.width / w / reducing_gap) or 1, int(im.height / h / reducing_gap) or 1)
    if factor != (1, 1):
        im = im.reduce(factor)
    return im if im.size == (w, h) else resample.resize(im, (w, h))


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert to sRGB RGB through the embedded ICC profile, so dropping it keeps colours."""
    transform = _icc_transform(icc, im.mode) if icc else None
    if transform is not None:
        return ImageCms.applyTransform(im, transform)
    return im if im.mode == "RGB" else im.convert("RGB")


@functools.lru_cache(maxsize=8)
def _icc_transform(icc: bytes, mode: str):
    """Transform from this profile to sRGB; None for sRGB itself or an unusable profile."""
    if ImageCms is None:
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(source).lower().replace(" ", ""):
            return None
        srgb = ImageCms.createProfile("sRGB")
        # NOCACHE: littlecms's one-pixel cache is not safe when threads share a transform.
        return ImageCms.buildTransform(source, srgb, mode, "RGB", flags=ImageCms.Flags.NOCACHE)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a broken profile is metadata we drop anyway; keep the pixels as they are


@functools.cache
def _register_heif() -> bool:
    """Register pillow-heif's opener on the first HEIF upload; False if it is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


# --- headers -----------------------------------------------------------------------------


def _check_pixels(size: tuple[int, int] | None, max_pixels: int) -> None:
    if size is not None and size[0] * size[1] > max_pixels:
        raise PhotoError(
            "too_many_pixels", 413, f"{size[0]}x{size[1]} pixels; the limit is {max_pixels}"
        )


def _refuse_costly(cost: int, max_decode_bytes: int) -> None:
    if cost > max_decode_bytes:
        raise PhotoError(
            "too_costly", 413, f"decoding takes {cost} bytes; the limit is {max_decode_bytes}"
        )


def _check_decode_cost(data: bytes, fmt: str, size, edge: int, max_decode_bytes: int) -> None:
    """Refuse a JPEG, PNG or WebP whose decode would hold more than max_decode_bytes, or a
    JPEG of more scans than photo_decode.MAX_JPEG_SCANS, from the header alone."""
    width, height = size
    if fmt == "png":
        cost = photo_decode.png_decode_bytes(width, height, data[24], data[25])
    elif fmt == "webp":
        cost = photo_decode.webp_decode_bytes(width, height)
    else:
        # Starts of scan after the header: 0xFFDA never occurs in entropy-coded data (a 0xFF
        # there is followed by 0x00), and those inside header segments (an EXIF thumbnail's)
        # are not this picture's. A second picture (MPO) counts too, erring on the safe side.
        segments = list(_jpeg_segments(data))
        scans = _starts_of_scan(data) - sum(body.count(b"\xff\xda") for _, body in segments)
        if scans > photo_decode.MAX_JPEG_SCANS:
            raise PhotoError(
                "too_costly", 413, f"{scans} scans; the limit is {photo_decode.MAX_JPEG_SCANS}"
            )
        marker, sof = next((m, b) for m, b in segments if m in _SOF_MARKERS)
        sampling = [(b >> 4, b & 0x0F) for b in sof[7 : 6 + 3 * sof[5] : 3]] if sof[5:6] else []
        cost = photo_decode.jpeg_decode_bytes(
            width,
            height,
            sampling or [(1, 1)],
            marker in _PROGRESSIVE_SOF_MARKERS or scans > 1,
            _dct_scale(max(size), edge),
        )
    _refuse_costly(cost, max_decode_bytes)


def _starts_of_scan(data: bytes) -> int:
    """How many times 0xFF 0xDA occurs in `data`: with numpy's vector compares, a tenth of
    bytes.count's time for a two-byte pattern (0,24 against 2,2 ms of CPU for a 3 MB photo,
    some 4 % of all its ingest)."""
    octets = np.frombuffer(data, dtype=np.uint8)
    return int(np.count_nonzero((octets[:-1] == 0xFF) & (octets[1:] == 0xDA)))


def _ftyp_brands(data: bytes) -> set[bytes]:
    """Major and compatible brands of an ISO-BMFF 'ftyp' box at the start, or an empty set."""
    if data[4:8] != b"ftyp" or len(data) < 16:
        return set()
    box_size = min(int.from_bytes(data[:4], "big"), len(data), 4096)
    return {data[8:12]} | {data[i : i + 4] for i in range(16, box_size - 3, 4)}


def _header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """Pixel size from a JPEG, PNG or WebP header that reaches its image data within
    _MAX_SEGMENTS steps, read without decoding; None otherwise."""
    try:
        if fmt == "jpeg":
            segments = list(_jpeg_segments(data))
            sof = next((body for marker, body in segments if marker in _SOF_MARKERS), None)
            if sof is not None and segments[-1][0] == 0xDA:  # the scan starts in reach
                height, width = struct.unpack(">HH", sof[1:5])
                return width, height
        elif fmt == "png":
            if data[12:16] == b"IHDR" and any(k == b"IDAT" for k, _ in _chunks(data, 8, "png")):
                return struct.unpack(">II", data[16:24])
        elif fmt == "webp":
            chunk = data[12:16]
            if chunk == b"VP8X":  # extended: 24-bit canvas sizes, minus one
                return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(
                    data[27:30], "little"
                )
            if chunk == b"VP8L":  # lossless: two 14-bit sizes, minus one
                bits = int.from_bytes(data[21:25], "little")
                return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
            if chunk == b"VP8 ":  # lossy: 14-bit sizes after the start code
                width, height = struct.unpack("<HH", data[26:30])
                return width & 0x3FFF, height & 0x3FFF
    except struct.error:
        return None
    return None


def _jpeg_segments(data: bytes):
    """Yield (marker, body) of JPEG header segments, the last being (0xDA, b"") if the start
    of scan is reached within _MAX_SEGMENTS steps."""
    pos = 2
    for _ in range(_MAX_SEGMENTS):
        if pos + 4 > len(data) or data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xDA:
            yield marker, b""
            return
        if marker == 0xFF or 0xD0 <= marker <= 0xD9 or marker == 0x01:  # no length field
            pos += 1 if marker == 0xFF else 2  # a fill byte, or a lone marker
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            return
        yield marker, data[pos + 4 : pos + 2 + length]
        pos += 2 + length


def _chunks(data: bytes, pos: int, kind: str):
    """Yield (type, body) of up to _MAX_SEGMENTS PNG or WebP RIFF chunks, from `pos`; bodies
    are views, so walking past megabytes of pixel data copies none of it."""
    view = memoryview(data)
    for _ in range(_MAX_SEGMENTS):
        if pos + 8 > len(data):
            return
        if kind == "png":
            length, name = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
            step = 12 + length  # length, type, body, CRC
        else:
            name, length = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
            step = 8 + length + (length & 1)  # bodies are padded to an even size
        yield name, view[pos + 8 : pos + 8 + length]
        pos += step


# --- EXIF --------------------------------------------------------------------------------


def _read_metadata(data: bytes, fmt: str | None):
    """(gps, taken_at, orientation) from the EXIF; any failure reads as no EXIF at all."""
    try:
        tiff = _exif_tiff(data, fmt)
        if not tiff or tiff[:2] not in (b"II", b"MM"):
            return None, None, 1
        tags = exifread.process_file(
            io.BytesIO(tiff[:_MAX_EXIF_BYTES]), details=False, extract_thumbnail=False
        )
        return _gps(tags), _taken_at(tags), _orientation(tags)
    except Exception:  # exifread on hostile bytes can fail in many ways; none are fatal
        return None, None, 1


def _exif_tiff(data: bytes, fmt: str | None) -> bytes | None:
    """The TIFF-structured EXIF block of the image, without any 'Exif\\0\\0' prefix.

    exifread gets only this block: on whole files it misses EXIF that follows a large XMP
    segment (as Photoshop writes it) and its HEIF parser fails on pillow-heif's own files.
    """
    if fmt == "jpeg":
        segments = _jpeg_segments(data)
        exif = next((b for m, b in segments if m == 0xE1 and b[:6] == b"Exif\x00\x00"), None)
    elif fmt == "png":
        exif = next((body for kind, body in _chunks(data, 8, "png") if kind == b"eXIf"), None)
    elif fmt == "webp":
        exif = next((body for kind, body in _chunks(data, 12, "webp") if kind == b"EXIF"), None)
    elif fmt == "heif" and _register_heif():
        with Image.open(io.BytesIO(data), formats=["HEIF"]) as im:  # reads boxes, no decoding
            exif = im.info.get("exif")
    else:
        return None
    if not exif:
        return None
    return bytes(exif[6:] if exif[:6] == b"Exif\x00\x00" else exif)


def _orientation(tags) -> int:
    try:
        value = int(tags["Image Orientation"].values[0])
    except (KeyError, AttributeError, IndexError, TypeError, ValueError):
        return 1
    return value if value in _TRANSPOSE else 1


def _gps(tags) -> tuple[float, float] | None:
    """Decimal degrees from the GPS IFD; None when missing, void or nonsensical."""
    status = tags.get("GPS GPSStatus")
    if status is not None and str(status.values).strip().upper() == "V":  # void fix
        return None
    lat = _degrees(tags.get("GPS GPSLatitude"), tags.get("GPS GPSLatitudeRef"), "S")
    lon = _degrees(tags.get("GPS GPSLongitude"), tags.get("GPS GPSLongitudeRef"), "W")
    if lat is None or lon is None:
        return None
    return plausible_gps(lat, lon)


def plausible_gps(lat: float, lon: float) -> tuple[float, float] | None:
    """(lat, lon) when it can be a place on Earth; None out of range, NaN, or at 0,0."""
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # "not <=" refuses NaN too
        return None
    if lat == 0 and lon == 0:  # what receivers without a fix write, not a place
        return None
    return lat, lon


def _degrees(tag, ref_tag, negative_ref: str) -> float | None:
    try:
        parts = [float(p.numerator) / float(p.denominator) for p in tag.values[:3]]
        ref = str(ref_tag.values).strip().upper() if ref_tag is not None else ""
    except (AttributeError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not parts or any(p != p or p < 0 for p in parts):  # NaN or negative parts
        return None
    parts += [0.0] * (3 - len(parts))
    value = parts[0] + parts[1] / 60 + parts[2] / 3600
    return -value if ref == negative_ref else value


def _taken_at(tags) -> str | None:
    """ISO 8601 local time as the camera wrote it, from the first valid date tag."""
    for name in ("EXIF DateTimeOriginal", "EXIF DateTimeDigitized", "Image DateTime"):
        tag = tags.get(name)
        match = _DATE_RE.match(str(getattr(tag, "values", "")).strip())
        if match is None:
            continue
        try:
            moment = datetime(*map(int, match.groups()))
        except ValueError:  # '0000:00:00 00:00:00' and other placeholders
            continue
        return moment.isoformat()
    return None
