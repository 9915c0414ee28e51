"""Plain sqlite3 connections to a database file, for health checks, backups and restores."""

import sqlite3
from pathlib import Path


def open_sqlite(path: Path, mode: str = "ro", timeout: float = 5) -> sqlite3.Connection:
    # A URI with a mode never creates a missing file.
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=timeout)
