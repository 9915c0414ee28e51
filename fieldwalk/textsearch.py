"""Text search in observations' descriptions and tasks' measures: a substring anywhere, in
any case (å finds Å, as a Swedish reader expects), answered from a trigram index (SQLite's
FTS5 `trigram` tokenizer) so that a search costs what it finds, not what the database holds.

Each kind has a contentless FTS5 table (`observation_text`, `task_text`: the words are not
stored twice) whose rowid is a *key* that says where the row lies, and a table of keys
(`observation_text_keys`, `task_text_keys`: key, row) that ties each key to its row (an
observation's rowid, a task's id). A positioned row's key is its latitude and longitude in
2**22 steps of the globe each (about 5 m here), whether it is urgent, and a number that
tells the rows of one step apart:

    latitude step << 41 | longitude step << 19 | urgent << 18 | number (up to 2**18 - 1)

A row with no position has minus its row as key; a step that already holds 2**18 rows of one
urgency (never met, but possible) gives the next one `OVERFLOW` minus its row, and the map
reads those from the rows. The map's grid at zoom z (`mapcells.grid`) is z + 2 bits of each
step, so the map counts a search's hits per cell from the keys alone (`cell_sums`), in the
lanes of keys its box covers, without reading a row.

The table of keys also holds a copy of what the dashboard's filters ask of a row (`COPIES`:
an observation's category, place, walk, time and urgency, and `states`, one bit per state
of the tasks that fix it, none for one with no task; a task's state, priority, party, due
date, place, walk and opening), so that a search with filters reads the index and its keys
(`hits`' `where`), not its hits' rows.

Triggers keep both tables in the writer's transaction (an insert; an update of the text,
the position or the urgency, or of a copy; a delete; a link between a task and an
observation made or undone, a task's state changed); `rebuild` builds them from the rows (a
migration, `flask --app app recount`). A trigram needs three characters (the search forms ask for that
many): a shorter text, and a caller that reads rows in an order of its own until its page is
full, are matched with LIKE instead, once per case of the letters.
"""

from itertools import product

from sqlite_utils import Database

from fieldwalk.tasks.states import OPEN_STATES, STATES

STEPS = 2**22
LAT_SHIFT, LON_SHIFT, URGENT_SHIFT = 41, 19, 18
NUMBERS = 2**18
OVERFLOW = -(2**62)
# A grid of zoom z has z + 2 bits of a step (mapcells.grid: 180 / 2**(z + 2) degrees of
# latitude, 360 / 2**(z + 2) of longitude), so finer than this zoom the keys cannot say.
FINEST_ZOOM = 20
SHORTEST = 3

# Per kind: the table's alias-free row key, its text, its urgency (an SQL expression on the
# row `{row}`).
KINDS = {
    "observations": ("rowid", "description", "({row}.urgent != 0)"),
    "tasks": ("id", "measure", "({row}.priority = 'urgent')"),
}
FTS = {"observations": "observation_text", "tasks": "task_text"}
# Per kind: the row's columns its key's row copies, under the same names, and the alias the
# copies are asked by in `hits`' `where` (the rows' own, as in dashboard/filters.py).
COPIES = {
    "observations": ("category", "place_id", "walk_id", "observed_at", "urgent"),
    "tasks": ("state", "priority", "party_id", "due_date", "place_id", "walk_id", "created_at"),
}
ALIASES = {"observations": "o", "tasks": "t"}
# An observation's `states`: bit i for its tasks in STATES[i] (OTHER_STATE for any other).
OTHER_STATE = len(STATES)
OPEN_BITS = sum(1 << STATES.index(state) for state in OPEN_STATES)


def state_bit(state: str) -> int:
    return 1 << STATES.index(state)


_BIT = (
    "(1 << CASE z.state "
    + " ".join(f"WHEN '{state}' THEN {i}" for i, state in enumerate(STATES))
    + f" ELSE {OTHER_STATE} END)"
)


def _states(observation_id: str) -> str:
    """SQL for the `states` of the observation `observation_id` (an SQL expression)."""
    return f"""(SELECT coalesce(sum(DISTINCT {_BIT}), 0) FROM task_observations y
        JOIN tasks z ON z.id = y.task_id WHERE y.observation_id = {observation_id})"""  # noqa: S608


def _keys(kind: str) -> str:
    return f"{FTS[kind]}_keys"


def _step(value: str, offset: int, span: int) -> str:
    return f"min(CAST(({value} + {offset}) / {span}.0 * {STEPS} AS INTEGER), {STEPS - 1})"


def _base(row: str, urgent: str) -> str:
    """A positioned row's key with number 0."""
    return (
        f"(({_step(f'{row}.lat', 90, 180)} << {LAT_SHIFT})"
        f" | ({_step(f'{row}.lon', 180, 360)} << {LON_SHIFT})"
        f" | ({urgent.format(row=row)} << {URGENT_SHIFT}))"
    )


