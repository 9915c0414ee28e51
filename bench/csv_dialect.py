"""Time the CSV writer in the Swedish dialect (semicolons, decimal commas) against the comma
dialect it adds to, on rows shaped like the dashboard's observation export.

Run from the project root:

    .venv/bin/python bench/csv_dialect.py [--rows 100000] [--repeat 5]

The comma dialect is the baseline, measured in the same run: it hands each batch to the csv
module as it is; the Swedish one first rewrites every float's decimal point. Both are timed
`--repeat` times, taking turns, and the medians of wall and CPU time are printed with the
ratio. It always exits 0: it reports figures, it is not a test.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fieldwalk.spreadsheet import COMMA, SWEDISH, csv_chunks  # noqa: E402

HEADER = [f"c{i}" for i in range(19)]


def rows(count: int) -> list[list[tuple]]:
    """Observation-like rows (ids, times, texts, three floats, ints) in batches of 1000."""
    row = (
        "0f8fad5b-d9cb-469f-a165-70867728950e", "2026-11-28T17:45:00Z", "device",
        "2026-11-28T17:46:00Z", 3, "Råcksta", 12, "Kvällsvandring", "lighting", "Belysning",
        0, 1, 3, "Trasig lampa vid gångvägen", 59.355123, 17.882345, 8.5, "device", "1 2",
    )  # fmt: skip
    return [[row] * 1000 for _ in range(count // 1000)]


def run(batches, dialect) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    size = sum(len(chunk) for chunk in csv_chunks(HEADER, batches, dialect))
    return time.perf_counter() - wall, time.process_time() - cpu, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f}")
    batches = rows(args.rows)
    results = {"comma (baseline)": [], "swedish": []}
    run(batches, COMMA)  # warm-up
    for _ in range(args.repeat):
        results["comma (baseline)"].append(run(batches, COMMA))
        results["swedish"].append(run(batches, SWEDISH))
    medians = {}
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        medians[name] = wall
        rate = args.rows / wall
        print(f"{name:18} wall {wall * 1000:7.1f} ms  cpu {cpu * 1000:7.1f} ms  {rate:,.0f} rows/s")
    ratio = medians["swedish"] / medians["comma (baseline)"]
    print(f"swedish / comma: {ratio:.2f}x")


if __name__ == "__main__":
    main()
