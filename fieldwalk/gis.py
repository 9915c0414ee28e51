"""GeoJSON files to and from the city's GIS: WGS84, SWEREF 99 TM and SWEREF 99 18 00.

Stockholm's GIS works in SWEREF 99 18 00 (EPSG:3011) or SWEREF 99 TM (EPSG:3006); GeoJSON
(RFC 7946) and this app in WGS84 longitude, latitude. pyproj converts, with the PROJ data
its wheel ships and PROJ's network access off: nothing is downloaded, ever. Projected files
keep GeoJSON's x-before-y order (easting, northing), as GDAL and QGIS write them, and name
their system in the 2008 GeoJSON `crs` member, which those tools read.

A file is read whole before anything is stored: every feature is converted to WGS84 and must
lie inside the district (`DISTRICT_BOUNDS`), so a file in another system than the one named,
or with its axes swapped, is refused with a message saying which. Exports wind every outer
ring counter-clockwise and every hole clockwise, as RFC 7946 asks.
"""

from dataclasses import dataclass
from functools import lru_cache

import pyproj
from flask_babel import gettext as _
from pyproj import Transformer

# Transformations between SWEREF 99 and WGS84 need no grid: never let PROJ fetch one.
pyproj.network.set_network_enabled(active=False)

WGS84, SWEREF99_TM, SWEREF99_1800 = "EPSG:4326", "EPSG:3006", "EPSG:3011"
CRS_NAMES = {
    WGS84: "WGS84",
    SWEREF99_TM: "SWEREF 99 TM (EPSG:3006)",
    SWEREF99_1800: "SWEREF 99 18 00 (EPSG:3011)",
}
# How many decimals an export keeps: a millimetre in SWEREF; WGS84 is written as stored.
PROJECTED_DECIMALS = 3
_CODES = {"4326": WGS84, "3006": SWEREF99_TM, "3011": SWEREF99_1800}


def crs_code(name: object) -> str | None:
    """'EPSG:3011', 'urn:ogc:def:crs:EPSG::3006', 'CRS84', '3006' as one of ours, or None."""
    if not isinstance(name, str | int) or isinstance(name, bool):
        return None
    text = str(name).strip().lower()
    last = text.rsplit(":", 1)[-1]
    if last == "crs84":
        return WGS84
    return _CODES.get(last) if "epsg" in text or last == text else None


def crs_member(code: str) -> dict:
    """The 2008 GeoJSON `crs` member naming a system, as GDAL writes and reads it."""
    number = code.split(":")[1]
    return {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{number}"}}


def named_crs(collection: dict) -> tuple[str | None, str]:
    """(our code or None, the name as written) of the system a file names; ("", "") when it
    names none."""
    member = collection.get("crs")
    if member is None:
        return "", ""
    name = member.get("properties", {}).get("name") if isinstance(member, dict) else None
    if not isinstance(name, str):
        return None, str(member)[:80]
    return crs_code(name), name[:80]


@lru_cache(maxsize=8)
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def transform_geometry(geometry: dict, source: str, target: str, decimals: int | None = None):
    """A (Multi)Polygon, LineString or Point from one system to another (x before y)."""
    if source == target:
        return geometry
    transformer = _transformer(source, target)

    def position(point):
        x, y = transformer.transform(float(point[0]), float(point[1]))
        return [round(x, decimals), round(y, decimals)] if decimals is not None else [x, y]

    def walk(coordinates, depth):
        if depth == 0:
            return position(coordinates)
        return [walk(item, depth - 1) for item in coordinates]

    depth = {"Point": 0, "LineString": 1, "Polygon": 2, "MultiPolygon": 3}[geometry["type"]]
    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"], depth)}


def _signed_area(ring: list) -> float:
    """Twice the ring's signed area (shoelace): positive when it runs counter-clockwise."""
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:], strict=False))


