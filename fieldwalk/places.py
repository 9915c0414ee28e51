"""Places: the squares, stations and parks that walks go around."""

import json

from sqlite_utils import Database

from fieldwalk import geo
from fieldwalk.db import now, transaction


def insert_place(
    db: Database,
    slug: str,
    name: str,
    geometry: dict,
    description: str = "",
    kind: str = "area",
) -> int:
    """Insert a place with its polygon; return its id."""
    min_lat, min_lon, max_lat, max_lon = geo.bbox(geometry)
    stamp = now()
    with transaction(db):
        cursor = db.execute(
            """INSERT INTO places (slug, name, description, kind, geometry, min_lat, min_lon,
                   max_lat, max_lon, center_lat, center_lon, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                slug,
                name,
                description,
                kind,
                json.dumps(geometry),
                min_lat,
                min_lon,
                max_lat,
                max_lon,
                (min_lat + max_lat) / 2,
                (min_lon + max_lon) / 2,
                stamp,
                stamp,
            ],
        )
    return cursor.lastrowid


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
    candidates = db.execute(
        """SELECT * FROM places WHERE ? BETWEEN min_lat AND max_lat AND ? BETWEEN min_lon AND max_lon
           ORDER BY (max_lat - min_lat) * (max_lon - min_lon)""",
        [lat, lon],
    )
    for row in candidates:
        if geo.contains(json.loads(row["geometry"]), lat, lon):
            return dict(row)
    return None


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
