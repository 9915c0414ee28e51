"""What decoding an upload costs, told from its header, and a shrink that keeps to that cost.

A small file can hold pixels that are costly to decode: 389 KB of PNG inflate to 400 MB of
16-bit RGBA samples, and a progressive JPEG makes libjpeg pass over the whole image once per
scan, however many scans the file lists. The pixel limit (MAX_PHOTO_PIXELS) sees neither, so
the photo pipeline also refuses an image whose decode would hold more than
MAX_PHOTO_DECODE_BYTES, estimated here before a single pixel is decoded: width x height x
the bytes a pixel takes while the decoder holds it. Pure functions: no Flask, no files.

Bytes per pixel, for the decoders of Pillow 13 and pillow-heif 1.x (each figure checked by
decoding a 50-megapixel image of that kind and reading the process's peak memory):

- PNG: the larger of what zlib inflates (bit depth x channels / 8: 8 for 16-bit RGBA) and the
  pixel as Pillow keeps it (1 for 1-bit, grey and palette, 2 for 16-bit grey, 4 for anything
  in colour or with alpha: Pillow pads RGB to 4 bytes).
- JPEG: the pixels after the DCT reduction the pipeline asks for (draft), 1 byte grey or 4 in
  colour; and for a progressive or multi-scan file the coefficients libjpeg keeps for the
  whole image at full size, 2 bytes each, 64 for each 8x8 block of each component.
- WebP: 16. libwebp decodes to an RGBA canvas, which Pillow copies to bytes and then into
  the image.
- HEIF: 6. libheif decodes the YCbCr planes and converts them to RGB beside them (the
  pipeline reads that RGB in bands, never as one Pillow image). Its time, not its memory,
  bounds a HEIF: MAX_HEIF_PIXELS and MAX_HEIF_BYTES.

The pipeline then holds nothing else that grows with the image: what is not already RGB,
grey or CMYK (alpha, palettes, 1-bit, 16-bit) is flattened and reduced one band of rows at a
time (`shrink_in_bands`), never as a second full-size image.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PIL import Image

# A progressive JPEG from libjpeg has at most 18 scans (four components), mozjpeg's fewer;
# each scan is a pass over the image's coefficients, so a file listing thousands of them
# (it costs a few bytes each) would keep a worker busy for minutes.
MAX_JPEG_SCANS = 32
# HEVC cannot be decoded reduced, and libde265's time grows with both the pixels and the
# bits: on one core, about 0.03 s a megapixel and 0.06 s a MiB of the file (a 41-megapixel,
# 24 MiB HEIC, which the decode limit takes, costs 2.5 s; 25 megapixels in 25 MiB of noise,
# 2.0 s). 25 megapixels and 16 MiB take phones' 12 and 24-megapixel HEICs (a few MB each)
# and keep the costliest HEIC under 2 s of one core (bench/decode_limit.py); the opt-in
# 48-megapixel mode is refused (the capture screen shrinks photos before sending them).
MAX_HEIF_PIXELS = 25_000_000
MAX_HEIF_BYTES = 16 * 1024 * 1024
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type: grey, RGB, palette, LA, RGBA
_WEBP_BYTES_PER_PIXEL = 16
_HEIF_BYTES_PER_PIXEL = 6
# Source rows per band: a 7000-pixel-wide RGBA band is 7 MB, and its flattened copy another.
_BAND_ROWS = 256


def png_decode_bytes(width: int, height: int, bit_depth: int, colour_type: int) -> int:
    """Bytes decoding a PNG of this IHDR holds."""
    channels = _PNG_CHANNELS.get(colour_type, 4)
    inflated = bit_depth * channels / 8
    kept = 4 if channels > 1 and colour_type != 3 else (2 if bit_depth == 16 else 1)
    return math.ceil(width * height * max(inflated, kept))


def jpeg_decode_bytes(
    width: int, height: int, sampling: list[tuple[int, int]], whole_image: bool, scale: int
) -> int:
    """Bytes decoding a JPEG holds: pixels at 1/`scale` (draft), plus, when the coefficients
    of the `whole_image` are buffered (progressive, several scans), those at full size.

    `sampling` is each component's (horizontal, vertical) sampling factor from the SOF.
    """
    pixel = 1 if len(sampling) == 1 else 4
    decoded = math.ceil(width / scale) * math.ceil(height / scale) * pixel
    if not whole_image:
        return decoded
    max_h = max((h for h, _ in sampling), default=1) or 1
    max_v = max((v for _, v in sampling), default=1) or 1
    blocks = sum(
        math.ceil(width * h / max_h / 8) * math.ceil(height * v / max_v / 8) for h, v in sampling
    )
    return decoded + blocks * 64 * 2


def webp_decode_bytes(width: int, height: int) -> int:
    """Bytes decoding a WebP holds."""
    return width * height * _WEBP_BYTES_PER_PIXEL


def heif_decode_bytes(width: int, height: int) -> int:
    """Bytes decoding a HEIF image holds."""
    return width * height * _HEIF_BYTES_PER_PIXEL


def shrink_in_bands(
    band: Callable[[int, int], Image.Image],
    size: tuple[int, int],
    edge: int,
    flatten: Callable[[Image.Image], Image.Image],
    resample: Image.Resampling,
    pool,
) -> Image.Image:
    """Flatten and resize an image one band of rows at a time, so no full-size copy is made.

    `band(top, bottom)` gives rows [top, bottom) of the source in any mode; `flatten` turns
    a band into RGB, L or CMYK. The long edge comes out at most `edge` (never enlarged). Each
    band reaches far enough above and below its output rows for the filter and the 2x
    reduction before it, so the strips join as one resize of the whole would.
    """
    width, height = size
    long_edge = max(size)
    if long_edge <= edge:  # at most edge x edge pixels: flat at once, then nothing to shrink
        return flatten(band(0, height))
    out_w = max(1, round(width * edge / long_edge))
    out_h = max(1, round(height * edge / long_edge))
    scale = height / out_h
    margin = 2 * math.ceil(scale) + 2
    rows = max(1, round(_BAND_ROWS / scale))  # output rows per band
    cuts = list(range(0, out_h, rows)) + [out_h]

    def strip(top_row: int, bottom_row: int) -> Image.Image:
        y0, y1 = top_row * scale, bottom_row * scale
        top, bottom = max(0, math.floor(y0) - margin), min(height, math.ceil(y1) + margin)
        flat = flatten(band(top, bottom))
        return flat.resize(
            (out_w, bottom_row - top_row),
            resample,
            box=(0, y0 - top, width, y1 - top),
            reducing_gap=2.0,
        )

    futures = [pool.submit(strip, a, b) for a, b in zip(cuts, cuts[1:], strict=False)]
    parts = [future.result() for future in futures]
    out = Image.new(parts[0].mode, (out_w, out_h))
    for top_row, part in zip(cuts, parts, strict=False):
        out.paste(part, (0, top_row))
    return out
