"""When each phone's device key was last used: the key is forgotten a year after that."""

from sqlite_utils import Database

from fieldwalk.db import transaction


def touch_device(db: Database, key_hash: str, at: str) -> None:
    """Record that the phone with this key was used now (call at most once a day per phone)."""
    with transaction(db):
        db.execute(
            """INSERT INTO devices (key_hash, last_seen_at) VALUES (?, ?)
               ON CONFLICT (key_hash) DO UPDATE SET last_seen_at = excluded.last_seen_at""",
            [key_hash, at],
        )


def device_last_seen(db: Database) -> dict[str, str]:
    """Every recorded phone's last use, by key hash."""
    return {r[0]: r[1] for r in db.execute("SELECT key_hash, last_seen_at FROM devices")}


def forget_devices(db: Database, key_hashes: list[str]) -> None:
    """Drop these phones' last uses (inside the purge's write)."""
    for start in range(0, len(key_hashes), 500):
        chunk = key_hashes[start : start + 500]
        db.execute(
            f"DELETE FROM devices WHERE key_hash IN ({','.join('?' * len(chunk))})",  # noqa: S608
            chunk,
        )
