"""The schema and the connection: migrations, pragmas, and how write transactions lock."""

import re
import sqlite3

import pytest

from fieldwalk import create_app
from fieldwalk.db import connect, migrate, prepare_connection, transaction

TABLES = {
    "users": {"id", "email", "role", "password_hash", "session_epoch", "locked_at", "created_at"},
    "api_tokens": {"id", "user_id", "token_hash", "label", "created_at", "revoked_at"},
    "login_failures": {"id", "key", "at"},
    "places": {"id", "slug", "name", "geometry", "min_lat", "max_lon", "center_lat"},
    "walks": {"id", "place_id", "title", "starts_at", "route", "state", "invite_token"},
    "walk_participants": {"id", "walk_id", "user_id", "device_key_hash", "joined_at"},
    "observations": {
        "id",
        "walk_id",
        "place_id",
        "participant_id",
        "device_key_hash",
        "category",
        "feeling",
        "urgent",
        "works_well",
        "lat",
        "lon",
        "photo_ids",
        "body_hash",
        "created_at",
        "updated_at",
    },
    "photos": {"id", "observation_id", "sha256", "file", "thumb_file", "gps_lat", "taken_at"},
    "audit_log": {"id", "at", "user_id", "participant_id", "action", "entity", "entity_id"},
}


@pytest.fixture
def fresh(tmp_path):
    """A connection to an empty database file, nothing applied yet."""
    db = connect(tmp_path / "fresh.db")
    yield db
    db.close()


def schema(db) -> list[tuple]:
    return db.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()


def columns(db, table: str) -> set[str]:
    return {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}


def test_migrations_create_every_table_with_its_key_columns(fresh):
    applied = migrate(fresh)
    # Later migrations may follow; the first four build these tables, in this order.
    assert applied[:4] == [
        "m001_users",
        "m002_places_and_walks",
        "m003_observations_and_photos",
        "m004_audit_log",
    ]
    tables = {r[0] for r in fresh.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(TABLES) <= tables
    for table, expected in TABLES.items():
        assert expected <= columns(fresh, table), table


def test_foreign_keys_point_where_the_names_say(fresh):
    migrate(fresh)

    def targets(table):
        return {(r["from"], r["table"]) for r in fresh.execute(f"PRAGMA foreign_key_list({table})")}

    assert ("user_id", "users") in targets("api_tokens")
    assert ("place_id", "places") in targets("walks")
    assert ("walk_id", "walks") in targets("walk_participants")
    assert {("walk_id", "walks"), ("participant_id", "walk_participants")} <= targets(
        "observations"
    )
    assert ("observation_id", "observations") in targets("photos")


def test_foreign_keys_are_enforced(fresh):
    migrate(fresh)
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        fresh.execute(
            "INSERT INTO walk_participants (walk_id, joined_at) VALUES (999, '2026-01-01')"
        )


def test_connection_pragmas_wal_full_sync_foreign_keys_busy_timeout(fresh):
    assert fresh.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert fresh.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert fresh.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert fresh.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_a_connection_zeroes_what_it_deletes_whatever_the_build_says():
    conn = sqlite3.connect(":memory:")
    conn.execute("PRAGMA secure_delete = OFF")  # as a build without SQLITE_SECURE_DELETE
    prepare_connection(conn)
    assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_running_migrate_again_changes_nothing(fresh):
    migrate(fresh)
    before = schema(fresh)
    assert migrate(fresh) == []
    assert schema(fresh) == before


def test_init_db_applies_then_reports_up_to_date(tmp_path):
    app = create_app({"TESTING": True, "INSTANCE": str(tmp_path), "AUTO_MIGRATE": False})
    runner = app.test_cli_runner()
    first = runner.invoke(args=["init-db"])
    assert first.exit_code == 0, first.output
    assert re.search(r"Applied [1-9]\d* migration\(s\)\.", first.output)
    second = runner.invoke(args=["init-db"])
    assert second.exit_code == 0, second.output
    assert "up to date" in second.output


def test_the_app_migrates_on_start_so_init_db_finds_nothing_to_do(runner):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "Database is up to date." in result.output


def test_transaction_takes_the_write_lock_up_front(tmp_path, fresh):
    """BEGIN IMMEDIATE: even before the block writes, no other writer can start."""
    migrate(fresh)
    other = sqlite3.connect(tmp_path / "fresh.db", timeout=0.05, isolation_level=None)
    try:
        # Nothing is written inside: a deferred BEGIN would hold no lock at this point.
        with (
            transaction(fresh),
            pytest.raises(sqlite3.OperationalError, match="database is locked"),
        ):
            other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again once the block has committed
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_transaction_commits_a_block_that_ends_normally(tmp_path, fresh):
    migrate(fresh)
    with transaction(fresh):
        fresh.execute("INSERT INTO login_failures (key, at) VALUES ('k', 1)")
    other = sqlite3.connect(tmp_path / "fresh.db")
    try:
        assert other.execute("SELECT count(*) FROM login_failures").fetchone()[0] == 1
    finally:
        other.close()


def test_transaction_rolls_back_when_the_block_raises(fresh):
    migrate(fresh)
    with pytest.raises(RuntimeError), transaction(fresh):
        fresh.execute("INSERT INTO login_failures (key, at) VALUES ('k', 1)")
        raise RuntimeError("boom")
    assert not fresh.conn.in_transaction
    assert fresh.execute("SELECT count(*) FROM login_failures").fetchone()[0] == 0


def test_nested_transaction_rolls_back_only_the_inner_block(fresh):
    migrate(fresh)
    with transaction(fresh):
        fresh.execute("INSERT INTO login_failures (key, at) VALUES ('outer', 1)")
        with pytest.raises(RuntimeError), transaction(fresh):
            fresh.execute("INSERT INTO login_failures (key, at) VALUES ('inner', 1)")
            raise RuntimeError("boom")
    keys = [r[0] for r in fresh.execute("SELECT key FROM login_failures")]
    assert keys == ["outer"]
