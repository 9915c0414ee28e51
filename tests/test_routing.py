"""The routing rule: which party a fix goes to, and why (zone, category default or triage)."""

import uuid

import pytest

from fieldwalk import geo
from fieldwalk.observations.model import put_observation
from fieldwalk.parties.model import category_defaults, insert_party, set_category_default
from fieldwalk.routing import CATEGORY_DEFAULT, TRIAGE, ZONE, Suggestion, Zone, suggest_party
from fieldwalk.tasks.suggest import suggest_for_observation
from fieldwalk.zones.model import insert_zone, zones_at


def ring(west: float, south: float, east: float, north: float) -> list[list[float]]:
    """A closed rectangular ring in GeoJSON order ([lon, lat])."""
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


def polygon(*rings: list) -> dict:
    return {"type": "Polygon", "coordinates": list(rings)}


def zone(zone_id: int, party_id: int, geometry: dict, area: float | None = None) -> Zone:
    area = geo.area_m2(geometry) if area is None else area
    return Zone(zone_id, party_id, f"zone {zone_id}", geometry, area)


# Parties by id.
PARK_ENGINEERS, PROPERTY_OWNER, TRAFFIC_OFFICE, TRANSIT = 1, 2, 3, 4

# A park (with a pond cut out of it), a property inside the park, a street elsewhere, and a
# transit operator's two stations as one MultiPolygon.
PARK = zone(
    10,
    PARK_ENGINEERS,
    polygon(ring(17.870, 59.350, 17.890, 59.360), ring(17.872, 59.351, 17.874, 59.352)),
)
PROPERTY = zone(11, PROPERTY_OWNER, polygon(ring(17.878, 59.354, 17.882, 59.356)))
STREET = zone(12, TRAFFIC_OFFICE, polygon(ring(17.900, 59.350, 17.910, 59.352)))
STATIONS = zone(
    13,
    TRANSIT,
    {
        "type": "MultiPolygon",
        "coordinates": [
            [ring(17.920, 59.360, 17.921, 59.361)],
            [ring(17.940, 59.370, 17.941, 59.371)],
        ],
    },
)
ALL = [PARK, PROPERTY, STREET, STATIONS]
LIGHTING_TO_TRAFFIC = {"lighting": TRAFFIC_OFFICE}

# A square and its twin: same area, ids in the "wrong" order.
TWIN_A = zone(21, PARK_ENGINEERS, polygon(ring(17.95, 59.30, 17.96, 59.31)), area=1000.0)
TWIN_B = zone(7, PROPERTY_OWNER, polygon(ring(17.95, 59.30, 17.96, 59.31)), area=1000.0)

