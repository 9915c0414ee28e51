"""Time fieldwalk.photos.ingest on a 12-megapixel phone-like JPEG against two references.

Run from the project root:

    .venv/bin/python bench/photo_ingest.py [--repeat 7] [--rounds 3]

It builds the test photo in memory (4000x3000, quality 90, EXIF orientation 6 and a GPS
position near 59.36 N 17.87 E), then times three pipelines, each in a fresh process of its
own (the JPEG is piped to `--child NAME`), as a pool worker takes photo after photo: one
unmeasured run, then `--repeat` runs; `--rounds` such processes per pipeline, taking turns.
In one shared process a pipeline's frees would decide whether the next one's buffers come
from the heap or fault in afresh (thousands of page faults, the figures depending on the
order); the page faults per run are printed. The processes get the photo pool's malloc
settings (GLIBC_TUNABLES in docs/systemd/fieldwalk-photos.service), as deployed;
`--glibc-defaults` leaves glibc's defaults, for comparison. It prints the medians of wall time and of CPU
time (user + system of the whole process, every thread counted), their ratios and peak
memory, with the
targets marked PASS or FAIL. The targets are judged on CPU time, which other busy processes
on the machine hardly change (wall time is shown beside it). It always exits 0: it reports
figures, it is not a test. ingest spreads its work over up to 4 threads; the floor gets the
same threads (its display is encoded on a worker while the thumbnail is made, as ingest
does); naive uses one. The machine's load average is printed first.

- project: `fieldwalk.photos.ingest(data)` with its defaults (display 1600, thumb 400):
           draft() to a 2000x1500 decode, libvips's Lanczos-3 to the display, reduce(4) to
           the thumbnail (fieldwalk/photos/pipeline.py, resample.py).
- naive:   what a first version would do: full decode, ImageOps.exif_transpose, resize to
           a 1600 long edge with LANCZOS, thumbnail(400) of the full image, two JPEG saves.
- floor:   the least work any correct pipeline must do: open, draft() to the same DCT
           scale ingest picks, load, then NEAREST resizes to exactly the output sizes
           (nearly free; only there so both encodes get the right number of pixels), and
           the two JPEG encodes. No EXIF parsing, no transpose, no filtering, no hashing.

Then the face blur (fieldwalk/photos/public.py), which runs after the upload is answered:
its added cost per 12 MP photo (a 4000x3000 photo with three faces: decode the display copy,
find the faces at two scales, blur them, encode the public display and thumbnail), wall and
CPU time beside the project's ingest of the same photo measured in the same run; and the
detector's recall (by kind of face) and false positives on the labelled set of real faces
(fieldwalk/devtools/faceset.py; sources and licences in tests/data/faces/README.md).
`--no-faces` skips this part.

Peak memory is measured on each process's first run: the growth of the resident-set
high-water mark over it, since Pillow and libvips keep pixels in C buffers that
tracemalloc does not see, and tracemalloc's peak besides.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps, ImageStat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from units import unit_environment  # noqa: E402  (bench/ is the script's own folder)

from fieldwalk.devtools import faceset  # noqa: E402  (after the path fix)
from fieldwalk.photos import faces, public  # noqa: E402
from fieldwalk.photos import pipeline as photos  # noqa: E402  (after the path fix, so it runs from a clone)

WIDTH, HEIGHT = 4000, 3000
DISPLAY_EDGE, THUMB_EDGE, QUALITY = 1600, 400, 82
TARGET_SPEEDUP = 3.0  # naive / project must be at least this
TARGET_OVER_FLOOR = 1.5  # project / floor must be at most this
PHOTO_UNIT = "fieldwalk-photos.service"  # the pool whose processes ingest photos


def make_phone_jpeg() -> bytes:
    """A 4000x3000 JPEG that compresses like a photo: gradients, shapes, blur, sensor noise."""
    gradient = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    radial = Image.radial_gradient("L").resize((WIDTH, HEIGHT))
    image = Image.merge("RGB", (gradient, radial, gradient.transpose(Image.Transpose.ROTATE_180)))
    draw = ImageDraw.Draw(image)
    for i in range(60):
        x, y = (i * 397) % WIDTH, (i * 211) % HEIGHT
        colour = ((i * 53) % 256, (i * 97) % 256, (i * 31) % 256)
        if i % 3:
            draw.ellipse((x, y, x + 120 + i * 9, y + 80 + i * 7), fill=colour)
        else:
            draw.rectangle((x, y, x + 300, y + 40 + i * 3), fill=colour)
        draw.line((0, y, WIDTH, (y * 7) % HEIGHT), fill=colour, width=3)
    image = image.filter(ImageFilter.GaussianBlur(2))
    noise = Image.merge("RGB", [Image.effect_noise((WIDTH, HEIGHT), 18 + 4 * c) for c in range(3)])
    image = Image.blend(image, noise, 0.35)

    exif = Image.Exif()
    exif[0x0112] = 6  # sensor landscape, phone held upright
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (59.0, 21.0, 36.0), 3: "E", 4: (17.0, 52.0, 12.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def _fit(size: tuple[int, int], edge: int) -> tuple[int, int]:
    scale = min(1.0, edge / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _save(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


def run_project(data: bytes) -> tuple[bytes, bytes]:
    result = photos.ingest(data)
    return result.display, result.thumb


def run_naive(data: bytes) -> tuple[bytes, bytes]:
    with Image.open(io.BytesIO(data)) as image:
        upright = ImageOps.exif_transpose(image)
    display = upright.resize(_fit(upright.size, DISPLAY_EDGE), Image.Resampling.LANCZOS)
    upright.thumbnail((THUMB_EDGE, THUMB_EDGE), Image.Resampling.LANCZOS)
    return _save(display), _save(upright)


def run_floor(data: bytes) -> tuple[bytes, bytes]:
    with Image.open(io.BytesIO(data)) as image:
        scale = photos._dct_scale(max(image.size), DISPLAY_EDGE)
        image.draft("RGB", (image.width // scale, image.height // scale))
        image.load()
        display = image.resize(_fit(image.size, DISPLAY_EDGE), Image.Resampling.NEAREST)
    # The same threads as ingest: the display is encoded on a worker beside the thumbnail.
    with ThreadPoolExecutor(photos._WORKERS) as pool:
        display_jpeg = pool.submit(_save, display)
        thumb = display.resize(_fit(display.size, THUMB_EDGE), Image.Resampling.NEAREST)
        return display_jpeg.result(), _save(thumb)


def _peak_rss_mib() -> float:
    """This process's resident-set high-water mark. /proc's VmHWM first: ru_maxrss keeps
    the parent's peak across fork and exec on Linux, which would hide the child's own."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def child(name: str, runs: int) -> None:
    """In a fresh process, as a pool worker takes photo after photo: run one pipeline on
    stdin's JPEG once (its peak memory), then `runs` times (wall, CPU, page faults); print
    them as JSON."""
    data = sys.stdin.buffer.read()
    # On a thread of its own, as a request thread of the photo pool's gthread workers.
    thread = ThreadPoolExecutor(1)

    def run(data: bytes):
        return thread.submit(PIPELINES[name], data).result()

    before = _peak_rss_mib()
    tracemalloc.start()
    run(data)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = _peak_rss_mib() - before
    walls, cpus, faults = [], [], []
    for _ in range(runs):
        start_faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start, start_cpu = time.perf_counter(), time.process_time()
        run(data)
        cpus.append(time.process_time() - start_cpu)
        walls.append(time.perf_counter() - start)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start_faults)
    print(
        json.dumps(
            {
                "rss_growth": rss_growth,
                "traced": traced_peak / 2**20,
                "walls": walls,
                "cpus": cpus,
                "faults": faults,
            }
        )
    )