def counter_clockwise(geometry: dict) -> dict:
    """RFC 7946's winding: outer rings counter-clockwise, holes clockwise."""
    if geometry["type"] not in ("Polygon", "MultiPolygon"):
        return geometry
    polygons = (
        [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    )
    wound = [
        [
            ring if (_signed_area(ring) > 0) == (index == 0) else list(reversed(ring))
            for index, ring in enumerate(polygon)
        ]
        for polygon in polygons
    ]
    return {
        "type": geometry["type"],
        "coordinates": wound[0] if geometry["type"] == "Polygon" else wound,
    }


class GeometryProblem(ValueError):
    """A feature's shape cannot be read, or lands where it cannot be: `code` is 'shape',
    'swapped' or 'outside'."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(detail or code)
        self.code = code
        self.detail = detail


def _positions(geometry: dict) -> list:
    coordinates = geometry["coordinates"]
    if geometry["type"] == "Polygon":
        return [p for ring in coordinates for p in ring]
    return [p for polygon in coordinates for ring in polygon for p in ring]


def _check_shape(geometry: object) -> dict:
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise GeometryProblem("shape", "expected a GeoJSON Polygon or MultiPolygon")
    coordinates = geometry.get("coordinates")
    polygons = [coordinates] if geometry["type"] == "Polygon" else coordinates
    try:
        for polygon in polygons:
            if not polygon:
                raise GeometryProblem("shape", "a polygon without rings")
            for ring in polygon:
                if len(ring) < 4 or ring[0] != ring[-1]:
                    raise GeometryProblem(
                        "shape", "each ring needs at least four positions and must be closed"
                    )
                for point in ring:
                    if len(point) < 2 or not all(
                        isinstance(v, int | float) and not isinstance(v, bool) for v in point[:2]
                    ):
                        raise GeometryProblem("shape", "a position is not two numbers")
    except TypeError as error:
        raise GeometryProblem("shape", "the coordinates are not nested lists") from error
    return {"type": geometry["type"], "coordinates": coordinates}


def _inside(geometry: dict, bounds: tuple[float, float, float, float]) -> bool:
    west, south, east, north = bounds
    return all(
        west <= lon <= east and south <= lat <= north for lon, lat, *_ in _positions(geometry)
    )


def _swapped(geometry: dict) -> dict:
    def walk(item):
        if item and isinstance(item[0], int | float):
            return [item[1], item[0], *item[2:]]
        return [walk(sub) for sub in item]

    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}


def polygon_to_wgs84(
    geometry: object, source: str, bounds: tuple[float, float, float, float]
) -> dict:
    """A file's (Multi)Polygon in `source`, checked and converted to WGS84, inside `bounds`
    (west, south, east, north). Raises GeometryProblem: 'shape' when it cannot be read,
    'swapped' when it would lie inside with its axes the other way round, 'outside' else."""
    shape = _check_shape(geometry)
    try:
        converted = transform_geometry(shape, source, WGS84)
        if _inside(converted, bounds):
            return converted
        if _inside(transform_geometry(_swapped(shape), source, WGS84), bounds):
            raise GeometryProblem("swapped")
    except pyproj.exceptions.ProjError as error:
        raise GeometryProblem("outside") from error
    raise GeometryProblem("outside")


@dataclass(frozen=True)
class ImportProblem:
    """Why a file, or one feature in it, cannot be imported. `str()` gives it in English."""

    code: str  # collection, empty, feature, geometry, swapped, outside, crs_unknown,
    # crs_conflict, duplicate_name, name_missing, party_missing, party_unknown
    feature: int | None = None  # 1-based position in the file
    name: str = ""
    detail: str = ""

    def __str__(self) -> str:
        where = f"feature {self.feature}" + (f" ({self.name})" if self.name else "")
        return {
            "collection": "not a GeoJSON FeatureCollection",
            "empty": "the FeatureCollection has no features",
            "feature": f"{where}: not a GeoJSON Feature",
            "geometry": f"{where}: {self.detail}",
            "swapped": f"{where}: coordinates look swapped",
            "outside": f"{where}: outside the district",
            "crs_unknown": f"unknown coordinate system {self.detail!r}",
            "crs_conflict": f"the file says {self.detail}",
            "duplicate_name": f"{where}: the same name as feature {self.detail}",
            "name_missing": f"{where}: no name",
            "party_missing": f"{where}: no party (property {self.detail!r})",
            "party_unknown": f"{where}: unknown party {self.detail!r}",
        }.get(self.code, self.code)


def open_collection(
    collection: object, chosen: str | None
) -> tuple[list, str | None, ImportProblem | None]:
    """A GeoJSON file's features and coordinate system, or the problem that refuses it whole:
    not a FeatureCollection, no features, or a system that is unknown or contradicts `chosen`.
    The zone and place importers both start here."""
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        return [], None, ImportProblem("collection")
    features = collection.get("features")
    if not isinstance(features, list) or not features:
        return [], None, ImportProblem("empty")
    source, problem = file_crs(collection, chosen)
    return features, source, problem


def file_crs(collection: dict, chosen: str | None) -> tuple[str | None, ImportProblem | None]:
    """The system a file's coordinates are in: the one it names, else the one chosen on
    import, else WGS84. A name we do not know, or one that contradicts the choice, is a
    problem."""
    named, written = named_crs(collection)
    if named is None:
        return None, ImportProblem("crs_unknown", detail=written)
    if named and chosen and named != chosen:
        return None, ImportProblem("crs_conflict", detail=f"{CRS_NAMES[named]}|{CRS_NAMES[chosen]}")
    return named or chosen or WGS84, None


def problem_message(problem: ImportProblem, crs: str | None = None) -> str:
    """An import problem in the person's language; `crs` is the system the file was read in."""
    where = (
        _("Feature %(n)d (%(name)s)", n=problem.feature, name=problem.name)
        if problem.name
        else _("Feature %(n)d", n=problem.feature or 0)
    )
    system = CRS_NAMES.get(crs or WGS84, crs or "")
    named, _bar, chosen = problem.detail.partition("|")
    messages = {
        "collection": lambda: _("The file is not a GeoJSON FeatureCollection."),
        "empty": lambda: _("The file has no features."),
        "feature": lambda: _("%(where)s is not a GeoJSON Feature.", where=where),
        "geometry": lambda: _(
            "%(where)s: the shape is not a valid Polygon or MultiPolygon (%(detail)s).",
            where=where,
            detail=problem.detail,
        ),
        "swapped": lambda: _(
            "%(where)s: the coordinates look swapped. Read as %(system)s they fall outside "
            "the district, with north and east the other way round inside it. Write "
            "longitude before latitude (east before north) in the file.",
            where=where,
            system=system,
        ),
        "outside": lambda: _(
            "%(where)s lies outside the district when read as %(system)s. Check which "
            "coordinate system the file is in and choose it on import.",
            where=where,
            system=system,
        ),
        "crs_unknown": lambda: _(
            "The file names the coordinate system “%(name)s”, which is not supported: use "
            "WGS84, SWEREF 99 TM (EPSG:3006) or SWEREF 99 18 00 (EPSG:3011).",
            name=problem.detail,
        ),
        "crs_conflict": lambda: _(
            "The file says its coordinates are in %(named)s, but %(chosen)s was chosen. "
            "Choose “as named in the file” or the system the file names.",
            named=named,
            chosen=chosen,
        ),
        "name_missing": lambda: _("%(where)s has no name (the property “name”).", where=where),
        "duplicate_name": lambda: _(
            "%(where)s has the same name as feature %(other)s. Give each feature its own "
            "name, or join the parts into one MultiPolygon.",
            where=where,
            other=problem.detail,
        ),
        "party_missing": lambda: _(
            "%(where)s has no property “%(property)s” naming its party.",
            where=where,
            property=problem.detail,
        ),
        "party_unknown": lambda: _(
            "%(where)s: there is no party called “%(party)s”.", where=where, party=problem.detail
        ),
    }
    return messages[problem.code]() if problem.code in messages else str(problem)


def export_collection(features: list[dict], crs: str) -> dict:
    """A FeatureCollection of WGS84 features in `crs`, rings wound as RFC 7946 asks; a
    projected one names its system in `crs`."""
    decimals = None if crs == WGS84 else PROJECTED_DECIMALS
    out = [
        dict(
            feature,
            geometry=counter_clockwise(
                transform_geometry(feature["geometry"], WGS84, crs, decimals)
            ),
        )
        for feature in features
    ]
    collection: dict = {"type": "FeatureCollection"}
    if crs != WGS84:
        collection["crs"] = crs_member(crs)
    collection["features"] = out
    return collection
