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

The unfiltered map (what every dashboard view sends first, and what panning and zooming it
asks) is then the cells of its zoom in the box: one index range per row of the grid, so an
answer reads the clusters it sends and no others, whatever the database holds. A cell counts
when its mean lies in the box. Coarser than the first level, that level's cells are grouped
by where their mean falls; finer than the last, the points answer.
"""

from sqlite_utils import Database

CELL_PX = 64
TILE_PX = 256
LEVELS = range(10, 20)
# A cell's key: its row (latitude index) times MULTIPLIER plus its column; both indexes stay
# under MULTIPLIER at every zoom the map asks (4 * 2**22 columns at zoom 22).
MULTIPLIER = 2**25
KINDS = {"observations": (0, "({row}.urgent != 0)"), "tasks": (1, "({row}.priority = 'urgent')")}

DDL = """CREATE TABLE map_cells (
    kind INTEGER NOT NULL, cell INTEGER NOT NULL, n INTEGER NOT NULL,
    sum_lat REAL NOT NULL, sum_lon REAL NOT NULL, urgent INTEGER NOT NULL,
    PRIMARY KEY (kind, cell)
) WITHOUT ROWID"""


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


def trigger_statements() -> list[str]:
    """The CREATE TRIGGER statements keeping `map_cells` (a migration runs them)."""
    statements = []
    for table, (_kind, urgent) in KINDS.items():

        def add(row: str, table=table, urgent=urgent) -> str:
            return "".join(
                f"""INSERT INTO map_cells (kind, cell, n, sum_lat, sum_lon, urgent)
                SELECT {code(table, zoom)}, {_cell(row, zoom)}, 1, {row}.lat, {row}.lon,
                    {urgent.format(row=row)}
                WHERE {row}.lat IS NOT NULL AND {row}.lon IS NOT NULL
                ON CONFLICT (kind, cell) DO UPDATE SET n = n + 1,
                    sum_lat = sum_lat + excluded.sum_lat, sum_lon = sum_lon + excluded.sum_lon,
                    urgent = urgent + excluded.urgent;"""
                for zoom in LEVELS
            )

        def take(row: str, table=table, urgent=urgent) -> str:
            statements = []
            for zoom in LEVELS:
                where = f"kind = {code(table, zoom)} AND cell = {_cell(row, zoom)}"
                statements.append(
                    f"""UPDATE map_cells SET n = n - 1, sum_lat = sum_lat - {row}.lat,
                    sum_lon = sum_lon - {row}.lon, urgent = urgent - {urgent.format(row=row)}
                WHERE {where} AND {row}.lat IS NOT NULL AND {row}.lon IS NOT NULL;
                DELETE FROM map_cells WHERE {where} AND n = 0;"""  # noqa: S608 - constants
                )
            return "".join(statements)

        watched = ("lat", "lon", "urgent" if table == "observations" else "priority")
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in watched)
        statements += [
            f"CREATE TRIGGER {table}_map_cells_insert AFTER INSERT ON {table} BEGIN"
            f" {add('NEW')} END",
            f"CREATE TRIGGER {table}_map_cells_delete AFTER DELETE ON {table} BEGIN"
            f" {take('OLD')} END",
            f"""CREATE TRIGGER {table}_map_cells_update AFTER UPDATE OF {", ".join(watched)}
                ON {table} WHEN {changed} BEGIN {take("OLD")} {add("NEW")} END""",
        ]
    return statements


def drop_statements() -> list[str]:
    """DROP statements for the triggers and the table (a migration that changes the grids
    drops them and builds them again as this module says)."""
    return [
        *(
            f"DROP TRIGGER IF EXISTS {t}_map_cells_{w}"
            for t in KINDS
            for w in ("insert", "delete", "update")
        ),
        "DROP TABLE IF EXISTS map_cells",
    ]


def rebuild_map_cells(db: Database) -> int:
    """Recount `map_cells` from the rows (in the caller's transaction); return its rows."""
    db.execute("DELETE FROM map_cells")
    for table, (_kind, urgent) in KINDS.items():
        for zoom in LEVELS:
            db.execute(
                f"""INSERT INTO map_cells (kind, cell, n, sum_lat, sum_lon, urgent)
                    SELECT {code(table, zoom)}, {_cell("r", zoom)} AS c, count(*),
                           sum(r.lat), sum(r.lon), sum({urgent.format(row="r")})
                    FROM {table} r WHERE r.lat IS NOT NULL AND r.lon IS NOT NULL GROUP BY c"""  # noqa: S608
            )
    return db.execute("SELECT count(*) FROM map_cells").fetchone()[0]


def counted_points(db: Database, kinds: tuple[str, ...]) -> int:
    """How many positioned rows of these kinds there are, from the first level's cells."""
    codes = ", ".join(str(code(k, LEVELS[0])) for k in kinds)
    sql = f"SELECT coalesce(sum(n), 0) FROM map_cells WHERE kind IN ({codes})"  # noqa: S608
    return db.execute(sql).fetchone()[0]


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


def clusters_from_cells(
    db: Database,
    kinds: tuple[str, ...],
    zoom: int,
    scale: int,
    box: tuple[float, float, float, float] | None = None,
) -> list[tuple]:
    """(lat, lon, count, urgent) per cell of the zoom's grid, positioned at the mean of its
    points in 1/scale degrees; in `box` (west, south, east, north), when given, the cells
    whose mean lies in it. Read from the zoom's own level, or grouped from the first level's
    cells below it; a zoom finer than the last level is the caller's to read from points."""
    level = max(zoom, LEVELS[0])
    if level not in LEVELS:
        raise ValueError(f"no cells finer than zoom {LEVELS[-1]}")
    codes = ", ".join(str(code(k, level)) for k in kinds)
    height, width = _sides(zoom)
    group = (
        "cell"
        if level == zoom
        else f"""CAST((sum_lat / n + 90) / {height} AS INTEGER) * {MULTIPLIER}
                 + CAST((sum_lon / n + 180) / {width} AS INTEGER)"""
    )
    select = f"SELECT {group} AS g, sum(n), sum(sum_lat), sum(sum_lon), sum(urgent)"
    if box is None:
        sql, params = f"{select} FROM map_cells WHERE kind IN ({codes}) GROUP BY g", []  # noqa: S608
    else:
        # One range of keys per row of the grid in the box: the cells in it and no others.
        west, south, east, north = box
        cell_height, cell_width = grid(level)
        rows = (int((south + 90) / cell_height), int((north + 90) / cell_height))
        columns = (int((west + 180) / cell_width), int((east + 180) / cell_width))
        sql = f"""WITH RECURSIVE rows(r) AS (SELECT ? UNION ALL SELECT r + 1 FROM rows WHERE r < ?)
            {select} FROM rows JOIN map_cells ON kind IN ({codes})
                AND cell BETWEEN rows.r * {MULTIPLIER} + ? AND rows.r * {MULTIPLIER} + ?
            WHERE sum_lat / n BETWEEN ? AND ? AND sum_lon / n BETWEEN ? AND ? GROUP BY g"""  # noqa: S608
        params = [*rows, *columns, south, north, west, east]
    found = db.execute(sql, params)
    return [
        (round(lat / count * scale), round(lon / count * scale), count, urgent)
        for _cell, count, lat, lon, urgent in found
    ]
