"""Parties (who owns the ground: park engineers, the traffic office, property owners) and their contacts."""

import re

from flask_babel import lazy_gettext as _l
from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.reports.totals import tasks_in_states

# What a party is; the routing rule does not depend on it, people reading lists do.
KINDS = ("park", "traffic", "property_owner", "transit", "security", "police", "other")


KIND_LABELS = {
    "park": _l("Park engineers"),
    "traffic": _l("Traffic office"),
    "property_owner": _l("Property owner"),
    "transit": _l("Transit operator"),
    "security": _l("Security office"),
    "police": _l("Police"),
    "other": _l("Other"),
}


# Deliberately loose (no email_validator): an @ with a dot somewhere after it, no spaces.
EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"


def kind_label(kind: str) -> str:
    """The translated name of a party kind."""
    return str(KIND_LABELS.get(kind, kind))


def looks_like_email(value: str) -> bool:
    """True for something shaped like an email address (name@example.se)."""
    return re.fullmatch(EMAIL_PATTERN, value) is not None


def insert_party(
    db: Database, name: str, kind: str = "other", email: str = "", phone: str = "", notes: str = ""
) -> int:
    """Create a party; return its id."""
    if kind not in KINDS:
        raise ValueError(f"unknown party kind {kind!r}")
    stamp = now()
    with transaction(db):
        cursor = db.execute(
            """INSERT INTO parties (name, kind, email, phone, notes, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [name.strip(), kind, email.strip(), phone.strip(), notes.strip(), stamp, stamp],
        )
    return cursor.lastrowid


def update_party(db: Database, party_id: int, **values) -> None:
    """Change a party's name, kind, email, phone or notes."""
    allowed = {k: v for k, v in values.items() if k in ("name", "kind", "email", "phone", "notes")}
    if "kind" in allowed and allowed["kind"] not in KINDS:
        raise ValueError("unknown party kind")
    if not allowed:
        return
    assignments = ", ".join(f"{k} = ?" for k in allowed)
    with transaction(db):
        db.execute(
            f"UPDATE parties SET {assignments}, updated_at = ? WHERE id = ?",  # noqa: S608
            [*allowed.values(), now(), party_id],
        )


def get_party(db: Database, party_id: int) -> dict | None:
    """One party, or None."""
    row = db.execute("SELECT * FROM parties WHERE id = ?", [party_id]).fetchone()
    return dict(row) if row else None


def find_party_by_name(db: Database, name: str) -> dict | None:
    """The party with this exact name (case-insensitive), or None."""
    row = db.execute(
        "SELECT * FROM parties WHERE lower(name) = lower(?)", [name.strip()]
    ).fetchone()
    return dict(row) if row else None


def list_parties(db: Database) -> list[dict]:
    """Every party by name, with its number of open tasks (sent, accepted or in progress:
    from the running totals, not every task a party ever had) and of zones."""
    open_tasks = tasks_in_states(db, ("sent", "accepted", "in_progress"))
    rows = db.execute(
        """SELECT parties.*,
                  (SELECT count(*) FROM zones WHERE zones.party_id = parties.id) AS zone_count
           FROM parties ORDER BY name"""
    )
    return [{**dict(r), "open_tasks": open_tasks.get(r["id"], 0)} for r in rows]


def list_party_names(db: Database) -> list[tuple[int, str]]:
    """Every party's id and name, by name: for a form's choices."""
    return [(r["id"], r["name"]) for r in db.execute("SELECT id, name FROM parties ORDER BY name")]


def count_open_tasks(db: Database, party_id: int) -> int:
    """How many of a party's tasks are with it and not yet done (as `list_parties` counts)."""
    return db.execute(
        """SELECT count(*) FROM tasks WHERE party_id = ?
           AND state IN ('sent', 'accepted', 'in_progress')""",
        [party_id],
    ).fetchone()[0]


def add_contact(db: Database, party_id: int, name: str, email: str = "", phone: str = "") -> int:
    """Add a contact person to a party; return its id."""
    with transaction(db):
        cursor = db.execute(
            """INSERT INTO party_contacts (party_id, name, email, phone, created_at)
               VALUES (?, ?, ?, ?, ?)""",
            [party_id, name.strip(), email.strip(), phone.strip(), now()],
        )
    return cursor.lastrowid


def remove_contact(db: Database, party_id: int, contact_id: int) -> bool:
    """Remove a contact; True when one was removed."""
    with transaction(db):
        cursor = db.execute(
            "DELETE FROM party_contacts WHERE id = ? AND party_id = ?", [contact_id, party_id]
        )
    return cursor.rowcount == 1


def list_contacts(db: Database, party_id: int) -> list[dict]:
    """A party's contacts, by name."""
    return [
        dict(r)
        for r in db.execute(
            "SELECT * FROM party_contacts WHERE party_id = ? ORDER BY name, id", [party_id]
        )
    ]


def party_recipients(db: Database, party_id: int) -> list[str]:
    """Every email address that hears about a party's tasks (party address and contacts)."""
    party = get_party(db, party_id)
    if party is None:
        return []
    addresses = [party["email"]] + [c["email"] for c in list_contacts(db, party_id)]
    return list(dict.fromkeys(a for a in addresses if a))


def category_defaults(db: Database) -> dict[str, int]:
    """The default party per category, for fixes outside every zone."""
    return {r["category"]: r["party_id"] for r in db.execute("SELECT * FROM category_defaults")}


def set_category_default(db: Database, category: str, party_id: int | None) -> None:
    """Set (or clear, with None) the default party of a category."""
    with transaction(db):
        if party_id is None:
            db.execute("DELETE FROM category_defaults WHERE category = ?", [category])
        else:
            db.execute(
                """INSERT INTO category_defaults (category, party_id) VALUES (?, ?)
                   ON CONFLICT(category) DO UPDATE SET party_id = excluded.party_id""",
                [category, party_id],
            )


def find_party_by_kind(db: Database, kind: str) -> dict | None:
    """The first party of a kind, by name (the city's security office: kind 'security')."""
    row = db.execute(
        "SELECT * FROM parties WHERE kind = ? ORDER BY name, id LIMIT 1", [kind]
    ).fetchone()
    return dict(row) if row else None
