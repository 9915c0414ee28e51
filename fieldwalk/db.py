"""The SQLite connection: each thread of a worker keeps one, lent to a request on `g`.

Opening a connection costs more than most requests: SQLite parses the whole schema (the
running totals' triggers are most of it) on a connection's first statement, about 2 ms, and
closing it another 0,4 ms; an observation PUT is 4 ms in all. So a thread keeps its
connection from request to request (`get_db`), and a request's end (`close_db`) leaves it as
a fresh one would be: every cursor the request left unread is closed (an unfinished SELECT
holds its snapshot, and the next request would read the past), and a transaction left open
is rolled back. A connection is opened again in a forked child (SQLite connections do not
cross a fork), for another database path, and when the file at the path is another file (a
restore puts a new file in place).

Every connection gets the same pragmas (`prepare_connection`). Writes go through
`transaction(db)`, which takes the write lock up front with BEGIN IMMEDIATE: a deferred
transaction that reads and then writes fails with "database is locked" when another worker
committed in between, whatever the busy timeout.
"""

import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from flask import Flask, current_app, g
from flask.cli import with_appcontext
from sqlite_utils import Database

from fieldwalk.migrations import migrations

BUSY_TIMEOUT_MS = 10_000
# Writers take turns at the write lock in order, woken the moment it is free, instead of in
# SQLite's busy handler, which sleeps 1, 2, 5 ... up to 100 ms between tries whatever the
# lock does meanwhile. The threads of one process wait here; the processes (every worker of
# every pool) wait at an flock on a file beside the database (`_writers_lock`). Under the
# busy handler the photo pool's 32 threads kept a sync worker of the main pool from the lock
# for seconds, and 300 phones' observations sent at once waited up to 2,5 s for a worker
# whose every write slept in the handler (bench/load.py --burst).
WRITING = threading.Lock()
# The suffix of that file (SQLite's own are -wal and -shm).
WRITERS_SUFFIX = "-writers"
_writers_files: dict[tuple[int, str], int | None] = {}


def prepare_connection(conn: sqlite3.Connection, durable: bool = True) -> None:
    """Set the pragmas every fieldwalk connection needs."""
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _write_ahead(conn)
    # FULL: once a phone has been told "stored", a power cut must not undo it. NORMAL, for
    # what may lose its last moments to a power cut (counters), does not wait for the disk
    # at each commit; in WAL mode it never corrupts the file.
    conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys = ON")
    # What is deleted or written over (an erased text, a purged name) is overwritten with
    # zeros in the file, not left in free space for anyone holding the file or a backup to
    # read. Debian's SQLite is built with it on; not every build is.
    conn.execute("PRAGMA secure_delete = ON")


class Connection(sqlite3.Connection):
    """A connection that knows its cursors still alive, so they can be closed together."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cursors: weakref.WeakSet[sqlite3.Cursor] = weakref.WeakSet()
        self.writers_path: str | None = None  # the file writers take turns at (connect)

    def cursor(self, *args, **kwargs) -> sqlite3.Cursor:
        cursor = super().cursor(*args, **kwargs)
        self.cursors.add(cursor)
        return cursor

    def execute(self, sql: str, parameters=(), /) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters, /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, parameters)

    def close_cursors(self) -> None:
        """Close every cursor still alive: their statements end and release the snapshot."""
        for cursor in list(self.cursors):
            cursor.close()


def _write_ahead(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode, which it keeps once set. The first connections to a new file
    race to set it, and the switch takes a lock SQLite's busy handler does not wait for
    ("database is locked" at once): a connection that loses tries again until the busy
    timeout, as for any other lock."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.002)


def connect(path: str | Path, durable: bool = True) -> Database:
    """Open the database at `path` in autocommit mode; transactions are explicit. Not
    `durable`: commits need not survive a power cut (synchronous=NORMAL)."""
    conn = sqlite3.connect(
        str(path),
        isolation_level=None,
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,
        factory=Connection,
    )
    conn.row_factory = sqlite3.Row
    conn.writers_path = None if str(path) == ":memory:" else f"{path}{WRITERS_SUFFIX}"
    prepare_connection(conn, durable)
    return Database(conn, execute_plugins=False)


def empty_write_ahead_log(db: Database, wait_ms: int = 2000) -> bool:
    """Copy the write-ahead log into the file and truncate it to nothing, so the pages as they
    were before (a text before its erasure) are not kept in it; whether that was done. It
    waits for readers on an older snapshot (a long export) at most `wait_ms`, new writers
    waiting meanwhile, then gives up: the next call will do it."""
    db.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
    try:
        busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    finally:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return not busy


@contextmanager
def _writers_lock(path: str | None) -> Iterator[None]:
    """This process's turn at writing to the database: an exclusive flock on the file at
    `path` (opened once per process; a forked child opens its own, as a lock is shared by
    every copy of an inherited descriptor). Where the file cannot be made (a read-only
    folder), SQLite's busy handler alone."""
    key = (os.getpid(), path)
    if path is not None and key not in _writers_files:
        try:
            _writers_files[key] = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError:
            _writers_files[key] = None
    descriptor = _writers_files.get(key)
    if descriptor is None:
        yield
        return
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)


@contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """Run a block as one write transaction (BEGIN IMMEDIATE), or a savepoint when nested."""
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    with WRITING, _writers_lock(getattr(db.conn, "writers_path", None)):
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.rollback()
            raise
        db.execute("COMMIT")


_kept = threading.local()


def _file_id(path: str | Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def kept_connection(
    path: str | Path, slot: str = "app", durable: bool = True, schema: str = ""
) -> Database:
    """This thread's connection in `slot` ("app": the app's database, lent to requests by
    `get_db`; "counters": the rate limits' own), to `path`, opened when the one it has is not
    still right; `schema` is run on each connection opened. One per slot: a thread that serves
    another instance (tests do) closes the one it had."""
    kept = _kept.__dict__.setdefault("slots", {})
    held = kept.get(slot)
    if held is not None:
        (pid, held_path, file_id), db = held
        if pid == os.getpid() and held_path == str(path) and file_id == _file_id(path):
            return db
        del kept[slot]
        if pid == os.getpid():
            db.close()
    db = connect(path, durable)
    if schema:
        db.conn.executescript(schema)
    kept[slot] = ((os.getpid(), str(path), _file_id(path)), db)
    return db


def get_db() -> Database:
    """The request's connection: this thread's, lent for the request."""
    if "db" not in g:
        g.db = kept_connection(current_app.config["DATABASE_PATH"])
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    """End the request's use of the connection: its cursors closed, no transaction left."""
    db = g.pop("db", None)
    if db is None:
        return
    try:
        db.conn.close_cursors()
        if db.conn.in_transaction:
            db.conn.rollback()
    except sqlite3.Error:
        # Closed or broken (a request may close it): the thread opens another next time.
        _kept.__dict__.get("slots", {}).pop("app", None)
        db.close()


def migrate(db: Database) -> list[str]:
    """Apply pending migrations in one write transaction; return the names applied."""
    with transaction(db):
        pending = [m.name for m in migrations.pending(db)]
        migrations.apply(db)
    return pending


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Apply pending migrations (safe to re-run).

    Example: flask --app app init-db
    """
    db = connect(current_app.config["DATABASE_PATH"])
    try:
        applied = migrate(db)
    finally:
        db.close()
    click.echo(f"Applied {len(applied)} migration(s)." if applied else "Database is up to date.")


def init_app(app: Flask) -> None:
    """Wire the connection's life and the `init-db` command into the app."""
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
