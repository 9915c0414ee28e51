"""What the costliest photo uploads the limits accept cost one core, and what refusing costs.

Run from the project root (`make bench` runs it too):

    .venv/bin/python bench/decode_limit.py [--only heic ...] [--repeat 2] [--core N]

Issue 17: any accepted upload must finish in under 2 s of one core and under 300 MB, and a
refused one in well under that (here: under 0.1 s of CPU). For each format it makes the
costliest upload the configured limits accept (fieldwalk/config.py: MAX_PHOTO_BYTES,
MAX_PHOTO_PIXELS, MAX_PHOTO_DECODE_BYTES as fieldwalk/photos/decode.py estimates a decode;
and that module's MAX_HEIF_PIXELS and MAX_HEIF_BYTES), at the largest 4:3 size they allow,
with photo-like content (a real photo from tests/data/photos enlarged, with fine noise so
that the coders have detail to code); when such a file would be over the byte limit, the
largest or highest quality that fits. Beside them the hostile files that are accepted (PNGs
of zeros, JPEGs of as many scans as allowed, a HEIC half noise) and those refused (HEICs of
48 and 41 megapixels or 25 MiB, a 16-bit RGBA PNG bomb, a JPEG of 2000 scans).

Each file is made once and kept in instance/bench-decode/ (git-ignored; named by its
dimensions, so a new limit makes new files). HEIC and WebP encodes take minutes: they run
under nice.

Each case runs in a fresh process pinned to one core, which imports the modules and reads
the file first (its baseline), then calls the pipeline's `ingest` with the app's configured
limits, as the upload routes do. It reports the CPU time (user + system, all its threads)
and wall time of that call, and its peak memory above the baseline: the kernel's peak RSS
(VmHWM) is reset before the call (/proc/self/clear_refs), and read after it. The machine is
shared: CPU time is the figure; wall time waits for a core. It always exits 0.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pillow_heif
from common import ROOT, load_average, png_bomb, repeat_last_scan, scan_bomb
from PIL import Image

from fieldwalk import config
from fieldwalk.photos import decode as photo_decode
from fieldwalk.photos import pipeline

CACHE = ROOT / "instance" / "bench-decode"
SOURCE = ROOT / "tests/data/photos/gps/DSCN0010.jpg"
TARGET_CPU, TARGET_PEAK_MB, TARGET_REFUSED_CPU = 2.0, 300, 0.1
HEIF_BYTES = min(config.MAX_PHOTO_BYTES, photo_decode.MAX_HEIF_BYTES)
LIMITS = {
    "max_bytes": config.MAX_PHOTO_BYTES,
    "max_pixels": config.MAX_PHOTO_PIXELS,
    "max_decode_bytes": config.MAX_PHOTO_DECODE_BYTES,
    "display_edge": config.PHOTO_DISPLAY_EDGE,
    "thumb_edge": config.PHOTO_THUMB_EDGE,
}


# --- dimensions ---------------------------------------------------------------------------


def largest_4_3(cost) -> tuple[int, int]:
    """The largest 4:3 size (even sides) within the pixel limit whose decode `cost(w, h)`
    is within the decode limit."""
    lo, hi = 2, 100_000

    def fits(w: int) -> bool:
        h = w * 3 // 4 // 2 * 2
        return w * h <= config.MAX_PHOTO_PIXELS and cost(w, h) <= config.MAX_PHOTO_DECODE_BYTES

    while hi - lo > 2:
        mid = (lo + hi) // 4 * 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo, lo * 3 // 4 // 2 * 2


def jpeg_cost(sampling, progressive: bool):
    def cost(w: int, h: int) -> int:
        scale = pipeline._dct_scale(max(w, h), config.PHOTO_DISPLAY_EDGE)
        return photo_decode.jpeg_decode_bytes(w, h, sampling, progressive, scale)

    return cost


def png_cost(depth: int, colour: int):
    return lambda w, h: photo_decode.png_decode_bytes(w, h, depth, colour)


def heif_cost(w: int, h: int) -> float:
    """A HEIF's decode bytes, or infinite over the HEIF pixel limit."""
    too_slow = w * h > photo_decode.MAX_HEIF_PIXELS
    return math.inf if too_slow else photo_decode.heif_decode_bytes(w, h)


# --- files --------------------------------------------------------------------------------


