"""The dashboard map from grids of running counts, not from every point.

The map's grid (`grid`) is one per zoom: cells `CELL_PX` pixels wide at that zoom (90 / 2**z
degrees of longitude) and half as high in latitude (about square here at 59° north). Both
are a power of two over 90, so a cell's row and column are the same exact division in a
trigger, in a query on the points and in Python.

`map_cells` holds, per kind (observations, tasks), per zoom from `LEVELS[0]` (a city) to
`LEVELS[-1]` (a few houses) and per cell of that zoom's grid, how many positioned rows lie in
it, the sums of their latitudes and longitudes (so a cluster's position is the exact mean of
its points) and how many are urgent. Triggers keep it in the writer's transaction (insert,
an update of the position or urgency, delete); `rebuild_map_cells` recounts it (`flask --app
app recount`).

Besides every row (facet 0), the cells count the rows of each *facet*, a filter the map is
often asked with alone or as a pair (`facet_of`): a category, a task state or the open ones,
a place, a party (or none), a Stockholm month (when observed, when opened) alone or with a
category, the day, month and year open tasks are due on, and two of a category, a task state
and a place. An observation counts in its category's, place's and month's facets and a task
in its state's, place's, party's and months', but the filters also reach across the links: a
task counts in the category of any observation it fixes, an observation in the state and
party of any task that fixes it. So the links keep a copy of their observation's category
and their task's state and party (`task_observations.category`, `.task_state`,
`.task_party`), from which triggers count each task's links per category (`task_categories`,
with copies of the task's state, place and opening) and each observation's per task state
(`observation_states`, with the pseudo-states `open`, `tasked` and `party:<id>`, and copies
of the observation's category and place); a row of those tables exists while the count is
above zero, holds a copy of the row's position and is what puts the row in the facets'
cells. An observation is overdue when its open task due first is: `observation_due` holds
that date (worked out again when a link, or a linked task's state or due date, changes) and
when the observation was observed (its list, newest first); `due_totals` counts per due day
the open tasks and those observations. A facet can also be taken from another, cell by cell
(`cell_sums`' `minus`): the observations with no task are every observation less those
`tasked`.

The map (what every dashboard view sends first, and what panning and zooming it asks, alone
or with such a filter) is then the cells of its zoom in the box: one index range per row
of the grid, so an answer reads the clusters it sends and no others, whatever the database
holds. A cell counts when its mean lies in the box. Coarser than the first level, that
level's cells are grouped by where their mean falls; finer than the last, the points answer.
"""

from datetime import date

from sqlite_utils import Database

from fieldwalk.categories import CATEGORIES
from fieldwalk.reports.totals import stockholm_local_sql
from fieldwalk.tasks.states import OPEN_STATES_SQL, STATES

CELL_PX = 64
TILE_PX = 256
LEVELS = range(10, 20)
# A cell's key: its row (latitude index) times MULTIPLIER plus its column; both indexes stay
# under MULTIPLIER at every zoom the map asks (4 * 2**22 columns at zoom 22).
MULTIPLIER = 2**25
KINDS = {"observations": (0, "({row}.urgent != 0)"), "tasks": (1, "({row}.priority = 'urgent')")}
# The `kind` column: facet * FACET_STEP + zoom * 2 + the kind's index (facet 0: every row).
FACET_STEP = 64
OPEN = "open"  # the facet of the open task states together
TASKED = "tasked"  # the facet of the observations with a task in any state
PLACE_FACETS = 1024  # a place's facet is this plus its id
MONTH_FACETS = 2**24  # a Stockholm month's facet is this plus its months since January 2000
PARTY_FACETS = 2**23  # a party's facet is this plus its id; plus 0: tasks with no party
DUE_FACETS = 2**22  # open tasks due in a month: this plus its months since January 2000
DUE_YEAR_FACETS = DUE_FACETS + 2**21  # due in a year: this plus its years since 2000
DUE_DAY_FACETS = DUE_YEAR_FACETS + 2**20  # due on a day: this plus its days since 2000-01-01
# A task state's (or `open`'s, `tasked`'s) with a category: this plus the state's index times
# PAIR_STEP plus the category's (both as in the facets of each alone).
PAIR_FACETS = 2**21
PAIR_STEP = 64
# A place with a category or a task state (or `open`, `tasked`): this plus the place's id
# times PLACE_STEP plus the category's index, or PAIR_STEP plus the state's.
PLACE_PAIR_FACETS = 2**25
PLACE_STEP = 2 * PAIR_STEP
# A Stockholm month with a category: this plus the month's index (as in month_facet) times
# PAIR_STEP plus the category's.
MONTH_PAIR_FACETS = 2**26
EPOCH = date(2000, 1, 1)
EPOCH_JULIAN = 2451544  # CAST(julianday('2000-01-01') AS INTEGER)
PARTY = "party:"  # observation_states' pseudo-state of a party (its id; 0: none) of its tasks


def _case(column: str, values, first: int) -> str:
    """SQL giving each of `values` its facet (first + its index); NULL for any other value."""
    cases = " ".join(f"WHEN '{value}' THEN {first + i}" for i, value in enumerate(values))
    return f"(CASE {column} {cases} END)"


def category_facet_sql(column: str) -> str:
    return _case(column, CATEGORIES, 1)


def state_facet_sql(column: str) -> str:
    """A task state's facet, and those of `open` and `tasked` (pseudo-states of
    observation_states)."""
    return _case(column, (*STATES, OPEN, TASKED), FACET_STEP)


def facet_of(
    category: str | None = None,
    state: str | None = None,
    place: int | None = None,
    party: int | str | None = None,
):
    """The facet of one filter (a category, a task state or `open`, a place, a party or
    "none"), or of a task state (or `open`, `tasked`) with a category; or None."""
    states = (*STATES, OPEN, TASKED)
    if place is not None and category is not None:
        return PLACE_PAIR_FACETS + place * PLACE_STEP + list(CATEGORIES).index(category)
    if place is not None and state is not None:
        return PLACE_PAIR_FACETS + place * PLACE_STEP + PAIR_STEP + states.index(state)
    if category is not None and state is not None:
        return PAIR_FACETS + states.index(state) * PAIR_STEP + list(CATEGORIES).index(category)
    if party is not None:
        return PARTY_FACETS + (party if isinstance(party, int) else 0)
    if category is not None:
        return 1 + list(CATEGORIES).index(category)
    if state is not None:
        return FACET_STEP + (*STATES, OPEN, TASKED).index(state)
    if place is not None:
        return PLACE_FACETS + place
    return None


def pair_facet_sql(state: str, category: str) -> str:
    """The facet of a task state (or `open`, `tasked`) with a category; NULL when either has
    none."""
    return (
        f"({PAIR_FACETS} + ({state_facet_sql(state)} - {FACET_STEP}) * {PAIR_STEP}"
        f" + {category_facet_sql(category)} - 1)"
    )


