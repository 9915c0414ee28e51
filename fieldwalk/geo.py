"""Small geometry on WGS84 coordinates: distances, point in polygon, bounding boxes.

Distances use a local equirectangular projection around the point, which is accurate to well
under a metre at the scale of a district. GeoJSON order is [lon, lat] throughout.
"""

import json
import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def rings(geometry: dict) -> list[list[list[float]]]:
    """Every ring (outer and holes) of a Polygon or MultiPolygon."""
    if geometry["type"] == "Polygon":
        return list(geometry["coordinates"])
    if geometry["type"] == "MultiPolygon":
        return [ring for polygon in geometry["coordinates"] for ring in polygon]
    raise ValueError(f"not a polygon: {geometry['type']}")


def _in_ring(lat: float, lon: float, ring: list[list[float]]) -> bool:
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i][0], ring[i][1]
        xj, yj = ring[j][0], ring[j][1]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def contains(geometry: dict, lat: float, lon: float) -> bool:
    """True when the point lies inside the (Multi)Polygon, holes excluded (even-odd rule)."""
    polygons = (
        [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    )
    return any(sum(_in_ring(lat, lon, ring) for ring in polygon) % 2 == 1 for polygon in polygons)


def smallest_containing(
    items: Iterable[T],
    lat: float,
    lon: float,
    geometry: Callable[[T], dict],
    size: Callable[[T], Any],
) -> T | None:
    """The smallest of `items` (by `size`) whose polygon contains the point, or None.

    One rule for every "which polygon is this point in" question: the place an observation
    belongs to and the zone that picks a fix's party.
    """
    return min((i for i in items if contains(geometry(i), lat, lon)), key=size, default=None)


def distance_to_polygon_m(geometry: dict, lat: float, lon: float) -> float:
    """Metres from the point to the polygon: 0 inside, else to the nearest edge."""
    if contains(geometry, lat, lon):
        return 0.0
    kx = math.cos(math.radians(lat)) * EARTH_RADIUS_M * math.pi / 180
    ky = EARTH_RADIUS_M * math.pi / 180
    best = math.inf
    for ring in rings(geometry):
        for (ax, ay), (bx, by) in zip(ring, ring[1:], strict=False):
            ax, ay = (ax - lon) * kx, (ay - lat) * ky
            bx, by = (bx - lon) * kx, (by - lat) * ky
            dx, dy = bx - ax, by - ay
            length2 = dx * dx + dy * dy
            t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
            best = min(best, math.hypot(ax + t * dx, ay + t * dy))
    return best


def bbox(geometry: dict) -> tuple[float, float, float, float]:
    """(min_lat, min_lon, max_lat, max_lon) of a (Multi)Polygon or LineString."""
    if geometry["type"] == "LineString":
        points = geometry["coordinates"]
    else:
        points = [p for ring in rings(geometry) for p in ring]
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    return min(lats), min(lons), max(lats), max(lons)


def parse_polygon(text: str) -> dict:
    """Parse and check a GeoJSON Polygon or MultiPolygon (bare geometry or Feature)."""
    geometry = json.loads(text)
    if geometry.get("type") == "Feature":
        geometry = geometry.get("geometry") or {}
    if geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError("expected a GeoJSON Polygon or MultiPolygon")
    for ring in rings(geometry):
        if len(ring) < 4 or ring[0] != ring[-1]:
            raise ValueError("each ring needs at least four positions and must be closed")
        for lon, lat, *_ in ring:
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError("coordinates out of range")
    return geometry


def parse_line(text: str) -> dict:
    """Parse and check a GeoJSON LineString (bare geometry or Feature)."""
    geometry = json.loads(text)
    if geometry.get("type") == "Feature":
        geometry = geometry.get("geometry") or {}
    if geometry.get("type") != "LineString" or len(geometry.get("coordinates", [])) < 2:
        raise ValueError("expected a GeoJSON LineString with at least two positions")
    for lon, lat, *_ in geometry["coordinates"]:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError("coordinates out of range")
    return geometry


def area_m2(geometry: dict) -> float:
    """Approximate area of a (Multi)Polygon in square metres (holes subtracted)."""
    polygons = (
        [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    )
    total = 0.0
    for polygon in polygons:
        for index, ring in enumerate(polygon):
            lat0 = math.radians(sum(p[1] for p in ring) / len(ring))
            kx = math.cos(lat0) * EARTH_RADIUS_M * math.pi / 180
            ky = EARTH_RADIUS_M * math.pi / 180
            twice = sum(
                (a[0] * kx) * (b[1] * ky) - (b[0] * kx) * (a[1] * ky)
                for a, b in zip(ring, ring[1:], strict=False)
            )
            total += abs(twice) / 2 * (1 if index == 0 else -1)
    return total
