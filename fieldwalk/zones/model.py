"""Zones: the polygons that say which party controls the ground, with GeoJSON import and export."""

import json

from flask_babel import lazy_gettext as _l
from sqlite_utils import Database

from fieldwalk import geo
from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.gis import (
    WGS84,
    GeometryProblem,
    ImportProblem,
    export_collection,
    open_collection,
)
from fieldwalk.gis import polygon_to_wgs84 as read_polygon
from fieldwalk.parties.model import KINDS as PARTY_KINDS
from fieldwalk.parties.model import find_party_by_name, get_party, insert_party
from fieldwalk.routing import Zone

KINDS = ("park", "street", "square", "property", "transit", "other")


KIND_LABELS = {
    "park": _l("Park land"),
    "street": _l("Street"),
    "square": _l("Square"),
    "property": _l("Property"),
    "transit": _l("Stop or station"),
    "other": _l("Other"),
}


# One colour per party on the map (by party id), told apart from each other and the tiles.
PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#e6550d",
    "#8c564b", "#d6379b", "#17becf", "#636363", "#8c8c00",
)  # fmt: skip


MAX_IMPORT_BYTES = 5 * 1024 * 1024


def kind_label(kind: str) -> str:
    """The translated name of a zone kind."""
    return str(KIND_LABELS.get(kind, kind))


def party_colour(party_id: int) -> str:
    """The colour a party's zones are drawn in."""
    return PALETTE[party_id % len(PALETTE)]


def parse_zone_geometry(value: str | dict | None) -> dict:
    """Check a zone's shape (GeoJSON text or object): a Polygon or MultiPolygon with an area.

    Returns the bare geometry (type and coordinates); raises ValueError saying what is wrong.
    """
    text = value if isinstance(value, str) else json.dumps(value)
    try:
        geometry = geo.parse_polygon(text)
        area = geo.area_m2(geometry)
    except (TypeError, KeyError, AttributeError, IndexError) as error:
        raise ValueError("expected a GeoJSON Polygon or MultiPolygon") from error
    if not area > 0:
        raise ValueError("the polygon has no area")
    return {"type": geometry["type"], "coordinates": geometry["coordinates"]}


def _shape_columns(geometry: dict) -> dict:
    """The stored shape and what the routing rule's queries need from it."""
    min_lat, min_lon, max_lat, max_lon = geo.bbox(geometry)
    return {
        "geometry": json.dumps(geometry),
        "min_lat": min_lat,
        "min_lon": min_lon,
        "max_lat": max_lat,
        "max_lon": max_lon,
        "area_m2": geo.area_m2(geometry),
    }


def insert_zone(db: Database, party_id: int, name: str, geometry: dict, kind: str = "other") -> int:
    """Create a zone owned by a party; return its id."""
    if kind not in KINDS:
        raise ValueError(f"unknown zone kind {kind!r}")
    stamp = now()
    row = {"party_id": party_id, "name": name.strip(), "kind": kind, **_shape_columns(geometry)}
    row.update(created_at=stamp, updated_at=stamp)
    with transaction(db):
        cursor = db.execute(
            f"INSERT INTO zones ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608
            list(row.values()),
        )
    return cursor.lastrowid


def update_zone(
    db: Database, zone_id: int, *, party_id: int, name: str, kind: str, geometry: dict
) -> None:
    """Redraw or reassign a zone."""
    if kind not in KINDS:
        raise ValueError(f"unknown zone kind {kind!r}")
    row = {"party_id": party_id, "name": name.strip(), "kind": kind, **_shape_columns(geometry)}
    row["updated_at"] = now()
    with transaction(db):
        db.execute(
            f"UPDATE zones SET {', '.join(f'{k} = ?' for k in row)} WHERE id = ?",  # noqa: S608
            [*row.values(), zone_id],
        )


def delete_zone(db: Database, zone_id: int) -> None:
    """Remove a zone."""
    with transaction(db):
        db.execute("DELETE FROM zones WHERE id = ?", [zone_id])


_ZONE_SELECT = """SELECT zones.*, parties.name AS party_name, parties.kind AS party_kind
                  FROM zones JOIN parties ON parties.id = zones.party_id"""


def get_zone(db: Database, zone_id: int) -> dict | None:
    """One zone with its party's name and kind, or None."""
    row = db.execute(f"{_ZONE_SELECT} WHERE zones.id = ?", [zone_id]).fetchone()  # noqa: S608
    return dict(row) if row else None


def list_zones(db: Database, party_id: int | None = None) -> list[dict]:
    """Every zone (or one party's) with its party's name and kind, smallest first."""
    where, params = ("WHERE zones.party_id = ?", [party_id]) if party_id is not None else ("", [])
    rows = db.execute(f"{_ZONE_SELECT} {where} ORDER BY area_m2, zones.id", params)  # noqa: S608
    return [dict(r) for r in rows]