def place_category_facet_sql(place: str, category: str) -> str:
    """The facet of a place with a category; NULL when either is missing."""
    return f"({PLACE_PAIR_FACETS} + {place} * {PLACE_STEP} + {category_facet_sql(category)} - 1)"


def place_state_facet_sql(place: str, state: str) -> str:
    """The facet of a place with a task state (or `open`, `tasked`); NULL when either is
    missing."""
    return (
        f"({PLACE_PAIR_FACETS} + {place} * {PLACE_STEP} + {PAIR_STEP}"
        f" + {state_facet_sql(state)} - {FACET_STEP})"
    )


def observation_state_facet_sql(column: str) -> str:
    """The facet of a pseudo-state of observation_states: a task state's, `open`'s,
    `tasked`'s or a party's."""
    party = f"{PARTY_FACETS} + CAST(substr({column}, {len(PARTY) + 1}) AS INTEGER)"
    return (
        f"coalesce({state_facet_sql(column)}, CASE WHEN {column} LIKE '{PARTY}%' THEN {party} END)"
    )


def due_month_facet(year: int, month: int) -> int:
    return DUE_FACETS + (year - 2000) * 12 + month - 1


def due_month_facet_sql(column: str) -> str:
    """The facet of the month of a due date (YYYY-MM-DD, the district's calendar)."""
    return (
        f"({DUE_FACETS} + (CAST(substr({column}, 1, 4) AS INTEGER) - 2000) * 12"
        f" + CAST(substr({column}, 6, 2) AS INTEGER) - 1)"
    )


def due_year_facet(year: int) -> int:
    return DUE_YEAR_FACETS + year - 2000


def due_year_facet_sql(column: str) -> str:
    """The facet of the year of a due date (YYYY-MM-DD)."""
    return f"({DUE_YEAR_FACETS} + CAST(substr({column}, 1, 4) AS INTEGER) - 2000)"


def due_day_facet(day: date) -> int:
    return DUE_DAY_FACETS + (day - EPOCH).days


def due_day_facet_sql(column: str) -> str:
    """The facet of a due date's day (YYYY-MM-DD; julianday is a day's noon less 0,5)."""
    return f"({DUE_DAY_FACETS} + CAST(julianday({column}) AS INTEGER) - {EPOCH_JULIAN})"


def month_facet(year: int, month: int) -> int:
    return MONTH_FACETS + (year - 2000) * 12 + month - 1


def _month_index_sql(column: str) -> str:
    """The Stockholm month of a UTC `*_at` value (the reports' local time), as months since
    January 2000."""
    local = stockholm_local_sql(column)
    return (
        f"((CAST(substr({local}, 1, 4) AS INTEGER) - 2000) * 12"
        f" + CAST(substr({local}, 6, 2) AS INTEGER) - 1)"
    )


def month_facet_sql(column: str) -> str:
    """The facet of the Stockholm month of a UTC `*_at` value."""
    return f"({MONTH_FACETS} + {_month_index_sql(column)})"


def month_category_facet(year: int, month: int, category: str) -> int:
    index = (year - 2000) * 12 + month - 1
    return MONTH_PAIR_FACETS + index * PAIR_STEP + list(CATEGORIES).index(category)


def month_category_facet_sql(column: str, category: str) -> str:
    """The facet of the Stockholm month of a UTC `*_at` value with a category."""
    return (
        f"({MONTH_PAIR_FACETS} + {_month_index_sql(column)} * {PAIR_STEP}"
        f" + {category_facet_sql(category)} - 1)"
    )


def _open_due(facet_sql) -> str:
    """The facet `facet_sql` gives an open task's due date; NULL for any other task."""
    return (
        f"(CASE WHEN {{row}}.state IN ({OPEN_STATES_SQL}) AND {{row}}.due_date IS NOT NULL"
        f" THEN {facet_sql('{row}.due_date')} END)"
    )


# The year an open task is due in, and an observation's first due date (m057 adds them); the
# day (m062).
TASK_DUE_YEAR = _open_due(due_year_facet_sql)
OBSERVATION_DUE_YEAR = due_year_facet_sql("{row}.due")
TASK_DUE_DAY = _open_due(due_day_facet_sql)
OBSERVATION_DUE_DAY = due_day_facet_sql("{row}.due")


# Per kind, the facets a row is in by its own columns (SQL of a row `{row}`; NULL: none): an
# observation in its month by when it was observed, a task by when it was opened (the date
# filters' times, fieldwalk/dashboard/filters.py's WHEN).
OWN_FACETS = {
    "observations": (
        "0",
        category_facet_sql("{row}.category"),
        f"{PLACE_FACETS} + {{row}}.place_id",
        month_facet_sql("{row}.observed_at"),
        place_category_facet_sql("{row}.place_id", "{row}.category"),
        month_category_facet_sql("{row}.observed_at", "{row}.category"),
    ),
    "tasks": (
        "0",
        state_facet_sql("{row}.state"),
        f"(CASE WHEN {{row}}.state IN ({OPEN_STATES_SQL}) THEN {facet_of(state=OPEN)} END)",
        f"{PLACE_FACETS} + {{row}}.place_id",
        month_facet_sql("{row}.created_at"),
        f"{PARTY_FACETS} + coalesce({{row}}.party_id, 0)",
        _open_due(due_month_facet_sql),
        TASK_DUE_YEAR,
        TASK_DUE_DAY,
        place_state_facet_sql("{row}.place_id", "{row}.state"),
        f"(CASE WHEN {{row}}.state IN ({OPEN_STATES_SQL})"
        f" THEN {place_state_facet_sql('{row}.place_id', repr(OPEN))} END)",
    ),
}
WATCHED = {
    "observations": ("lat", "lon", "urgent", "category", "place_id", "observed_at"),
    "tasks": (
        "lat",
        "lon",
        "priority",
        "state",
        "place_id",
        "created_at",
        "party_id",
        "due_date",
    ),
}
# The facets a row is in through its links: per table that counts them, the kind of row it
# puts in a facet, the facets (SQL of its row `{row}`) and the columns that move it.
CROSS = {
    # A task by the categories of its observations; with its state and `open` when it is.
    "task_categories": (
        "tasks",
        (
            category_facet_sql("{row}.category"),
            pair_facet_sql("{row}.state", "{row}.category"),
            f"(CASE WHEN {{row}}.state IN ({OPEN_STATES_SQL})"
            f" THEN {pair_facet_sql(repr(OPEN), '{row}.category')} END)",
            place_category_facet_sql("{row}.place", "{row}.category"),
            month_category_facet_sql("{row}.created", "{row}.category"),
        ),
        ("lat", "lon", "urgent", "state", "place", "created"),
    ),
    # An observation by its tasks' states (`open`, `tasked`, parties); with its category.
    "observation_states": (
        "observations",
        (
            observation_state_facet_sql("{row}.state"),
            pair_facet_sql("{row}.state", "{row}.category"),
            place_state_facet_sql("{row}.place", "{row}.state"),
        ),
        ("lat", "lon", "urgent", "category", "place"),
    ),
    # An observation is overdue when its open task due first is: by that due date's month.
    "observation_due": (
        "observations",
        (due_month_facet_sql("{row}.due"), OBSERVATION_DUE_YEAR, OBSERVATION_DUE_DAY),
        ("lat", "lon", "urgent"),
    ),
}

