"""Staff accounts as data: who to email, what each person is called, roles, and the signed
links that let a person set their password (an invitation, a reset).

Login, passwords and sessions live in `fieldwalk.auth` and `fieldwalk.security`; locking and
the admin's list in `fieldwalk.admin`. A password link carries the account and a
fingerprint of its current password hash, so it works once: setting the password changes
the fingerprint.
"""

import hashlib
from datetime import UTC, datetime

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlite_utils import Database

from fieldwalk.db import transaction
from fieldwalk.security import ENGINEER, MANAGER_ROLES, ROLES


def user_label(db: Database, user_id: int | None) -> str:
    """How a person is named to others: their name, else their email; "" when unknown."""
    if user_id is None:
        return ""
    row = db.execute("SELECT name, email FROM users WHERE id = ?", [user_id]).fetchone()
    return (row["name"] or row["email"]) if row else ""


def user_emails(db: Database, user_ids: list[int]) -> list[str]:
    """The addresses of these people whose accounts are not locked, in the order given."""
    found = []
    for user_id in user_ids:
        row = db.execute(
            "SELECT email FROM users WHERE id = ? AND locked_at IS NULL", [user_id]
        ).fetchone()
        if row:
            found.append(row["email"])
    return list(dict.fromkeys(found))


def coordinator_emails(db: Database) -> list[str]:
    """Every coordinator's and admin's address (unlocked accounts): who hears from parties."""
    marks = ",".join("?" * len(MANAGER_ROLES))
    rows = db.execute(
        f"""SELECT email FROM users WHERE role IN ({marks}) AND locked_at IS NULL
            ORDER BY id""",  # noqa: S608 (placeholders only)
        list(MANAGER_ROLES),
    )
    return [r[0] for r in rows]


def party_engineer_emails(db: Database, party_id: int) -> list[str]:
    """The addresses of a party's engineers (unlocked accounts)."""
    rows = db.execute(
        """SELECT email FROM users WHERE role = 'engineer' AND party_id = ?
           AND locked_at IS NULL ORDER BY id""",
        [party_id],
    )
    return [r[0] for r in rows]


# --- invitations and password links -------------------------------------------------------

PASSWORD_SALT = "staff-password"  # noqa: S105 (a salt name, not a secret)


INVITE, RESET = "invite", "reset"


def _fingerprint(user: dict) -> str:
    """Changes whenever the password does (and when it is first set): a link is used once."""
    return hashlib.sha256((user["password_hash"] or "none").encode()).hexdigest()[:16]


def password_token(user: dict, kind: str, secret_key: str) -> str:
    """A signed link token that lets its holder set this user's password, once."""
    serializer = URLSafeTimedSerializer(secret_key, salt=PASSWORD_SALT)
    return serializer.dumps({"u": user["id"], "p": _fingerprint(user), "k": kind})


def user_for_password_token(
    db: Database, token: str, secret_key: str, max_age: dict[str, int]
) -> tuple[dict, str] | None:
    """(the user, the link's kind) a password token opens, or None: bad, expired (per kind,
    seconds in `max_age`), used already, or the account locked."""
    serializer = URLSafeTimedSerializer(secret_key, salt=PASSWORD_SALT)
    try:
        data, signed_at = serializer.loads(token, return_timestamp=True)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k") not in max_age:
        return None
    age = (datetime.now(UTC) - signed_at).total_seconds()
    if age > max_age[data["k"]]:
        return None
    user_id = data.get("u")
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return None
    row = db.execute("SELECT * FROM users WHERE id = ?", [user_id]).fetchone()
    if row is None or row["locked_at"] or _fingerprint(dict(row)) != data.get("p"):
        return None
    return dict(row), data["k"]


def set_role(db: Database, user_id: int, role: str, party_id: int | None) -> None:
    """Give an account a role (and an engineer a party; nobody else has one)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if (role == ENGINEER) != (party_id is not None):
        raise ValueError("an engineer needs a party, and only engineers have one")
    with transaction(db):
        db.execute(
            "UPDATE users SET role = ?, party_id = ? WHERE id = ?", [role, party_id, user_id]
        )