def photo_like(size: tuple[int, int], mode: str = "RGB", heavy: bool = False) -> Image.Image:
    """A real photo enlarged to `size`, with fine noise: detail for the coders to code.
    `heavy`: half of it noise, in each channel apart, as many bits as a coder can be made
    to spend on a photo."""
    with Image.open(SOURCE) as source:
        big = source.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    if heavy:
        noise = Image.merge("RGB", [Image.effect_noise(size, 64) for _ in "RGB"])
        big = Image.blend(big, noise, 0.5)
    else:
        big = Image.blend(big, Image.effect_noise(size, 24).convert("RGB"), 0.15)
    return big if mode == "RGB" else big.convert(mode)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def best_quality(
    image: Image.Image, fmt: str, qualities, limit: int = config.MAX_PHOTO_BYTES, **options
) -> bytes:
    """The image at the highest of `qualities` whose file fits `limit` bytes."""
    for quality in qualities:
        data = encode(image, fmt, quality=quality, **options)
        if len(data) <= limit:
            return data
    raise RuntimeError(f"no quality of {qualities} fits {limit} bytes")


def jpeg(size, subsampling: int, progressive: bool, scans: int = 0) -> bytes:
    """A photo-like JPEG at the best quality that fits; with `scans`, its last scan repeated
    until the file lists that many (the most the pipeline takes)."""
    image = photo_like(size)
    for quality in (95, 92, 90, 87, 85, 82, 80, 75, 70, 60, 50):
        data = encode(
            image, "JPEG", quality=quality, subsampling=subsampling, progressive=progressive
        )
        if scans:
            data = repeat_last_scan(data, scans - data.count(b"\xff\xda"))
        if len(data) <= config.MAX_PHOTO_BYTES:
            return data
    raise RuntimeError(f"no JPEG of {size} fits {config.MAX_PHOTO_BYTES} bytes")