CASES = [
    # id, (lat, lon), category, zones, defaults, expected suggestion
    (
        "inside one zone",
        (59.351, 17.905),
        "upkeep",
        ALL,
        {},
        Suggestion(TRAFFIC_OFFICE, ZONE, 12, "zone 12"),
    ),
    (
        "a zone beats the category default",
        (59.351, 17.905),
        "lighting",
        [STREET],
        {"lighting": PARK_ENGINEERS},
        Suggestion(TRAFFIC_OFFICE, ZONE, 12, "zone 12"),
    ),
    (
        "outside every zone, the category default",
        (59.300, 17.800),
        "lighting",
        ALL,
        LIGHTING_TO_TRAFFIC,
        Suggestion(TRAFFIC_OFFICE, CATEGORY_DEFAULT),
    ),
    (
        "outside every zone, no default for the category: triage",
        (59.300, 17.800),
        "vegetation",
        ALL,
        LIGHTING_TO_TRAFFIC,
        Suggestion(None, TRIAGE),
    ),
    (
        "no zones at all and no defaults: triage",
        (59.355, 17.880),
        "other",
        [],
        {},
        Suggestion(None, TRIAGE),
    ),
    (
        "overlapping zones: the property inside the park wins",
        (59.355, 17.880),
        "vegetation",
        ALL,
        {},
        Suggestion(PROPERTY_OWNER, ZONE, 11, "zone 11"),
    ),
    (
        "overlapping zones: the smallest wins whatever the order given",
        (59.355, 17.880),
        "vegetation",
        [PARK, PROPERTY],
        {},
        Suggestion(PROPERTY_OWNER, ZONE, 11, "zone 11"),
    ),
    (
        "in the park but outside the property: the park",
        (59.358, 17.888),
        "vegetation",
        ALL,
        {},
        Suggestion(PARK_ENGINEERS, ZONE, 10, "zone 10"),
    ),
    (
        "in the park's hole: not inside the park, so the default",
        (59.3515, 17.873),
        "lighting",
        ALL,
        LIGHTING_TO_TRAFFIC,
        Suggestion(TRAFFIC_OFFICE, CATEGORY_DEFAULT),
    ),
    (
        "in the park's hole, no default: triage",
        (59.3515, 17.873),
        "vegetation",
        ALL,
        {},
        Suggestion(None, TRIAGE),
    ),
    (
        "MultiPolygon: inside its second polygon",
        (59.3705, 17.9405),
        "people",
        ALL,
        {},
        Suggestion(TRANSIT, ZONE, 13, "zone 13"),
    ),
    (
        "MultiPolygon: between its polygons is outside",
        (59.365, 17.930),
        "people",
        ALL,
        {},
        Suggestion(None, TRIAGE),
    ),
    (
        "no position: the category default",
        (None, None),
        "lighting",
        ALL,
        LIGHTING_TO_TRAFFIC,
        Suggestion(TRAFFIC_OFFICE, CATEGORY_DEFAULT),
    ),
    (
        "no position, no default: triage",
        (None, None),
        "graffiti",
        ALL,
        LIGHTING_TO_TRAFFIC,
        Suggestion(None, TRIAGE),
    ),
    (
        "same area: the lowest zone id wins",
        (59.305, 17.955),
        "other",
        [TWIN_A, TWIN_B],
        {},
        Suggestion(PROPERTY_OWNER, ZONE, 7, "zone 7"),
    ),
]


@pytest.mark.parametrize(
    ("position", "category", "zones", "defaults", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_suggest_party(position, category, zones, defaults, expected):
    lat, lon = position
    assert suggest_party(lat, lon, category, zones, defaults) == expected


def test_suggestion_as_dict_keeps_the_reason_for_the_task():
    suggestion = suggest_party(59.355, 17.880, "vegetation", ALL, {})
    assert suggestion.as_dict() == {
        "party_id": PROPERTY_OWNER,
        "reason": ZONE,
        "zone_id": 11,
        "zone_name": "zone 11",
    }


def test_routing_through_the_database_uses_stored_zones_and_defaults(db):
    """zones_at's bounding-box candidates, stored defaults and a stored observation agree."""
    park = insert_party(db, "Parkingenjörerna", "park")
    owner = insert_party(db, "Fastighets AB Råcksta", "property_owner")
    traffic = insert_party(db, "Trafikkontoret", "traffic")
    park_zone = insert_zone(db, park, "Råcksta park", PARK.geometry, "park")
    property_zone = insert_zone(db, owner, "Råcksta torg 1", PROPERTY.geometry, "property")
    set_category_default(db, "lighting", traffic)

    def observe(lat, lon, category):
        clean = {
            "category": category,
            "works_well": False,
            "description": "",
            "feeling": None,
            "urgent": False,
            "walk_id": None,
            "lat": lat,
            "lon": lon,
            "accuracy_m": None,
            "location_source": "device" if lat is not None else None,
            "captured_at": None,
            "photos": [],
        }
        row, _ = put_observation(db, str(uuid.uuid4()), clean, walk=None)
        return row

    # The point in the property is in both bounding boxes; the smaller zone wins.
    assert {z.id for z in zones_at(db, 59.355, 17.880)} == {park_zone, property_zone}
    assert category_defaults(db) == {"lighting": traffic}
    in_property = suggest_for_observation(db, observe(59.355, 17.880, "vegetation"))
    assert in_property == Suggestion(owner, ZONE, property_zone, "Råcksta torg 1")

    # The pond is inside the park's bounding box but not inside the park.
    assert park_zone in {z.id for z in zones_at(db, 59.3515, 17.873)}
    in_pond = suggest_for_observation(db, observe(59.3515, 17.873, "lighting"))
    assert in_pond == Suggestion(traffic, CATEGORY_DEFAULT)

    no_position = suggest_for_observation(db, observe(None, None, "vegetation"))
    assert no_position == Suggestion(None, TRIAGE)
