"""How long `make run`'s demo district takes to load on a fresh instance.

Run from the project root:

    .venv/bin/python bench/demo.py

Each run makes a fresh instance folder and runs, in a subprocess as `make run` does,
`flask --app app init-db` (the floor: starting the app and creating the schema) and then
`flask --app app seed-demo` (the demo district: users, places, walks, observations with
painted photos, parties, zones and routed fixes). Wall and CPU time (user + system of the
subprocess) are printed for both, median of three runs. Target: the demo loads in under 10 s
of wall time on this 2-core machine. It reports, it is not a test: the test suite checks what
the demo holds (tests/test_demo.py), never how long it takes.
"""

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLASK = [sys.executable, "-m", "flask", "--app", "app"]
RUNS = 3
TARGET_SECONDS = 10.0


def timed(args: list[str], env: dict) -> tuple[float, float]:
    """Run a command; return its wall time and the CPU time it used (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    floors, demos = [], []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as folder:
            env = {**os.environ, "FIELDWALK_INSTANCE": folder, "FIELDWALK_DEMO": "true"}
            floors.append(timed([*FLASK, "init-db"], env))
            demos.append(timed([*FLASK, "seed-demo"], env))
    for name, runs in (("init-db (floor)", floors), ("seed-demo", demos)):
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{name:16} wall {wall:6.2f} s   cpu {cpu:6.2f} s   (median of {RUNS})")
    wall = statistics.median(w for w, _ in demos)
    verdict = "PASS" if wall < TARGET_SECONDS else "FAIL"
    print(f"demo loads in {wall:.2f} s (target under {TARGET_SECONDS:.0f} s): {verdict}")


if __name__ == "__main__":
    main()