def _new_key(kind: str, row: str) -> str:
    """SQL for the key of the row `row` (NEW in a trigger): the step's next free number."""
    key_column, _text, urgent = KINDS[kind]
    base = _base(row, urgent)
    return f"""(CASE WHEN {row}.lat IS NULL OR {row}.lon IS NULL THEN -{row}.{key_column}
        ELSE (SELECT CASE WHEN max(k.key) IS NULL THEN {base}
                          WHEN max(k.key) < {base} + {NUMBERS - 1} THEN max(k.key) + 1
                          ELSE {OVERFLOW} - {row}.{key_column} END
              FROM {_keys(kind)} k WHERE k.key BETWEEN {base} AND {base} + {NUMBERS - 1})
        END)"""  # noqa: S608 - fixed fragments


def _add(kind: str, row: str) -> str:
    key_column, text, _urgent = KINDS[kind]
    columns = ", ".join(COPIES[kind])
    values = ", ".join(f"{row}.{column}" for column in COPIES[kind])
    if kind == "observations":
        columns, values = f"{columns}, states", f"{values}, {_states(f'{row}.id')}"
    return f"""INSERT INTO {_keys(kind)} (key, row, {columns})
            VALUES ({_new_key(kind, row)}, {row}.{key_column}, {values});
        INSERT INTO {FTS[kind]} (rowid, body)
            SELECT key, {row}.{text} FROM {_keys(kind)} WHERE row = {row}.{key_column};"""  # noqa: S608


def _take(kind: str, row: str) -> str:
    key_column, text, _urgent = KINDS[kind]
    return f"""INSERT INTO {FTS[kind]} ({FTS[kind]}, rowid, body)
            SELECT 'delete', key, {row}.{text} FROM {_keys(kind)} WHERE row = {row}.{key_column};
        DELETE FROM {_keys(kind)} WHERE row = {row}.{key_column};"""  # noqa: S608


def _statements(kind: str) -> list[str]:
    table, fts, keys = kind, FTS[kind], _keys(kind)
    _key, text, urgent = KINDS[kind]
    watched = (text, "lat", "lon")
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in watched)
    changed += f" OR {urgent.format(row='OLD')} IS NOT {urgent.format(row='NEW')}"
    urgent_column = "urgent" if kind == "observations" else "priority"
    copies = COPIES[kind]
    states = ", states INTEGER NOT NULL DEFAULT 0" if kind == "observations" else ""
    statements = [
        f"""CREATE TABLE {keys} (key INTEGER PRIMARY KEY, row INTEGER NOT NULL UNIQUE,
            {", ".join(copies)}{states})""",
        f"CREATE VIRTUAL TABLE {fts} USING fts5(body, content='', tokenize='trigram')",
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {_add(kind, 'NEW')} END",
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {_take(kind, 'OLD')} END",
        f"""CREATE TRIGGER {fts}_update
            AFTER UPDATE OF {", ".join((*watched, urgent_column))} ON {table}
            WHEN {changed} BEGIN {_take(kind, "OLD")} {_add(kind, "NEW")} END""",
        f"""CREATE TRIGGER {fts}_copies AFTER UPDATE OF {", ".join(copies)} ON {table}
            WHEN {" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in copies)} BEGIN
            UPDATE {keys} SET {", ".join(f"{c} = NEW.{c}" for c in copies)}
                WHERE row = NEW.{KINDS[kind][0]};
            END""",  # noqa: S608 - fixed fragments
    ]
    if kind == "observations":
        statements += _state_triggers()
    return statements


def _set_states(observation_id: str) -> str:
    keys = _keys("observations")
    return f"""UPDATE {keys} SET states = {_states(observation_id)}
        WHERE row = (SELECT rowid FROM observations WHERE id = {observation_id});"""  # noqa: S608


STATE_TRIGGERS = ("link", "unlink", "relink", "task_state")


def _state_triggers() -> list[str]:
    """Triggers keeping each observation's `states`: a link made, undone or moved (a task's
    deletion undoes its links), a linked task's state changed."""
    fts, keys = FTS["observations"], _keys("observations")
    return [
        f"""CREATE TRIGGER {fts}_link AFTER INSERT ON task_observations BEGIN
            {_set_states("NEW.observation_id")} END""",
        f"""CREATE TRIGGER {fts}_unlink AFTER DELETE ON task_observations BEGIN
            {_set_states("OLD.observation_id")} END""",
        f"""CREATE TRIGGER {fts}_relink AFTER UPDATE OF task_id, observation_id
            ON task_observations BEGIN
            {_set_states("OLD.observation_id")} {_set_states("NEW.observation_id")} END""",
        f"""CREATE TRIGGER {fts}_task_state AFTER UPDATE OF state ON tasks
            WHEN OLD.state IS NOT NEW.state BEGIN
            UPDATE {keys} SET states = {_states(f"(SELECT id FROM observations WHERE rowid = {keys}.row)")}
                WHERE row IN (SELECT o.rowid FROM task_observations y
                    JOIN observations o ON o.id = y.observation_id WHERE y.task_id = NEW.id);
            END""",  # noqa: S608 - fixed fragments
    ]