def png_photo(mode: str) -> bytes:
    """A photo-like PNG as large as fits MAX_PHOTO_BYTES (4:3), found in a few encodes."""
    depth_colour = {"RGB": (8, 2), "RGBA": (8, 6)}[mode]
    limit_w, _ = largest_4_3(png_cost(*depth_colour))
    w = 2000
    for _ in range(6):
        size = (w, w * 3 // 4 // 2 * 2)
        image = photo_like(size, mode)
        if mode == "RGBA":  # a soft alpha gradient, so the flattening has something to do
            image.putalpha(Image.linear_gradient("L").resize(size))
        data = encode(image, "PNG")
        ratio = len(data) / (size[0] * size[1])
        target = min(limit_w, int(math.sqrt(config.MAX_PHOTO_BYTES * 0.98 / ratio * 4 / 3)))
        if len(data) <= config.MAX_PHOTO_BYTES and (target - w) <= w * 0.03:
            return data
        w = target // 2 * 2
    raise RuntimeError("no PNG size converged")


def heic(size, qualities, heavy: bool = False, limit: int = HEIF_BYTES, **options) -> bytes:
    """A photo-like HEIC at the highest of `qualities` that fits `limit` bytes."""
    pillow_heif.register_heif_opener()
    return best_quality(photo_like(size, heavy=heavy), "HEIF", qualities, limit, **options)


@dataclass
class Case:
    name: str
    key: str  # the cached file's name, without extension
    ext: str
    make: callable
    accepted: bool


def cases() -> list[Case]:
    mp50 = largest_4_3(lambda w, h: 0)  # the pixel limit alone
    yuv444 = [(1, 1)] * 3
    prog444 = largest_4_3(jpeg_cost(yuv444, True))
    rgba16 = largest_4_3(png_cost(16, 6))
    webp = largest_4_3(photo_decode.webp_decode_bytes)
    heif = largest_4_3(heif_cost)
    heif_41 = largest_4_3(photo_decode.heif_decode_bytes)  # the decode limit alone
    mib = f"{HEIF_BYTES / 2**20:.0f}MiB"
    side_50mp = math.isqrt(config.MAX_PHOTO_PIXELS)  # square, as bench/load.py's attackers
    scans = photo_decode.MAX_JPEG_SCANS

    def wh(size) -> str:
        return f"{size[0]}x{size[1]}"

    return [
        Case(
            f"JPEG baseline 4:4:4 {wh(mp50)}",
            f"jpeg-444-{wh(mp50)}",
            "jpg",
            lambda: jpeg(mp50, 0, False),
            True,
        ),
        Case(
            f"JPEG progressive 4:2:0 {wh(mp50)}, {scans} scans",
            f"jpeg-prog420-{scans}-{wh(mp50)}",
            "jpg",
            lambda: jpeg(mp50, 2, True, scans),
            True,
        ),
        Case(
            f"JPEG progressive 4:4:4 {wh(prog444)}, {scans} scans",
            f"jpeg-prog444-{scans}-{wh(prog444)}",
            "jpg",
            lambda: jpeg(prog444, 0, True, scans),
            True,
        ),
        Case("PNG 8-bit RGB photo, fits 25 MiB", "png-rgb", "png", lambda: png_photo("RGB"), True),
        Case(
            "PNG 8-bit RGBA photo, fits 25 MiB", "png-rgba", "png", lambda: png_photo("RGBA"), True
        ),
        Case(
            f"PNG 8-bit RGBA zeros, Paeth {side_50mp}^2",
            f"png-rgba-zeros-{side_50mp}",
            "png",
            lambda: png_bomb(side_50mp, side_50mp, 8, 6, 4),
            True,
        ),
        Case(
            f"PNG 8-bit RGBA zeros, Adam7 {side_50mp}^2",
            f"png-rgba-adam7-{side_50mp}",
            "png",
            lambda: png_bomb(side_50mp, side_50mp, 8, 6, 4, interlaced=True),
            True,
        ),
        Case("PNG 1-bit 7000^2", "png-1bit-7000", "png", lambda: png_bomb(7000, 7000, 1, 0), True),
        Case(
            f"PNG 16-bit RGBA zeros, Paeth {wh(rgba16)}",
            f"png-rgba16-zeros-{wh(rgba16)}",
            "png",
            lambda: png_bomb(*rgba16, 16, 6, 4),
            True,
        ),
        Case(
            f"WebP lossy q95 photo {wh(webp)}",
            f"webp-q95-{wh(webp)}",
            "webp",
            lambda: best_quality(photo_like(webp), "WEBP", (95, 90, 80)),
            True,
        ),
        Case(
            f"WebP lossless zeros {wh(webp)}",
            f"webp-lossless-zeros-{wh(webp)}",
            "webp",
            lambda: encode(Image.new("RGB", webp), "WEBP", lossless=True),
            True,
        ),
        Case(
            f"HEIC photo {wh(heif)}",
            f"heic-{mib}-{wh(heif)}",
            "heic",
            lambda: heic(heif, (95, 92, 90, 87, 85, 80, 70)),
            True,
        ),
        Case(
            f"HEIC heavy noise {wh(heif)}",
            f"heic-heavy-{mib}-{wh(heif)}",
            "heic",
            lambda: heic(heif, (80, 77, 75, 72, 70, 65, 60, 50), heavy=True),
            True,
        ),
        Case(
            f"HEIC heavy noise {wh(heif)}, 25 MiB",
            f"heic-heavy-{wh(heif)}",
            "heic",
            lambda: heic(heif, (95, 90, 85, 80, 70), heavy=True, limit=config.MAX_PHOTO_BYTES),
            False,
        ),
        Case(
            f"HEIC photo {wh(heif_41)} (old limit)",
            f"heic-{wh(heif_41)}",
            "heic",
            lambda: heic(heif_41, (90, 87, 85, 80, 70), limit=config.MAX_PHOTO_BYTES),
            False,
        ),
        Case(
            "HEIC photo 8064x6048 (48 MP)",
            "heic-48mp-ultrafast",
            "heic",
            lambda: heic((8064, 6048), (50,), enc_params={"preset": "ultrafast"}),
            False,
        ),
        Case(
            f"PNG 16-bit RGBA zeros {side_50mp}^2",
            f"png-rgba16-zeros-{side_50mp}",
            "png",
            lambda: png_bomb(side_50mp, side_50mp, 16, 6),
            False,
        ),
        Case("JPEG of 2000 scans", "jpeg-2000-scans", "jpg", scan_bomb, False),
    ]


def cached(case: Case) -> Path:
    """The case's file, made first (in a niced process of its own) when not kept yet."""
    path = CACHE / f"{case.key}.{case.ext}"
    if not path.is_file():
        print(f"  making {path.name} (once) ...", flush=True)
        subprocess.run(
            [sys.executable, __file__, "--make", case.key],
            check=True,
            preexec_fn=lambda: os.nice(10),  # noqa: PLW1509  (no threads in this process)
        )
    return path


def make(key: str) -> None:
    case = next(case for case in cases() if case.key == key)
    CACHE.mkdir(parents=True, exist_ok=True)
    data = case.make()
    partial = CACHE / f"{case.key}.part"
    partial.write_bytes(data)
    partial.rename(CACHE / f"{case.key}.{case.ext}")


# --- one measurement, in a fresh process ---------------------------------------------------


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(path: Path, core: int) -> dict:
    """Ingest the file once in this process, pinned to `core`: CPU, wall, peak above baseline."""
    data = path.read_bytes()
    pillow_heif.register_heif_opener()
    os.sched_setaffinity(0, {core})
    try:  # reset the peak RSS to the present RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    baseline = status_kib("VmRSS") if reset else status_kib("VmHWM")
    cpu, wall = cpu_seconds(), time.perf_counter()
    try:
        done = pipeline.ingest(data, **LIMITS)
        outcome = f"accepted, {done.width}x{done.height}"
    except pipeline.PhotoError as refused:
        outcome = f"refused: {refused.code} {refused.status}"
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    peak = (status_kib("VmHWM") - baseline) / 1024
    return {"cpu": cpu, "wall": wall, "peak": peak, "outcome": outcome, "reset": reset}


def run_child(path: Path, core: int) -> dict:
    command = [sys.executable, __file__, "--child", str(path), "--core", str(core)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"cpu": math.nan, "wall": math.nan, "peak": math.nan, "reset": False,
                "outcome": f"crashed ({done.returncode}): {done.stderr.strip()[-200:]}"}  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def verdict(case: Case, figures: dict) -> str:
    if case.accepted:
        ok = (
            figures["outcome"].startswith("accepted")
            and figures["cpu"] < TARGET_CPU
            and figures["peak"] < TARGET_PEAK_MB
        )
    else:
        ok = figures["outcome"].startswith("refused") and figures["cpu"] < TARGET_REFUSED_CPU
    return "PASS" if ok else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=[], help="cases whose name has any word")
    parser.add_argument("--repeat", type=int, default=2, help="fresh processes for each case")
    parser.add_argument("--core", type=int, default=sorted(os.sched_getaffinity(0))[-1])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--make", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        make(args.make)
        return 0
    if args.child:
        print(json.dumps(measure(args.child, args.core)))
        return 0
    pillow_heif.register_heif_opener()  # for the sizes of the HEICs
    print(f"load average: {load_average()}; each case pinned to core {args.core}")
    print(
        f"limits: {config.MAX_PHOTO_BYTES / 2**20:.0f} MiB a file, "
        f"{config.MAX_PHOTO_PIXELS / 1e6:.0f} MP, "
        f"{config.MAX_PHOTO_DECODE_BYTES / 1e6:.0f} MB of decode; targets: accepted < "
        f"{TARGET_CPU} s CPU and < {TARGET_PEAK_MB} MB, refused < {TARGET_REFUSED_CPU} s CPU"
    )
    print(
        f"{'case':<44} {'pixels':>9} {'file':>9} {'cpu s':>6} {'wall s':>6} {'peak MB':>7}"
        "  verdict  outcome"
    )
    for case in cases():
        if args.only and not any(word.lower() in case.name.lower() for word in args.only):
            continue
        path = cached(case)
        runs = [run_child(path, args.core) for _ in range(max(1, args.repeat))]
        best = min(runs, key=lambda r: r["cpu"] if r["cpu"] == r["cpu"] else math.inf)
        best = dict(best, peak=max(r["peak"] for r in runs))  # least CPU, largest peak
        size = path.stat().st_size
        shown = f"{size / 2**20:.1f} MiB" if size > 2**20 else f"{size / 1024:.0f} KiB"
        with Image.open(path) as image:  # the header only
            pixels = f"{image.width}x{image.height}"
        print(
            f"{case.name:<44} {pixels:>9} {shown:>9} {best['cpu']:6.3f} {best['wall']:6.3f} "
            f"{best['peak']:7.0f}  {verdict(case, best):<7}  {best['outcome']}"
            + ("" if best["reset"] else "  (peak not reset: above the baseline's peak)"),
            flush=True,
        )
    print(f"load average: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
