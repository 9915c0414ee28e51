"""The dashboard map's answer: what can be seen, as single points when few, as counts per grid
cell when many.

The map asks with the list's filters plus the visible box and zoom
(`bbox=min_lon,min_lat,max_lon,max_lat&zoom=N`). Without a box the answer covers everything
the filters select, as if the box were the points' own extent; without a zoom the grid is
the one that draws that box about `FIT_PX` pixels across. Up to `MAP_POINTS_AT_MOST` points
in the box come as themselves (`"mode": "points"`: per kind, parallel arrays of lat, lon, id
and code); more come as clusters (`"mode": "clusters"`): SQLite groups them on the zoom's grid
(`mapcells.grid`, cells `CELL_PX` pixels wide; GROUP BY on the cell) and gives each cell its
count, how many of them are urgent and a representative position (the mean of its points).
The grid never has more than `MAX_CELLS` cells over the box, so an answer stays under about
100 KB before compression, whatever the database holds. Without filters (the dashboard's
first view, and every pan and zoom of it down to a few houses), or with one filter the cells
keep apart (a category, a task state or the open ones, a place, a party, or two of a
category, a state and a place: `_facet`; the observations with no task are every
observation's less those with one), the clusters are the running counts per cell of the same
grid (`mapcells.py`), not a count of every point. A text search (alone, or with filters the
text index's keys hold copies of) counts its hits per cell from the keys of the text index
(`textsearch.py`), which say where each row lies.
Any other filter counts the points it keeps, in one pass.
"""

import json
import math
from dataclasses import dataclass, replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlite_utils import Database

from fieldwalk import textsearch
from fieldwalk.categories import CATEGORIES
from fieldwalk.dashboard import mapcells
from fieldwalk.dashboard.filters import (
    UNTASKED,
    WHEN,
    Filters,
    indexed_with_bits,
    observation_where,
    overdue_alone,
    task_where,
)
from fieldwalk.reports.periods import STOCKHOLM, next_month
from fieldwalk.tasks.states import OPEN_STATES, OPEN_STATES_SQL, STATES

# Each kind's table alias in the SQL (filters.WHEN names their times by it).
ALIASES = {"observations": "o", "tasks": "t"}


# Positions travel as integers in units of 1e-5 degree (about a metre): formatting integers
# is what SQLite does fastest, and the numbers are short.
SCALE = 100_000


MAX_CELLS = 2000


MAX_ZOOM = 22


# A box with at most this many rows is narrow (`_few_in_box`).
NARROW_ROWS = 20_000


# The closest zoom that fits a box (a single spot's): a filtered map without a box counts its
# points on this zoom's grid (cells of about 20 m here), then gathers them into the grid that
# fits their extent, which is never finer.
FIT_MAX_ZOOM = 18


FIT_PX = 1024


def _code(column: str, values) -> str:
    """SQL giving each of `values` its position in the list (fixed names, no input)."""
    cases = " ".join(f"WHEN '{value}' THEN {i}" for i, value in enumerate(values))
    return f"(CASE {column} {cases} ELSE {len(values)} END)"


CATEGORY_CODE = _code("o.category", CATEGORIES)


STATE_CODE = _code("t.state", STATES)


@dataclass(frozen=True)
class View:
    """The part of the map asked about: a box (west, south, east, north) and a zoom."""

    box: tuple[float, float, float, float] | None = None
    zoom: int | None = None


def parse_view(args) -> tuple[View, dict[str, str]]:
    """Read `bbox` and `zoom` from a query string; return them and, per bad one, a message."""
    errors: dict[str, str] = {}
    box = zoom = None
    text = (args.get("bbox") or "").strip()
    if text:
        box = parse_box(text)
        if box is None:
            errors["bbox"] = _(
                "Give four numbers in degrees: west, south, east, north"
                " (west before east, south before north)."
            )
    text = (args.get("zoom") or "").strip()
    if text:
        if text.isascii() and text.isdecimal() and len(text) <= 2 and int(text) <= MAX_ZOOM:
            zoom = int(text)
        else:
            errors["zoom"] = _("A whole number from 0 to %(n)d.", n=MAX_ZOOM)
    return View(box, zoom), errors


def parse_box(text: str) -> tuple[float, float, float, float] | None:
    """`min_lon,min_lat,max_lon,max_lat` as four finite numbers in order, or None."""
    parts = text.split(",")
    if len(parts) != 4:
        return None
    try:
        west, south, east, north = (float(part) for part in parts)
    except ValueError:
        return None
    if not all(math.isfinite(value) for value in (west, south, east, north)):
        return None
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        return None
    return west, south, east, north


