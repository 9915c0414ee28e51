"""Zones and places to and from the city's GIS: WGS84, SWEREF 99 TM (EPSG:3006) and SWEREF 99
18 00 (EPSG:3011), RFC 7946 winding, files refused when swapped or outside the district, and
importing again redraws instead of doubling."""

import io
import json
import math

import pyproj
import pytest
from conftest import login, make_place, make_staff

from fieldwalk import create_app, gis
from fieldwalk.db import connect
from fieldwalk.gis import SWEREF99_1800, SWEREF99_TM, WGS84, transform_geometry
from fieldwalk.parties.model import insert_party
from fieldwalk.places.model import get_place, list_places
from fieldwalk.zones.model import insert_zone, list_zones

# A known point in Råcksta, and its grid coordinates by Lantmäteriet's Gauss-Krüger formulas
# (below), computed independently of PROJ.
RACKSTA_LAT, RACKSTA_LON = 59.3548, 17.8819


def gauss_kruger(lat: float, lon: float, lon0: float, k0: float, false_easting: float):
    """(easting, northing) on GRS 80 by Krüger's series to n^4, as Lantmäteriet gives them."""
    a, f = 6378137.0, 1 / 298.257222101
    e2, n = f * (2 - f), f / (2 - f)
    a_roof = a / (1 + n) * (1 + n**2 / 4 + n**4 / 64)
    big_a, big_b = e2, (5 * e2**2 - e2**3) / 6
    big_c, big_d = (104 * e2**3 - 45 * e2**4) / 120, (1237 * e2**4) / 1260
    beta = (
        n / 2 - 2 * n**2 / 3 + 5 * n**3 / 16 + 41 * n**4 / 180,
        13 * n**2 / 48 - 3 * n**3 / 5 + 557 * n**4 / 1440,
        61 * n**3 / 240 - 103 * n**4 / 140,
        49561 * n**4 / 161280,
    )
    phi, d_lambda = math.radians(lat), math.radians(lon - lon0)
    s = math.sin(phi)
    phi_star = phi - s * math.cos(phi) * (big_a + big_b * s**2 + big_c * s**4 + big_d * s**6)
    xi = math.atan(math.tan(phi_star) / math.cos(d_lambda))
    eta = math.atanh(math.cos(phi_star) * math.sin(d_lambda))
    northing = (
        k0
        * a_roof
        * (
            xi
            + sum(b * math.sin(2 * k * xi) * math.cosh(2 * k * eta) for k, b in enumerate(beta, 1))
        )
    )
    easting = (
        k0
        * a_roof
        * (
            eta
            + sum(b * math.cos(2 * k * xi) * math.sinh(2 * k * eta) for k, b in enumerate(beta, 1))
        )
    )
    return easting + false_easting, northing


KNOWN = {
    SWEREF99_TM: gauss_kruger(RACKSTA_LAT, RACKSTA_LON, 15.0, 0.9996, 500_000),
    SWEREF99_1800: gauss_kruger(RACKSTA_LAT, RACKSTA_LON, 18.0, 1.0, 150_000),
}


def point(x: float, y: float) -> dict:
    return {"type": "Point", "coordinates": [x, y]}


def metres_between(lat1, lon1, lat2, lon2) -> float:
    return math.hypot(
        (lat2 - lat1) * 111_320, (lon2 - lon1) * 111_320 * math.cos(math.radians(lat1))
    )


@pytest.mark.parametrize("crs", [SWEREF99_TM, SWEREF99_1800])
def test_a_known_point_goes_to_wgs84_and_back_within_a_decimetre(crs):
    easting, northing = KNOWN[crs]
    lon, lat = transform_geometry(point(easting, northing), crs, WGS84)["coordinates"]
    assert metres_between(lat, lon, RACKSTA_LAT, RACKSTA_LON) < 0.1
    back_e, back_n = transform_geometry(point(lon, lat), WGS84, crs)["coordinates"]
    assert math.hypot(back_e - easting, back_n - northing) < 0.1
    forward_e, forward_n = transform_geometry(point(RACKSTA_LON, RACKSTA_LAT), WGS84, crs)[
        "coordinates"
    ]
    assert math.hypot(forward_e - easting, forward_n - northing) < 0.1