# The overdue observations newest first (the dashboard's list filtered by overdue alone):
# observation_due copies when each was observed.
OBSERVATION_DUE_OBSERVED = (
    "CREATE INDEX IF NOT EXISTS observation_due_observed ON observation_due(observed, due)"
)
DDL = """CREATE TABLE map_cells (
    kind INTEGER NOT NULL, cell INTEGER NOT NULL, n INTEGER NOT NULL,
    sum_lat REAL NOT NULL, sum_lon REAL NOT NULL, urgent INTEGER NOT NULL,
    PRIMARY KEY (kind, cell)
) WITHOUT ROWID"""
CROSS_DDL = (
    """CREATE TABLE task_categories (
        task_id INTEGER NOT NULL, category TEXT NOT NULL, n INTEGER NOT NULL,
        lat REAL, lon REAL, urgent INTEGER NOT NULL, state TEXT, place INTEGER, created TEXT,
        PRIMARY KEY (task_id, category)
    ) WITHOUT ROWID""",
    """CREATE TABLE observation_states (
        observation_id TEXT NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL,
        lat REAL, lon REAL, urgent INTEGER NOT NULL, category TEXT, place INTEGER,
        PRIMARY KEY (observation_id, state)
    ) WITHOUT ROWID""",
    """CREATE TABLE observation_due (
        observation_id TEXT NOT NULL PRIMARY KEY, due TEXT NOT NULL,
        lat REAL, lon REAL, urgent INTEGER NOT NULL, observed TEXT
    ) WITHOUT ROWID""",
    "CREATE INDEX observation_due_due ON observation_due(due, lat, lon, urgent)",
    OBSERVATION_DUE_OBSERVED,
)


def grid(zoom: int) -> tuple[float, float]:
    """A cell's height and width in degrees at a zoom: CELL_PX pixels of longitude on a
    TILE_PX tile, half of that in latitude (both exact binary fractions)."""
    width = CELL_PX * 360 / (TILE_PX * 2**zoom)
    return width / 2, width


def code(kind: str, zoom: int) -> int:
    """The `kind` column of a kind's cells at a zoom."""
    return KINDS[kind][0] + len(KINDS) * zoom


def _sides(zoom: int) -> tuple[str, str]:
    """grid(zoom) as SQL that computes the same doubles (a power of two over 90 is exact;
    a long decimal literal might be parsed a last bit apart)."""
    return f"(90.0 / {2 ** (zoom + 1)})", f"(90.0 / {2**zoom})"


def _cell(row: str, zoom: int) -> str:
    height, width = _sides(zoom)
    return (
        f"CAST(({row}.lat + 90) / {height} AS INTEGER) * {MULTIPLIER}"
        f" + CAST(({row}.lon + 180) / {width} AS INTEGER)"
    )


def _kind_sql(kind: str, zoom: int, facet: str) -> str:
    return f"({facet}) * {FACET_STEP} + {code(kind, zoom)}"


# The levels as rows, for one statement that counts a row at every level: a level's cell is
# the same division as `_cell`'s (90.0 over a power of two, computed exactly either way).
_LEVEL_ROWS = " UNION ALL ".join(f"SELECT {zoom} AS zoom" for zoom in LEVELS)


def _cells_of(kind: str, row: str, facets) -> str:
    """SQL listing (kind, cell) of row `row` (NEW, OLD) at every level in each of `facets`."""
    index = KINDS[kind][0]
    facet_rows = " UNION ALL ".join(f"SELECT {facet} AS facet" for facet in facets)
    return f"""SELECT f.facet * {FACET_STEP} + {index} + {len(KINDS)} * z.zoom AS kind,
            CAST(({row}.lat + 90) / (90.0 / (1 << (z.zoom + 1))) AS INTEGER) * {MULTIPLIER}
            + CAST(({row}.lon + 180) / (90.0 / (1 << z.zoom)) AS INTEGER) AS cell
        FROM ({_LEVEL_ROWS}) z, ({facet_rows}) f
        WHERE f.facet IS NOT NULL AND {row}.lat IS NOT NULL AND {row}.lon IS NOT NULL"""  # noqa: S608


def _add(kind: str, row: str, facets, urgent: str) -> str:
    """A statement that counts row `row` in its cells of each of `facets` (SQL)."""
    return f"""INSERT INTO map_cells (kind, cell, n, sum_lat, sum_lon, urgent)
        SELECT kind, cell, 1, {row}.lat, {row}.lon, {urgent} FROM ({_cells_of(kind, row, facets)})
        WHERE true ON CONFLICT (kind, cell) DO UPDATE SET n = n + 1,
            sum_lat = sum_lat + excluded.sum_lat, sum_lon = sum_lon + excluded.sum_lon,
            urgent = urgent + excluded.urgent;"""  # noqa: S608


def _take(kind: str, row: str, facets, urgent: str) -> str:
    """Statements that take row `row` out of its cells of each of `facets`."""
    cells = _cells_of(kind, row, facets)
    return f"""UPDATE map_cells SET n = n - 1, sum_lat = sum_lat - {row}.lat,
            sum_lon = sum_lon - {row}.lon, urgent = urgent - {urgent}
        WHERE (kind, cell) IN ({cells});
        DELETE FROM map_cells WHERE (kind, cell) IN ({cells}) AND n = 0;"""  # noqa: S608


def _changed(columns) -> str:
    return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


def _own_triggers(table: str) -> list[str]:
    """A row in its cells of every row (facet 0) and of its own facets."""
    urgent = KINDS[table][1]

    def add(row: str) -> str:
        facets = [f.format(row=row) for f in OWN_FACETS[table]]
        return _add(table, row, facets, urgent.format(row=row))

    def take(row: str) -> str:
        facets = [f.format(row=row) for f in OWN_FACETS[table]]
        return _take(table, row, facets, urgent.format(row=row))

    watched = WATCHED[table]
    return [
        f"CREATE TRIGGER {table}_map_cells_insert AFTER INSERT ON {table} BEGIN {add('NEW')} END",
        f"CREATE TRIGGER {table}_map_cells_delete AFTER DELETE ON {table} BEGIN {take('OLD')} END",
        f"""CREATE TRIGGER {table}_map_cells_update AFTER UPDATE OF {", ".join(watched)}
            ON {table} WHEN {_changed(watched)} BEGIN {take("OLD")} {add("NEW")} END""",
    ]