def _arms(
    f: Filters, view: View, today: str, tz: ZoneInfo, narrow: bool = False
) -> dict[str, tuple]:
    """Per kind: its alias, `FROM ... WHERE ...` (positioned, filtered, in the box) and params
    (`narrow`: the box holds few rows, see `_few_in_box`)."""
    arms = {}
    for kind, where in (
        ("observations", observation_where(f, today, tz, narrow=narrow, box=view.box)),
        ("tasks", task_where(f, today, tz, narrow=narrow, box=view.box)),
    ):
        if where is None:
            continue
        alias = ALIASES[kind]
        sql = f"FROM {kind} {alias} WHERE {alias}.lat IS NOT NULL AND {where[0]}"
        params = list(where[1])
        arms[kind] = _boxed(alias, sql, params, view)
    return arms


def _boxed(alias: str, sql: str, params: list, view: View) -> tuple[str, str, list]:
    """An arm (alias, `FROM ... WHERE ...`, params), kept to the view's box when it has one."""
    if view.box is not None:
        west, south, east, north = view.box
        sql += f" AND {alias}.lat BETWEEN ? AND ? AND {alias}.lon BETWEEN ? AND ?"
        params = [*params, south, north, west, east]
    return alias, sql, params


def _few_in_box(db: Database, f: Filters, view: View) -> bool:
    """Whether a filtered map's box holds at most NARROW_ROWS rows of either kind, from the
    running counts per cell (its own zoom's, down to the last level's): then a filter on
    the other kind is checked row by row through the links, rather than by listing every
    linked row the filter keeps in the whole district."""
    if view.box is None or f.unfiltered:
        return False
    zoom = min(grid_zoom(view, None), mapcells.LEVELS[-1])
    cells = mapcells.clusters_from_cells(db, tuple(mapcells.KINDS), zoom, SCALE, view.box)
    return sum(cell[2] for cell in cells) <= NARROW_ROWS


def fit_zoom(box, shrink: float) -> int:
    """The zoom that draws `box` about FIT_PX pixels across (FIT_MAX_ZOOM for a single spot)."""
    west, south, east, north = box
    span = max(east - west, (north - south) / shrink)
    if span <= 0:
        return FIT_MAX_ZOOM
    return max(
        0, min(FIT_MAX_ZOOM, math.floor(math.log2(FIT_PX * 360 / (mapcells.TILE_PX * span))))
    )


def grid_zoom(view: View, extent) -> int:
    """The zoom whose grid (`mapcells.grid`) clusters the map: the view's (else the one that
    draws the box FIT_PX pixels across), coarser until the box holds at most MAX_CELLS of its
    cells (zoom 0's grid holds the world in 16)."""
    box = view.box or extent
    west, south, east, north = box
    shrink = max(math.cos(math.radians((south + north) / 2)), 0.01)
    zoom = view.zoom if view.zoom is not None else fit_zoom(box, shrink)
    while zoom > 0:
        height, width = mapcells.grid(zoom)
        if ((east - west) / width + 2) * ((north - south) / height + 2) <= MAX_CELLS:
            break
        zoom -= 1
    return zoom


def _points(db: Database, arms: dict, today: str) -> dict:
    """Per kind, the points as group_concat'ed lat, lon, id and code (see `map_answer`)."""
    columns = (
        "group_concat(CAST(round({a}.lat * 100000) AS INTEGER)),"
        " group_concat(CAST(round({a}.lon * 100000) AS INTEGER)), group_concat({key}),"
        " group_concat({code})"
    )
    parts = {}
    if "observations" in arms:
        _alias, sql, params = arms["observations"]
        code = f"{CATEGORY_CODE} * 4 + o.urgent + 2 * o.works_well"
        select = columns.format(a="o", key="o.rowid", code=code)
        parts["observations"] = db.execute(f"SELECT {select} {sql}", params).fetchone()  # noqa: S608
    if "tasks" in arms:
        _alias, sql, params = arms["tasks"]
        code = (
            f"{STATE_CODE} * 4 + (t.priority = 'urgent')"
            f" + 2 * (t.state IN ({OPEN_STATES_SQL}) AND t.due_date < ?)"
        )
        select = columns.format(a="t", key="t.id", code=code)
        parts["tasks"] = db.execute(f"SELECT {select} {sql}", [today, *params]).fetchone()  # noqa: S608
    return parts