def test_the_grids_are_where_stockholm_expects_them():
    """SWEREF 99 TM eastings around Stockholm are ~660 km, 18 00's ~150 km; northings ~6580 km."""
    assert 660_000 < KNOWN[SWEREF99_TM][0] < 680_000
    assert 140_000 < KNOWN[SWEREF99_1800][0] < 160_000
    assert all(6_580_000 < northing < 6_590_000 for _e, northing in KNOWN.values())


def test_pyproj_works_offline_from_the_data_in_its_wheel():
    assert pyproj.network.is_network_enabled() is False
    assert "site-packages" in pyproj.datadir.get_data_dir()
    transformer = pyproj.Transformer.from_crs(SWEREF99_1800, WGS84, always_xy=True)
    assert "grid" not in transformer.description.lower()
    assert transformer.transform(*KNOWN[SWEREF99_1800])[0] == pytest.approx(RACKSTA_LON)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("urn:ogc:def:crs:EPSG::3011", SWEREF99_1800),
        ("EPSG:3006", SWEREF99_TM),
        ("urn:ogc:def:crs:OGC:1.3:CRS84", WGS84),
        ("3011", SWEREF99_1800),
        ("EPSG:3857", None),
        ("RT90", None),
    ],
)
def test_crs_names_as_files_write_them(name, code):
    assert gis.crs_code(name) == code


def ring_area(ring) -> float:
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:], strict=False))


# A park drawn clockwise, with a hole drawn counter-clockwise: the opposite of RFC 7946.
CLOCKWISE_PARK = {
    "type": "Polygon",
    "coordinates": [
        [[17.870, 59.350], [17.870, 59.360], [17.890, 59.360], [17.890, 59.350], [17.870, 59.350]],
        [[17.878, 59.354], [17.882, 59.354], [17.882, 59.356], [17.878, 59.356], [17.878, 59.354]],
    ],
}


@pytest.fixture
def coordinator(app, db):
    return make_staff(db, "coordinator", "gis@example.se")


@pytest.fixture
def park_party(db):
    return insert_party(db, "Parkingenjörerna", "park")


def upload(token: str, data, path="/zones/import", **fields) -> dict:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return {"csrf_token": token, "file": (io.BytesIO(body), "lager.geojson"), **fields}


@pytest.mark.parametrize("crs", ["", "3006", "3011"])
def test_zone_export_winds_rings_the_rfc_7946_way_in_every_system(
    client, db, coordinator, park_party, crs
):
    insert_zone(db, park_party, "Råcksta park", CLOCKWISE_PARK, "park")
    login(client, coordinator)
    response = client.get(f"/zones.geojson?crs={crs}" if crs else "/zones.geojson")
    assert response.status_code == 200
    expected = "zones.geojson" if not crs else f"zones-EPSG{crs}.geojson"
    assert response.headers["Content-Disposition"] == f"attachment; filename={expected}"
    data = json.loads(response.get_data())
    outer, hole = data["features"][0]["geometry"]["coordinates"]
    assert ring_area(outer) > 0 and ring_area(hole) < 0
    if crs:
        assert data["crs"] == {
            "type": "name",
            "properties": {"name": f"urn:ogc:def:crs:EPSG::{crs}"},
        }
        easting, northing = outer[0]
        assert 6_580_000 < northing < 6_590_000 and easting > 100_000
    else:
        assert "crs" not in data
        assert outer[0] == [17.870, 59.350]


def test_an_unknown_export_system_is_400(client, coordinator):
    login(client, coordinator)
    assert client.get("/zones.geojson?crs=3857").status_code == 400
    assert client.get("/places.geojson?crs=RT90").status_code == 400


@pytest.mark.parametrize("crs", ["3006", "3011"])
def test_a_sweref_export_imports_elsewhere_as_the_same_zones(
    client, db, coordinator, park_party, crs, tmp_path
):
    insert_zone(db, park_party, "Råcksta park", CLOCKWISE_PARK, "park")
    login(client, coordinator)
    exported = client.get(f"/zones.geojson?crs={crs}").get_data()

    fresh = create_app({"TESTING": True, "INSTANCE": str(tmp_path / "fresh")})
    fresh_db = connect(fresh.config["DATABASE_PATH"])
    try:
        fresh_client = fresh.test_client()
        token = login(fresh_client, make_staff(fresh_db, "admin"))
        response = fresh_client.post(
            "/zones/import",
            data=upload(token, exported, create_parties="y", party_property="party"),
        )
        assert response.status_code == 303, response.get_data(as_text=True)
        (zone,) = list_zones(fresh_db)
        outer, hole = json.loads(zone["geometry"])["coordinates"]
        original_outer, original_hole = CLOCKWISE_PARK["coordinates"]
        for got, want in ((outer, original_outer[::-1]), (hole, original_hole[::-1])):
            for (lon, lat), (lon0, lat0) in zip(got, want, strict=True):
                assert metres_between(lat, lon, lat0, lon0) < 0.01
    finally:
        fresh_db.close()