def zones_at(db: Database, lat: float, lon: float) -> list[Zone]:
    """The zones whose bounding box holds the point: the routing rule's candidates, found
    in the R*Tree of the zones' boxes (m031)."""
    rows = db.execute(
        """SELECT zones.* FROM zones_rtree r CROSS JOIN zones ON zones.id = r.id
           WHERE r.min_lat <= :lat AND r.max_lat >= :lat AND r.min_lon <= :lon
             AND r.max_lon >= :lon
           ORDER BY zones.id""",
        {"lat": lat, "lon": lon},
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
            "party_kind": zone["party_kind"],
        },
    }


def export_zones(db: Database, crs: str = WGS84) -> dict:
    """Every zone as a GeoJSON FeatureCollection: WGS84 [lon, lat] by default, or SWEREF 99
    TM or 18 00 [easting, northing]; rings wound as RFC 7946 asks."""
    return export_collection([zone_feature(z) for z in list_zones(db)], crs)


def find_zone_by_name(db: Database, name: str) -> dict | None:
    """The oldest zone with this name (case-insensitive), or None."""
    row = db.execute(
        "SELECT * FROM zones WHERE lower(name) = lower(?) ORDER BY id LIMIT 1", [name.strip()]
    ).fetchone()
    return dict(row) if row else None


def import_zones(
    db: Database,
    collection: object,
    *,
    party_property: str = "party",
    create_parties: bool = False,
    replace: bool = False,
    crs: str | None = None,
    bounds: tuple[float, float, float, float] = (-180, -90, 180, 90),
) -> tuple[int, list[ImportProblem]]:
    """Import a GeoJSON FeatureCollection of zones, all or nothing; return (count, problems).

    Coordinates are in the system the file names (`crs` member), else in `crs`, else WGS84,
    and every shape must lie inside `bounds` (west, south, east, north in WGS84). Each
    feature needs a Polygon or MultiPolygon and a party: the party's name in
    `party_property` (created, with the kind in `party_kind` if any, when `create_parties`
    is set), or else a `party_id` of this database. A zone whose name is already taken
    is redrawn and reassigned, not added again; `replace` deletes every zone first.
    """
    features, source, problem = open_collection(collection, crs)
    if problem is not None:
        return 0, [problem]
    problems: list[ImportProblem] = []
    planned = []
    seen: dict[str, int] = {}
    for index, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.append(ImportProblem("feature", index))
            continue
        props = feature.get("properties")
        props = props if isinstance(props, dict) else {}
        name = str(props.get("name") or "").strip()[:200] or f"Zone {index}"
        if name.lower() in seen:
            problems.append(ImportProblem("duplicate_name", index, name, str(seen[name.lower()])))
            continue
        seen[name.lower()] = index
        try:
            geometry = parse_zone_geometry(read_polygon(feature.get("geometry"), source, bounds))
        except GeometryProblem as error:
            code = "geometry" if error.code == "shape" else error.code
            problems.append(ImportProblem(code, index, name, error.detail))
            continue
        except ValueError as error:
            problems.append(ImportProblem("geometry", index, name, str(error)))
            continue
        kind = props.get("kind") if props.get("kind") in KINDS else "other"
        # The name wins over party_id: ids from another database would point at the wrong party.
        party_name = str(props.get(party_property) or "").strip()[:200]
        party = find_party_by_name(db, party_name) if party_name else None
        party_id = props.get("party_id")
        if not party_name and isinstance(party_id, int) and not isinstance(party_id, bool):
            party = get_party(db, party_id)
        if party is None and not party_name:
            problems.append(ImportProblem("party_missing", index, name, party_property))
            continue
        if party is None and not create_parties:
            problems.append(ImportProblem("party_unknown", index, name, party_name))
            continue
        if party is None:
            party_kind = props.get("party_kind")
            if party_kind not in PARTY_KINDS:
                party_kind = "property_owner" if kind == "property" else "other"
            party = {"name": party_name, "kind": party_kind}
        planned.append((party, name, kind, geometry))
    if problems:
        return 0, problems
    with transaction(db):
        if replace:
            db.execute("DELETE FROM zones")
        for party, name, kind, geometry in planned:
            if "id" not in party:  # to create; an earlier feature may have done so already
                existing = find_party_by_name(db, party["name"])
                party["id"] = existing["id"] if existing else insert_party(db, **party)
            same = find_zone_by_name(db, name)
            if same is None:
                insert_zone(db, party["id"], name, geometry, kind)
            else:
                update_zone(
                    db, same["id"], party_id=party["id"], name=name, kind=kind, geometry=geometry
                )
    return len(planned), []