URGENT = {"o": "o.urgent", "t": "(t.priority = 'urgent')"}


def _sums(db: Database, arms: dict, zoom: int) -> dict[int, list]:
    """The points counted per cell of the zoom's grid, each kind grouped by SQLite on one
    integer cell key (faster to sort than two), the kinds merged here: per cell key, [count,
    sum of latitudes, sum of longitudes, urgent, west, south, east, north]."""
    height, width = mapcells.grid(zoom)
    cells: dict[int, list] = {}
    for alias, sql, params in arms.values():
        ends = f"min({alias}.lon), min({alias}.lat), max({alias}.lon), max({alias}.lat)"
        rows = db.execute(
            f"""SELECT CAST(({alias}.lat + 90) / ? AS INTEGER) * {mapcells.MULTIPLIER}
                       + CAST(({alias}.lon + 180) / ? AS INTEGER) AS cell,
                       count(*), sum({alias}.lat), sum({alias}.lon), sum({URGENT[alias]}), {ends}
                {sql} GROUP BY cell""",  # noqa: S608 - fixed fragments
            [height, width, *params],
        )
        for cell, *values in rows:
            _merge(cells, cell, values)
    return cells


def _merge(cells: dict[int, list], cell: int, values: list) -> None:
    """Count a cell's [count, sum of latitudes, sum of longitudes, urgent] and, when both
    have them, its bounds [west, south, east, north] into `cells`."""
    into = cells.get(cell)
    if into is None:
        cells[cell] = list(values)
        return
    for i in range(4):
        into[i] += values[i]
    into[4:] = _wider(into[4:], values[4:]) if into[4:] and values[4:] else []


def _extent(cells: dict[int, list]) -> list[float] | None:
    """[west, south, east, north] of the points counted in `cells` (with their bounds)."""
    if not cells:
        return None
    bounds = list(zip(*(cell[4:] for cell in cells.values()), strict=True))
    return [min(bounds[0]), min(bounds[1]), max(bounds[2]), max(bounds[3])]