def drop_statements() -> list[str]:
    return [
        statement
        for kind in KINDS
        for statement in (
            *(
                f"DROP TRIGGER IF EXISTS {FTS[kind]}_{event}"
                for event in ("insert", "delete", "update", "copies", *STATE_TRIGGERS)
            ),
            f"DROP TABLE IF EXISTS {FTS[kind]}",
            f"DROP TABLE IF EXISTS {_keys(kind)}",
        )
    ]


def rebuild(db: Database) -> int:
    """Drop the index, its keys and triggers and build them again from the rows (in the
    caller's transaction); return the rows indexed."""
    for statement in drop_statements():
        db.execute(statement)
    for kind in KINDS:
        for statement in _statements(kind):
            db.execute(statement)
    indexed = 0
    for kind, (key_column, text, urgent) in KINDS.items():
        base = _base("r", urgent)
        # The numbers of one step's rows in order; the step's rows past its last number go
        # where the trigger puts them.
        copies = ", ".join(COPIES[kind])
        db.execute(
            f"""INSERT INTO {_keys(kind)} (key, row, {copies})
                SELECT CASE WHEN base IS NULL THEN -row
                            WHEN number < {NUMBERS} THEN base + number
                            ELSE {OVERFLOW} - row END, row, {copies}
                FROM (SELECT r.{key_column} AS row, {", ".join(f"r.{c}" for c in COPIES[kind])},
                             CASE WHEN r.lat IS NOT NULL AND r.lon IS NOT NULL THEN {base} END
                                 AS base,
                             row_number() OVER (PARTITION BY
                                 CASE WHEN r.lat IS NOT NULL AND r.lon IS NOT NULL THEN {base}
                                 END ORDER BY r.{key_column}) - 1 AS number
                      FROM {kind} r)"""  # noqa: S608
        )
        indexed += db.execute(
            f"""INSERT INTO {FTS[kind]} (rowid, body)
                SELECT k.key, r.{text} FROM {_keys(kind)} k JOIN {kind} r
                ON r.{key_column} = k.row"""  # noqa: S608
        ).rowcount
    db.execute(
        f"""UPDATE {_keys("observations")} SET states = s.bits
            FROM (SELECT o.rowid AS row, sum(DISTINCT {_BIT}) AS bits
                  FROM task_observations y JOIN tasks z ON z.id = y.task_id
                  JOIN observations o ON o.id = y.observation_id GROUP BY o.rowid) s
            WHERE s.row = {_keys("observations")}.row"""  # noqa: S608
    )
    return indexed


def searchable(text: str) -> bool:
    """Whether `text` is long enough for the trigram index (else `condition` reads rows)."""
    return len(text) >= SHORTEST


def phrase(text: str) -> str:
    """`text` as an FTS5 phrase: every character literal (a trigram phrase is a substring)."""
    return '"' + text.replace('"', '""') + '"'


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _cases(text: str) -> list[str]:
    """`text` in every case of its letters beyond ASCII (LIKE folds only ASCII's)."""
    options = [
        {c} if c.isascii() else {c, *(v for v in (c.lower(), c.upper()) if len(v) == 1)}
        for c in text
    ]
    return sorted({"".join(chars) for chars in product(*options)})


def key_range(box: tuple[float, float, float, float] | None) -> tuple[int, int] | None:
    """The keys of the lanes of latitude steps a box (west, south, east, north) covers."""
    if box is None:
        return None
    _west, south, _east, north = box
    low, high = (_lat_step(south), _lat_step(north))
    return low << LAT_SHIFT, ((high + 1) << LAT_SHIFT) - 1


def _lat_step(lat: float) -> int:
    return max(0, min(STEPS - 1, int((lat + 90) / 180.0 * STEPS)))


def _lon_step(lon: float) -> int:
    return max(0, min(STEPS - 1, int((lon + 180) / 360.0 * STEPS)))


