"""Places as GeoJSON files for the city's GIS: export in WGS84 or SWEREF 99, and import.

An import is all or nothing, like the zones': every feature is read in the system the file
names (or the one chosen), must lie inside the district, and needs a name. A place whose
name is already taken is redrawn (its walks and observations keep pointing at it); a new
name makes a new place. Places are never deleted by an import: walks belong to them.
"""

import json

from sqlite_utils import Database

from fieldwalk.db import transaction
from fieldwalk.gis import (
    WGS84,
    GeometryProblem,
    ImportProblem,
    export_collection,
    open_collection,
)
from fieldwalk.gis import polygon_to_wgs84 as read_polygon
from fieldwalk.places.model import (
    insert_place,
    list_places,
    parse_place_geometry,
    place_geometry,
    unique_slug,
    update_place,
)

KINDS = ("area", "lov3")


def place_file_feature(place: dict) -> dict:
    """A place as a feature of an exported file (what `import_places` reads back)."""
    return {
        "type": "Feature",
        "id": place["id"],
        "geometry": place_geometry(place),
        "properties": {
            "name": place["name"],
            "slug": place["slug"],
            "kind": place["kind"],
            "description": place["description"],
        },
    }


def export_places(db: Database, crs: str = WGS84) -> dict:
    """Every place as a FeatureCollection in `crs`, rings wound as RFC 7946 asks."""
    return export_collection([place_file_feature(p) for p in list_places(db)], crs)


def find_place_by_name(db: Database, name: str) -> dict | None:
    """The oldest place with this name (case-insensitive), or None."""
    row = db.execute(
        "SELECT * FROM places WHERE lower(name) = lower(?) ORDER BY id LIMIT 1", [name.strip()]
    ).fetchone()
    return dict(row) if row else None


def import_places(
    db: Database,
    collection: object,
    *,
    crs: str | None = None,
    bounds: tuple[float, float, float, float] = (-180, -90, 180, 90),
) -> tuple[int, list[ImportProblem]]:
    """Import a FeatureCollection of places, all or nothing; return (count, problems)."""
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
        name = str(props.get("name") or "").strip()[:200]
        if not name:
            problems.append(ImportProblem("name_missing", index))
            continue
        if name.lower() in seen:
            problems.append(ImportProblem("duplicate_name", index, name, str(seen[name.lower()])))
            continue
        seen[name.lower()] = index
        try:
            shape = read_polygon(feature.get("geometry"), source, bounds)
            geometry = parse_place_geometry(json.dumps(shape))
        except GeometryProblem as error:
            code = "geometry" if error.code == "shape" else error.code
            problems.append(ImportProblem(code, index, name, error.detail))
            continue
        except ValueError as error:
            problems.append(ImportProblem("geometry", index, name, str(error)))
            continue
        kind = props.get("kind") if props.get("kind") in KINDS else "area"
        description = str(props.get("description") or "").strip()[:4000]
        planned.append((name, kind, description, geometry))
    if problems:
        return 0, problems
    with transaction(db):
        for name, kind, description, geometry in planned:
            same = find_place_by_name(db, name)
            if same is None:
                insert_place(db, unique_slug(db, name), name, geometry, description, kind)
            else:
                update_place(
                    db,
                    same["id"],
                    name=same["name"],
                    description=description or same["description"],
                    kind=kind,
                    geometry=geometry,
                )
    return len(planned), []
