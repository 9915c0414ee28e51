"""Zones: polygons saying who controls which ground (park land, street, a property)."""

import json

from sqlite_utils import Database

from fieldwalk import geo
from fieldwalk.db import now, transaction
from fieldwalk.parties import find_party_by_name, get_party, insert_party
from fieldwalk.routing import Zone

KINDS = ("park", "street", "square", "property", "transit", "other")


def insert_zone(db: Database, party_id: int, name: str, geometry: dict, kind: str = "other") -> int:
    """Create a zone owned by a party; return its id."""
    if kind not in KINDS:
        raise ValueError(f"unknown zone kind {kind!r}")
    min_lat, min_lon, max_lat, max_lon = geo.bbox(geometry)
    stamp = now()
    with transaction(db):
        cursor = db.execute(
            """INSERT INTO zones (party_id, name, kind, geometry, min_lat, min_lon, max_lat,
                   max_lon, area_m2, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                party_id,
                name.strip(),
                kind,
                json.dumps(geometry),
                min_lat,
                min_lon,
                max_lat,
                max_lon,
                geo.area_m2(geometry),
                stamp,
                stamp,
            ],
        )
    return cursor.lastrowid


def update_zone(
    db: Database, zone_id: int, *, party_id: int, name: str, kind: str, geometry: dict
) -> None:
    """Redraw or reassign a zone."""
    if kind not in KINDS:
        raise ValueError(f"unknown zone kind {kind!r}")
    min_lat, min_lon, max_lat, max_lon = geo.bbox(geometry)
    with transaction(db):
        db.execute(
            """UPDATE zones SET party_id = ?, name = ?, kind = ?, geometry = ?, min_lat = ?,
                   min_lon = ?, max_lat = ?, max_lon = ?, area_m2 = ?, updated_at = ? WHERE id = ?""",
            [
                party_id,
                name.strip(),
                kind,
                json.dumps(geometry),
                min_lat,
                min_lon,
                max_lat,
                max_lon,
                geo.area_m2(geometry),
                now(),
                zone_id,
            ],
        )


def delete_zone(db: Database, zone_id: int) -> None:
    """Remove a zone."""
    with transaction(db):
        db.execute("DELETE FROM zones WHERE id = ?", [zone_id])


def get_zone(db: Database, zone_id: int) -> dict | None:
    """One zone with its party's name, or None."""
    row = db.execute(
        """SELECT zones.*, parties.name AS party_name FROM zones
           JOIN parties ON parties.id = zones.party_id WHERE zones.id = ?""",
        [zone_id],
    ).fetchone()
    return dict(row) if row else None


def list_zones(db: Database) -> list[dict]:
    """Every zone with its party's name, smallest first."""
    return [
        dict(r)
        for r in db.execute(
            """SELECT zones.*, parties.name AS party_name FROM zones
           JOIN parties ON parties.id = zones.party_id ORDER BY area_m2, zones.id"""
        )
    ]


def zones_at(db: Database, lat: float, lon: float) -> list[Zone]:
    """The zones whose bounding box holds the point: the routing rule's candidates."""
    rows = db.execute(
        """SELECT * FROM zones WHERE ? BETWEEN min_lat AND max_lat
           AND ? BETWEEN min_lon AND max_lon""",
        [lat, lon],
    )
    return [
        Zone(r["id"], r["party_id"], r["name"], json.loads(r["geometry"]), r["area_m2"])
        for r in rows
    ]


def zone_feature(zone: dict) -> dict:
    """A zone as a GeoJSON Feature (what export writes and import reads)."""
    return {
        "type": "Feature",
        "id": zone["id"],
        "geometry": json.loads(zone["geometry"]),
        "properties": {
            "id": zone["id"],
            "name": zone["name"],
            "kind": zone["kind"],
            "party": zone["party_name"],
            "party_id": zone["party_id"],
        },
    }


def export_zones(db: Database) -> dict:
    """Every zone as a GeoJSON FeatureCollection (WGS84)."""
    return {"type": "FeatureCollection", "features": [zone_feature(z) for z in list_zones(db)]}


def import_zones(
    db: Database, collection: object, *, party_property: str = "party", create_parties: bool = False
) -> tuple[int, list[str]]:
    """Import a GeoJSON FeatureCollection of zones, all or nothing; return (count, errors).

    Each feature needs a Polygon or MultiPolygon and a party: its `party_id`, or its name in
    `party_property` (created as a new party when `create_parties` is set).
    """
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        return 0, ["not a GeoJSON FeatureCollection"]
    features = collection.get("features")
    if not isinstance(features, list) or not features:
        return 0, ["the FeatureCollection has no features"]
    errors: list[str] = []
    planned = []
    for index, feature in enumerate(features, start=1):
        try:
            geometry = geo.parse_polygon(json.dumps((feature or {}).get("geometry")))
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            errors.append(f"feature {index}: {error}")
            continue
        props = feature.get("properties") or {}
        name = str(props.get("name") or f"Zone {index}")[:200]
        kind = props.get("kind") if props.get("kind") in KINDS else "other"
        party = None
        if isinstance(props.get("party_id"), int):
            party = get_party(db, props["party_id"])
        if party is None and props.get(party_property):
            party = find_party_by_name(db, str(props[party_property]))
            if party is None and create_parties:
                party = {"id": None, "name": str(props[party_property])[:200]}
        if party is None:
            errors.append(f"feature {index} ({name}): no known party")
            continue
        planned.append((party, name, kind, geometry))
    if errors:
        return 0, errors
    with transaction(db):
        created: dict[str, int] = {}
        for party, name, kind, geometry in planned:
            party_id = party["id"]
            if party_id is None:
                key = party["name"].lower()
                if key not in created:
                    kind_guess = "property_owner" if kind == "property" else "other"
                    created[key] = insert_party(db, party["name"], kind_guess)
                party_id = created[key]
            insert_zone(db, party_id, name, geometry, kind)
    return len(planned), []
