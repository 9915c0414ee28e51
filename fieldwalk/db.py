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

import os
import sqlite3
import threading
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
# The threads of one process take turns at the write lock here, in order, instead of in
# SQLite's busy handler, which sleeps up to 100 ms between tries: with the photo pool's 32
# threads all retrying, a sync worker of the main pool lost the lock to them for seconds.
WRITING = threading.Lock()


def prepare_connection(conn: sqlite3.Connection) -> None:
    """Set the pragmas every fieldwalk connection needs."""
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # FULL: once a phone has been told "stored", a power cut must not undo it.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")


class Connection(sqlite3.Connection):
    """A connection that knows its cursors still alive, so they can be closed together."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cursors: weakref.WeakSet[sqlite3.Cursor] = weakref.WeakSet()

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


def connect(path: str | Path) -> Database:
    """Open the database at `path` in autocommit mode; transactions are explicit."""
    conn = sqlite3.connect(
        str(path),
        isolation_level=None,
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,
        factory=Connection,
    )
    conn.row_factory = sqlite3.Row
    prepare_connection(conn)
    return Database(conn, execute_plugins=False)


@contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """Run a block as one write transaction (BEGIN IMMEDIATE), or a savepoint when nested."""
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    with WRITING:
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


def _kept_connection(path: str | Path) -> Database:
    """This thread's connection to `path`, opened when it has none that is still right."""
    held = getattr(_kept, "held", None)
    if held is not None:
        (pid, held_path, file_id), db = held
        if pid == os.getpid() and held_path == str(path) and file_id == _file_id(path):
            return db
        _kept.held = None
        if pid == os.getpid():
            db.close()
    db = connect(path)
    _kept.held = ((os.getpid(), str(path), _file_id(path)), db)
    return db


def get_db() -> Database:
    """The request's connection: this thread's, lent for the request."""
    if "db" not in g:
        g.db = _kept_connection(current_app.config["DATABASE_PATH"])
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
        _kept.held = None
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
