"""Text search in observations' descriptions and tasks' measures: a substring anywhere, in
any case (å finds Å, as a Swedish reader expects), answered from a trigram index (SQLite's
FTS5 `trigram` tokenizer) so that a search costs what it finds, not what the database holds.

Each kind has a contentless FTS5 table (`observation_text`, `task_text`: the words are not
stored twice) whose rowid is a *key* that says where the row lies, and a table of keys
(`observation_text_keys`, `task_text_keys`: key, row) that ties each key to its row (an
observation's rowid, a task's id). A positioned row's key is its latitude and longitude in
2**22 steps of the globe each (about 5 m here), whether it is urgent, whether it is open (a
task in an open state, an observation with such a task: `OPEN_SQL`), an observation's
category (`category_code`; 0 for a task), and a number that tells the rows of one step apart:

    latitude step << 41 | longitude step << 19 | urgent << 18 | open << 17 | category << 13
        | number

A row with no position has minus its row as key; a step that already holds 2**13 rows of one
urgency, openness and category (never met, but possible) gives the next one `OVERFLOW` minus
its row, and the map reads those from the rows. The map's grid at zoom z (`mapcells.grid`)
is z + 2 bits of each step, so the map counts a search's hits per cell from the keys alone
(`cell_sums`, with the open ones or an observation's category asked: `Bits`), in the lanes of
keys its box covers, without reading a row. A row's key changes with what it says: its
position, urgency, category, and its openness (a task's state; for an observation, a link
made or undone, or a linked task's state, which its key's row's `states` follow).

The table of keys also holds a copy of what the dashboard's filters ask of a row (`COPIES`:
an observation's category, place, walk, time and urgency; a task's state, priority, party,
due date, place, walk and opening) and of its linked rows (`LINKED`: the states, first open
due date and parties of an observation's tasks; the categories of a task's observations),
so that a search with filters reads the index and its keys (`hits`' `where`), not its hits'
rows.

Triggers keep both tables in the writer's transaction (an insert; an update of the text,
the position or the urgency, or of a copy; a delete; a link between a task and an
observation made, undone or moved; a linked row's copied column changed); `rebuild` builds
them from the rows (a migration, `flask --app app recount`). A trigram needs three characters (the search forms ask for that
many): a shorter text, and a caller that reads rows in an order of its own until its page is
full, are matched with LIKE instead, once per case of the letters.
"""

from dataclasses import dataclass
from itertools import product

from sqlite_utils import Database

from fieldwalk.categories import CATEGORIES
from fieldwalk.tasks.states import OPEN_STATES, OPEN_STATES_SQL, STATES

STEPS = 2**22
LAT_SHIFT, LON_SHIFT, URGENT_SHIFT, OPEN_SHIFT, CATEGORY_SHIFT = 41, 19, 18, 17, 13
NUMBERS = 2**13
CATEGORY_CODES = 2**4  # 0 for none, 1 + the category's place in CATEGORIES
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
# Per kind: what its key's row holds of the rows linked to it (task_observations), each an
# aggregate over those links (`y`) and their rows (`x` an observation, `z` a task):
# an observation's `states` (bit i for its tasks in STATES[i], OTHER for any other; 0: no
# task), `due` (the first due date of its open tasks) and `parties` (",3,0," for tasks of
# party 3 and of none; NULL: no task); a task's `categories` (bit i for its observations in
# CATEGORIES[i]).
OTHER = 31


def _bit(column: str, values) -> str:
    cases = " ".join(f"WHEN '{value}' THEN {i}" for i, value in enumerate(values))
    return f"(1 << CASE {column} {cases} ELSE {OTHER} END)"


LINKED = {
    "observations": {
        "states": f"coalesce(sum(DISTINCT {_bit('z.state', STATES)}), 0)",
        "due": f"min(CASE WHEN z.state IN ({OPEN_STATES_SQL}) THEN z.due_date END)",
        "parties": "',' || group_concat(DISTINCT coalesce(z.party_id, 0)) || ','",
    },
    "tasks": {"categories": f"coalesce(sum(DISTINCT {_bit('x.category', CATEGORIES)}), 0)"},
}
# Those that are 0, not NULL, for a row with no link.
COUNTED = ("states", "categories")
# The link's column that names a row of each kind (by its `id`).
LINK = {"observations": "observation_id", "tasks": "task_id"}
OPEN_BITS = sum(1 << STATES.index(state) for state in OPEN_STATES)


def state_bit(state: str) -> int:
    return 1 << STATES.index(state)