def _cross_triggers(table: str) -> list[str]:
    """A row in the cells of a facet it is in through its links, while `table` holds it."""
    kind, facets, moved = CROSS[table]

    def add(row: str) -> str:
        return _add(kind, row, [facet.format(row=row) for facet in facets], f"{row}.urgent")

    def take(row: str) -> str:
        return _take(kind, row, [facet.format(row=row) for facet in facets], f"{row}.urgent")

    return [
        f"CREATE TRIGGER {table}_cells_insert AFTER INSERT ON {table} BEGIN {add('NEW')} END",
        f"CREATE TRIGGER {table}_cells_delete AFTER DELETE ON {table} BEGIN {take('OLD')} END",
        f"""CREATE TRIGGER {table}_cells_update AFTER UPDATE OF {", ".join(moved)} ON {table}
            WHEN {_changed(moved)} BEGIN {take("OLD")} {add("NEW")} END""",
    ]


def _uncount_category(row: str) -> str:
    return f"""UPDATE task_categories SET n = n - 1
            WHERE task_id = {row}.task_id AND category = {row}.category;
        DELETE FROM task_categories
            WHERE task_id = {row}.task_id AND category = {row}.category AND n = 0;"""  # noqa: S608


def _count_category(row: str) -> str:
    return f"""INSERT INTO task_categories
                (task_id, category, n, lat, lon, urgent, state, place, created)
            SELECT {row}.task_id, {row}.category, 1, t.lat, t.lon, t.priority = 'urgent',
                t.state, t.place_id, t.created_at
            FROM tasks t WHERE t.id = {row}.task_id
            ON CONFLICT (task_id, category) DO UPDATE SET n = n + 1;"""  # noqa: S608


def _uncount_state(row: str) -> str:
    """Down by one, the link's state, `open` when it is one, and `tasked` (rows at zero stay
    until `_prune_states`, so a move between two open states does not take it out of `open`,
    nor any move out of `tasked`)."""
    return f"""UPDATE observation_states SET n = n - 1
        WHERE observation_id = {row}.observation_id AND (state = {row}.task_state
            OR (state = '{OPEN}' AND {row}.task_state IN ({OPEN_STATES_SQL}))
            OR (state = '{TASKED}' AND {row}.task_state IS NOT NULL));"""  # noqa: S608


def _count_state(row: str) -> str:
    return f"""INSERT INTO observation_states
                (observation_id, state, n, lat, lon, urgent, category, place)
            SELECT {row}.observation_id, s.state, 1, o.lat, o.lon, o.urgent != 0, o.category,
                o.place_id
            FROM observations o, (SELECT {row}.task_state AS state UNION ALL SELECT '{OPEN}'
                WHERE {row}.task_state IN ({OPEN_STATES_SQL})
                UNION ALL SELECT '{TASKED}' WHERE {row}.task_state IS NOT NULL) s
            WHERE o.id = {row}.observation_id
            ON CONFLICT (observation_id, state) DO UPDATE SET n = n + 1;"""  # noqa: S608


def _prune_states(row: str) -> str:
    return f"DELETE FROM observation_states WHERE observation_id = {row}.observation_id AND n = 0;"  # noqa: S608


def _uncount_party(row: str) -> str:
    return f"""UPDATE observation_states SET n = n - 1
        WHERE observation_id = {row}.observation_id AND state = '{PARTY}' || {row}.task_party;"""  # noqa: S608


def _count_party(row: str) -> str:
    return f"""INSERT INTO observation_states
                (observation_id, state, n, lat, lon, urgent, category, place)
            SELECT {row}.observation_id, '{PARTY}' || {row}.task_party, 1, o.lat, o.lon,
                o.urgent != 0, o.category, o.place_id
            FROM observations o WHERE o.id = {row}.observation_id
            ON CONFLICT (observation_id, state) DO UPDATE SET n = n + 1;"""  # noqa: S608


def _uncount(row: str) -> str:
    """Statements that take the link `row` out of its task's category count and its
    observation's state counts (`open`, `tasked` and its task's party too), by the link's
    copies."""
    return _uncount_category(row) + _uncount_state(row) + _uncount_party(row) + _prune_states(row)


def _party_copy(task: str) -> str:
    """A task's party as the links copy it (`task`: its row's prefix): its id, 0 for none
    (NULL in a link: not copied yet)."""
    return f"coalesce({task}party_id, 0)"


_COPIES = f"""UPDATE task_observations SET
        category = (SELECT category FROM observations WHERE id = NEW.observation_id),
        task_state = (SELECT state FROM tasks WHERE id = NEW.task_id),
        task_party = (SELECT {_party_copy("")} FROM tasks WHERE id = NEW.task_id)
    WHERE task_id = NEW.task_id AND observation_id = NEW.observation_id;"""  # noqa: S608


def _due_again(ids: str) -> str:
    """Statements that work out again when the open tasks of the observations `ids` (SQL
    giving their ids) are first due: the earliest due date of their open linked tasks, or
    no row."""
    return f"""DELETE FROM observation_due WHERE observation_id IN ({ids});
        INSERT INTO observation_due (observation_id, due, lat, lon, urgent, observed)
            SELECT y.observation_id, min(z.due_date), o.lat, o.lon, o.urgent != 0,
                o.observed_at
            FROM task_observations y JOIN tasks z ON z.id = y.task_id
                JOIN observations o ON o.id = y.observation_id
            WHERE y.observation_id IN ({ids}) AND z.state IN ({OPEN_STATES_SQL})
                AND z.due_date IS NOT NULL
            GROUP BY y.observation_id;"""  # noqa: S608


def _due_triggers() -> list[str]:
    """observation_due follows the links and their tasks' states and due dates."""
    return [
        "CREATE TRIGGER task_observations_due_insert AFTER INSERT ON task_observations BEGIN"
        f" {_due_again('NEW.observation_id')} END",
        "CREATE TRIGGER task_observations_due_delete AFTER DELETE ON task_observations BEGIN"
        f" {_due_again('OLD.observation_id')} END",
        f"""CREATE TRIGGER task_observations_due_relink AFTER UPDATE OF task_id, observation_id
            ON task_observations
            WHEN OLD.task_id IS NOT NEW.task_id OR OLD.observation_id IS NOT NEW.observation_id
            BEGIN {_due_again("OLD.observation_id, NEW.observation_id")} END""",
        f"""CREATE TRIGGER tasks_due AFTER UPDATE OF state, due_date ON tasks
            WHEN OLD.state IS NOT NEW.state OR OLD.due_date IS NOT NEW.due_date BEGIN
            {_due_again("SELECT observation_id FROM task_observations WHERE task_id = NEW.id")}
            END""",  # noqa: S608 - constants
        # A deleted observation's links go with it, maybe while it is still there to read.
        """CREATE TRIGGER observations_due_delete AFTER DELETE ON observations BEGIN
            DELETE FROM observation_due WHERE observation_id = OLD.id; END""",
        """CREATE TRIGGER observations_due_observed AFTER UPDATE OF observed_at ON observations
            WHEN OLD.observed_at IS NOT NEW.observed_at BEGIN
            UPDATE observation_due SET observed = NEW.observed_at WHERE observation_id = NEW.id;
            END""",
    ]


