"""The grid that keeps a duplicate hint's lookup the same size at a hotspot as on a quiet street.

Every positioned observation lies in one cell of a fixed grid `CELL_LAT` by `CELL_LON`
degrees (25 by 25.5 metres in Stockholm). The cell is not a column: it is an expression in the
index `observations_nearby` (migration m033: category, works well, cell, observed time, lat,
lon), so SQLite computes it on every insert and on every change of a position, whichever
path writes the row, and nothing can forget to keep it.

For a point, `cells_around` names the cells a circle of the radius around it touches (about
seven for 25 m). From each, `candidate_query` reads at most `FROM_EACH_END` of the newest and
`FROM_EACH_END` of the oldest entries in the look-back, each an index range with a LIMIT, so a
lookup touches at most 2 x 12 index entries per cell whether the spot holds three reports or
three thousand. Of those, the ones inside the circle's box go on, nearest first.

What the cap means for people: while a cell holds at most 24 reports of the category in the
look-back (every ordinary street), the hints are exactly the nearest ones. At a hotspot with
more, they are the nearest among each cell's 12 newest and 12 oldest reports: the first
reports there (the ones a task was most likely made from) and the latest. At such a spot they
are all the same problem anyway.

The grid is fixed by the index: changing `CELL_LAT`, `CELL_LON` or `CELL_SQL` needs a
migration that drops and recreates `observations_nearby` with the new expression (m033 spells
its expression out so that a change here fails the query plan test instead of silently
missing the index on databases already migrated).
"""

import math

from fieldwalk.geo import EARTH_RADIUS_M

CELL_LAT = 0.000225
CELL_LON = 0.00045


# The cell in SQL, for a row alias ("n."), exactly as m033's index spells it: SQLite uses an
# expression index only for the same expression. Truncation is floor: both sums are >= 0.
CELL_SQL = (
    "CAST(({row}lat + 90) / 0.000225 AS INTEGER) * 1000000"
    " + CAST(({row}lon + 180) / 0.00045 AS INTEGER)"
)


FROM_EACH_END = 12


# The largest radius the grid serves: about 350 cells, 700 index ranges of 12 for one lookup.
MAX_RADIUS_METRES = 250


# SQLite allows 500 terms in one compound SELECT; a large configured radius nests groups.
_TERMS_PER_GROUP = 200


def cell_row(lat: float) -> int:
    """The grid row of a latitude, as SQLite computes it."""
    return int((lat + 90) / CELL_LAT)


def cell_column(lon: float) -> int:
    """The grid column of a longitude, as SQLite computes it."""
    return int((lon + 180) / CELL_LON)


def cell_of(lat: float, lon: float) -> int:
    """The cell key SQLite's index holds for this position."""
    return cell_row(lat) * 1_000_000 + cell_column(lon)


def box_around(lat: float, lon: float, radius_m: float) -> tuple[float, float]:
    """Half the height and width in degrees of a box holding the circle, a little wider so
    that it never cuts a true match."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M) * 1.01
    return dlat, dlat / max(math.cos(math.radians(lat)), 0.01)


def cells_around(lat: float, lon: float, radius_m: float) -> list[int]:
    """The cells the circle of `radius_m` around the point touches (the box's cells, less
    the corners farther than the radius), the point's own cell first."""
    dlat, dlon = box_around(lat, lon, radius_m)
    metres_per_degree = math.radians(1) * EARTH_RADIUS_M
    kx = math.cos(math.radians(lat))
    reach = radius_m * 1.01
    cells = []
    for row in range(cell_row(lat - dlat), cell_row(lat + dlat) + 1):
        south = row * CELL_LAT - 90
        dy = max(south - lat, 0.0, lat - (south + CELL_LAT)) * metres_per_degree
        for column in range(cell_column(lon - dlon), cell_column(lon + dlon) + 1):
            west = column * CELL_LON - 180
            dx = max(west - lon, 0.0, lon - (west + CELL_LON)) * metres_per_degree * kx
            if math.hypot(dx, dy) <= reach:
                cells.append(row * 1_000_000 + column)
    own = cell_of(lat, lon)
    return sorted(cells, key=lambda cell: cell != own)


def candidate_query(
    category: str,
    works_well: bool,
    lat: float,
    lon: float,
    radius_m: float,
    since: str,
    before: str,
    limit: int,
) -> tuple[str, list]:
    """SQL and parameters for the rowids (`key`) of at most `limit` earlier observations of
    the category and kind observed in [since, before), nearest first by flat-earth distance
    (ties to the oldest), among each touched cell's newest and oldest `FROM_EACH_END`.

    Numbered parameters: the shared ones once, then one per cell, so the statement's text
    depends only on how many cells there are (SQLite's statement cache reuses it)."""
    if radius_m > MAX_RADIUS_METRES:
        raise ValueError(f"a duplicate radius of at most {MAX_RADIUS_METRES} m")
    cells = cells_around(lat, lon, radius_m)
    dlat, dlon = box_around(lat, lon, radius_m)
    kx = math.cos(math.radians(lat))
    shared = [category, int(bool(works_well)), since, before, FROM_EACH_END]
    shared += [lat - dlat, lat + dlat, lon - dlon, lon + dlon, lat, lon, kx, limit]
    cell = CELL_SQL.format(row="n.")
    terms = [
        f"""SELECT * FROM (SELECT n.rowid AS key, n.lat, n.lon, n.observed_at
            FROM observations n INDEXED BY observations_nearby
            WHERE n.category = ?1 AND n.works_well = ?2 AND {cell} = ?{len(shared) + i + 1}
              AND n.observed_at >= ?3 AND n.observed_at < ?4
            ORDER BY n.observed_at {order} LIMIT ?5)"""  # noqa: S608 - constants
        for i in range(len(cells))
        for order in ("DESC", "ASC")
    ]
    groups = [
        " UNION ".join(terms[i : i + _TERMS_PER_GROUP])
        for i in range(0, len(terms), _TERMS_PER_GROUP)
    ]
    if len(groups) > 1:
        groups = [f"SELECT * FROM ({group})" for group in groups]  # noqa: S608 - constants
    union = " UNION ".join(groups)
    sql = f"""SELECT c.key FROM ({union}) AS c
              WHERE c.lat BETWEEN ?6 AND ?7 AND c.lon BETWEEN ?8 AND ?9
              ORDER BY (c.lat - ?10) * (c.lat - ?10)
                       + (c.lon - ?11) * (c.lon - ?11) * ?12 * ?12, c.observed_at
              LIMIT ?13"""  # noqa: S608 - built from constants
    return sql, shared + cells
