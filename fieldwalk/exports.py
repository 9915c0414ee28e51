"""Exports of whatever the dashboard's filters select: CSV for spreadsheets, GeoJSON for QGIS.

Both are streamed: a generator reads the cursor a thousand rows at a time and yields text, so
a district's whole history never sits in memory. CSV starts with a byte order mark (Excel then
reads UTF-8, and å, ä, ö survive), times are ISO 8601 UTC as stored, positions WGS84 decimal
degrees. A text cell that a spreadsheet would run as a formula (it starts with = + - @, a tab
or a carriage return) gets a leading apostrophe; numbers are written as numbers.
"""

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, request, stream_with_context
from sqlite_utils import Database

from fieldwalk.categories import CATEGORIES, category_label
from fieldwalk.db import get_db
from fieldwalk.filters import (
    Filters,
    error_text,
    local_today,
    local_zone,
    observation_where,
    parse_filters,
    task_where,
)
from fieldwalk.render import fail
from fieldwalk.security import STAFF_ROLES, role_required
from fieldwalk.task_views import STATE_LABELS

bp = Blueprint("exports", __name__)

BATCH = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

OBSERVATION_COLUMNS = (
    "id",
    "created_at",
    "captured_at",
    "place_id",
    "place",
    "walk_id",
    "walk",
    "category",
    "category_label",
    "works_well",
    "urgent",
    "feeling",
    "description",
    "lat",
    "lon",
    "accuracy_m",
    "location_source",
    "task_ids",
)
OBSERVATION_SQL = """
    SELECT o.id, o.created_at, o.captured_at, o.place_id, places.name, o.walk_id, walks.title,
           o.category, o.category, o.works_well, o.urgent, o.feeling, o.description, o.lat, o.lon,
           o.accuracy_m, o.location_source,
           (SELECT group_concat(y.task_id, ' ') FROM task_observations y
            WHERE y.observation_id = o.id) AS task_ids
    FROM observations o LEFT JOIN places ON places.id = o.place_id
    LEFT JOIN walks ON walks.id = o.walk_id
    WHERE {where} ORDER BY o.created_at DESC, o.rowid DESC"""
OBSERVATION_TEXT = {"place", "walk", "category_label", "description"}
OBSERVATION_LABELS = {"category_label": category_label}

TASK_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "state",
    "state_label",
    "priority",
    "measure",
    "place_id",
    "place",
    "walk_id",
    "walk",
    "party_id",
    "party",
    "due_date",
    "overdue",
    "sent_at",
    "done_at",
    "verified_at",
    "duplicate_of",
    "state_note",
    "lat",
    "lon",
    "observation_ids",
)
TASK_SQL = """
    SELECT t.id, t.created_at, t.updated_at, t.state, t.state, t.priority, t.measure, t.place_id,
           places.name, t.walk_id, walks.title, t.party_id, parties.name, t.due_date,
           (t.state IN ('proposed', 'sent', 'accepted', 'in_progress') AND t.due_date < ?),
           t.sent_at, t.done_at, t.verified_at, t.duplicate_of, t.state_note, t.lat, t.lon,
           (SELECT group_concat(y.observation_id, ' ') FROM task_observations y
            WHERE y.task_id = t.id) AS observation_ids
    FROM tasks t LEFT JOIN places ON places.id = t.place_id
    LEFT JOIN walks ON walks.id = t.walk_id LEFT JOIN parties ON parties.id = t.party_id
    WHERE {where} ORDER BY t.created_at DESC, t.id DESC"""
TASK_TEXT = {"state_label", "measure", "place", "walk", "party", "state_note"}


def neutralise(value):
    """A text cell a spreadsheet would take for a formula, made plain text with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _selection() -> tuple[Filters, str]:
    """The filters of this request (400 on a bad one) and today's local date."""
    filters, errors = parse_filters(request.args)
    if errors:
        fail(400, error_text(errors))
    return filters, local_today(local_zone())


def _rows(db: Database, sql: str, params: list) -> Iterator[tuple]:
    """The query's rows as plain tuples, fetched a batch at a time."""
    cursor = db.conn.cursor()
    cursor.row_factory = None  # tuples: no Row objects for a hundred thousand rows
    cursor.execute(sql, params)
    while batch := cursor.fetchmany(BATCH):
        yield from batch
    cursor.close()