def _link_triggers() -> list[str]:
    """The links' copies of their observation's category and task's state, and the counts
    made from them. A copy set from NULL counts the link; one set to NULL does not (a relink
    takes the old pair out first, then fills the copies again)."""
    return [
        f"CREATE TRIGGER task_observations_copies AFTER INSERT ON task_observations BEGIN"
        f" {_COPIES} END",
        f"""CREATE TRIGGER task_observations_category AFTER UPDATE OF category
            ON task_observations WHEN OLD.category IS NOT NEW.category
                AND NEW.category IS NOT NULL AND OLD.task_id = NEW.task_id
            BEGIN {_uncount_category("OLD")} {_count_category("NEW")} END""",
        f"""CREATE TRIGGER task_observations_task_state AFTER UPDATE OF task_state
            ON task_observations WHEN OLD.task_state IS NOT NEW.task_state
                AND NEW.task_state IS NOT NULL AND OLD.observation_id = NEW.observation_id
            BEGIN {_uncount_state("OLD")} {_count_state("NEW")} {_prune_states("OLD")} END""",
        f"""CREATE TRIGGER task_observations_task_party AFTER UPDATE OF task_party
            ON task_observations WHEN OLD.task_party IS NOT NEW.task_party
                AND NEW.task_party IS NOT NULL AND OLD.observation_id = NEW.observation_id
            BEGIN {_uncount_party("OLD")} {_count_party("NEW")} {_prune_states("OLD")} END""",
        f"""CREATE TRIGGER task_observations_relink AFTER UPDATE OF task_id, observation_id
            ON task_observations
            WHEN OLD.task_id IS NOT NEW.task_id OR OLD.observation_id IS NOT NEW.observation_id
            BEGIN {_uncount("OLD")}
            UPDATE task_observations SET category = NULL, task_state = NULL, task_party = NULL
                WHERE task_id = NEW.task_id AND observation_id = NEW.observation_id;
            {_COPIES} END""",  # noqa: S608 - constants
        f"CREATE TRIGGER task_observations_uncount AFTER DELETE ON task_observations BEGIN"
        f" {_uncount('OLD')} END",
        # The rows' own changes reach the links' copies and the counts' positions.
        """CREATE TRIGGER observations_links_category AFTER UPDATE OF category ON observations
            WHEN OLD.category IS NOT NEW.category BEGIN
            UPDATE task_observations SET category = NEW.category WHERE observation_id = NEW.id;
            END""",
        """CREATE TRIGGER tasks_links_state AFTER UPDATE OF state ON tasks
            WHEN OLD.state IS NOT NEW.state BEGIN
            UPDATE task_observations SET task_state = NEW.state WHERE task_id = NEW.id;
            END""",
        f"""CREATE TRIGGER tasks_links_party AFTER UPDATE OF party_id ON tasks
            WHEN OLD.party_id IS NOT NEW.party_id BEGIN
            UPDATE task_observations SET task_party = {_party_copy("NEW.")}
                WHERE task_id = NEW.id;
            END""",  # noqa: S608 - constants
        """CREATE TRIGGER observations_states_moved
            AFTER UPDATE OF lat, lon, urgent, category, place_id ON observations
            WHEN OLD.lat IS NOT NEW.lat OR OLD.lon IS NOT NEW.lon OR OLD.urgent IS NOT NEW.urgent
                OR OLD.category IS NOT NEW.category OR OLD.place_id IS NOT NEW.place_id BEGIN
            UPDATE observation_states SET lat = NEW.lat, lon = NEW.lon, urgent = NEW.urgent != 0,
                category = NEW.category, place = NEW.place_id WHERE observation_id = NEW.id;
            UPDATE observation_due SET lat = NEW.lat, lon = NEW.lon, urgent = NEW.urgent != 0
                WHERE observation_id = NEW.id;
            END""",
        """CREATE TRIGGER tasks_categories_moved
            AFTER UPDATE OF lat, lon, priority, state, place_id, created_at ON tasks
            WHEN OLD.lat IS NOT NEW.lat OR OLD.lon IS NOT NEW.lon
                OR OLD.priority IS NOT NEW.priority OR OLD.state IS NOT NEW.state
                OR OLD.place_id IS NOT NEW.place_id OR OLD.created_at IS NOT NEW.created_at
            BEGIN
            UPDATE task_categories SET lat = NEW.lat, lon = NEW.lon,
                urgent = NEW.priority = 'urgent', state = NEW.state, place = NEW.place_id,
                created = NEW.created_at WHERE task_id = NEW.id;
            END""",
    ]


TRIGGER_NAMES = (
    *(f"{t}_map_cells_{w}" for t in KINDS for w in ("insert", "delete", "update")),
    *(f"{t}_cells_{w}" for t in CROSS for w in ("insert", "delete", "update")),
    "task_observations_copies",
    "task_observations_category",
    "task_observations_task_state",
    "task_observations_task_party",
    "task_observations_relink",
    "task_observations_uncount",
    "observations_links_category",
    "tasks_links_state",
    "tasks_links_party",
    "task_observations_due_insert",
    "task_observations_due_delete",
    "task_observations_due_relink",
    "tasks_due",
    "observations_due_delete",
    "observations_due_observed",
    "observations_states_moved",
    "tasks_categories_moved",
)


def trigger_statements() -> list[str]:
    """The CREATE TRIGGER statements keeping `map_cells` and the counts of the facets that
    reach across the links (a migration runs them)."""
    return [
        *_own_triggers("observations"),
        *_own_triggers("tasks"),
        *_cross_triggers("task_categories"),
        *_cross_triggers("observation_states"),
        *_cross_triggers("observation_due"),
        *_link_triggers(),
        *_due_triggers(),
    ]


def drop_statements() -> list[str]:
    """DROP statements for the triggers, the cells and the counts across the links."""
    return [
        *(f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGER_NAMES),
        "DROP TABLE IF EXISTS map_cells",
        "DROP TABLE IF EXISTS link_totals",
        *(f"DROP TRIGGER IF EXISTS {name}" for name in DUE_TOTAL_TRIGGERS),
        "DROP TABLE IF EXISTS due_totals",
        *(f"DROP TABLE IF EXISTS {table}" for table in CROSS),
    ]