def malloc_environment(glibc_defaults: bool) -> dict[str, str]:
    """The environment of a pipeline's process: glibc's malloc settings as the photo pool's
    unit gives them (GLIBC_TUNABLES), or glibc's defaults."""
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    return env if glibc_defaults else env | unit_environment(PHOTO_UNIT, "GLIBC_TUNABLES")


def measure(data: bytes, repeat: int, rounds: int, glibc_defaults: bool) -> dict[str, dict]:
    """Each pipeline in fresh processes: `rounds` rounds, the pipelines taking turns so a
    passing load hits them alike, `repeat` runs each. In one process, a pipeline's frees
    would decide whether the next one's buffers come from the heap or fault in afresh
    (thousands of page faults, the figures then depending on their order)."""
    samples: dict[str, dict[str, list]] = {
        name: {"walls": [], "cpus": [], "faults": [], "rss": [], "traced": []} for name in PIPELINES
    }
    for _ in range(rounds):
        for name in PIPELINES:
            done = subprocess.run(
                [sys.executable, __file__, "--child", name, "--repeat", str(repeat)],
                input=data,
                capture_output=True,
                check=True,
                env=malloc_environment(glibc_defaults),
            )
            got = json.loads(done.stdout)
            for key in ("walls", "cpus", "faults"):
                samples[name][key] += got[key]
            samples[name]["rss"].append(got["rss_growth"])
            samples[name]["traced"].append(got["traced"])
    results = {}
    for name, run in PIPELINES.items():
        display, thumb = run(data)
        with Image.open(io.BytesIO(display)) as d, Image.open(io.BytesIO(thumb)) as t:
            sizes = f"{d.width}x{d.height} / {t.width}x{t.height}"
        got = samples[name]
        results[name] = {
            "median_ms": statistics.median(got["walls"]) * 1000,
            "min_ms": min(got["walls"]) * 1000,
            "cpu_ms": statistics.median(got["cpus"]) * 1000,
            "faults": statistics.median(got["faults"]),
            "rss_mib": statistics.median(got["rss"]),
            "traced_mib": statistics.median(got["traced"]),
            "sizes": sizes,
        }
    return results