def _coarser(cells: dict[int, list], zoom: int, coarse: int) -> dict[int, list]:
    """Cells of a zoom's grid gathered into the cells of a coarser zoom's grid: each coarse
    cell is 2 ** (zoom - coarse) fine ones across, so the clusters are what grouping the
    points on the coarse grid gives."""
    shift, multiplier = 2 ** (zoom - coarse), mapcells.MULTIPLIER
    found: dict[int, list] = {}
    for cell, values in cells.items():
        row, column = divmod(cell, multiplier)
        _merge(found, row // shift * multiplier + column // shift, values[:4])
    return found


def _clusters(cells: dict[int, list]) -> list[tuple]:
    """(lat, lon, count, urgent) per cell, the position the mean of the cell's points, in
    1e-5 degrees."""
    return [
        (round(lat / count * SCALE), round(lon / count * SCALE), count, urgent)
        for count, lat, lon, urgent, *_bounds in cells.values()
    ]


def _arrays(names, values) -> str:
    return ",".join(f'"{name}":[{value or ""}]' for name, value in zip(names, values, strict=True))


def _clusters_json(head: dict, cells: list[tuple], height: float, width: float) -> str:
    head = {**head, "mode": "clusters", "count": sum(c[2] for c in cells), "cell": [height, width]}
    columns = [",".join(str(cell[i]) for cell in cells) for i in range(4)]
    arrays = _arrays(("lat", "lon", "count", "urgent"), columns)
    return json.dumps(head)[:-1] + f',"clusters":{{{arrays}}}}}'


def _facet(f: Filters) -> tuple[int, tuple[int, ...]] | None:
    """The facet whose cells answer `f` (mapcells.py), and those whose cells are taken from
    it: 0 with no filter, that of a category, a task state (or the open ones), a place or a
    party (or none) asked alone, or of two of a category, a task state and a place; for the
    observations with no task, every row's (or the category's, the place's) less those with
    a task (`tasked`); None for anything else."""
    alone = replace(f, kind="all", category=None, state=None, place=None, party=None)
    asked = [value for value in (f.category, f.state, f.place, f.party) if value is not None]
    if alone != Filters():
        return None
    if len(asked) == 2 and f.party is None:  # two of a category, a state and a place
        pair = {"category": f.category, "place": f.place}
        one = {k: v for k, v in pair.items() if v is not None}
        if f.state is None:
            return mapcells.facet_of(**pair), ()
        if f.state == UNTASKED:  # the category's or place's, less those with a task
            tasked = mapcells.facet_of(**one, state=mapcells.TASKED)
            return mapcells.facet_of(**one), (tasked,)
        return mapcells.facet_of(**one, state=f.state), ()
    if len(asked) > 1:
        return None
    if f.state == UNTASKED:
        return 0, (mapcells.facet_of(state=mapcells.TASKED),)
    return (mapcells.facet_of(f.category, f.state, f.place, f.party) if asked else 0), ()


def _from_cells(
    db: Database,
    kinds: tuple[str, ...],
    view: View,
    points_at_most: int,
    facet: int,
    minus: tuple[int, ...] = (),
):
    """The map from the running counts per cell (mapcells.py) of every row (facet 0) or of a
    facet, less the rows of the facets `minus`: the whole district without a box, else the
    cells whose mean lies in the box. None when few enough points to send whole, or when the
    grid asked for is finer than the cells allow: the caller then reads the points."""
    extent = None
    if view.box is None:
        if mapcells.counted_points(db, kinds, facet, minus) <= points_at_most:
            return None
        extent = (
            mapcells.extent(db, kinds)
            if (facet, minus) == (0, ())
            else mapcells.facet_extent(db, kinds, (facet,), minus)
        )
    zoom = grid_zoom(view, extent)
    if zoom > mapcells.LEVELS[-1]:
        return None
    cells = mapcells.clusters_from_cells(db, kinds, zoom, SCALE, view.box, facet, minus)
    total = sum(cell[2] for cell in cells)
    if total <= points_at_most:
        return None
    head = _head(total, extent)
    return _clusters_json(head, cells, *mapcells.grid(zoom))


def _month_span(f: Filters, today: date) -> tuple[list[int], list[Filters]] | None:
    """For a filter on dates alone (or with a category) from a start (to an end, or to now):
    the facets of the whole Stockholm months in it (with the category), and the filters of
    what is left at its ends, to read from the rows (after the current month, when no end is
    given: nothing, unless clocks were wrong). None for any other filter, or a span without
    a whole month."""
    others = replace(f, kind="all", date_from=None, date_to=None, category=None)
    if f.date_from is None or others != Filters():
        return None
    first = f.date_from if f.date_from.day == 1 else next_month(f.date_from.replace(day=1))
    end = f.date_to + timedelta(days=1) if f.date_to else next_month(today.replace(day=1))
    last = end.replace(day=1)
    if first >= last:
        return None
    facets, month = [], first
    while month < last:
        facets.append(
            mapcells.month_category_facet(month.year, month.month, f.category)
            if f.category
            else mapcells.month_facet(month.year, month.month)
        )
        month = next_month(month)
    ends = []
    if f.date_from < first:
        ends.append(replace(f, date_to=first - timedelta(days=1)))
    if f.date_to is None or last <= f.date_to:
        ends.append(replace(f, date_from=last))
    return facets, ends


def _latest(db: Database, kinds: tuple[str, ...]) -> date | None:
    """The last UTC day any row of these kinds happened on (from the edge of an index): the
    days after it hold nothing, whatever a filter's rows would cost to read."""
    days = [
        db.execute(f"SELECT max({WHEN[ALIASES[kind]]}) FROM {kind}").fetchone()[0]  # noqa: S608
        for kind in kinds
    ]
    days = [day for day in days if day]
    return date.fromisoformat(max(days)[:10]) + timedelta(days=1) if days else None


def _by_months(
    db: Database, f: Filters, view: View, today: str, tz: ZoneInfo, points_at_most: int
) -> str | None:
    """A map filtered by dates alone (or with a category): the whole months from their
    facets' cells, what is left at the ends from the rows, on the same grid. None when the
    filter is not one, the points are few or the grid is finer than the cells: the caller
    then reads the rows."""
    span = _month_span(f, date.fromisoformat(today)) if tz.key == STOCKHOLM.key else None
    if span is None:
        return None
    facets, ends = span
    kinds = tuple(kind for kind in mapcells.KINDS if f.kind in ("all", kind))
    latest = _latest(db, kinds)
    ends = [part for part in ends if latest is not None and part.date_from <= latest]
    parts = [_arms(part, view, today, tz) for part in ends]
    return _cells_and_rows(db, kinds, view, facets, parts, points_at_most)


def _due_facets(db: Database, today: str) -> list[int] | None:
    """The facets of what is overdue on `today`: the whole years of due dates before this one,
    from the year the first open task is due in, this year's whole months before this one and
    this month's days before today (so their number does not grow with the years behind, nor
    what each holds with the day of the month). None when no open task has a due date."""
    firsts = [
        db.execute(
            "SELECT min(due_date) FROM tasks WHERE state = ? AND due_date IS NOT NULL", [state]
        ).fetchone()[0]
        for state in OPEN_STATES
    ]  # one per state: each the edge of the (state, due_date) index
    firsts = [day for day in firsts if day]
    if not firsts:
        return None
    first, day = date.fromisoformat(min(firsts)), date.fromisoformat(today)
    this_month = day.replace(day=1)
    facets = [mapcells.due_year_facet(year) for year in range(first.year, this_month.year)]
    month = max(first.replace(day=1), this_month.replace(month=1))
    while month < this_month:
        facets.append(mapcells.due_month_facet(month.year, month.month))
        month = next_month(month)
    start = max(first, this_month)
    facets += [mapcells.due_day_facet(start + timedelta(days=n)) for n in range((day - start).days)]
    return facets


def _by_due_dates(
    db: Database, f: Filters, view: View, today: str, points_at_most: int
) -> str | None:
    """A map of what is overdue, alone: the open tasks, and the observations whose open
    task due first is, from the cells of the years, months and days they are due on
    (`_due_facets`; mapcells.py: an observation's first due date is in observation_due).
    None as for `_by_months`."""
    if not overdue_alone(f):
        return None
    facets = _due_facets(db, today)
    if facets is None:
        return None
    kinds = tuple(kind for kind in mapcells.KINDS if f.kind in ("all", kind))
    return _cells_and_rows(db, kinds, view, facets, [], points_at_most)


def _by_text(
    db: Database, f: Filters, view: View, today: str, tz: ZoneInfo, points_at_most: int
) -> str | None:
    """A map filtered by text (alone, or with filters the text index's keys hold copies for,
    `indexed_text`): its hits counted per cell from the keys (textsearch.py), on the box's
    grid, or without a box on the finest grid that fits one, gathered into the grid that
    fits their extent (the cells' means, as a facet's); the rows of a full step from the
    rows. None for any other filter (a case number, a text too short for the index, a filter
    that needs the rows), when the points are few or the grid is finer than the keys say:
    the caller then reads the rows."""
    # What the keys' bits say (an observation's category, the open ones) is asked of them,
    # not of the keys' rows (with no other filter, the hits are not joined to their rows).
    indexed = indexed_with_bits(f, today, tz)
    if indexed is None:
        return None
    zoom = FIT_MAX_ZOOM if view.box is None else grid_zoom(view, None)
    if zoom > textsearch.FINEST_ZOOM:
        return None
    sums: dict[int, list] = {}
    for kind, (where, bits) in indexed.items():
        found = textsearch.cell_sums(
            db, kind, f.q, zoom, view.box, mapcells.MULTIPLIER, where=where, bits=bits
        )
        if textsearch.overflowed(db, kind):
            # Boxed below: a full step's keys lie outside the box's lanes.
            alias, sql, params = _arms(f, View(), today, tz)[kind]
            full, full_params = textsearch.overflow_condition(kind, alias, f.q)
            full_arm = _boxed(alias, f"{sql} AND {full}", [*params, *full_params], view)
            for cell, values in _sums(db, {kind: full_arm}, zoom).items():
                _merge(found, cell, values[:4])
        for cell, values in found.items():
            _merge(sums, cell, values[:4])
    total = sum(cell[0] for cell in sums.values())
    if total <= points_at_most:
        return None
    extent = None
    if view.box is None:
        means = [(lon / n, lat / n) for n, lat, lon, *_rest in sums.values()]
        lons, lats = zip(*means, strict=True)
        extent = [min(lons), min(lats), max(lons), max(lats)]
        zoom, fine = grid_zoom(view, extent), zoom
        sums = _coarser(sums, fine, zoom)
    return _clusters_json(_head(total, extent), _clusters(sums), *mapcells.grid(zoom))


def _cells_and_rows(
    db: Database,
    kinds: tuple[str, ...],
    view: View,
    facets: list[int],
    parts: list[dict],
    points_at_most: int,
) -> str | None:
    """The map from the cells of `facets` and what the `parts` (arms, as `_arms` makes them
    for the view) keep of the rows, on the same grid. None when the points are few or the
    grid is finer than the cells: the caller then reads the rows."""
    if view.box is not None:
        zoom, extent = grid_zoom(view, None), None
        if zoom > mapcells.LEVELS[-1]:
            return None
        sums = mapcells.cell_sums(db, kinds, zoom, view.box, facets) if facets else {}
        for arms in parts:
            for cell, values in _sums(db, arms, zoom).items():
                _merge(sums, cell, values[:4])
    else:
        rows: dict[int, list] = {}
        for arms in parts:
            for cell, values in _sums(db, arms, FIT_MAX_ZOOM).items():
                _merge(rows, cell, values)
        extent = _extent(rows)
        cells_extent = mapcells.facet_extent(db, kinds, facets) if facets else None
        if cells_extent is not None:
            extent = cells_extent if extent is None else _wider(extent, cells_extent)
        if extent is None:
            return None
        zoom = grid_zoom(view, extent)
        sums = mapcells.cell_sums(db, kinds, zoom, None, facets) if facets else {}
        for cell, values in _coarser(rows, FIT_MAX_ZOOM, zoom).items():
            _merge(sums, cell, values)
    total = sum(cell[0] for cell in sums.values())
    if total <= points_at_most:
        return None
    head = _head(total, extent)
    return _clusters_json(head, _clusters(sums), *mapcells.grid(zoom))


def _head(total: int, extent: list[float] | None) -> dict:
    """What every answer starts with (see `map_answer`)."""
    return {
        "scale": SCALE,
        "categories": list(CATEGORIES),
        "states": list(STATES),
        "count": total,
        "extent": extent,
    }


def _wider(a: list[float], b: list[float]) -> list[float]:
    return [*map(min, a[:2], b[:2]), *map(max, a[2:], b[2:])]


def map_answer(
    db: Database, f: Filters, view: View, today: str, tz: ZoneInfo, points_at_most: int
) -> str:
    """The map's answer as compact JSON (positions are integers in 1e-5 degrees).

    Always: `scale`, `categories`, `states`, `mode`, `count` (points in the box) and `extent`
    ([west, south, east, north] of those points; null when there are none, and for clusters
    in a box, where the map keeps its view). Points: per kind, parallel arrays
    of lat, lon, id and code. An observation's code is its category's index times 4, plus 1
    when urgent and 2 when it works well; a task's is its state's index times 4, plus 1 when
    urgent and 2 when overdue. Observations are named by rowid (their UUIDs would triple the
    size); `/dashboard/observations/<rowid>` leads to one. Clusters: `cell` (its height and
    width in degrees) and `clusters`, parallel arrays of lat, lon, count and urgent.
    """
    arms = _arms(f, view, today, tz, _few_in_box(db, f, view))
    facet = _facet(f)
    if facet is not None and arms:
        answer = _from_cells(db, tuple(arms), view, points_at_most, *facet)
        if answer is not None:
            return answer
    answer = (
        _by_months(db, f, view, today, tz, points_at_most)
        or _by_due_dates(db, f, view, today, points_at_most)
        or _by_text(db, f, view, today, tz, points_at_most)
    )
    if answer is not None:
        return answer
    # Every point the filters keep is counted once, per cell with the cell's bounds: on the
    # box's grid, or without a box on the finest grid that fits one, to be gathered into the
    # grid that fits the points' extent. Few points are then read again, whole.
    zoom = FIT_MAX_ZOOM if view.box is None else grid_zoom(view, None)
    cells = _sums(db, arms, zoom)
    total = sum(cell[0] for cell in cells.values())
    many = total > points_at_most
    extent = _extent(cells) if view.box is None or not many else None
    if many and view.box is None:
        zoom = grid_zoom(view, extent)
        cells = _coarser(cells, FIT_MAX_ZOOM, zoom)
    head = _head(total, extent)
    if not many:
        parts = _points(db, arms, today)
        chunks = [json.dumps({**head, "mode": "points"})[:-1]]
        for kind in ("observations", "tasks"):
            values = parts.get(kind) or (None,) * 4
            chunks.append(f',"{kind}":{{{_arrays(("lat", "lon", "id", "code"), values)}}}')
        return "".join(chunks) + "}"
    return _clusters_json(head, _clusters(cells), *mapcells.grid(zoom))
