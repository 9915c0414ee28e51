"""The SQLite connection: opened per request on `g`, closed on teardown.

Every connection gets the same pragmas (`prepare_connection`). Writes go through
`transaction(db)`, which takes the write lock up front with BEGIN IMMEDIATE: a deferred
transaction that reads and then writes fails with "database is locked" when another worker
committed in between, whatever the busy timeout.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from flask import Flask, current_app, g
from flask.cli import with_appcontext
from sqlite_utils import Database

from fieldwalk.migrations import migrations

BUSY_TIMEOUT_MS = 10_000


def prepare_connection(conn: sqlite3.Connection) -> None:
    """Set the pragmas every fieldwalk connection needs."""
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # FULL: once a phone has been told "stored", a power cut must not undo it.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")


def connect(path: str | Path) -> Database:
    """Open the database at `path` in autocommit mode; transactions are explicit."""
    conn = sqlite3.connect(
        str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
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
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    db.execute("COMMIT")


def get_db() -> Database:
    """The request's connection, opened on first use."""
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE_PATH"])
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    """Close the request's connection, if one was opened."""
    db = g.pop("db", None)
    if db is not None:
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