def hits(
    kind: str, text: str, box=None, positioned: bool = False, where: tuple | None = None
) -> tuple[str, list]:
    """SQL selecting the keys (as `key`) whose text holds `text` (searchable): within the
    box's lanes when given, else only those of positioned rows when asked; with `where`, a
    condition and its params on the copies in the keys' rows (alias ALIASES[kind]), only
    those whose copies meet it."""
    fts = FTS[kind]
    if where is None:
        column = "rowid"
        sql = f"SELECT rowid AS key FROM {fts} WHERE {fts} MATCH ?"  # noqa: S608
    else:
        column, alias = "f.rowid", ALIASES[kind]
        sql = (
            f"SELECT f.rowid AS key FROM {fts} f CROSS JOIN {_keys(kind)} {alias}"  # noqa: S608
            f" ON {alias}.key = f.rowid WHERE {fts} MATCH ?"
        )
    params: list = [phrase(text)]
    lanes = key_range(box)
    if lanes is not None:
        sql += f" AND {column} BETWEEN ? AND ?"
        params += list(lanes)
    elif positioned:
        sql += f" AND {column} >= 0"
    if where is not None:
        sql += f" AND ({where[0]})"
        params += list(where[1])
    return sql, params


def condition(kind: str, alias: str, text: str, box=None, scan: bool = False) -> tuple[str, list]:
    """A WHERE condition on the rows (table alias `alias`) whose text holds `text`: from the
    index (only the keys in the box's lanes, when given), or with LIKE for a short text and
    when asked to `scan` (a caller that reads rows in an order of its own until a page is
    full: its hits are dense enough that reading them all from the index costs more). LIKE
    is tried in each case of the letters beyond ASCII (it folds ASCII's itself), so it keeps
    the rows the index keeps, for the letters of Swedish and the other Latin alphabets."""
    key_column, column, _urgent = KINDS[kind]
    if scan or not searchable(text):
        cases = _cases(text)
        sql = " OR ".join(f"{alias}.{column} LIKE ? ESCAPE '\\'" for _ in cases)
        return f"({sql})", [_like(case) for case in cases]
    sql, params = hits(kind, text, box)
    return (
        f"{alias}.{key_column} IN (SELECT k.row FROM {_keys(kind)} k WHERE k.key IN ({sql}))",  # noqa: S608
        params,
    )


def count(db: Database, kind: str, text: str, where: tuple | None = None) -> int:
    """How many rows hold `text` (searchable) and have copies that meet `where` (as in
    `hits`), from the index and its keys alone."""
    sql, params = hits(kind, text, where=where)
    return db.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]  # noqa: S608


def cell_sums(
    db: Database, kind: str, text: str, zoom: int, box, multiplier: int, where=None
) -> dict:
    """The positioned rows whose text holds `text` (searchable) and whose copies meet `where`
    (as in `hits`), in the box's steps, counted
    per cell of the zoom's grid (at most FINEST_ZOOM) from their keys: per cell key (row
    times `multiplier` plus column), [count, sum of latitudes, sum of longitudes, urgent],
    each position the middle of its step (within 3 m of the point's). The rows of full
    steps are not among them (`overflow_condition`)."""
    shift = FINEST_ZOOM - zoom
    lat, lon = f"(key >> {LAT_SHIFT})", f"((key >> {LON_SHIFT}) & {STEPS - 1})"
    sql, params = hits(kind, text, box, positioned=True, where=where)
    select = (
        f"SELECT ({lat} >> {shift}) * {multiplier} + ({lon} >> {shift}) AS cell, count(*),"  # noqa: S608
        f" sum({lat}), sum({lon}), sum((key >> {URGENT_SHIFT}) & 1) FROM ({sql})"
    )
    if box is not None:
        select += f" WHERE {lon} BETWEEN ? AND ?"
        params += [_lon_step(box[0]), _lon_step(box[2])]
    lat_step, lon_step = 180 / STEPS, 360 / STEPS
    return {
        cell: [n, (lats + n / 2) * lat_step - 90 * n, (lons + n / 2) * lon_step - 180 * n, urgent]
        for cell, n, lats, lons, urgent in db.execute(f"{select} GROUP BY cell", params)
    }


def overflowed(db: Database, kind: str) -> bool:
    """Whether a step of this kind ever held more rows than its numbers (`OVERFLOW`)."""
    sql = f"SELECT 1 FROM {_keys(kind)} WHERE key <= ? LIMIT 1"  # noqa: S608
    return db.execute(sql, [OVERFLOW]).fetchone() is not None


def overflow_condition(kind: str, alias: str, text: str) -> tuple[str, list]:
    """A WHERE condition on the rows of full steps whose text holds `text` (searchable)."""
    key_column = KINDS[kind][0]
    sql = (
        f"{alias}.{key_column} IN (SELECT k.row FROM {_keys(kind)} k WHERE k.key IN"  # noqa: S608
        f" (SELECT rowid FROM {FTS[kind]} WHERE {FTS[kind]} MATCH ? AND rowid < ?))"
    )
    return sql, [phrase(text), OVERFLOW + 1]
