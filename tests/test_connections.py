"""Each thread keeps its SQLite connection from request to request (fieldwalk/db.py), and a
request always starts as on a fresh connection: today's rows, no transaction, the right file."""

import os
import shutil
import sqlite3
import threading
import time

import pytest
from conftest import make_place

from fieldwalk import create_app
from fieldwalk.db import connect, get_db, transaction

LEFT_OPEN = []  # cursors a route keeps alive past its request, as a leak would


@pytest.fixture
def routes(app):
    """Routes that read the database the way a careless view might."""

    @app.get("/_test/connection")
    def connection_id():
        return str(id(get_db().conn))

    @app.get("/_test/count")
    def count():
        return str(get_db().execute("SELECT count(*) FROM places").fetchone()[0])

    @app.get("/_test/read-one")
    def read_one():
        cursor = get_db().execute("SELECT id FROM places")
        cursor.fetchone()  # the rest left unread, the cursor kept: its snapshot stays open
        LEFT_OPEN.append(cursor)
        return "read"

    @app.get("/_test/fail-in-transaction")
    def fail_in_transaction():
        db = get_db()
        db.execute("BEGIN IMMEDIATE")
        make_place(db, "half", "Halvt sparad")
        raise RuntimeError("a bug mid-write")

    yield app
    LEFT_OPEN.clear()


def _add_place(db, slug: str) -> None:
    make_place(db, slug, slug.title())


def test_a_thread_keeps_its_connection_between_requests(routes, client):
    first = client.get("/_test/connection").get_data(as_text=True)
    assert client.get("/_test/connection").get_data(as_text=True) == first


def test_a_cursor_left_unread_does_not_hold_the_next_request_in_the_past(routes, client, db):
    _add_place(db, "forsta")
    _add_place(db, "andra")
    assert client.get("/_test/read-one").status_code == 200
    assert LEFT_OPEN, "the route kept its cursor"
    _add_place(db, "tredje")  # written by another connection after that request
    assert client.get("/_test/count").get_data(as_text=True) == "3"


def test_a_request_that_fails_mid_transaction_leaves_nothing_and_the_next_can_write(
    routes, client, db
):
    routes.config["PROPAGATE_EXCEPTIONS"] = False
    assert client.get("/_test/fail-in-transaction").status_code == 500
    assert db.execute("SELECT count(*) FROM places WHERE slug = 'half'").fetchone()[0] == 0
    _add_place(db, "efter")  # the write lock was let go
    assert client.get("/_test/count").get_data(as_text=True) == "1"


def test_a_database_file_put_in_place_is_read_at_the_next_request(routes, client, db, tmp_path):
    assert client.get("/_test/count").get_data(as_text=True) == "0"
    path = routes.config["DATABASE_PATH"]
    copy = tmp_path / "restored.db"
    shutil.copy(path, copy)
    restored = connect(copy)
    _add_place(restored, "aterstalld")
    restored.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    restored.close()
    for suffix in ("-wal", "-shm"):
        if os.path.exists(f"{copy}{suffix}"):
            os.remove(f"{copy}{suffix}")
    os.replace(copy, path)  # as `flask restore` does
    assert client.get("/_test/count").get_data(as_text=True) == "1"


def test_another_database_path_gets_its_own_connection(routes, client, tmp_path):
    other = create_app({"TESTING": True, "INSTANCE": str(tmp_path / "other")})
    with other.app_context():
        other_db = get_db()
        _add_place(other_db, "annan")
        assert other_db.execute("SELECT count(*) FROM places").fetchone()[0] == 1
    assert client.get("/_test/count").get_data(as_text=True) == "0"


def test_a_forked_child_opens_its_own_connection(routes):
    with routes.app_context():
        parent = get_db()
        parent_id = id(parent.conn)
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: a gunicorn worker forked from an app that had connected
            try:
                with routes.app_context():
                    child = get_db()
                    fresh = child is not parent and id(child.conn) != parent_id
                    child.execute("SELECT count(*) FROM places").fetchone()
                os.write(writer, b"fresh" if fresh else b"inherited")
            except sqlite3.Error as error:
                os.write(writer, str(error).encode())
            finally:
                os._exit(0)
        os.close(writer)
        answer = os.read(reader, 100)
        os.waitpid(pid, 0)
        os.close(reader)
    assert answer == b"fresh"


def test_writers_of_one_process_take_turns_instead_of_retrying_in_sqlite(app, db):
    """A second thread's write waits for the first at the process's lock, in order, and never
    reaches SQLite's busy handler (a 0 ms busy timeout would fail it with 'locked')."""
    path = app.config["DATABASE_PATH"]
    first, second = connect(path), connect(path)
    second.execute("PRAGMA busy_timeout = 0")
    inside, order = threading.Event(), []

    def slow_writer():
        with transaction(first):
            make_place(first, "forsta", "Första")
            inside.set()
            time.sleep(0.3)
            order.append("first")

    thread = threading.Thread(target=slow_writer)
    thread.start()
    inside.wait(5)
    with transaction(second):  # waits at WRITING while the first holds SQLite's write lock
        make_place(second, "andra", "Andra")
        order.append("second")
    thread.join()
    assert order == ["first", "second"]
    assert db.execute("SELECT count(*) FROM places").fetchone()[0] == 2
    first.close()
    second.close()


def test_writers_of_two_processes_take_turns_instead_of_retrying_in_sqlite(app, db):
    """Two gunicorn workers: the second waits at the flock beside the database until the
    first commits, never in SQLite's busy handler (at 0 ms it would fail with 'locked').
    The child was forked after the parent had written, as a worker is from a master that
    migrated: it takes turns at a lock of its own, not at the parent's inherited one."""
    path = app.config["DATABASE_PATH"]
    first = connect(path)
    with transaction(first):  # the lock file is opened in this process before the fork
        make_place(first, "forsta", "Första")
    go, go_writer = os.pipe()
    answer, answer_writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: another worker
        try:
            os.read(go, 1)  # the parent holds the write lock now
            second = connect(path)
            second.execute("PRAGMA busy_timeout = 0")
            with transaction(second):
                make_place(second, "andra", "Andra")
            os.write(answer_writer, b"stored")
        except sqlite3.Error as error:
            os.write(answer_writer, str(error).encode())
        finally:
            os._exit(0)
    with transaction(first):
        make_place(first, "tredje", "Tredje")
        os.write(go_writer, b"x")
        time.sleep(0.3)  # the child tries meanwhile
    os.waitpid(pid, 0)
    result = os.read(answer, 100)
    for descriptor in (go, go_writer, answer, answer_writer):
        os.close(descriptor)
    first.close()
    assert result == b"stored"
    assert db.execute("SELECT count(*) FROM places").fetchone()[0] == 3


def test_the_first_connections_to_a_new_file_all_open_it(tmp_path):
    """Sixteen threads open a new database file at once, 300 times: switching it to WAL
    takes a lock SQLite's busy handler does not wait for, so without trying again some of
    them got "database is locked" (the rate limits' own file, on a server's first requests)."""
    failures = []
    for round_ in range(300):
        path = tmp_path / f"new-{round_}.db"
        start = threading.Barrier(16)

        def open_it(path=path, start=start) -> None:
            start.wait()
            try:
                db = connect(path, durable=False)
            except sqlite3.OperationalError as error:
                failures.append(str(error))
                return
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            db.conn.close()

        threads = [threading.Thread(target=open_it) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
