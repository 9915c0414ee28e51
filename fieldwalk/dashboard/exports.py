"""Exports of whatever the dashboard's filters select: CSV for spreadsheets, GeoJSON for QGIS.

Both are streamed: a generator reads the cursor a thousand rows at a time and yields text, so
a district's whole history never sits in memory. CSV starts with a byte order mark (Excel then
reads UTF-8, and å, ä, ö survive) and is in the reader's dialect (`fieldwalk.spreadsheet`:
semicolons, decimal commas and Swedish headers in Swedish; commas and the column codes in
English), times are ISO 8601 UTC as stored, positions WGS84 decimal degrees. A text cell a spreadsheet would run as a formula (one that starts with = + - @ or their
full-width forms, a tab or a carriage return) gets a leading apostrophe; numbers stay numbers.

SQLite does the per-row work (the apostrophes, codes into words, GeoJSON's JSON), so Python
only hands batches of rows to the csv module: 100,000 rows take a couple of seconds.
"""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial

from flask import Blueprint, Flask, Response, current_app, request, stream_with_context
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlite_utils import Database

from fieldwalk.categories import CATEGORIES, category_label
from fieldwalk.dashboard.filters import (
    Filters,
    error_text,
    local_today,
    local_zone,
    observation_where,
    parse_filters,
    task_where,
)
from fieldwalk.db import get_db
from fieldwalk.render import fail
from fieldwalk.security import STAFF_ROLES, role_required
from fieldwalk.spreadsheet import (
    COMMA,
    CSV_CONTENT_TYPE,
    CsvDialect,
    csv_chunks,
    dialect_for,
    neutralise,
    neutralise_sql,
)
from fieldwalk.tasks.cases import case_sql
from fieldwalk.tasks.words import STATE_LABELS

bp = Blueprint("exports", __name__)


BATCH = 1000


OPEN_LIST = "('proposed', 'sent', 'accepted', 'in_progress')"


def plain(expression: str) -> str:
    """SQL for `neutralise` on a text column (fixed column names only)."""
    return neutralise_sql(expression)


def words_for(column: str, words: dict[str, str]) -> tuple[str, list]:
    """SQL turning the codes in `column` into `words`, which are bound as parameters."""
    cases = " ".join("WHEN ? THEN ?" for _code in words)
    params = [value for code, word in words.items() for value in (code, neutralise(word))]
    return f"(CASE {column} {cases} ELSE {column} END)", params


def category_words() -> dict[str, str]:
    """Category codes and their names in the person's language."""
    return {code: category_label(code) for code in CATEGORIES}


def state_words() -> dict[str, str]:
    """Task states and their names in the person's language."""
    return {code: str(label) for code, label in STATE_LABELS.items()}


