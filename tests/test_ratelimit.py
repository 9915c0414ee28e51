"""Fixed-window rate limits kept in SQLite: per key, per window, shared by every worker."""

import pytest
from conftest import EnglishClient

from fieldwalk import create_app
from fieldwalk.db import connect
from fieldwalk.ratelimit import SCHEMA, enforce_all, hit, rate_limit

START = 1_000_020.0  # some moment inside a 60-second window (window starts at 1_000_020)


def open_counters(app):
    """A connection of its own to the app's counters' database, as a worker opens one."""
    db = connect(app.config["RATE_LIMIT_DATABASE_PATH"], durable=False)
    db.conn.executescript(SCHEMA)
    return db


@pytest.fixture
def counters(app):
    db = open_counters(app)
    yield db
    db.close()


def test_hit_counts_per_key_within_the_limit(counters):
    db = counters
    assert [hit(db, "a", 3, 60, at=START + i) for i in range(4)] == [True, True, True, False]
    assert hit(db, "b", 3, 60, at=START + 5)  # another key has its own count


def test_hit_resets_in_the_next_window(counters):
    db = counters
    for i in range(4):
        hit(db, "a", 3, 60, at=START + i)
    assert not hit(db, "a", 3, 60, at=START + 59)
    assert hit(db, "a", 3, 60, at=START + 60)


def test_finished_windows_are_pruned_when_a_new_one_starts(counters):
    db = counters
    hit(db, "old", 3, 60, at=START)
    hit(db, "new", 3, 60, at=START + 600)
    keys = [r[0] for r in db.execute("SELECT key FROM rate_limits")]
    assert keys == ["new"]


def test_hit_holds_across_two_connections_to_the_same_database(app):
    first, second = open_counters(app), open_counters(app)
    try:
        assert hit(first, "shared", 3, 60, at=START)
        assert hit(second, "shared", 3, 60, at=START + 1)
        assert hit(first, "shared", 3, 60, at=START + 2)
        assert not hit(second, "shared", 3, 60, at=START + 3)
    finally:
        first.close()
        second.close()


def _limited_app(instance: str):
    app = create_app({"TESTING": True, "INSTANCE": instance, "TRY_LIMIT": 3, "TRY_WINDOW": 3600})

    @app.get("/try")
    @rate_limit("try", "TRY_LIMIT", "TRY_WINDOW")
    def try_it():
        return "ok"

    app.test_client_class = EnglishClient  # the assertion below reads the English message
    return app


def test_route_limit_holds_across_two_app_instances_like_gunicorn_workers(tmp_path):
    instance = str(tmp_path / "instance")
    worker_a, worker_b = _limited_app(instance), _limited_app(instance)
    a, b = worker_a.test_client(), worker_b.test_client()
    assert [a.get("/try").status_code, b.get("/try").status_code] == [200, 200]
    assert a.get("/try").status_code == 200
    refused = b.get("/try")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert "Too many requests. Please wait a moment and try again." in refused.get_data(
        as_text=True
    )
    other_address = a.get("/try", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other_address.status_code == 200


def test_json_clients_get_429_as_json_with_retry_after(tmp_path):
    app = _limited_app(str(tmp_path / "instance"))
    client = app.test_client()
    for _ in range(3):
        client.get("/try", headers={"Accept": "application/json"})
    response = client.get("/try", headers={"Accept": "application/json"})
    assert response.status_code == 429
    assert response.get_json()["error"] == 429
    assert response.headers["Retry-After"]


def test_counting_never_waits_for_the_apps_write_lock(app):
    """The counters have a file of their own: while another worker holds the app database's
    write lock (a long import, say), a resident's write is still counted at once, and the app
    database has no counters in it."""
    holder = connect(app.config["DATABASE_PATH"])
    holder.execute("BEGIN IMMEDIATE")
    try:
        with app.test_request_context():
            enforce_all([("write-addr:10.0.0.1", 3, 60)], "write")
            enforce_all([("write-addr:10.0.0.1", 3, 60)], "write")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    db = open_counters(app)
    try:
        assert [tuple(r) for r in db.execute("SELECT key, count FROM rate_limits")] == [
            ("write-addr:10.0.0.1", 2)
        ]
    finally:
        db.close()
    app_db = connect(app.config["DATABASE_PATH"])
    try:
        assert not app_db["rate_limits"].exists()
    finally:
        app_db.close()
