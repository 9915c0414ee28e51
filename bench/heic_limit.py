"""What a full-size 48-megapixel HEIC costs one core, taken or refused.

Run from the project root:

    .venv/bin/python bench/heic_limit.py [--heic FILE] [--repeat 2]

Without --heic it encodes a photo-like 8064x6048 HEIC once (a real photo enlarged, with fine
noise so that HEVC has detail to code; minutes of x265) and keeps it in
instance/bench-48mp.heic for the next run. Each figure runs pinned to one core (the target is
"under 2 s of one core"): libheif's decode alone, the photo pipeline with the limit as it was
(MAX_PHOTO_DECODE_BYTES 300 MB: taken), and with the configured default (refused from the
header, before any decoding). Wall time beside CPU time; the machine's load is printed, since
on a shared machine wall time waits for a core.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pillow_heif  # noqa: E402

from fieldwalk import config  # noqa: E402
from fieldwalk.photos import pipeline  # noqa: E402

CACHE = ROOT / "instance" / "bench-48mp.heic"
TARGET_SECONDS = 2.0


def make_heic() -> bytes:
    pillow_heif.register_heif_opener()
    source = Image.open(ROOT / "tests/data/photos/gps/DSCN0010.jpg").convert("RGB")
    big = source.resize((8064, 6048), Image.Resampling.BICUBIC)
    big = Image.blend(big, Image.effect_noise(big.size, 24).convert("RGB"), 0.15)
    out = io.BytesIO()
    big.save(out, "HEIF", quality=80)
    return out.getvalue()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(label: str, work, repeat: int) -> float:
    cpu_times, wall_times, outcome = [], [], ""
    for _ in range(repeat):
        cpu, wall = cpu_seconds(), time.perf_counter()
        try:
            work()
            outcome = "taken"
        except pipeline.PhotoError as refused:
            outcome = f"refused: {refused.code} {refused.status}"
        cpu_times.append(cpu_seconds() - cpu)
        wall_times.append(time.perf_counter() - wall)
    best_cpu = min(cpu_times)
    print(f"{label:<44} cpu {best_cpu:6.3f} s   wall {min(wall_times):6.3f} s   {outcome}")
    return best_cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heic", type=Path, help="a HEIC file to use instead")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the least shown")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    if args.heic:
        data = args.heic.read_bytes()
    elif CACHE.is_file():
        data = CACHE.read_bytes()
    else:
        print(f"encoding a 48-megapixel HEIC into {CACHE} (once) ...", flush=True)
        data = make_heic()
        CACHE.parent.mkdir(exist_ok=True)
        CACHE.write_bytes(data)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"input: {len(data) / 2**20:.1f} MiB HEIC; one core; load average: {load}")
    pillow_heif.register_heif_opener()

    def decode_only():
        pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True).data  # noqa: B018

    run("libheif decode alone (baseline)", decode_only, args.repeat)
    before = run(
        "ingest, limit 300 MB (before)",
        lambda: pipeline.ingest(data, max_decode_bytes=300_000_000),
        args.repeat,
    )
    limit = config.MAX_PHOTO_DECODE_BYTES
    after = run(
        f"ingest, limit {limit // 10**6} MB (configured)",
        lambda: pipeline.ingest(data, max_decode_bytes=limit),
        args.repeat,
    )
    for name, seconds in (("before", before), ("configured", after)):
        verdict = "PASS" if seconds < TARGET_SECONDS else "FAIL"
        print(f"{name}: {seconds:.3f} s of one core   target < {TARGET_SECONDS} s   {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