# Two times: when it was observed (and by whose clock: device, photo or received) and when
# the server received it. Rows are ordered by the observed time, as every report counts them.
OBSERVATION_COLUMNS = (
    "id",
    "observed_at",
    "observed_source",
    "received_at",
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


# What Swedish readers see above each column (English readers get the codes themselves).
HEADER_LABELS = {
    "id": _l("ID"),
    "observed_at": _l("Observed (UTC)"),
    "observed_source": _l("Time from"),
    "received_at": _l("Received (UTC)"),
    "place_id": _l("Place ID"),
    "place": _l("Place"),
    "walk_id": _l("Walk ID"),
    "walk": _l("Walk"),
    "category": _l("Category code"),
    "category_label": _l("Category"),
    "works_well": _l("Feels safe"),
    "urgent": _l("Urgent"),
    "feeling": _l("Safety (1-5)"),
    "description": _l("Description"),
    "lat": _l("Latitude"),
    "lon": _l("Longitude"),
    "accuracy_m": _l("Accuracy (m)"),
    "location_source": _l("Position from"),
    "task_ids": _l("Task IDs"),
    "case_number": _l("Case number"),
    "created_at": _l("Created (UTC)"),
    "updated_at": _l("Changed (UTC)"),
    "state": _l("State code"),
    "state_label": _l("State"),
    "priority": _l("Priority"),
    "measure": _l("Measure"),
    "party_id": _l("Party ID"),
    "party": _l("Party"),
    "due_date": _l("Due date"),
    "overdue": _l("Overdue"),
    "sent_at": _l("Sent (UTC)"),
    "done_at": _l("Done (UTC)"),
    "verified_at": _l("Checked (UTC)"),
    "duplicate_of": _l("Duplicate of"),
    "state_note": _l("Note"),
    "observation_ids": _l("Observation IDs"),
}


def header(columns: tuple[str, ...], dialect: CsvDialect) -> list[str]:
    """The header row: the column codes, or their names for a Swedish reader."""
    if dialect == COMMA:
        return list(columns)
    return [neutralise(str(HEADER_LABELS.get(c, c))) for c in columns]


OBSERVATION_CSV = f"""
    SELECT o.id, o.observed_at, o.observed_source, o.created_at, o.place_id, {plain("places.name")}, o.walk_id,
           {plain("walks.title")}, o.category, {{category}}, o.works_well, o.urgent, o.feeling,
           {plain("o.description")}, o.lat, o.lon, o.accuracy_m, o.location_source,
           (SELECT group_concat(y.task_id, ' ') FROM task_observations y
            WHERE y.observation_id = o.id)
    FROM observations o LEFT JOIN places ON places.id = o.place_id
    LEFT JOIN walks ON walks.id = o.walk_id
    WHERE {{where}} ORDER BY o.observed_at DESC, o.rowid DESC"""  # noqa: S608 - fixed fragments


TASK_COLUMNS = (
    "id",
    "case_number",
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


TASK_CSV = f"""
    SELECT t.id, {case_sql("t")}, t.created_at, t.updated_at, t.state, {{state}}, t.priority,
           {plain("t.measure")},
           t.place_id, {plain("places.name")}, t.walk_id, {plain("walks.title")}, t.party_id,
           {plain("parties.name")}, t.due_date, (t.state IN {OPEN_LIST} AND t.due_date < ?),
           t.sent_at, t.done_at, t.verified_at, t.duplicate_of, {plain("t.state_note")},
           t.lat, t.lon,
           (SELECT group_concat(y.observation_id, ' ') FROM task_observations y
            WHERE y.task_id = t.id)
    FROM tasks t LEFT JOIN places ON places.id = t.place_id
    LEFT JOIN walks ON walks.id = t.walk_id LEFT JOIN parties ON parties.id = t.party_id
    WHERE {{where}} ORDER BY t.created_at DESC, t.id DESC"""  # noqa: S608 - fixed fragments


def batches(db: Database, sql: str, params: list) -> Iterator[list[tuple]]:
    """The query's rows as plain tuples, a batch at a time."""
    cursor = db.conn.cursor()
    cursor.row_factory = None  # tuples: no Row objects for a hundred thousand rows
    try:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(BATCH):
            yield batch
    finally:
        cursor.close()


def observation_csv(
    db: Database, filters: Filters, today: str, dialect: CsvDialect = COMMA
) -> Iterator[str]:
    """The selected observations as CSV text chunks in the reader's dialect."""
    columns = header(OBSERVATION_COLUMNS, dialect)
    where = observation_where(filters, today, local_zone())
    if where is None:
        return csv_chunks(columns, iter(()), dialect)
    category, params = words_for("o.category", category_words())
    sql = OBSERVATION_CSV.format(category=category, where=where[0])
    return csv_chunks(columns, batches(db, sql, [*params, *where[1]]), dialect)


def task_csv(
    db: Database, filters: Filters, today: str, dialect: CsvDialect = COMMA
) -> Iterator[str]:
    """The selected tasks as CSV text chunks in the reader's dialect."""
    columns = header(TASK_COLUMNS, dialect)
    where = task_where(filters, today, local_zone())
    if where is None:
        return csv_chunks(columns, iter(()), dialect)
    state, params = words_for("t.state", state_words())
    sql = TASK_CSV.format(state=state, where=where[0])
    prefix = current_app.config["CASE_PREFIX"]
    return csv_chunks(columns, batches(db, sql, [prefix, *params, today, *where[1]]), dialect)


OBSERVATION_FEATURE = """
    SELECT json_object('type', 'Feature', 'id', o.id,
        'geometry', CASE WHEN o.lat IS NULL THEN NULL
                    ELSE json_object('type', 'Point', 'coordinates', json_array(o.lon, o.lat)) END,
        'properties', json_object('id', o.id, 'observed_at', o.observed_at,
            'observed_source', o.observed_source, 'received_at', o.created_at, 'place_id', o.place_id, 'place', places.name,
            'walk_id', o.walk_id, 'walk', walks.title, 'category', o.category,
            'category_label', {category}, 'works_well', json(iif(o.works_well, 'true', 'false')),
            'urgent', json(iif(o.urgent, 'true', 'false')), 'feeling', o.feeling,
            'description', o.description, 'accuracy_m', o.accuracy_m,
            'task_ids', (SELECT json_group_array(y.task_id) FROM task_observations y
                         WHERE y.observation_id = o.id)))
    FROM observations o LEFT JOIN places ON places.id = o.place_id
    LEFT JOIN walks ON walks.id = o.walk_id
    WHERE {where} ORDER BY o.observed_at DESC, o.rowid DESC"""


TASK_FEATURE = f"""
    SELECT json_object('type', 'Feature', 'id', t.id,
        'geometry', CASE WHEN t.lat IS NULL THEN NULL
                    ELSE json_object('type', 'Point', 'coordinates', json_array(t.lon, t.lat)) END,
        'properties', json_object('id', t.id, 'case_number', {case_sql("t")},
            'created_at', t.created_at,
            'updated_at', t.updated_at, 'state', t.state, 'state_label', {{state}},
            'priority', t.priority, 'measure', t.measure, 'place_id', t.place_id,
            'place', places.name, 'walk_id', t.walk_id, 'walk', walks.title,
            'party_id', t.party_id, 'party', parties.name, 'due_date', t.due_date,
            'overdue', json(iif(t.state IN {OPEN_LIST} AND t.due_date < ?, 'true', 'false')),
            'sent_at', t.sent_at, 'done_at', t.done_at, 'verified_at', t.verified_at,
            'duplicate_of', t.duplicate_of,
            'observation_ids', (SELECT json_group_array(y.observation_id)
                                FROM task_observations y WHERE y.task_id = t.id)))
    FROM tasks t LEFT JOIN places ON places.id = t.place_id
    LEFT JOIN walks ON walks.id = t.walk_id LEFT JOIN parties ON parties.id = t.party_id
    WHERE {{where}} ORDER BY t.created_at DESC, t.id DESC"""  # noqa: S608 - fixed fragments


def feature_collection(rows: Iterator[list[tuple]]) -> Iterator[str]:
    """A FeatureCollection around features that are JSON text already, one per line."""
    yield '{"type": "FeatureCollection", "features": [\n'
    separator = ""
    for batch in rows:
        yield separator + ",\n".join(feature for (feature,) in batch)
        separator = ",\n"
    yield "\n]}\n"


def observation_geojson(db: Database, filters: Filters, today: str) -> Iterator[str]:
    """The selected observations as GeoJSON text chunks."""
    where = observation_where(filters, today, local_zone())
    if where is None:
        return feature_collection(iter(()))
    category, params = words_for("o.category", category_words())
    sql = OBSERVATION_FEATURE.format(category=category, where=where[0])
    return feature_collection(batches(db, sql, [*params, *where[1]]))


def task_geojson(db: Database, filters: Filters, today: str) -> Iterator[str]:
    """The selected tasks as GeoJSON text chunks."""
    where = task_where(filters, today, local_zone())
    if where is None:
        return feature_collection(iter(()))
    state, params = words_for("t.state", state_words())
    sql = TASK_FEATURE.format(state=state, where=where[0])
    prefix = current_app.config["CASE_PREFIX"]
    return feature_collection(batches(db, sql, [prefix, *params, today, *where[1]]))


def _selection() -> tuple[Filters, str]:
    """The filters of this request (400 on a bad one) and today's local date."""
    filters, errors = parse_filters(request.args)
    if errors:
        fail(400, error_text(errors))
    return filters, local_today(local_zone())


def reader_dialect() -> CsvDialect:
    """The CSV dialect of the person asking: semicolons and decimal commas in Swedish."""
    locale = get_locale()
    return dialect_for(locale.language if locale else None)


def _stream(make: Callable[[Database], Iterator[str]], mimetype: str, filename: str) -> Response:
    """Stream `make(db)`'s chunks as a download.

    The view's own context, and the connection it opened, are torn down when it returns;
    stream_with_context pushes the context again for the generator, so the rows are read on
    a connection opened there (and closed by the same teardown when the stream ends).
    """

    def chunks() -> Iterator[str]:
        yield from make(get_db())

    response = Response(stream_with_context(chunks()), content_type=mimetype)
    stem, extension = filename.rsplit(".", 1)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="fieldwalk-{stem}-{stamp}.{extension}"'
    )
    return response


@bp.get("/dashboard/observations.csv")
@role_required(*STAFF_ROLES)
def observations_csv():
    """The filtered observations as CSV (UTF-8 with BOM) in the reader's dialect, streamed."""
    filters, today = _selection()
    make = partial(observation_csv, filters=filters, today=today, dialect=reader_dialect())
    return _stream(make, CSV_CONTENT_TYPE, "observations.csv")


@bp.get("/dashboard/tasks.csv")
@role_required(*STAFF_ROLES)
def tasks_csv():
    """The filtered tasks as CSV (UTF-8 with BOM) in the reader's dialect, streamed."""
    filters, today = _selection()
    make = partial(task_csv, filters=filters, today=today, dialect=reader_dialect())
    return _stream(make, CSV_CONTENT_TYPE, "tasks.csv")


@bp.get("/dashboard/observations.geojson")
@role_required(*STAFF_ROLES)
def observations_geojson():
    """The filtered observations as a GeoJSON FeatureCollection, streamed."""
    filters, today = _selection()
    make = partial(observation_geojson, filters=filters, today=today)
    return _stream(make, "application/geo+json", "observations.geojson")


@bp.get("/dashboard/tasks.geojson")
@role_required(*STAFF_ROLES)
def tasks_geojson():
    """The filtered tasks as a GeoJSON FeatureCollection, streamed."""
    filters, today = _selection()
    make = partial(task_geojson, filters=filters, today=today)
    return _stream(make, "application/geo+json", "tasks.geojson")


def init_app(app: Flask) -> None:
    """Register the export routes."""
    app.register_blueprint(bp)