def build(db: Database) -> None:
    """Drop the cells, their triggers and counts, and build them all again from the rows as
    this module says (each migration that changes them calls this; the links' copies are
    added where they are missing)."""
    for statement in drop_statements():
        db.execute(statement)
    columns = {row[1] for row in db.execute("PRAGMA table_info(task_observations)")}
    for column, kind in (("category", "TEXT"), ("task_state", "TEXT"), ("task_party", "INTEGER")):
        if column not in columns:
            db.execute(f"ALTER TABLE task_observations ADD COLUMN {column} {kind}")
    for statement in (DDL, *CROSS_DDL, *trigger_statements()):
        db.execute(statement)
    rebuild_map_cells(db)
    build_link_totals(db)
    build_due_totals(db)


# How many rows each facet across the links holds, whatever their position: per pseudo-state
# of observation_states (its observations: of a state, open, tasked, a party's) and per
# category of task_categories (its tasks). Triggers on those tables keep it (a row there is
# one observation or task in that facet once a statement is done, its rows at zero pruned).
LINK_TOTALS_DDL = """CREATE TABLE link_totals (
    kind TEXT NOT NULL, facet TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (kind, facet)
) WITHOUT ROWID"""
LINK_TOTALS = {
    "observation_states": ("observations", "state"),
    "task_categories": ("tasks", "category"),
}


def _link_total_triggers() -> list[str]:
    statements = []
    for table, (kind, column) in LINK_TOTALS.items():
        statements += [
            f"""CREATE TRIGGER {table}_totals_insert AFTER INSERT ON {table} BEGIN
                INSERT INTO link_totals (kind, facet, n) VALUES ('{kind}', NEW.{column}, 1)
                ON CONFLICT (kind, facet) DO UPDATE SET n = n + 1; END""",  # noqa: S608
            f"""CREATE TRIGGER {table}_totals_delete AFTER DELETE ON {table} BEGIN
                UPDATE link_totals SET n = n - 1 WHERE kind = '{kind}' AND facet = OLD.{column};
                END""",  # noqa: S608
        ]
    return statements


def build_link_totals(db: Database) -> None:
    """Make `link_totals` and its triggers (again) and count it from the tables across the
    links (a migration; `build` after it makes those tables again)."""
    for table in LINK_TOTALS:
        for event in ("insert", "delete"):
            db.execute(f"DROP TRIGGER IF EXISTS {table}_totals_{event}")
    db.execute("DROP TABLE IF EXISTS link_totals")
    db.execute(LINK_TOTALS_DDL)
    for statement in _link_total_triggers():
        db.execute(statement)
    recount_link_totals(db)


def recount_link_totals(db: Database) -> None:
    db.execute("DELETE FROM link_totals")
    for table, (kind, column) in LINK_TOTALS.items():
        db.execute(
            f"""INSERT INTO link_totals (kind, facet, n)
                SELECT '{kind}', {column}, count(*) FROM {table} GROUP BY {column}"""  # noqa: S608
        )


# How many open tasks are due each day, and observations whose open task due first is
# (observation_due): what is overdue today is the sum of the days before it, a few thousand
# rows at most over the years, not every overdue row. Triggers keep it like link_totals.
DUE_TOTALS_DDL = """CREATE TABLE due_totals (
    kind TEXT NOT NULL, due TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (kind, due)
) WITHOUT ROWID"""
_DUE_ADD = """INSERT INTO due_totals (kind, due, n) SELECT '{kind}', {due}, 1 WHERE {when}
    ON CONFLICT (kind, due) DO UPDATE SET n = n + 1;"""
_DUE_TAKE = "UPDATE due_totals SET n = n - 1 WHERE kind = '{kind}' AND due = {due} AND {when};"
_TASK_DUE = f"{{row}}.state IN ({OPEN_STATES_SQL}) AND {{row}}.due_date IS NOT NULL"


def _due_trigger(event: str, table: str, kind: str, column: str, when: str) -> str:
    """A trigger body that takes the old row's day off and adds the new row's (each when
    `when`, said of {row}, holds for it): an insert only adds, a delete only takes."""
    steps = []
    if event != "INSERT":
        steps.append(_DUE_TAKE.format(kind=kind, due=f"OLD.{column}", when=when.format(row="OLD")))
    if event != "DELETE":
        steps.append(_DUE_ADD.format(kind=kind, due=f"NEW.{column}", when=when.format(row="NEW")))
    return f"AFTER {event} ON {table} BEGIN {' '.join(steps)} END"


DUE_TOTAL_TRIGGERS = {
    f"{table}_due_totals_{event.split()[0].lower()}": _due_trigger(event, table, kind, column, when)
    for table, kind, column, when, update in (
        ("tasks", "tasks", "due_date", _TASK_DUE, "UPDATE OF state, due_date"),
        ("observation_due", "observations", "due", "{row}.due IS NOT NULL", "UPDATE OF due"),
    )
    for event in ("INSERT", "DELETE", update)
}


def build_due_totals(db: Database) -> None:
    """Make `due_totals` and its triggers (again) and count it from the rows (a migration;
    `build` calls it after making observation_due again)."""
    for name in DUE_TOTAL_TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    db.execute("DROP TABLE IF EXISTS due_totals")
    db.execute(DUE_TOTALS_DDL)
    for name, body in DUE_TOTAL_TRIGGERS.items():
        db.execute(f"CREATE TRIGGER {name} {body}")
    recount_due_totals(db)


def recount_due_totals(db: Database) -> None:
    db.execute("DELETE FROM due_totals")
    db.execute(
        f"""INSERT INTO due_totals (kind, due, n)
            SELECT 'tasks', due_date, count(*) FROM tasks WHERE {_TASK_DUE.format(row="tasks")}
            GROUP BY due_date"""  # noqa: S608
    )
    db.execute(
        """INSERT INTO due_totals (kind, due, n) SELECT 'observations', due, count(*)
           FROM observation_due WHERE due IS NOT NULL GROUP BY due"""
    )


def due_before(db: Database, kind: str, day: str) -> int:
    """How many rows of `kind` are overdue on `day`: open tasks due before it, observations
    whose open task due first is."""
    return db.execute(
        "SELECT coalesce(sum(n), 0) FROM due_totals WHERE kind = ? AND due < ?", [kind, day]
    ).fetchone()[0]


def link_total(db: Database, kind: str, facet: str) -> int:
    """How many rows of `kind` are in a facet across the links (`LINK_TOTALS`)."""
    row = db.execute(
        "SELECT n FROM link_totals WHERE kind = ? AND facet = ?", [kind, facet]
    ).fetchone()
    return row[0] if row else 0