def category_bit(category: str) -> int:
    return 1 << list(CATEGORIES).index(category)


def category_code(category: str) -> int:
    """An observation's category as its key holds it (`CATEGORY_SHIFT`)."""
    return 1 + list(CATEGORIES).index(category)


assert len(CATEGORIES) < CATEGORY_CODES, "the key's category bits hold no more"
# The category code a positioned row's key `key` holds (SQL).
KEY_CATEGORY = f"((key >> {CATEGORY_SHIFT}) & {CATEGORY_CODES - 1})"
# Whether a positioned row's key says it is open (SQL).
KEY_OPEN = f"((key >> {OPEN_SHIFT}) & 1)"
# Per kind: SQL of whether a row `{row}` is open, as its key says: a task in an open state, an
# observation with such a task.
OPEN_SQL = {
    "observations": f"""EXISTS (SELECT 1 FROM task_observations y JOIN tasks z ON z.id = y.task_id
        WHERE y.observation_id = {{row}}.id AND z.state IN ({OPEN_STATES_SQL}))""",  # noqa: S608
    "tasks": f"({{row}}.state IN ({OPEN_STATES_SQL}))",
}
# Per kind: SQL of a row `{row}`'s category code in its key (a task's categories are its
# observations', through the links: none in its key).
CODES = {
    "observations": "(CASE {row}.category "
    + " ".join(f"WHEN '{c}' THEN {category_code(c)}" for c in CATEGORIES)
    + " ELSE 0 END)",
    "tasks": "0",
}


# Per kind: what a row's key says of the row's own columns besides where it lies (SQL of a row
# `{row}`), and those columns: the row gets a new key when one of them changes. (An
# observation's openness is its tasks', through the links: `_open_trigger`.)
KEYED = {
    "observations": (KINDS["observations"][2], CODES["observations"]),
    "tasks": (KINDS["tasks"][2], OPEN_SQL["tasks"]),
}
KEYED_COLUMNS = {"observations": ("urgent", "category"), "tasks": ("priority", "state")}


def _linked(kind: str, link_id: str) -> str:
    """SQL for the row of LINKED[kind]'s values of the row the links name `link_id` (an
    observation's id, a task's id)."""
    return f"""(SELECT {", ".join(LINKED[kind].values())} FROM task_observations y
        JOIN tasks z ON z.id = y.task_id JOIN observations x ON x.id = y.observation_id
        WHERE y.{LINK[kind]} = {link_id})"""  # noqa: S608 - fixed fragments


def _keys(kind: str) -> str:
    return f"{FTS[kind]}_keys"


def _step(value: str, offset: int, span: int) -> str:
    return f"min(CAST(({value} + {offset}) / {span}.0 * {STEPS} AS INTEGER), {STEPS - 1})"


def _base(kind: str, row: str) -> str:
    """A positioned row's key with number 0."""
    urgent = KINDS[kind][2]
    return (
        f"(({_step(f'{row}.lat', 90, 180)} << {LAT_SHIFT})"
        f" | ({_step(f'{row}.lon', 180, 360)} << {LON_SHIFT})"
        f" | ({urgent.format(row=row)} << {URGENT_SHIFT})"
        f" | ({OPEN_SQL[kind].format(row=row)} << {OPEN_SHIFT})"
        f" | ({CODES[kind].format(row=row)} << {CATEGORY_SHIFT}))"
    )


def _new_key(kind: str, row: str) -> str:
    """SQL for the key of the row `row` (NEW in a trigger): the step's next free number."""
    key_column = KINDS[kind][0]
    base = _base(kind, row)
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
    return f"""INSERT INTO {_keys(kind)} (key, row, {columns})
            VALUES ({_new_key(kind, row)}, {row}.{key_column}, {values});
        INSERT INTO {FTS[kind]} (rowid, body)
            SELECT key, {row}.{text} FROM {_keys(kind)} WHERE row = {row}.{key_column};
        {_set_linked(kind, f"{row}.id")}"""  # noqa: S608


def _take(kind: str, row: str) -> str:
    key_column, text, _urgent = KINDS[kind]
    return f"""INSERT INTO {FTS[kind]} ({FTS[kind]}, rowid, body)
            SELECT 'delete', key, {row}.{text} FROM {_keys(kind)} WHERE row = {row}.{key_column};
        DELETE FROM {_keys(kind)} WHERE row = {row}.{key_column};"""  # noqa: S608


