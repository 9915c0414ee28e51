"""What the deployment's systemd units (docs/systemd) say, read for the benchmarks, so that
each one runs a pool as deployed."""

from __future__ import annotations

import re
from pathlib import Path

UNITS = Path(__file__).resolve().parent.parent / "docs" / "systemd"


def unit_workers(unit: str) -> int:
    """The `--workers` a systemd unit in docs/systemd gives gunicorn: the deployed layout."""
    return int(re.search(r"--workers (\d+)", (UNITS / unit).read_text()).group(1))


def unit_nice(unit: str) -> int:
    """The `Nice=` a systemd unit in docs/systemd runs its service with (0 when none)."""
    found = re.search(r"^Nice=(-?\d+)", (UNITS / unit).read_text(), re.M)
    return int(found.group(1)) if found else 0


def unit_worker_options(unit: str) -> str:
    """The worker class and threads a systemd unit in docs/systemd gives gunicorn, if any."""
    command = (UNITS / unit).read_text().replace("\\\n", " ")
    found = re.findall(r"--(?:worker-class|threads) \S+", command)
    return " ".join(found)


def unit_environment(unit: str, *names: str) -> dict[str, str]:
    """The `Environment=` values a systemd unit in docs/systemd sets, of the names given."""
    found = re.findall(r"^Environment=(\w+)=(.*)$", (UNITS / unit).read_text(), re.M)
    return {name: value for name, value in found if name in names}
