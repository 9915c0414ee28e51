"""The secret key in backups: kept with the backup, put back by a restore.

The key signs every link emailed to a party, and sessions and CSRF tokens: without it a
restored instance answers 404 to every emailed link. The backup keeps it in a file of mode
0600 (inside a folder of mode 0700, or an archive of mode 0600): as protected as the
backup's password hashes.
"""

import os
from pathlib import Path

SECRET_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)


def write_secret(path: Path, secret_key: str) -> None:
    """Write a secret key as a new file only its owner can read, synced to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret_key + "\n")
        f.flush()
        os.fsync(f.fileno())


def restore_secret(staged: Path, instance: Path) -> str:
    """Make the backup's secret key the instance's; return what happened: "restored",
    "same" (it was there already) or "missing" (the backup has none)."""
    if not staged.is_file():
        return "missing"
    key = staged.read_text().strip()
    target = instance / SECRET_FILE
    if target.is_file() and target.read_text().strip() == key:
        return "same"
    temp = instance / f".{SECRET_FILE}.restore"
    temp.unlink(missing_ok=True)
    write_secret(temp, key)
    os.replace(temp, target)
    return "restored"


def key_report(
    outcome: str, key_from_file: bool, configured_key: str, instance_key: Path
) -> tuple[bool, str]:
    """(is it a warning, what to tell the person restoring) about the links emailed before."""
    if outcome == "missing":
        return True, (
            "WARNING: this backup holds no secret key (an older fieldwalk made it). Every link"
            " emailed to a party before the restore will answer 404, and everyone logs in"
            " again. Put the old secret_key in the instance folder if you kept it; otherwise"
            " send each party a new link (a walk's or a party's Links page)."
        )
    restored = instance_key.read_text().strip()
    if not key_from_file and configured_key != restored:
        return True, (
            "WARNING: SECRET_KEY is set in the configuration and differs from the backup's,"
            f" which is now in {instance_key}. Set SECRET_KEY to that key (or remove the"
            " setting), or every link emailed before the restore will answer 404."
        )
    return False, "Restored the secret key: links emailed to parties keep working."
