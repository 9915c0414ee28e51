"""Staff accounts as data: who to email, and what each person is called.

Login, passwords and sessions live in `fieldwalk.auth` and `fieldwalk.security`; locking and
the admin's list in `fieldwalk.admin`. These are the plain questions other nouns ask about
the `users` table.
"""

from sqlite_utils import Database

from fieldwalk.security import MANAGER_ROLES


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
