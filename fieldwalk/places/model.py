"""Places (the squares, stations and parks walks go around): rows, geometry, lookup by point."""

import json
import re
import unicodedata

from sqlite_utils import Database

from fieldwalk import geo
from fieldwalk.clock import now
from fieldwalk.db import transaction


def bounds(geometry: dict) -> dict:
    """The bounding box and its centre: the columns stored beside a place's polygon."""
    min_lat, min_lon, max_lat, max_lon = geo.bbox(geometry)
    return {
        "min_lat": min_lat,
        "min_lon": min_lon,
        "max_lat": max_lat,
        "max_lon": max_lon,
        "center_lat": (min_lat + max_lat) / 2,
        "center_lon": (min_lon + max_lon) / 2,
    }


def insert_place(
    db: Database,
    slug: str,
    name: str,
    geometry: dict,
    description: str = "",
    kind: str = "area",
) -> int:
    """Insert a place with its polygon; return its id."""
    box = bounds(geometry)
    stamp = now()
    with transaction(db):
        cursor = db.execute(
            """INSERT INTO places (slug, name, description, kind, geometry, min_lat, min_lon,
                   max_lat, max_lon, center_lat, center_lon, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [slug, name, description, kind, json.dumps(geometry), *box.values(), stamp, stamp],
        )
    return cursor.lastrowid


def update_place(
    db: Database, place_id: int, *, name: str, description: str, kind: str, geometry: dict
) -> None:
    """Rename, describe or redraw a place; its bounding box and centre follow the polygon."""
    box = bounds(geometry)
    with transaction(db):
        db.execute(
            """UPDATE places SET name = ?, description = ?, kind = ?, geometry = ?,
                   min_lat = ?, min_lon = ?, max_lat = ?, max_lon = ?, center_lat = ?,
                   center_lon = ?, updated_at = ? WHERE id = ?""",
            [name, description, kind, json.dumps(geometry), *box.values(), now(), place_id],
        )


def slugify(name: str) -> str:
    """'Råcksta: gamla torget' as 'racksta-gamla-torget'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60] or "place"


def unique_slug(db: Database, name: str) -> str:
    """A slug for a new place that no other place has yet."""
    base, n = slugify(name), 1
    slug = base
    while db.execute("SELECT 1 FROM places WHERE slug = ?", [slug]).fetchone():
        n += 1
        slug = f"{base}-{n}"
    return slug


def parse_place_geometry(text: str) -> dict:
    """Check a drawn or pasted polygon (GeoJSON text); return the bare geometry.

    Raises ValueError when it is not a closed Polygon or MultiPolygon in range with an area.
    """
    try:
        geometry = geo.parse_polygon(text)
        area = geo.area_m2(geometry)
    except (TypeError, KeyError, AttributeError, IndexError) as error:
        raise ValueError("expected a GeoJSON Polygon or MultiPolygon") from error
    if not area > 0:
        raise ValueError("the polygon has no area")
    return {"type": geometry["type"], "coordinates": geometry["coordinates"]}


def list_places(db: Database) -> list[dict]:
    """Every place, by name."""
    return [dict(r) for r in db.execute("SELECT * FROM places ORDER BY name")]


def get_place(db: Database, place_id: int) -> dict | None:
    """One place, or None."""
    row = db.execute("SELECT * FROM places WHERE id = ?", [place_id]).fetchone()
    return dict(row) if row else None


def place_geometry(place: dict) -> dict:
    """The place's polygon as a GeoJSON geometry."""
    return json.loads(place["geometry"])


def place_for_point(db: Database, lat: float, lon: float) -> dict | None:
    """The smallest place whose polygon contains the point, or None."""
    # Candidates from the R*Tree of bounding boxes (m031); the polygon test decides.
    candidates = db.execute(
        """SELECT places.* FROM places_rtree r CROSS JOIN places ON places.id = r.id
           WHERE r.min_lat <= :lat AND r.max_lat >= :lat AND r.min_lon <= :lon
             AND r.max_lon >= :lon
           ORDER BY (places.max_lat - places.min_lat) * (places.max_lon - places.min_lon)""",
        {"lat": lat, "lon": lon},
    )
    place = geo.smallest_containing(
        candidates,
        lat,
        lon,
        geometry=lambda row: json.loads(row["geometry"]),
        size=lambda row: (row["max_lat"] - row["min_lat"]) * (row["max_lon"] - row["min_lon"]),
    )
    return dict(place) if place else None


def place_feature(place: dict) -> dict:
    """A place as a GeoJSON Feature for maps and the API."""
    return {
        "type": "Feature",
        "id": place["id"],
        "geometry": place_geometry(place),
        "properties": {
            "id": place["id"],
            "slug": place["slug"],
            "name": place["name"],
            "description": place["description"],
            "kind": place["kind"],
            "center": [place["center_lat"], place["center_lon"]],
        },
    }