def _statements(kind: str) -> list[str]:
    table, fts, keys = kind, FTS[kind], _keys(kind)
    _key, text, _urgent = KINDS[kind]
    watched = (text, "lat", "lon")
    changed = " OR ".join(
        [
            *(f"OLD.{c} IS NOT NEW.{c}" for c in watched),
            *(f"{s.format(row='OLD')} IS NOT {s.format(row='NEW')}" for s in KEYED[kind]),
        ]
    )
    copies = COPIES[kind]
    linked = ", ".join(f"{c} DEFAULT 0" if c in COUNTED else c for c in LINKED[kind])
    return [
        f"""CREATE TABLE {keys} (key INTEGER PRIMARY KEY, row INTEGER NOT NULL UNIQUE,
            {", ".join(copies)}, {linked})""",
        f"CREATE VIRTUAL TABLE {fts} USING fts5(body, content='', tokenize='trigram')",
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {_add(kind, 'NEW')} END",
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {_take(kind, 'OLD')} END",
        f"""CREATE TRIGGER {fts}_update
            AFTER UPDATE OF {", ".join((*watched, *KEYED_COLUMNS[kind]))} ON {table}
            WHEN {changed} BEGIN {_take(kind, "OLD")} {_add(kind, "NEW")} END""",
        f"""CREATE TRIGGER {fts}_copies AFTER UPDATE OF {", ".join(copies)} ON {table}
            WHEN {" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in copies)} BEGIN
            UPDATE {keys} SET {", ".join(f"{c} = NEW.{c}" for c in copies)}
                WHERE row = NEW.{KINDS[kind][0]};
            END""",  # noqa: S608 - fixed fragments
        # What the other kind's linked rows hold of this one (a task's state, due date and
        # party; an observation's category).
        f"""CREATE TRIGGER {fts}_linked AFTER UPDATE OF {", ".join(MOVES_LINKED[kind])}
            ON {table} WHEN {" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in MOVES_LINKED[kind])}
            BEGIN {_set_linked_of(kind)} END""",
        *([_open_trigger()] if kind == "observations" else []),
    ]


def _open_trigger() -> str:
    """An observation's key anew when its key's row's `states` (its tasks', through the links)
    say it is open and its key does not, or the other way round."""
    fts, keys = FTS["observations"], _keys("observations")
    text = KINDS["observations"][1]
    return f"""CREATE TRIGGER {fts}_open AFTER UPDATE OF states ON {keys}
        WHEN NEW.key >= 0 AND (NEW.states & {OPEN_BITS} != 0) != ((NEW.key >> {OPEN_SHIFT}) & 1)
            AND EXISTS (SELECT 1 FROM observations WHERE rowid = NEW.row)
        BEGIN
            INSERT INTO {fts} ({fts}, rowid, body)
                SELECT 'delete', NEW.key, o.{text} FROM observations o WHERE o.rowid = NEW.row;
            UPDATE {keys} SET key = (SELECT {_new_key("observations", "o")} FROM observations o
                WHERE o.rowid = NEW.row) WHERE row = NEW.row;
            INSERT INTO {fts} (rowid, body) SELECT k.key, o.{text} FROM {keys} k
                JOIN observations o ON o.rowid = k.row WHERE k.row = NEW.row;
        END"""  # noqa: S608 - fixed fragments


# The columns of each kind that the other kind's rows hold through their links.
MOVES_LINKED = {"observations": ("category",), "tasks": ("state", "due_date", "party_id")}


def _set_linked(kind: str, link_id: str) -> str:
    """Work out again LINKED[kind] of the row the links name `link_id`."""
    keys, key_column = _keys(kind), KINDS[kind][0]
    rowid = f"(SELECT rowid FROM {kind} WHERE id = {link_id})"  # noqa: S608 - fixed fragments
    row = link_id if key_column == "id" else rowid
    return f"""UPDATE {keys} SET ({", ".join(LINKED[kind])}) = {_linked(kind, link_id)}
        WHERE row = {row};"""  # noqa: S608 - fixed fragments


def _set_linked_of(kind: str) -> str:
    """Work out again LINKED of the other kind's rows linked to NEW (a row of `kind`)."""
    other = "tasks" if kind == "observations" else "observations"
    mine, theirs = LINK[kind], LINK[other]
    keys = _keys(other)
    if other == "observations":
        link_id = f"(SELECT id FROM observations WHERE rowid = {keys}.row)"  # noqa: S608
        rows = f"""(SELECT x.rowid FROM task_observations y
            JOIN observations x ON x.id = y.observation_id WHERE y.{mine} = NEW.id)"""  # noqa: S608
    else:
        link_id = f"{keys}.row"
        rows = f"(SELECT y.{theirs} FROM task_observations y WHERE y.{mine} = NEW.id)"  # noqa: S608
    return f"""UPDATE {keys} SET ({", ".join(LINKED[other])}) = {_linked(other, link_id)}
        WHERE row IN {rows};"""  # noqa: S608 - fixed fragments


