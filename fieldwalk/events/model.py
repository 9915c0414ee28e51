"""Events (händelser): what affected safety at a place, reported by the police, guards, the
district's staff or the public. Domain functions only: a database and plain values in.

`occurred_at` is when it happened, stored as UTC text like every `*_at` column and entered in
Stockholm time; `created_at` is when it was received. An event has a place, a point, or both;
given only a point, the place is the smallest one whose polygon holds it. `import_key` makes
storing the same event twice a no-op (an import's row hash, the phone form's key).
"""

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlite_utils import Database

from fieldwalk.clock import STOCKHOLM, now, stamp
from fieldwalk.db import transaction
from fieldwalk.places.model import place_for_point

# Codes are stored; labels are what people read (Swedish: the district's own words).
TYPES = {
    "drug_dealing": _l("Drug dealing"),
    "drug_use": _l("Drug use"),
    "disorder": _l("Disorder"),
    "violence": _l("Violence or threats"),
    "vandalism": _l("Vandalism"),
    "littering": _l("Littering, needles"),
    "other": _l("Other"),
}
SOURCES = {
    "police": _l("The police"),
    "guards": _l("Public order guards, security company"),
    "staff": _l("District staff, field workers"),
    "public": _l("The public"),
    "other": _l("Other"),
}
MAX_DESCRIPTION = 500  # a short description: what the weekly meeting reads aloud
COUNTABLE = ("place_id", "type", "source")
LIST_LIMIT = 200


def type_label(code: str) -> str:
    """An event type's name in the person's language (the code itself when unknown)."""
    return str(TYPES.get(code, code))


def source_label(code: str) -> str:
    """An event source's name in the person's language (the code itself when unknown)."""
    return str(SOURCES.get(code, code))


# --- time ------------------------------------------------------------------------------------


class NonexistentTime(ValueError):
    """A local wall-clock time the clocks skipped (the spring change to summer time)."""


def local_to_utc(moment: datetime, tz: ZoneInfo = STOCKHOLM) -> datetime:
    """A naive local wall-clock time (or an aware one, kept as it is) as an aware UTC time.

    A local time that never happened (02:30 on the last Sunday of March) raises
    NonexistentTime; one that happened twice (02:30 on the last Sunday of October) is taken as
    the first, still in summer time, which is what a clock on the wall showed first.
    """
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    local = moment.replace(tzinfo=tz, fold=0)
    utc = local.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != moment:
        raise NonexistentTime(f"{moment:%Y-%m-%d %H:%M} does not exist in {tz.key}")
    return utc


def parse_time(text: str, tz: ZoneInfo = STOCKHOLM) -> datetime:
    """An ISO 8601 time ('2026-11-28T17:45', '...+01:00', '...Z') or '2026-11-28 17:45' as an
    aware UTC datetime; without an offset it is local time in `tz`.

    Raises ValueError (NonexistentTime for a skipped local time) for anything else, dates alone
    and years outside 2000-2100 included.
    """
    text = text.strip()
    if len(text) < 16 or text[10] not in "T ":  # a date and at least hours and minutes
        raise ValueError(f"not a date and time: {text!r}")
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if not 2000 <= moment.year <= 2100:
        raise ValueError(f"year out of range: {text!r}")
    return local_to_utc(moment, tz)