def sweref_collection(crs: str, name="Råcksta park", swap=False, named=True) -> dict:
    easting, northing = KNOWN[crs]
    ring = [
        [easting, northing],
        [easting + 200, northing],
        [easting + 200, northing + 150],
        [easting, northing + 150],
        [easting, northing],
    ]
    if swap:
        ring = [[y, x] for x, y in ring]
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": name, "party": "Parkingenjörerna", "kind": "park"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }
    if named:
        collection["crs"] = gis.crs_member(crs)
    return collection


@pytest.mark.parametrize("crs", [SWEREF99_TM, SWEREF99_1800])
def test_a_file_names_its_system_or_one_is_chosen_on_import(
    client, db, coordinator, park_party, crs
):
    token = login(client, coordinator)
    response = client.post("/zones/import", data=upload(token, sweref_collection(crs)))
    assert response.status_code == 303, response.get_data(as_text=True)
    (zone,) = list_zones(db)
    lon, lat = json.loads(zone["geometry"])["coordinates"][0][0]
    assert metres_between(lat, lon, RACKSTA_LAT, RACKSTA_LON) < 0.1
    # Without a crs member the system is chosen in the form.
    unnamed = sweref_collection(crs, name="Råcksta park", named=False)
    response = client.post("/zones/import", data=upload(token, unnamed, crs=crs))
    assert response.status_code == 303
    assert len(list_zones(db)) == 1  # the same name: redrawn, not doubled


def test_a_named_system_that_contradicts_the_choice_is_refused_in_swedish(
    client, db, coordinator, park_party
):
    token = login(client, coordinator)
    response = client.post(
        "/zones/import", data=upload(token, sweref_collection(SWEREF99_TM), crs=SWEREF99_1800)
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Filen säger att koordinaterna är i SWEREF 99 TM (EPSG:3006)" in html
    assert list_zones(db) == []


def test_an_unknown_named_system_is_refused_in_swedish(client, db, coordinator, park_party):
    token = login(client, coordinator)
    collection = sweref_collection(SWEREF99_TM)
    collection["crs"] = {"type": "name", "properties": {"name": "EPSG:3021"}}
    response = client.post("/zones/import", data=upload(token, collection))
    assert response.status_code == 400
    assert "koordinatsystemet ”EPSG:3021”, som inte stöds" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "collection",
    [
        sweref_collection(SWEREF99_1800, swap=True),
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"name": "Råcksta park", "party": "Parkingenjörerna"},
                    # Latitude first: a GIS export with its axes the wrong way round.
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [[[59.350, 17.870], [59.350, 17.890], [59.360, 17.890], [59.360, 17.870], [59.350, 17.870]]],
                    },
                }
            ],
        },
    ],
    ids=["SWEREF north and east swapped", "WGS84 latitude first"],
)  # fmt: skip
def test_a_file_with_swapped_axes_is_refused_with_a_clear_swedish_message(
    client, db, coordinator, park_party, collection
):
    token = login(client, coordinator)
    response = client.post("/zones/import", data=upload(token, collection))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Objekt 1 (Råcksta park): koordinaterna ser ut att ha bytt plats" in html
    assert list_zones(db) == []


def test_a_file_in_another_system_than_it_seems_lands_outside_and_is_refused(
    client, db, coordinator, park_party
):
    token = login(client, coordinator)
    # SWEREF 99 TM numbers read as 18 00: hundreds of kilometres east, in the sea.
    unnamed = sweref_collection(SWEREF99_TM, named=False)
    response = client.post("/zones/import", data=upload(token, unnamed, crs=SWEREF99_1800))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Objekt 1 (Råcksta park) ligger utanför stadsdelen" in html
    assert "SWEREF 99 18 00 (EPSG:3011)" in html
    # Göteborg, in honest WGS84, is outside the district too.
    gothenburg = sweref_collection(SWEREF99_TM, named=False)
    gothenburg["features"][0]["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[11.96, 57.70], [11.98, 57.70], [11.98, 57.71], [11.96, 57.70]]],
    }
    response = client.post("/zones/import", data=upload(token, gothenburg))
    assert response.status_code == 400
    assert "ligger utanför stadsdelen när den läses som WGS84" in response.get_data(as_text=True)
    assert list_zones(db) == []