def csv_lines(rows: Iterator[tuple], columns: tuple[str, ...], text: set, labels: dict):
    """The CSV text, BOM and header first, then a chunk per `BATCH` rows.

    Columns named in `labels` are codes turned into words; those in `text` (and the labels)
    are neutralised against formulas.
    """
    converters: list[tuple[int, Callable]] = []
    for i, name in enumerate(columns):
        if name in labels:
            label = labels[name]
            converters.append((i, lambda v, label=label: None if v is None else neutralise(label(v))))
        elif name in text:
            converters.append((i, neutralise))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    yield "\ufeff" + buffer.getvalue()
    batch = []
    for row in rows:
        row = list(row)
        for i, convert in converters:
            row[i] = convert(row[i])
        batch.append(row)
        if len(batch) == BATCH:
            yield _csv_text(buffer, writer, batch)
            batch = []
    yield _csv_text(buffer, writer, batch)


def _csv_text(buffer: io.StringIO, writer, rows: list) -> str:
    buffer.seek(0)
    buffer.truncate()
    writer.writerows(rows)
    return buffer.getvalue()


def _stream(chunks: Iterator[str], mimetype: str, filename: str) -> Response:
    response = Response(stream_with_context(chunks), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _filename(kind: str, extension: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return f"fieldwalk-{kind}-{stamp}.{extension}"


def observation_csv(db: Database, filters: Filters, today: str) -> Iterator[str]:
    """The selected observations as CSV text chunks."""
    where = observation_where(filters, today, local_zone())
    rows = _rows(db, OBSERVATION_SQL.format(where=where[0]), where[1]) if where else iter(())
    return csv_lines(rows, OBSERVATION_COLUMNS, OBSERVATION_TEXT, OBSERVATION_LABELS)


def task_csv(db: Database, filters: Filters, today: str) -> Iterator[str]:
    """The selected tasks as CSV text chunks."""
    where = task_where(filters, today, local_zone())
    rows = _rows(db, TASK_SQL.format(where=where[0]), [today, *where[1]]) if where else iter(())
    labels = {"state_label": lambda state: str(STATE_LABELS.get(state, state))}
    return csv_lines(rows, TASK_COLUMNS, TASK_TEXT, labels)


@bp.get("/dashboard/observations.csv")
@role_required(*STAFF_ROLES)
def observations_csv():
    """The filtered observations as CSV (UTF-8 with BOM), streamed."""
    filters, today = _selection()
    chunks = observation_csv(get_db(), filters, today)
    return _stream(chunks, "text/csv; charset=utf-8", _filename("observations", "csv"))


@bp.get("/dashboard/tasks.csv")
@role_required(*STAFF_ROLES)
def tasks_csv():
    """The filtered tasks as CSV (UTF-8 with BOM), streamed."""
    filters, today = _selection()
    chunks = task_csv(get_db(), filters, today)
    return _stream(chunks, "text/csv; charset=utf-8", _filename("tasks", "csv"))


# --- GeoJSON ---------------------------------------------------------------------------------
#
# SQLite writes each Feature itself (json_object), so Python only joins the lines.

OBSERVATION_FEATURE = """
    SELECT json_object('type', 'Feature', 'id', o.id,
        'geometry', CASE WHEN o.lat IS NULL THEN NULL
                    ELSE json_object('type', 'Point', 'coordinates', json_array(o.lon, o.lat)) END,
        'properties', json_object('id', o.id, 'created_at', o.created_at,
            'captured_at', o.captured_at, 'place_id', o.place_id, 'place', places.name,
            'walk_id', o.walk_id, 'walk', walks.title, 'category', o.category,
            'category_label', {category_label}, 'works_well', json(iif(o.works_well, 'true', 'false')),
            'urgent', json(iif(o.urgent, 'true', 'false')), 'feeling', o.feeling,
            'description', o.description, 'accuracy_m', o.accuracy_m,
            'task_ids', (SELECT json_group_array(y.task_id) FROM task_observations y
                         WHERE y.observation_id = o.id)))
    FROM observations o LEFT JOIN places ON places.id = o.place_id
    LEFT JOIN walks ON walks.id = o.walk_id
    WHERE {where} ORDER BY o.created_at DESC, o.rowid DESC"""
TASK_FEATURE = """
    SELECT json_object('type', 'Feature', 'id', t.id,
        'geometry', CASE WHEN t.lat IS NULL THEN NULL
                    ELSE json_object('type', 'Point', 'coordinates', json_array(t.lon, t.lat)) END,
        'properties', json_object('id', t.id, 'created_at', t.created_at,
            'updated_at', t.updated_at, 'state', t.state, 'state_label', {state_label},
            'priority', t.priority, 'measure', t.measure, 'place_id', t.place_id,
            'place', places.name, 'walk_id', t.walk_id, 'walk', walks.title,
            'party_id', t.party_id, 'party', parties.name, 'due_date', t.due_date,
            'overdue', json(iif(t.state IN ('proposed', 'sent', 'accepted', 'in_progress')
                                AND t.due_date < ?, 'true', 'false')),
            'sent_at', t.sent_at, 'done_at', t.done_at, 'verified_at', t.verified_at,
            'duplicate_of', t.duplicate_of,
            'observation_ids', (SELECT json_group_array(y.observation_id)
                                FROM task_observations y WHERE y.task_id = t.id)))
    FROM tasks t LEFT JOIN places ON places.id = t.place_id
    LEFT JOIN walks ON walks.id = t.walk_id LEFT JOIN parties ON parties.id = t.party_id
    WHERE {where} ORDER BY t.created_at DESC, t.id DESC"""


def _label_case(column: str, labels: dict) -> tuple[str, list]:
    """SQL giving each code in `column` its label, the labels bound as parameters."""
    cases = " ".join("WHEN ? THEN ?" for _code in labels)
    params = [value for pair in labels.items() for value in pair]
    return f"(CASE {column} {cases} ELSE {column} END)", params


def feature_collection(rows: Iterator[tuple]) -> Iterator[str]:
    """A FeatureCollection around features that are JSON text already."""
    yield '{"type": "FeatureCollection", "features": [\n'
    first = True
    lines = []
    for (feature,) in rows:
        lines.append(feature if first else ",\n" + feature)
        first = False
        if len(lines) == BATCH:
            yield "".join(lines)
            lines = []
    yield "".join(lines) + "\n]}\n"


def observation_geojson(db: Database, filters: Filters, today: str) -> Iterator[str]:
    """The selected observations as GeoJSON text chunks."""
    where = observation_where(filters, today, local_zone())
    if where is None:
        return feature_collection(iter(()))
    case, case_params = _label_case(
        "o.category", {code: str(label) for code, (label, _hint) in CATEGORIES.items()}
    )
    sql = OBSERVATION_FEATURE.format(category_label=case, where=where[0])
    return feature_collection(_rows(db, sql, [*case_params, *where[1]]))


def task_geojson(db: Database, filters: Filters, today: str) -> Iterator[str]:
    """The selected tasks as GeoJSON text chunks."""
    where = task_where(filters, today, local_zone())
    if where is None:
        return feature_collection(iter(()))
    case, case_params = _label_case(
        "t.state", {code: str(label) for code, label in STATE_LABELS.items()}
    )
    sql = TASK_FEATURE.format(state_label=case, where=where[0])
    return feature_collection(_rows(db, sql, [*case_params, today, *where[1]]))


@bp.get("/dashboard/observations.geojson")
@role_required(*STAFF_ROLES)
def observations_geojson():
    """The filtered observations as a GeoJSON FeatureCollection, streamed."""
    filters, today = _selection()
    chunks = observation_geojson(get_db(), filters, today)
    return _stream(chunks, "application/geo+json", _filename("observations", "geojson"))


@bp.get("/dashboard/tasks.geojson")
@role_required(*STAFF_ROLES)
def tasks_geojson():
    """The filtered tasks as a GeoJSON FeatureCollection, streamed."""
    filters, today = _selection()
    chunks = task_geojson(get_db(), filters, today)
    return _stream(chunks, "application/geo+json", _filename("tasks", "geojson"))


def init_app(app: Flask) -> None:
    """Register the export routes."""
    app.register_blueprint(bp)