PIPELINES = {"project": run_project, "naive": run_naive, "floor": run_floor}


def quality(display: bytes, reference: bytes) -> str:
    """How the project's display image compares with the naive one (full decode, LANCZOS):
    PSNR, and edge energy (mean of FIND_EDGES on grey) as a share of the reference's, so a
    faster but softer resize would show here."""
    with Image.open(io.BytesIO(display)) as a, Image.open(io.BytesIO(reference)) as b:
        a, b = a.convert("RGB"), b.convert("RGB")
        squared = ImageStat.Stat(ImageChops.difference(a, b).point(lambda v: v * v)).mean
        mse = sum(squared) / len(squared)
        psnr = 10 * math.log10(255**2 / mse) if mse else float("inf")

        def edges(im: Image.Image) -> float:
            return ImageStat.Stat(im.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0]

        return f"PSNR {psnr:.1f} dB, edge energy {edges(a) / edges(b):.0%} of the reference's"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--child", choices=PIPELINES, help=argparse.SUPPRESS)
    parser.add_argument("--no-faces", action="store_true", help="skip the face-blur figures")
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per pipeline")
    parser.add_argument(
        "--glibc-defaults",
        action="store_true",
        help="glibc's malloc defaults in the pipelines' processes, not the photo pool's",
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.repeat)
        return 0

    data = make_phone_jpeg()
    megapixels = WIDTH * HEIGHT / 1e6
    print(
        f"input: {WIDTH}x{HEIGHT} JPEG q90, EXIF orientation 6, {len(data) / 2**20:.2f} MiB "
        f"({len(data) * 8 / (WIDTH * HEIGHT):.1f} bits/pixel, {megapixels:.0f} Mpx)"
    )
    print(f"gps read back by ingest: {photos.ingest(data).gps}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"cpus ingest may use: {photos._WORKERS}; load average: {load}")
    print(
        f"{args.rounds} rounds of a fresh process per pipeline, {args.repeat} runs each"
        " after one unmeasured run; medians shown\n"
    )

    print(
        f"malloc: {malloc_environment(args.glibc_defaults).get('GLIBC_TUNABLES', 'glibc defaults')}"
    )
    results = measure(data, args.repeat, args.rounds, args.glibc_defaults)
    print(
        f"{'pipeline':<9} {'wall ms':>8} {'min ms':>8} {'CPU ms':>8} {'faults':>7} "
        f"{'peak RSS +MiB':>14} {'traced MiB':>11}  display / thumb"
    )
    for name, r in results.items():
        print(
            f"{name:<9} {r['median_ms']:>8.1f} {r['min_ms']:>8.1f} {r['cpu_ms']:>8.1f} "
            f"{r['faults']:>7.0f} {r['rss_mib']:>14.1f} {r['traced_mib']:>11.1f}  {r['sizes']}"
        )
    print(
        "faults: page faults per run (median); peak RSS +MiB: growth of the resident-set\n"
        "high-water mark over a process's first run (pixels live in Pillow's and libvips's\n"
        "C buffers); traced: Python allocations only."
    )

    project, naive = run_project(data), run_naive(data)
    print(f"display vs naive's (LANCZOS from full size): {quality(project[0], naive[0])}")
    print(f"thumbnail vs naive's:                        {quality(project[1], naive[1])}")
    print()
    for what, key in (("wall time", "median_ms"), ("CPU time", "cpu_ms")):
        speedup = results["naive"][key] / results["project"][key]
        over_floor = results["project"][key] / results["floor"][key]
        if key == "median_ms":
            print(
                f"wall time: naive / project = {speedup:.2f}x, project / floor = {over_floor:.2f}x"
            )
            continue
        verdict = "PASS" if speedup >= TARGET_SPEEDUP else "FAIL"
        print(f"{what}: naive / project = {speedup:.2f}x   target >= {TARGET_SPEEDUP}x   {verdict}")
        verdict = "PASS" if over_floor <= TARGET_OVER_FLOOR else "FAIL"
        print(
            f"{what}: project / floor = {over_floor:.2f}x   target <= {TARGET_OVER_FLOOR}x   "
            f"{verdict}"
        )
    if not args.no_faces:
        print()
        face_blur(max(3, args.repeat // 2))
    return 0


def _timed(function, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `repeat` calls (after one warm-up call)."""
    function()
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def face_blur(repeat: int) -> None:
    """The face blur's added cost per 12 MP photo, and the detector's recall and false
    positives on the labelled set."""
    scenes = faceset.labelled_set()
    out = io.BytesIO()
    scenes[0].image.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS).save(out, "JPEG", quality=90)
    data = out.getvalue()
    display = photos.ingest(data).display
    ingest_wall, ingest_cpu = _timed(lambda: photos.ingest(data), repeat)
    blur_wall, blur_cpu = _timed(lambda: public.blurred_copies(display, THUMB_EDGE), repeat)
    found = public.blurred_copies(display, THUMB_EDGE)
    print(f"face blur, per {WIDTH}x{HEIGHT} photo with 3 faces, median of {repeat}:")
    print(f"  {'':<34} {'wall ms':>8} {'CPU ms':>8}")
    print(
        f"  {'ingest (baseline, same run)':<34} {ingest_wall * 1000:>8.0f} {ingest_cpu * 1000:>8.0f}"
    )
    print(
        f"  {'+ detect and blur (off request)':<34} {blur_wall * 1000:>8.0f} {blur_cpu * 1000:>8.0f}"
    )
    print(
        f"  regions blurred: {found[2] if found else 0} (the photo has 3 faces);"
        " the upload's answer waits for none of it"
    )
    result = faceset.score(scenes, faces.detect)
    print(
        f"detector on the labelled set ({result['images']} photos, {result['faces']} real faces,"
        f" threshold {faces.THRESHOLD}):"
    )
    print(f"  recall {result['recall']:.1%} ({result['found']} of {result['faces']})")
    for kind, (hit, total) in result["by_kind"].items():
        print(f"    {kind:<6} {hit:>4} of {total:<4} {hit / total:.0%}")
    print(
        f"  false positives: {result['false_positives']} boxes with no face under them, in"
        f" {result['images_with_false_positive']} of {result['images']} photos;"
        f" {result['face_free_images_with_false_positive']} of the"
        f" {result['face_free_images']} photos without a face got a blurred patch"
        f" ({result['face_free_images_with_false_positive'] / result['face_free_images']:.0%})"
    )


if __name__ == "__main__":
    sys.exit(main())