def add_due_observed(db: Database) -> None:
    """Give observation_due its copy of when each observation was observed, its index and
    the trigger that keeps it (a migration; a database built since has them)."""
    if "observed" not in {row[1] for row in db.execute("PRAGMA table_info(observation_due)")}:
        db.execute("ALTER TABLE observation_due ADD COLUMN observed TEXT")
        db.execute(
            """UPDATE observation_due SET observed =
                   (SELECT observed_at FROM observations WHERE id = observation_id)"""
        )
    db.execute(OBSERVATION_DUE_OBSERVED)
    add_facets(db, {})


def add_facets(db: Database, added: dict[str, tuple[str, ...]]) -> int:
    """Replace the triggers with this module's and count the cells of the facets `added`
    (per table, own or across the links, facets of its OWN_FACETS or CROSS) from the rows:
    for a migration that adds facets, instead of building everything again. A facet's cells
    already there are counted again, not twice (a database upgraded from before `build`
    first ran has them from it, built as this module says now). Returns the cells added."""
    for name in TRIGGER_NAMES:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    for statement in trigger_statements():
        db.execute(statement)
    before = db.execute("SELECT count(*) FROM map_cells").fetchone()[0]
    for table, facets in added.items():
        kind, urgent = (table, KINDS[table][1]) if table in KINDS else (CROSS[table][0], None)
        for facet in facets:
            for zoom in LEVELS:
                db.execute(
                    f"""DELETE FROM map_cells WHERE kind IN (SELECT DISTINCT
                        {_kind_sql(kind, zoom, facet.format(row="r"))} FROM {table} r)"""  # noqa: S608
                )
                db.execute(_insert_cells(kind, table, facet, urgent or "{row}.urgent", zoom))
    return db.execute("SELECT count(*) FROM map_cells").fetchone()[0] - before


def _insert_cells(kind: str, source: str, facet: str, urgent: str, zoom: int) -> str:
    return f"""INSERT INTO map_cells (kind, cell, n, sum_lat, sum_lon, urgent)
        SELECT {_kind_sql(kind, zoom, facet.format(row="r"))} AS k, {_cell("r", zoom)} AS c,
               count(*), sum(r.lat), sum(r.lon), sum({urgent.format(row="r")})
        FROM {source} r
        WHERE r.lat IS NOT NULL AND r.lon IS NOT NULL AND k IS NOT NULL GROUP BY k, c"""  # noqa: S608


def rebuild_map_cells(db: Database) -> int:
    """Recount `map_cells`, the links' copies and the facet counts across the links from the
    rows (in the caller's transaction), each straight from SQL of its own (the triggers that
    fire on the way are overwritten); return the cells' rows."""
    db.execute(
        f"""UPDATE task_observations SET
               category = (SELECT category FROM observations WHERE id = observation_id),
               task_state = (SELECT state FROM tasks WHERE id = task_id),
               task_party = (SELECT {_party_copy("")} FROM tasks WHERE id = task_id)"""  # noqa: S608
    )
    db.execute("DELETE FROM task_categories")
    db.execute("DELETE FROM observation_states")
    db.execute("DELETE FROM observation_due")
    db.execute(
        """INSERT INTO task_categories
               (task_id, category, n, lat, lon, urgent, state, place, created)
           SELECT l.task_id, l.category, count(*), t.lat, t.lon, t.priority = 'urgent', t.state,
               t.place_id, t.created_at
           FROM task_observations l JOIN tasks t ON t.id = l.task_id
           WHERE l.category IS NOT NULL GROUP BY l.task_id, l.category"""
    )
    for state, where in (
        ("l.task_state", "IS NOT NULL"),
        (f"'{OPEN}'", f"IN ({OPEN_STATES_SQL})"),
        (f"'{TASKED}'", "IS NOT NULL"),
    ):
        db.execute(
            f"""INSERT INTO observation_states
                    (observation_id, state, n, lat, lon, urgent, category, place)
                SELECT l.observation_id, {state} AS s, count(*), o.lat, o.lon, o.urgent != 0,
                    o.category, o.place_id
                FROM task_observations l JOIN observations o ON o.id = l.observation_id
                WHERE l.task_state {where} GROUP BY l.observation_id, s"""  # noqa: S608
        )
    db.execute(
        f"""INSERT INTO observation_states
                (observation_id, state, n, lat, lon, urgent, category, place)
            SELECT l.observation_id, '{PARTY}' || l.task_party AS s, count(*), o.lat, o.lon,
                o.urgent != 0, o.category, o.place_id
            FROM task_observations l JOIN observations o ON o.id = l.observation_id
            WHERE l.task_party IS NOT NULL GROUP BY l.observation_id, s"""  # noqa: S608
    )
    db.execute(
        f"""INSERT INTO observation_due (observation_id, due, lat, lon, urgent, observed)
            SELECT l.observation_id, min(t.due_date), o.lat, o.lon, o.urgent != 0, o.observed_at
            FROM task_observations l JOIN tasks t ON t.id = l.task_id
                JOIN observations o ON o.id = l.observation_id
            WHERE t.state IN ({OPEN_STATES_SQL}) AND t.due_date IS NOT NULL
            GROUP BY l.observation_id"""  # noqa: S608
    )
    db.execute("DELETE FROM map_cells")
    for table in KINDS:
        for facet in OWN_FACETS[table]:
            for zoom in LEVELS:
                db.execute(_insert_cells(table, table, facet, KINDS[table][1], zoom))
    for table, (kind, facets, _moved) in CROSS.items():
        for facet in facets:
            for zoom in LEVELS:
                db.execute(_insert_cells(kind, table, facet, "{row}.urgent", zoom))
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'link_totals'").fetchone():
        recount_link_totals(db)
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'due_totals'").fetchone():
        recount_due_totals(db)
    return db.execute("SELECT count(*) FROM map_cells").fetchone()[0]


def _codes(kinds: tuple[str, ...], zoom: int, facet: int) -> str:
    return ", ".join(str(facet * FACET_STEP + code(k, zoom)) for k in kinds)


def counted_points(db: Database, kinds: tuple[str, ...], facet: int = 0, minus=()) -> int:
    """How many positioned rows of these kinds there are (in a facet, less those in the
    facets `minus`), from the first level's cells."""

    def count(facet: int) -> int:
        codes = _codes(kinds, LEVELS[0], facet)
        sql = f"SELECT coalesce(sum(n), 0) FROM map_cells WHERE kind IN ({codes})"  # noqa: S608
        return db.execute(sql).fetchone()[0]

    return count(facet) - sum(count(taken) for taken in minus)


# The level whose cells' means give a facet's extent: cells of about 80 by 40 m here, a few
# hundred in a district, where the last level's are tens of thousands.
EXTENT_LEVEL = 16


