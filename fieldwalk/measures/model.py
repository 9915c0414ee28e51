"""What each place has: dated facts coordinators keep (an open drug scene per the police's
mapping, an order under LOV §3, police cameras, city safety cameras, a place partnership,
guard patrols), each with its history.

A fact is never changed in place: each change is a new version of the same `fact_key`, and
the latest version is the fact (`removed` there: it was taken away). A change names the
version it was written over (`based_on`); when someone saved in between it is refused
(FactConflict), so two coordinators never overwrite each other silently.
"""

import json
import uuid
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.parties.model import list_party_names

KINDS = {
    "drug_scene": _l("Open drug scene (police mapping)"),
    "lov3": _l("Order under LOV §3 (public order guards allowed)"),
    "police_cameras": _l("Police cameras"),
    "city_cameras": _l("City safety cameras"),
    "place_partnership": _l("Place partnership (platssamverkan)"),
    "guard_patrols": _l("Guard patrols"),
}
# Only city cameras go through states: the district proposes, the security office decides.
CAMERA_STATES = {
    "proposed": _l("Proposed"),
    "decided": _l("Decided"),
    "installed": _l("Installed"),
}
MAX_NOTE = 1000
# What each change of a version is called in its history, field by field.
FIELDS = ("state", "from_date", "to_date", "party_ids", "note")


class FactConflict(Exception):
    """Someone saved a newer version of the fact since the form was loaded."""

    def __init__(self, current: dict):
        super().__init__("conflict")
        self.current = current


def kind_label(kind: str) -> str:
    """A fact kind's name in the person's language."""
    return str(KINDS.get(kind, kind))


def state_label(state: str) -> str:
    """A city camera state's name in the person's language ('' when none)."""
    return str(CAMERA_STATES.get(state, state))


