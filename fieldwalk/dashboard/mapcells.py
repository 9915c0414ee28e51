"""The whole district's map from a fine grid of running counts, not from every point.

`map_cells` holds, per kind (0 observations, 1 tasks) and per cell of a fixed grid
`FINE_DEGREES` on a side (about 22 by 11 metres here), how many positioned rows lie in it,
the sums of their latitudes and longitudes (so the mean position of any group of cells is
exact) and how many are urgent. Triggers keep it in the writer's transaction (insert, an
update of the position or urgency, delete); `rebuild_map_cells` recounts it (`flask --app
app recount`).

The dashboard map asked without a box and without filters (what every dashboard view sends
first) groups these cells into its coarser grid instead of grouping every point: each fine
cell goes whole to the coarse cell its mean position falls in, so the total and each
cluster's position are exact and a point within one fine cell of a coarse cell's edge may be
counted beside it. Only used when a coarse cell is at least `MIN_RATIO` fine cells wide.
"""

from sqlite_utils import Database

FINE_DEGREES = 0.0002
MIN_RATIO = 8
KINDS = {"observations": (0, "({row}.urgent != 0)"), "tasks": (1, "({row}.priority = 'urgent')")}

DDL = """CREATE TABLE map_cells (
    kind INTEGER NOT NULL, cell INTEGER NOT NULL, n INTEGER NOT NULL,
    sum_lat REAL NOT NULL, sum_lon REAL NOT NULL, urgent INTEGER NOT NULL,
    PRIMARY KEY (kind, cell)
) WITHOUT ROWID"""


def _cell(row: str) -> str:
    return (
        f"CAST(({row}.lat + 90) / {FINE_DEGREES} AS INTEGER) * 1000000"
        f" + CAST(({row}.lon + 180) / {FINE_DEGREES} AS INTEGER)"
    )


def trigger_statements() -> list[str]:
    """The CREATE TRIGGER statements keeping `map_cells` (a migration runs them)."""
    statements = []
    for table, (kind, urgent) in KINDS.items():

        def add(row: str, kind=kind, urgent=urgent) -> str:
            return f"""INSERT INTO map_cells (kind, cell, n, sum_lat, sum_lon, urgent)
                SELECT {kind}, {_cell(row)}, 1, {row}.lat, {row}.lon, {urgent.format(row=row)}
                WHERE {row}.lat IS NOT NULL AND {row}.lon IS NOT NULL
                ON CONFLICT (kind, cell) DO UPDATE SET n = n + 1,
                    sum_lat = sum_lat + excluded.sum_lat, sum_lon = sum_lon + excluded.sum_lon,
                    urgent = urgent + excluded.urgent;"""

        def take(row: str, kind=kind, urgent=urgent) -> str:
            where = f"kind = {kind} AND cell = {_cell(row)}"
            return f"""UPDATE map_cells SET n = n - 1, sum_lat = sum_lat - {row}.lat,
                    sum_lon = sum_lon - {row}.lon, urgent = urgent - {urgent.format(row=row)}
                WHERE {where} AND {row}.lat IS NOT NULL AND {row}.lon IS NOT NULL;
                DELETE FROM map_cells WHERE {where} AND n = 0;"""  # noqa: S608 - constants

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


def rebuild_map_cells(db: Database) -> int:
    """Recount `map_cells` from the rows (in the caller's transaction); return its rows."""
    db.execute("DELETE FROM map_cells")
    for table, (kind, urgent) in KINDS.items():
        db.execute(
            f"""INSERT INTO map_cells (kind, cell, n, sum_lat, sum_lon, urgent)
                SELECT {kind}, {_cell("r")} AS c, count(*), sum(r.lat), sum(r.lon),
                       sum({urgent.format(row="r")})
                FROM {table} r WHERE r.lat IS NOT NULL AND r.lon IS NOT NULL GROUP BY c"""  # noqa: S608
        )
    return db.execute("SELECT count(*) FROM map_cells").fetchone()[0]


def counted_points(db: Database, kinds: tuple[str, ...]) -> int:
    """How many positioned rows of these kinds there are, from the cells."""
    codes = ", ".join(str(KINDS[k][0]) for k in kinds)
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


def usable(height: float, width: float) -> bool:
    """Whether a coarse grid of these cells is coarse enough to be made of fine cells."""
    return min(height, width) >= MIN_RATIO * FINE_DEGREES


def clusters_from_cells(
    db: Database, kinds: tuple[str, ...], height: float, width: float, scale: int
) -> list[tuple]:
    """(lat, lon, count, urgent) per coarse cell, from the fine cells: positions the mean of
    the cell's points, in 1/scale degrees."""
    codes = ", ".join(str(KINDS[k][0]) for k in kinds)
    rows = db.execute(
        f"""SELECT CAST((sum_lat / n + 90) / ? AS INTEGER) * 1000000
                   + CAST((sum_lon / n + 180) / ? AS INTEGER) AS coarse,
                   sum(n) AS count, sum(sum_lat), sum(sum_lon), sum(urgent)
            FROM map_cells WHERE kind IN ({codes}) GROUP BY coarse""",  # noqa: S608
        [height, width],
    )
    return [
        (round(lat / count * scale), round(lon / count * scale), count, urgent)
        for _cell, count, lat, lon, urgent in rows
    ]