LINK_TRIGGERS = ("link", "unlink", "relink")


def _link_triggers() -> list[str]:
    """Triggers keeping LINKED of both rows of a link made, undone or moved (a row's
    deletion undoes its links)."""
    fts = FTS["observations"]

    def both(row: str) -> str:
        return _set_linked("observations", f"{row}.observation_id") + _set_linked(
            "tasks", f"{row}.task_id"
        )

    return [
        f"CREATE TRIGGER {fts}_link AFTER INSERT ON task_observations BEGIN {both('NEW')} END",
        f"CREATE TRIGGER {fts}_unlink AFTER DELETE ON task_observations BEGIN {both('OLD')} END",
        f"""CREATE TRIGGER {fts}_relink AFTER UPDATE OF task_id, observation_id
            ON task_observations BEGIN {both("OLD")} {both("NEW")} END""",
    ]


def drop_statements() -> list[str]:
    return [
        statement
        for kind in KINDS
        for statement in (
            *(
                f"DROP TRIGGER IF EXISTS {FTS[kind]}_{event}"
                for event in (
                    "insert",
                    "delete",
                    "update",
                    "copies",
                    "linked",
                    "open",
                    *LINK_TRIGGERS,
                )
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
    for statement in _link_triggers():
        db.execute(statement)
    indexed = 0
    for kind, (key_column, text, _urgent) in KINDS.items():
        base = _base(kind, "r")
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
    for kind, mine in LINK.items():
        row = "y.task_id" if kind == "tasks" else "x.rowid"
        db.execute(
            f"""UPDATE {_keys(kind)} SET ({", ".join(LINKED[kind])}) = ({", ".join(f"s.{c}" for c in LINKED[kind])})
                FROM (SELECT {row} AS row,
                        {", ".join(f"{sql} AS {c}" for c, sql in LINKED[kind].items())}
                      FROM task_observations y JOIN tasks z ON z.id = y.task_id
                      JOIN observations x ON x.id = y.observation_id GROUP BY y.{mine}) s
                WHERE s.row = {_keys(kind)}.row"""  # noqa: S608
        )
    merge_segments(db)
    return indexed


def merge_segments(db: Database, indexes: list[str] | None = None) -> None:
    """Merge each index's segments (or those of `indexes`) into one (FTS5's `optimize`): a
    bulk insert leaves a score of them, each asked on every search (at 1M a search's hits
    were read a third slower). The index's own merging keeps their number low as rows are
    written one by one after."""
    for fts in indexes if indexes is not None else FTS.values():
        db.execute(f"INSERT INTO {fts} ({fts}) VALUES ('optimize')")  # noqa: S608


def written_since_merge(db: Database) -> list[str]:
    """The indexes written since their last merge (more than one segment). A text changed,
    erased or deleted since is still in their pages: FTS5 marks a row's words deleted in a
    new segment and drops them from the old one only when the two are merged (the
    `secure-delete` option that removes them at once came with SQLite 3.42). The daily purge
    merges these, so what a person had erased cannot be read back from the index."""
    return [
        fts
        for fts in FTS.values()
        if db.execute(f"SELECT count(DISTINCT segid) FROM {fts}_idx").fetchone()[0] > 1  # noqa: S608
    ]


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


def in_box(kind: str, box, where: tuple) -> tuple[str, list]:
    """SQL selecting the rows (as `row`) of the positioned rows in a box (west, south, east,
    north; the steps it touches) whose copies meet `where` (as in `hits`), whatever their
    text: one range of keys per latitude step, so it reads the keys in the box and no
    others (a row of a full step is not among them)."""
    west, south, east, north = box
    alias = ALIASES[kind]
    sql = f"""WITH RECURSIVE lanes(step) AS (SELECT ? UNION ALL SELECT step + 1 FROM lanes
            WHERE step < ?)
        SELECT {alias}.row AS row FROM lanes CROSS JOIN {_keys(kind)} {alias}
        ON {alias}.key BETWEEN (step << {LAT_SHIFT}) | (? << {LON_SHIFT})
            AND (step << {LAT_SHIFT}) | ((? + 1) << {LON_SHIFT}) - 1
        WHERE {where[0]}"""  # noqa: S608 - fixed fragments
    steps = [_lat_step(south), _lat_step(north), _lon_step(west), _lon_step(east)]
    return sql, [*steps, *where[1]]


def hits(
    kind: str,
    text: str,
    box=None,
    positioned: bool = False,
    where: tuple | None = None,
    columns: str | None = None,
) -> tuple[str, list]:
    """SQL selecting the keys (as `key`) whose text holds `text` (searchable): within the
    box's lanes when given, else only those of positioned rows when asked; with `where`, a
    condition and its params on what the keys' rows hold (alias ALIASES[kind]), only those
    that meet it; with `columns`, those of the keys' rows instead of the key."""
    fts = FTS[kind]
    if where is None and columns is None:
        column = "rowid"
        sql = f"SELECT rowid AS key FROM {fts} WHERE {fts} MATCH ?"  # noqa: S608
    else:
        column, alias = "f.rowid", ALIASES[kind]
        sql = (
            f"SELECT {columns or 'f.rowid AS key'} FROM {fts} f"  # noqa: S608
            f" CROSS JOIN {_keys(kind)} {alias} ON {alias}.key = f.rowid WHERE {fts} MATCH ?"
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


@dataclass(frozen=True)
class Bits:
    """What a search asks of its hits that a positioned row's key says besides where it lies:
    an observation's `category`, being `open` (a task in an open state, an observation with
    such a task)."""

    category: str | None = None
    open: bool = False

    def conditions(self, kind: str) -> tuple[list[str], list, list[str], list]:
        """SQL conditions with their params on a positioned row's key (`key`), and the same
        on its key's row (alias ALIASES[kind]) for the others."""
        alias = ALIASES[kind]
        on_key, key_params, on_row, row_params = [], [], [], []
        if self.category is not None:
            on_key.append(f"{KEY_CATEGORY} = ?")
            key_params.append(category_code(self.category))
            on_row.append(f"{alias}.category = ?")
            row_params.append(self.category)
        if self.open:
            on_key.append(f"{KEY_OPEN} = 1")
            on_row.append(
                f"{alias}.states & {OPEN_BITS} != 0"
                if kind == "observations"
                else f"{alias}.state IN ({OPEN_STATES_SQL})"
            )
        return on_key, key_params, on_row, row_params


def count(db: Database, kind: str, text: str, where: tuple | None = None, bits=Bits()) -> int:
    """How many rows hold `text` (searchable), have copies that meet `where` (as in `hits`)
    and are what `bits` asks, from the index and its keys alone: a positioned row's bits
    from its key, any other's (a negative key) from its key's row."""
    sql, params = hits(kind, text, where=where)
    on_key, key_params, on_row, row_params = bits.conditions(kind)
    if not on_key:
        return db.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]  # noqa: S608
    others, other_params = hits(
        kind,
        text,
        where=(
            " AND ".join([where[0] if where else "1", *on_row]),
            [*(where[1] if where else []), *row_params],
        ),
    )
    return db.execute(
        f"""SELECT (SELECT count(*) FROM ({sql}) WHERE key >= 0 AND {" AND ".join(on_key)})
                 + (SELECT count(*) FROM ({others}) WHERE key < 0)""",  # noqa: S608
        [*params, *key_params, *other_params],
    ).fetchone()[0]


def count_rows(db: Database, kind: str, where: tuple) -> int:
    """How many rows have copies that meet `where` (as in `hits`), whatever their text:
    one read of the keys' rows, a narrow table of every row."""
    sql = f"SELECT count(*) FROM {_keys(kind)} {ALIASES[kind]} WHERE {where[0]}"  # noqa: S608
    return db.execute(sql, where[1]).fetchone()[0]


def cell_sums(
    db: Database,
    kind: str,
    text: str,
    zoom: int,
    box,
    multiplier: int,
    where=None,
    bits=Bits(),
) -> dict:
    """The positioned rows whose text holds `text` (searchable), whose copies meet `where`
    (as in `hits`) and that are what `bits` asks (from their keys), in the box's steps, counted
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
    conditions = []
    if box is not None:
        conditions.append(f"{lon} BETWEEN ? AND ?")
        params += [_lon_step(box[0]), _lon_step(box[2])]
    on_key, key_params, _on_row, _row_params = bits.conditions(kind)
    conditions += on_key
    params += key_params
    if conditions:
        select += " WHERE " + " AND ".join(conditions)
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