def utc_text(moment: datetime | str) -> str:
    """An aware datetime (or the text of one) as the `*_at` columns hold it."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a time without a zone is ambiguous here; use local_to_utc")
    return stamp(moment)


# --- writing ---------------------------------------------------------------------------------


def check_event(
    *,
    occurred_at: str,
    type: str,  # the domain's word, as the column
    source: str,
    place_id: int | None,
    lat: float | None,
    lon: float | None,
    description: str,
) -> None:
    """Raise ValueError when the values cannot make an event (callers check first and say why
    in the person's language; this is the last line)."""
    if type not in TYPES:
        raise ValueError(f"unknown event type {type!r}")
    if source not in SOURCES:
        raise ValueError(f"unknown event source {source!r}")
    if (lat is None) != (lon is None):
        raise ValueError("a point needs both lat and lon")
    if lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("lat or lon out of range")
    if place_id is None and lat is None:
        raise ValueError("an event needs a place or a point")
    if len(description) > MAX_DESCRIPTION:
        raise ValueError(f"description longer than {MAX_DESCRIPTION} characters")
    utc_text(occurred_at)


def insert_event(
    db: Database,
    *,
    occurred_at: datetime | str,
    type: str,  # the domain's word, as the column
    source: str,
    place_id: int | None = None,
    lat: float | None = None,
    lon: float | None = None,
    description: str = "",
    created_by: int | None = None,
    import_key: str | None = None,
    observation_ids: Iterable[str] = (),
    task_ids: Iterable[int] = (),
) -> tuple[int, bool]:
    """Store an event (and its links); return (id, created).

    `occurred_at` is an aware datetime or UTC text. With only a point, the place is looked up.
    An `import_key` already stored returns that event's id and created False, storing nothing.
    """
    occurred = utc_text(occurred_at)
    description = description.strip()
    check_event(
        occurred_at=occurred,
        type=type,
        source=source,
        place_id=place_id,
        lat=lat,
        lon=lon,
        description=description,
    )
    with transaction(db):
        if import_key is not None:
            row = db.execute("SELECT id FROM events WHERE import_key = ?", [import_key]).fetchone()
            if row:
                return row[0], False
        if place_id is None:
            place = place_for_point(db, lat, lon)
            place_id = place["id"] if place else None
        cursor = db.execute(
            """INSERT INTO events (occurred_at, place_id, lat, lon, type, source, description,
                   created_by, created_at, import_key)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                occurred,
                place_id,
                lat,
                lon,
                type,
                source,
                description,
                created_by,
                now(),
                import_key,
            ],
        )
        event_id = cursor.lastrowid
        for observation_id in observation_ids:
            link_event(db, event_id, observation_id=observation_id)
        for task_id in task_ids:
            link_event(db, event_id, task_id=task_id)
    return event_id, True


def link_event(
    db: Database, event_id: int, *, observation_id: str | None = None, task_id: int | None = None
) -> bool:
    """Link an event to one observation or one task; False when the link was there already."""
    if (observation_id is None) == (task_id is None):
        raise ValueError("link an event to one observation or one task")
    with transaction(db):
        cursor = db.execute(
            """INSERT INTO event_links (event_id, observation_id, task_id) VALUES (?, ?, ?)
               ON CONFLICT DO NOTHING""",
            [event_id, observation_id, task_id],
        )
    return cursor.rowcount == 1


def unlink_event(
    db: Database, event_id: int, *, observation_id: str | None = None, task_id: int | None = None
) -> bool:
    """Remove an event's link to an observation or a task; False when there was none."""
    with transaction(db):
        cursor = db.execute(
            """DELETE FROM event_links WHERE event_id = ?
               AND observation_id IS ? AND task_id IS ?""",
            [event_id, observation_id, task_id],
        )
    return cursor.rowcount > 0


# --- reading ---------------------------------------------------------------------------------

EVENT_SELECT = """
    SELECT events.*, places.name AS place_name,
           coalesce(nullif(users.name, ''), users.email) AS created_by_name
    FROM events LEFT JOIN places ON places.id = events.place_id
    LEFT JOIN users ON users.id = events.created_by"""


def get_event(db: Database, event_id: int) -> dict | None:
    """One event with its place's name, who entered it, and its links; or None."""
    if not 0 < event_id < 2**63:
        return None
    row = db.execute(f"{EVENT_SELECT} WHERE events.id = ?", [event_id]).fetchone()  # noqa: S608
    if row is None:
        return None
    event = dict(row)
    links = db.execute(
        "SELECT observation_id, task_id FROM event_links WHERE event_id = ? ORDER BY id",
        [event_id],
    ).fetchall()
    event["observation_ids"] = [r["observation_id"] for r in links if r["observation_id"]]
    event["task_ids"] = [r["task_id"] for r in links if r["task_id"] is not None]
    return event


def _bound(value: datetime | str | None) -> str | None:
    return None if value is None else utc_text(value)


def event_where(
    *,
    place_id: int | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    types: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> tuple[str, list]:
    """The WHERE clause (table `events`) for a selection: `since` inclusive, `until` exclusive,
    both aware datetimes or UTC text. Empty `types` or `sources` select nothing."""
    where, params = [], []
    if place_id is not None:
        where.append("events.place_id = ?")
        params.append(place_id)
    if since is not None:
        where.append("events.occurred_at >= ?")
        params.append(_bound(since))
    if until is not None:
        where.append("events.occurred_at < ?")
        params.append(_bound(until))
    for column, values in (("type", types), ("source", sources)):
        if values is not None:
            values = list(values)
            where.append(f"events.{column} IN ({', '.join('?' * len(values)) or 'NULL'})")
            params += values
    return " AND ".join(where) or "1", params


def list_events(
    db: Database,
    *,
    place_id: int | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    types: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    limit: int | None = LIST_LIMIT,
    offset: int = 0,
) -> list[dict]:
    """The selected events, latest first, with place names and who entered them."""
    where, params = event_where(
        place_id=place_id, since=since, until=until, types=types, sources=sources
    )
    sql = f"{EVENT_SELECT} WHERE {where} ORDER BY events.occurred_at DESC, events.id DESC"
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [limit, offset]
    return [dict(r) for r in db.execute(sql, params)]


def count_events(db: Database, **selection) -> int:
    """How many events a selection (as for `list_events`) holds."""
    where, params = event_where(**selection)
    sql = f"SELECT count(*) FROM events WHERE {where}"  # noqa: S608 - fixed fragments
    return db.execute(sql, params).fetchone()[0]


def _group(by: Sequence[str]) -> str:
    if not by or any(column not in COUNTABLE for column in by):
        raise ValueError(f"count events by some of {COUNTABLE}, not {by!r}")
    return ", ".join(f"events.{column}" for column in by)


def count_events_by(
    db: Database,
    by: Sequence[str] = ("place_id", "type"),
    *,
    place_id: int | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    types: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> dict[tuple, int]:
    """How many events per combination of the `by` columns (place_id, type, source) in a
    selection: {(place_id, type): n, ...}. Events outside every place have place_id None."""
    group = _group(by)
    where, params = event_where(
        place_id=place_id, since=since, until=until, types=types, sources=sources
    )
    rows = db.execute(
        f"SELECT {group}, count(*) FROM events WHERE {where} GROUP BY {group}",  # noqa: S608
        params,
    )
    return {tuple(row[: len(by)]): row[len(by)] for row in rows}


def count_events_by_period(
    db: Database,
    periods: Sequence[tuple[datetime | str, datetime | str]],
    by: Sequence[str] = ("place_id", "type"),
    *,
    place_id: int | None = None,
) -> dict[tuple, list[int]]:
    """Per combination of the `by` columns, how many events fell in each period (start
    inclusive, end exclusive), in one query: {(place_id, type): [this week, last week, a year
    ago], ...} for the weekly page's three weeks. Combinations with no event are left out."""
    group = _group(by)
    if not periods:
        return {}
    spans = [(_bound(start), _bound(end)) for start, end in periods]
    cases = " ".join(
        f"WHEN events.occurred_at >= ? AND events.occurred_at < ? THEN {i}"
        for i in range(len(spans))
    )
    ranges = " OR ".join("(events.occurred_at >= ? AND events.occurred_at < ?)" for _s in spans)
    params: list = [bound for span in spans for bound in span] * 2
    place = ""
    if place_id is not None:
        place, params = " AND events.place_id = ?", [*params, place_id]
    rows = db.execute(
        f"""SELECT {group}, CASE {cases} END AS period, count(*) FROM events
            WHERE ({ranges}){place} GROUP BY {group}, period""",  # noqa: S608 - fixed fragments
        params,
    )
    counts: dict[tuple, list[int]] = {}
    for row in rows:
        key = tuple(row[: len(by)])
        counts.setdefault(key, [0] * len(spans))[row[len(by)]] += row[len(by) + 1]
    return counts


def event_points(
    db: Database, *, since: datetime | str, until: datetime | str, limit: int = 5000
) -> list[dict]:
    """The selected events that have a point, for a map: id, place_id, lat, lon, type,
    source and occurred_at only (no description), oldest first, at most `limit`."""
    rows = db.execute(
        """SELECT id, place_id, lat, lon, type, source, occurred_at FROM events
           WHERE occurred_at >= ? AND occurred_at < ? AND lat IS NOT NULL
           ORDER BY occurred_at, id LIMIT ?""",
        [_bound(since), _bound(until), limit],
    )
    return [dict(r) for r in rows]


def events_for(
    db: Database, *, observation_id: str | None = None, task_id: int | None = None
) -> list[dict]:
    """The events linked to an observation or to a task, latest first."""
    column, value = ("observation_id", observation_id) if task_id is None else ("task_id", task_id)
    rows = db.execute(
        f"""{EVENT_SELECT} WHERE events.id IN
                (SELECT event_id FROM event_links WHERE {column} = ?)
            ORDER BY events.occurred_at DESC, events.id DESC""",  # noqa: S608 - fixed column
        [value],
    )
    return [dict(r) for r in rows]


EXPORT_COLUMNS = (
    "id",
    "occurred_at",
    "created_at",
    "place_id",
    "place",
    "type",
    "type_label",
    "source",
    "source_label",
    "description",
    "lat",
    "lon",
    "observation_ids",
    "task_ids",
)


def export_rows(db: Database, *, batch: int = 1000, **selection) -> Iterator[tuple]:
    """The selected events (as for `list_events`, without a limit), latest first, as tuples in
    EXPORT_COLUMNS order, read a batch at a time: for CSV and GeoJSON exports. Labels are in
    the person's language; who entered an event is left out (exports travel)."""
    where, params = event_where(**selection)
    types = {code: str(label) for code, label in TYPES.items()}
    sources = {code: str(label) for code, label in SOURCES.items()}
    cursor = db.conn.cursor()
    cursor.row_factory = None
    try:
        cursor.execute(
            f"""SELECT events.id, events.occurred_at, events.created_at, events.place_id,
                       places.name, events.type, events.source, events.description,
                       events.lat, events.lon,
                       (SELECT group_concat(observation_id, ' ') FROM event_links l
                        WHERE l.event_id = events.id AND observation_id IS NOT NULL),
                       (SELECT group_concat(task_id, ' ') FROM event_links l
                        WHERE l.event_id = events.id AND task_id IS NOT NULL)
                FROM events LEFT JOIN places ON places.id = events.place_id
                WHERE {where} ORDER BY events.occurred_at DESC, events.id DESC""",  # noqa: S608
            params,
        )
        while rows := cursor.fetchmany(batch):
            for row in rows:
                # (id, occurred, created, place_id, place, type, source, text, lat, lon, ...)
                yield (
                    *row[:6],
                    types.get(row[5], row[5]),
                    row[6],
                    sources.get(row[6], row[6]),
                    *row[7:10],
                    row[10] or "",
                    row[11] or "",
                )
    finally:
        cursor.close()