def facet_extent(db: Database, kinds: tuple[str, ...], facets, minus=()) -> list[float] | None:
    """[west, south, east, north] of the rows in `facets` (less those in `minus`) as the
    means of their cells at EXTENT_LEVEL: inside the points' own extent by less than a cell."""
    if minus:
        means = [
            (lon / n, lat / n)
            for n, lat, lon, _ in cell_sums(db, kinds, EXTENT_LEVEL, None, facets, minus).values()
        ]
        if not means:
            return None
        lons, lats = zip(*means, strict=True)
        return [min(lons), min(lats), max(lons), max(lats)]
    codes = ", ".join(_codes(kinds, EXTENT_LEVEL, facet) for facet in facets)
    row = db.execute(
        f"""SELECT min(sum_lon / n), min(sum_lat / n), max(sum_lon / n), max(sum_lat / n)
            FROM map_cells WHERE kind IN ({codes})"""  # noqa: S608
    ).fetchone()
    return None if row[0] is None else list(row)


def extent(db: Database, kinds: tuple[str, ...]) -> list[float] | None:
    """[west, south, east, north] of the positioned rows of these kinds, each end read from
    the edge of an index (m032), never from every row."""
    found = None
    for table in kinds:
        ends = [
            db.execute(
                f"SELECT {fn}({col}) FROM {table} WHERE {col} IS NOT NULL"  # noqa: S608
            ).fetchone()[0]
            for fn, col in (("min", "lon"), ("min", "lat"), ("max", "lon"), ("max", "lat"))
        ]
        if ends[0] is None:
            continue
        found = (
            ends
            if found is None
            else [*map(min, found[:2], ends[:2]), *map(max, found[2:], ends[2:])]
        )
    return found


def cell_sums(
    db: Database,
    kinds: tuple[str, ...],
    zoom: int,
    box: tuple[float, float, float, float] | None = None,
    facets=(0,),
    minus=(),
) -> dict[int, list]:
    """Per cell of the zoom's grid, [count, sum of latitudes, sum of longitudes, urgent] of
    the rows in any of `facets` (each row is in one of them at most), less those in any of
    `minus` (rows that are in `facets` too); in `box` (west, south, east, north), when given,
    the cells whose mean lies in it. Read from the zoom's own level, or grouped from the
    first level's cells below it; a zoom finer than the last level is the caller's to read
    from points. With `minus`, each cell of the level is taken from first, and placed by
    what is left."""
    level = max(zoom, LEVELS[0])
    if level not in LEVELS:
        raise ValueError(f"no cells finer than zoom {LEVELS[-1]}")
    codes = ", ".join(_codes(kinds, level, facet) for facet in facets)
    height, width = _sides(zoom)
    group = (
        "cell"
        if level == zoom
        else f"""CAST((sum_lat / n + 90) / {height} AS INTEGER) * {MULTIPLIER}
                 + CAST((sum_lon / n + 180) / {width} AS INTEGER)"""
    )
    select = f"SELECT {group} AS g, sum(n), sum(sum_lat), sum(sum_lon), sum(urgent)"
    if minus:
        return _cell_sums_less(db, kinds, level, box, codes, minus, select)
    if box is None:
        sql, params = f"{select} FROM map_cells WHERE kind IN ({codes}) GROUP BY g", []  # noqa: S608
    else:
        # One range of keys per row of the grid in the box: the cells in it and no others.
        west, south, east, north = box
        rows, columns = _box_rows(level, box)
        sql = f"""WITH RECURSIVE rows(r) AS (SELECT ? UNION ALL SELECT r + 1 FROM rows WHERE r < ?)
            {select} FROM rows JOIN map_cells ON kind IN ({codes})
                AND cell BETWEEN rows.r * {MULTIPLIER} + ? AND rows.r * {MULTIPLIER} + ?
            WHERE sum_lat / n BETWEEN ? AND ? AND sum_lon / n BETWEEN ? AND ? GROUP BY g"""  # noqa: S608
        params = [*rows, *columns, south, north, west, east]
    return {cell: list(sums) for cell, *sums in db.execute(sql, params)}


def _box_rows(level: int, box) -> tuple[list, list]:
    """The rows and columns of the level's grid a box (west, south, east, north) spans."""
    west, south, east, north = box
    cell_height, cell_width = grid(level)
    rows = [int((south + 90) / cell_height), int((north + 90) / cell_height)]
    columns = [int((west + 180) / cell_width), int((east + 180) / cell_width)]
    return rows, columns


def _cell_sums_less(db, kinds, level: int, box, codes: str, minus, select: str) -> dict:
    """cell_sums with `minus`: per cell of the level, the facets' sums less those of `minus`
    (cells left empty dropped), then grouped and boxed by what is left."""
    taken = ", ".join(_codes(kinds, level, facet) for facet in minus)
    sign = f"(CASE WHEN kind IN ({taken}) THEN -1 ELSE 1 END)"
    sums = ", ".join(
        f"sum({sign} * {column}) AS {column}" for column in ("n", "sum_lat", "sum_lon", "urgent")
    )
    left = f"GROUP BY cell HAVING sum({sign} * n) > 0"
    if box is None:
        sql = f"""WITH d AS (SELECT cell, {sums} FROM map_cells
                WHERE kind IN ({codes}, {taken}) {left})
            {select} FROM d GROUP BY g"""  # noqa: S608
        params = []
    else:
        west, south, east, north = box
        rows, columns = _box_rows(level, box)
        sql = f"""WITH RECURSIVE rows(r) AS (SELECT ? UNION ALL SELECT r + 1 FROM rows WHERE r < ?),
            d AS (SELECT cell, {sums} FROM rows JOIN map_cells ON kind IN ({codes}, {taken})
                AND cell BETWEEN rows.r * {MULTIPLIER} + ? AND rows.r * {MULTIPLIER} + ? {left})
            {select} FROM d
            WHERE sum_lat / n BETWEEN ? AND ? AND sum_lon / n BETWEEN ? AND ? GROUP BY g"""  # noqa: S608
        params = [*rows, *columns, south, north, west, east]
    return {cell: list(sums) for cell, *sums in db.execute(sql, params)}


def clusters_from_cells(
    db: Database,
    kinds: tuple[str, ...],
    zoom: int,
    scale: int,
    box: tuple[float, float, float, float] | None = None,
    facet: int = 0,
    minus=(),
) -> list[tuple]:
    """(lat, lon, count, urgent) per cell of `cell_sums`, positioned at the mean of its
    points in 1/scale degrees."""
    return [
        (round(lat / count * scale), round(lon / count * scale), count, urgent)
        for count, lat, lon, urgent in cell_sums(db, kinds, zoom, box, (facet,), minus).values()
    ]