def test_importing_again_without_replace_redraws_zones_of_the_same_name(
    client, db, coordinator, park_party
):
    owner = insert_party(db, "Fastighets AB Råcksta", "property_owner")
    insert_zone(db, park_party, "Råcksta park", CLOCKWISE_PARK, "park")
    insert_zone(db, owner, "Torget", CLOCKWISE_PARK, "square")
    token = login(client, coordinator)
    collection = sweref_collection(SWEREF99_1800, name="råcksta PARK")
    collection["features"][0]["properties"]["party"] = "Fastighets AB Råcksta"
    response = client.post("/zones/import", data=upload(token, collection))
    assert response.status_code == 303
    zones = {z["name"]: z for z in list_zones(db)}
    assert sorted(zones) == ["Torget", "råcksta PARK"]
    assert zones["råcksta PARK"]["party_id"] == owner
    assert zones["råcksta PARK"]["area_m2"] == pytest.approx(200 * 150, rel=0.01)


def test_two_features_of_one_name_in_a_file_are_refused(client, db, coordinator, park_party):
    token = login(client, coordinator)
    collection = sweref_collection(SWEREF99_TM)
    collection["features"].append(collection["features"][0])
    response = client.post("/zones/import", data=upload(token, collection))
    assert response.status_code == 400
    assert "Objekt 2 (Råcksta park) har samma namn som objekt 1" in response.get_data(as_text=True)


# --- places


def test_places_export_in_sweref_and_import_back_redrawn_not_doubled(client, db, coordinator):
    place = make_place(db, geometry=CLOCKWISE_PARK)
    login(client, coordinator)
    response = client.get("/places.geojson?crs=3006")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == "attachment; filename=places-EPSG3006.geojson"
    data = json.loads(response.get_data())
    (feature,) = data["features"]
    assert feature["properties"]["name"] == "Råcksta"
    outer, hole = feature["geometry"]["coordinates"]
    assert ring_area(outer) > 0 and ring_area(hole) < 0
    # Moved 100 m north in the GIS, and a new place beside it.
    for ring in feature["geometry"]["coordinates"]:
        for position in ring:
            position[1] += 100
    new = json.loads(json.dumps(feature))
    new["properties"] = {"name": "Råcksta gård", "kind": "lov3", "description": "Gården."}
    data["features"].append(new)
    token = login(client, coordinator)
    response = client.post("/places/import", data=upload(token, data, path="/places/import"))
    assert response.status_code == 303, response.get_data(as_text=True)
    places = {p["name"]: p for p in list_places(db)}
    assert sorted(places) == ["Råcksta", "Råcksta gård"]
    assert places["Råcksta"]["id"] == place
    moved = get_place(db, place)
    assert (moved["min_lat"] - 59.350) * 111_320 == pytest.approx(100, abs=1)
    assert places["Råcksta gård"]["kind"] == "lov3"
    assert places["Råcksta gård"]["slug"] == "racksta-gard"


def test_a_place_file_with_problems_imports_nothing(client, db, coordinator):
    token = login(client, coordinator)
    collection = sweref_collection(SWEREF99_1800, swap=True, name="Vällingby torg")
    collection["features"].append({"type": "Feature", "properties": {}, "geometry": None})
    response = client.post("/places/import", data=upload(token, collection))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Objekt 1 (Vällingby torg): koordinaterna ser ut att ha bytt plats" in html
    assert "Objekt 2 saknar namn" in html
    assert list_places(db) == []


def test_the_import_pages_offer_the_coordinate_systems(client, coordinator):
    login(client, coordinator)
    for path in ("/zones/import", "/places/import"):
        html = client.get(path).get_data(as_text=True)
        assert 'value="EPSG:3011"' in html and "SWEREF 99 18 00 (EPSG:3011)" in html