def _check_date(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    return date.fromisoformat(value).isoformat()  # ValueError when not a date


def check_fact(
    db: Database,
    *,
    kind: str,
    state: str,
    from_date: str | None,
    to_date: str | None,
    party_ids: list[int],
    note: str,
) -> dict:
    """The values as stored; ValueError when they cannot make a fact (forms check first and
    say why in the person's language: this is the last line)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if kind == "city_cameras":
        if state not in CAMERA_STATES:
            raise ValueError(f"unknown camera state {state!r}")
    elif state:
        raise ValueError("only city cameras have a state")
    start, end = _check_date(from_date), _check_date(to_date)
    if start and end and end < start:
        raise ValueError("to before from")
    known = {party_id for party_id, _name in list_party_names(db)}
    parties = sorted(set(party_ids))
    if any(p not in known for p in parties):
        raise ValueError("unknown party")
    if kind != "place_partnership" and parties:
        raise ValueError("only a place partnership has parties")
    if len(note) > MAX_NOTE:
        raise ValueError("note too long")
    return {
        "kind": kind,
        "state": state,
        "from_date": start,
        "to_date": end,
        "party_ids": json.dumps(parties),
        "note": note.strip(),
    }


SELECT = """
    SELECT place_facts.*, coalesce(nullif(users.name, ''), users.email) AS recorded_by_name
    FROM place_facts LEFT JOIN users ON users.id = place_facts.recorded_by"""
LATEST = """place_facts.version = (SELECT max(version) FROM place_facts f
                                   WHERE f.fact_key = place_facts.fact_key)"""


def _row(row) -> dict:
    fact = dict(row)
    fact["party_ids"] = json.loads(fact["party_ids"])
    return fact


def get_fact(db: Database, fact_key: str) -> dict | None:
    """The latest version of a fact, or None."""
    row = db.execute(
        f"{SELECT} WHERE fact_key = ? ORDER BY version DESC LIMIT 1",  # noqa: S608
        [fact_key],
    ).fetchone()
    return _row(row) if row else None


def record_fact(
    db: Database,
    *,
    place_id: int,
    kind: str,
    recorded_by: int | None,
    state: str = "",
    from_date: str | None = None,
    to_date: str | None = None,
    party_ids: list[int] = (),
    note: str = "",
    fact_key: str | None = None,
    based_on: int = 0,
    recorded_at: str | None = None,
) -> dict:
    """Store a new fact (no `fact_key`) or a new version of one (`based_on`: the version the
    writer saw); return the stored version. A newer version raises FactConflict. The kind of
    a fact never changes. `recorded_at` (UTC text) is now unless given (the demo's history)."""
    values = check_fact(
        db,
        kind=kind,
        state=state,
        from_date=from_date,
        to_date=to_date,
        party_ids=list(party_ids),
        note=note,
    )
    with transaction(db):
        version = 0
        if fact_key is not None:
            latest = get_fact(db, fact_key)
            if latest is None or latest["place_id"] != place_id or latest["kind"] != kind:
                raise ValueError("no such fact at this place")
            if latest["version"] != based_on:
                raise FactConflict(latest)
            version = latest["version"]
        key = fact_key or str(uuid.uuid4())
        db.execute(
            """INSERT INTO place_facts (fact_key, version, place_id, kind, state, from_date,
                   to_date, party_ids, note, recorded_by, recorded_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                key,
                version + 1,
                place_id,
                *(values[k] for k in ("kind", "state", "from_date", "to_date", "party_ids")),
                values["note"],
                recorded_by,
                recorded_at or now(),
            ],
        )
        return get_fact(db, key)


def remove_fact(
    db: Database, fact_key: str, *, recorded_by: int | None, based_on: int, note: str = ""
) -> dict:
    """Take a fact away (a mistake, or it no longer applies): a last version marked removed,
    the history kept. FactConflict when someone saved in between."""
    with transaction(db):
        latest = get_fact(db, fact_key)
        if latest is None:
            raise ValueError("no such fact")
        if latest["version"] != based_on:
            raise FactConflict(latest)
        db.execute(
            """INSERT INTO place_facts (fact_key, version, place_id, kind, state, from_date,
                   to_date, party_ids, note, removed, recorded_by, recorded_at)
               SELECT fact_key, version + 1, place_id, kind, state, from_date, to_date,
                      party_ids, ?, 1, ?, ? FROM place_facts WHERE id = ?""",
            [note.strip() or latest["note"], recorded_by, now(), latest["id"]],
        )
        return get_fact(db, fact_key)


def fact_history(db: Database, fact_key: str) -> list[dict]:
    """Every version of a fact, oldest first, each with `changed`: the fields that differ
    from the version before (empty for the first)."""
    rows = [
        _row(r)
        for r in db.execute(
            f"{SELECT} WHERE fact_key = ? ORDER BY version",  # noqa: S608
            [fact_key],
        )
    ]
    for before, version in zip([None, *rows], rows, strict=False):
        version["changed"] = (
            [f for f in FIELDS if before[f] != version[f]] if before is not None else []
        )
    return rows


def place_facts(db: Database, place_id: int) -> list[dict]:
    """A place's facts as they stand (latest versions, removed ones left out), by kind."""
    rows = db.execute(
        f"""{SELECT} WHERE place_id = ? AND {LATEST} AND removed = 0
            ORDER BY place_facts.kind, place_facts.from_date, place_facts.id""",  # noqa: S608
        [place_id],
    )
    order = list(KINDS)
    return sorted((_row(r) for r in rows), key=lambda f: order.index(f["kind"]))


def facts_in_span(
    db: Database, start: str, end: str, *, place_ids: list[int] | None = None, kind: str = ""
) -> list[dict]:
    """The facts (as they stand) in force some day from `start` to `end` (ISO dates, both
    included): no from date or from on or before `end`, and no to date or to on or after
    `start`. Only the given places and kind when named."""
    where, params = "", [end, start]
    if place_ids is not None:
        where += f" AND place_id IN ({','.join('?' * len(place_ids))})"
        params += list(place_ids)
    if kind:
        where, params = f"{where} AND kind = ?", [*params, kind]
    rows = db.execute(
        f"""{SELECT} WHERE {LATEST} AND removed = 0
              AND (from_date IS NULL OR from_date <= ?) AND (to_date IS NULL OR to_date >= ?)
              {where}
            ORDER BY place_id, kind, from_date""",  # noqa: S608 - fixed fragments
        params,
    )
    return [_row(r) for r in rows]


def all_facts(db: Database) -> list[dict]:
    """Every fact as it stands, for the measures map and list."""
    rows = db.execute(
        f"{SELECT} WHERE {LATEST} AND removed = 0 ORDER BY place_id, kind",  # noqa: S608
    )
    return [_row(r) for r in rows]


def in_force(fact: dict, day: str) -> bool:
    """Whether a fact holds on a day (ISO date)."""
    return (fact["from_date"] is None or fact["from_date"] <= day) and (
        fact["to_date"] is None or fact["to_date"] >= day
    )
