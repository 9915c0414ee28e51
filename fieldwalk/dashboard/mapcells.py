"""The dashboard map from grids of running counts, not from every point.

`map_cells` holds, per kind (observations, tasks), per grid level (`LEVELS`: cells of
0,0002 degrees, about 22 by 11 metres here, and of 0,00004 degrees, about 4 by 2 metres) and
per cell, how many positioned rows lie in it, the sums of their latitudes and longitudes (so
the mean position of any group of cells is exact) and how many are urgent. Triggers keep it
in the writer's transaction (insert, an update of the position or urgency, delete);
`rebuild_map_cells` recounts it (`flask --app app recount`).

The unfiltered map (what every dashboard view sends first, and what panning and zooming it
asks) groups these cells into its coarser grid instead of grouping every point: each cell
goes whole to the coarse cell its mean position falls in, and, in a box, counts when its
mean lies inside. So the total and each cluster's position are exact, and a point within one
cell of a coarse cell's edge (or of the box's) may be counted beside it. The coarsest level
whose cells fit `MIN_RATIO` times across a coarse cell answers (the fine one down to a
street at zoom 18); a finer grid than that is read from the points.
"""

from sqlite_utils import Database

LEVELS = (0.0002, 0.00004)
FINE_DEGREES = LEVELS[0]
MIN_RATIO = 4
# A cell's key: its row (latitude index) times MULTIPLIER plus its column; both indexes of the
# finest level stay under ten million.
MULTIPLIER = 10_000_000
KINDS = {"observations": (0, "({row}.urgent != 0)"), "tasks": (1, "({row}.priority = 'urgent')")}

DDL = """CREATE TABLE map_cells (
    kind INTEGER NOT NULL, cell INTEGER NOT NULL, n INTEGER NOT NULL,
    sum_lat REAL NOT NULL, sum_lon REAL NOT NULL, urgent INTEGER NOT NULL,
    PRIMARY KEY (kind, cell)
) WITHOUT ROWID"""


def code(kind: str, level: int) -> int:
    """The `kind` column of a kind's cells at a level."""
    return KINDS[kind][0] + len(KINDS) * level


def _cell(row: str, degrees: float) -> str:
    return (
        f"CAST(({row}.lat + 90) / {degrees} AS INTEGER) * {MULTIPLIER}"
        f" + CAST(({row}.lon + 180) / {degrees} AS INTEGER)"
    )


def trigger_statements() -> list[str]:
    """The CREATE TRIGGER statements keeping `map_cells` (a migration runs them)."""
    statements = []
    for table, (_kind, urgent) in KINDS.items():

        def add(row: str, table=table, urgent=urgent) -> str:
            return "".join(
                f"""INSERT INTO map_cells (kind, cell, n, sum_lat, sum_lon, urgent)
                SELECT {code(table, level)}, {_cell(row, degrees)}, 1, {row}.lat, {row}.lon,
                    {urgent.format(row=row)}
                WHERE {row}.lat IS NOT NULL AND {row}.lon IS NOT NULL
                ON CONFLICT (kind, cell) DO UPDATE SET n = n + 1,
                    sum_lat = sum_lat + excluded.sum_lat, sum_lon = sum_lon + excluded.sum_lon,
                    urgent = urgent + excluded.urgent;"""
                for level, degrees in enumerate(LEVELS)
            )

        def take(row: str, table=table, urgent=urgent) -> str:
            statements = []
            for level, degrees in enumerate(LEVELS):
                where = f"kind = {code(table, level)} AND cell = {_cell(row, degrees)}"
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
        for level, degrees in enumerate(LEVELS):
            db.execute(
                f"""INSERT INTO map_cells (kind, cell, n, sum_lat, sum_lon, urgent)
                    SELECT {code(table, level)}, {_cell("r", degrees)} AS c, count(*),
                           sum(r.lat), sum(r.lon), sum({urgent.format(row="r")})
                    FROM {table} r WHERE r.lat IS NOT NULL AND r.lon IS NOT NULL GROUP BY c"""  # noqa: S608
            )
    return db.execute("SELECT count(*) FROM map_cells").fetchone()[0]


def counted_points(db: Database, kinds: tuple[str, ...]) -> int:
    """How many positioned rows of these kinds there are, from the cells."""
    codes = ", ".join(str(code(k, 0)) for k in kinds)
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


def level_for(height: float, width: float) -> int | None:
    """The coarsest level whose cells fit MIN_RATIO times across a coarse cell of this
    size; None when even the finest does not (the points answer then)."""
    for level, degrees in enumerate(LEVELS):
        if min(height, width) >= MIN_RATIO * degrees:
            return level
    return None


def clusters_from_cells(
    db: Database,
    kinds: tuple[str, ...],
    height: float,
    width: float,
    scale: int,
    level: int = 0,
    box: tuple[float, float, float, float] | None = None,
) -> list[tuple]:
    """(lat, lon, count, urgent) per coarse cell, from a level's cells (in `box`, west,
    south, east, north, when given: the cells whose mean lies in it, read from the key
    range of its rows): positions the mean of the cell's points, in 1/scale degrees."""
    codes = ", ".join(str(code(k, level)) for k in kinds)
    where, params = f"kind IN ({codes})", [height, width]
    if box is not None:
        west, south, east, north = box
        degrees = LEVELS[level]
        rows = (int((south + 90) / degrees), int((north + 90) / degrees))
        columns = (int((west + 180) / degrees), int((east + 180) / degrees))
        where += """ AND cell BETWEEN ? AND ? AND cell % ? BETWEEN ? AND ?
            AND sum_lat / n BETWEEN ? AND ? AND sum_lon / n BETWEEN ? AND ?"""
        params += [rows[0] * MULTIPLIER, rows[1] * MULTIPLIER + MULTIPLIER - 1, MULTIPLIER]
        params += [*columns, south, north, west, east]
    rows = db.execute(
        f"""SELECT CAST((sum_lat / n + 90) / ? AS INTEGER) * {MULTIPLIER}
                   + CAST((sum_lon / n + 180) / ? AS INTEGER) AS coarse,
                   sum(n) AS count, sum(sum_lat), sum(sum_lon), sum(urgent)
            FROM map_cells WHERE {where} GROUP BY coarse""",  # noqa: S608
        params,
    )
    return [
        (round(lat / count * scale), round(lon / count * scale), count, urgent)
        for _cell, count, lat, lon, urgent in rows
    ]
