"""Zones: drawn, edited and deleted by coordinators; exported and imported as GeoJSON."""

import io
import json
import re
from html import unescape

import pytest
from conftest import csrf_token, login, make_staff

from fieldwalk import create_app, geo
from fieldwalk.db import connect
from fieldwalk.parties.model import find_party_by_name, insert_party
from fieldwalk.zones.model import get_zone, insert_zone, list_zones


def square(west: float, south: float, east: float, north: float) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [
            [[west, south], [east, south], [east, north], [west, north], [west, south]]
        ],
    }


PARK = square(17.870, 59.350, 17.890, 59.360)
PROPERTY = square(17.878, 59.354, 17.882, 59.356)
STATIONS = {
    "type": "MultiPolygon",
    "coordinates": [
        square(17.920, 59.360, 17.921, 59.361)["coordinates"],
        square(17.940, 59.370, 17.941, 59.371)["coordinates"],
    ],
}


def audit_entries(db, entity: str, action: str) -> list[dict]:
    rows = db.execute(
        "SELECT * FROM audit_log WHERE entity = ? AND action = ? ORDER BY id", [entity, action]
    )
    return [dict(r, detail=json.loads(r["detail"])) for r in rows]


def english_client(app):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def client(app):
    """Test client that asks for English, so messages can be matched."""
    return english_client(app)


@pytest.fixture
def park_engineers(db) -> int:
    return insert_party(db, "Parkingenjörerna", "park")


@pytest.fixture
def owner(db) -> int:
    return insert_party(db, "Fastighets AB Råcksta", "property_owner")


@pytest.fixture
def park_zone(db, park_engineers) -> int:
    return insert_zone(db, park_engineers, "Råcksta park", PARK, "park")


@pytest.fixture
def coordinator(client, db) -> str:
    return login(client, make_staff(db, "coordinator"))


def zone_form(token: str, party_id: int, geometry: object = PROPERTY, **values) -> dict:
    return {
        "csrf_token": token,
        "party_id": str(party_id),
        "name": "Råcksta torg 1",
        "kind": "property",
        "geometry": geometry if isinstance(geometry, str) else json.dumps(geometry),
        **values,
    }


def data_attribute(html: str, element_id: str, name: str) -> object:
    """The JSON in a data-* attribute of the element with this id."""
    tag = re.search(rf'<div id="{element_id}"[^>]*>', html).group(0)
    return json.loads(unescape(re.search(rf"data-{name}='([^']*)'", tag).group(1)))


def upload(token: str, collection: object, *, filename="zones.geojson", **values) -> dict:
    body = collection if isinstance(collection, bytes) else json.dumps(collection).encode()
    return {
        "csrf_token": token,
        "file": (io.BytesIO(body), filename),
        "party_property": "party",
        **values,
    }


def feature(name: str, geometry: object, party: str | None = "Parkingenjörerna", **props) -> dict:
    properties = {"name": name, "kind": "park", **props}
    if party is not None:
        properties["party"] = party
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def collection(*features: dict) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


# --- the zones page ----------------------------------------------------------------------


def test_zones_page_shows_each_zone_with_kind_party_and_links(
    client, db, coordinator, park_zone, owner
):
    small = insert_zone(db, owner, "Råcksta torg 1", PROPERTY, "property")
    html = client.get("/zones").get_data(as_text=True)
    for text in ("Råcksta park", "Park land", "Parkingenjörerna", "Råcksta torg 1", "Property"):
        assert text in html
    for zone_id in (park_zone, small):
        assert f'href="/zones/{zone_id}/edit"' in html and f'href="/zones/{zone_id}/delete"' in html
    zones = data_attribute(html, "zones-map", "zones")
    assert zones["type"] == "FeatureCollection"
    by_name = {f["properties"]["name"]: f["properties"] for f in zones["features"]}
    # Coloured by party: two parties, two colours, and the legend uses the same ones.
    assert by_name["Råcksta park"]["colour"] != by_name["Råcksta torg 1"]["colour"]
    assert f'fill="{by_name["Råcksta park"]["colour"]}"' in html
    assert by_name["Råcksta torg 1"]["party"] == "Fastighets AB Råcksta"


def test_zone_pages_need_no_inline_script_or_style(client, coordinator, park_zone):
    """The CSP allows no inline code: configuration travels in data-* attributes."""
    for path in ("/zones", "/zones/new", f"/zones/{park_zone}/edit", "/zones/import"):
        html = client.get(path).get_data(as_text=True)
        assert " style=" not in html, path
        for script in re.findall(r"<script[^>]*>", html):
            assert "src=" in script or 'type="application/json"' in script, (path, script)
    html = client.get("/zones/new").get_data(as_text=True)
    assert "vendor/leaflet-draw-1.0.4/leaflet.draw.js" in html
    assert "vendor/leaflet-draw-1.0.4/leaflet.draw.css" in html


# --- drawing, editing, deleting ------------------------------------------------------------


@pytest.mark.parametrize(
    "geometry",
    [PROPERTY, STATIONS, {"type": "Feature", "geometry": PROPERTY, "properties": {}}],
    ids=["Polygon", "MultiPolygon", "Feature around a Polygon"],
)
def test_drawing_a_zone_stores_its_shape_area_and_bounds(client, db, coordinator, owner, geometry):
    response = client.post("/zones/new", data=zone_form(coordinator, owner, geometry))
    assert response.status_code == 303 and response.headers["Location"].endswith("/zones")
    [zone] = list_zones(db)
    bare = geometry.get("geometry", geometry)
    assert json.loads(zone["geometry"]) == bare
    assert (zone["party_id"], zone["name"], zone["kind"]) == (owner, "Råcksta torg 1", "property")
    assert zone["area_m2"] == pytest.approx(geo.area_m2(bare))
    assert (zone["min_lat"], zone["min_lon"], zone["max_lat"], zone["max_lon"]) == geo.bbox(bare)
    [entry] = audit_entries(db, "zone", "create")
    assert entry["entity_id"] == str(zone["id"]) and entry["detail"]["geometry"] == bare
    assert "Zone “Råcksta torg 1” saved." in client.get("/zones").get_data(as_text=True)


UNCLOSED = {"type": "Polygon", "coordinates": [[[17.87, 59.35], [17.88, 59.35], [17.88, 59.36]]]}
FLAT = {
    "type": "Polygon",
    "coordinates": [[[17.87, 59.35], [17.88, 59.35], [17.89, 59.35], [17.87, 59.35]]],
}


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ("", "Draw the zone on the map."),
        ("{not json", "The shape could not be read."),
        ({"type": "LineString", "coordinates": [[17.87, 59.35], [17.88, 59.36]]}, "could not"),
        (UNCLOSED, "The shape could not be read."),
        (square(17.87, 59.35, 190.0, 59.36), "The shape could not be read."),
        (FLAT, "The shape could not be read."),
        ({"type": "MultiPolygon", "coordinates": []}, "The shape could not be read."),
        (
            {"type": "Polygon", "coordinates": [["a", "b", "c", "a"]]},
            "The shape could not be read.",
        ),
        ("null", "The shape could not be read."),
    ],
    ids=[
        "nothing drawn",
        "not JSON",
        "a line",
        "unclosed ring",
        "longitude out of range",
        "no area",
        "empty MultiPolygon",
        "positions not numbers",
        "null",
    ],
)
def test_a_bad_shape_is_refused_with_a_message_by_the_map(
    client, db, coordinator, owner, geometry, message
):
    response = client.post("/zones/new", data=zone_form(coordinator, owner, geometry))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert re.search(rf'<p class="error" id="geometry-error">[^<]*{re.escape(message)}', html)
    assert list_zones(db) == []


def test_a_zone_needs_a_known_party_name_and_kind(client, db, coordinator, owner):
    response = client.post("/zones/new", data=zone_form(coordinator, 999, name="", kind="castle"))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for field in ("party_id", "name", "kind"):
        assert f'<p class="error" id="{field}-error">' in html
    assert list_zones(db) == []


def test_the_new_zone_form_can_start_with_a_party_chosen(client, coordinator, owner):
    html = client.get(f"/zones/new?party_id={owner}").get_data(as_text=True)
    assert f'<option selected value="{owner}">Fastighets AB Råcksta</option>' in html


def test_without_parties_the_form_says_to_add_one_first(client, coordinator):
    html = client.get("/zones/new").get_data(as_text=True)
    assert "Add a party first." in html


def test_the_edit_page_loads_the_stored_shape_for_editing(
    client, db, coordinator, park_zone, owner
):
    other = insert_zone(db, owner, "Råcksta torg 1", PROPERTY, "property")
    html = client.get(f"/zones/{park_zone}/edit").get_data(as_text=True)
    hidden = re.search(r'<input id="geometry" name="geometry" type="hidden" value="([^"]*)"', html)
    assert json.loads(unescape(hidden.group(1))) == PARK
    # The other zones are drawn faintly for orientation; the edited one only as editable.
    faint = data_attribute(html, "zone-form-map", "zones")["features"]
    assert [f["properties"]["id"] for f in faint] == [other]
    text = data_attribute(html, "zone-form-map", "text")
    assert text["draw"]["toolbar"]["buttons"]["polygon"] == "Draw a zone"


def test_editing_a_zone_redraws_and_reassigns_it(client, db, coordinator, park_zone, owner):
    smaller = square(17.875, 59.352, 17.885, 59.358)
    response = client.post(
        f"/zones/{park_zone}/edit",
        data=zone_form(coordinator, owner, smaller, name="Råcksta gård", kind="property"),
    )
    assert response.status_code == 303
    zone = get_zone(db, park_zone)
    assert (zone["party_id"], zone["name"], zone["kind"]) == (owner, "Råcksta gård", "property")
    assert json.loads(zone["geometry"]) == smaller
    assert zone["area_m2"] == pytest.approx(geo.area_m2(smaller))
    assert zone["max_lon"] == 17.885
    [entry] = audit_entries(db, "zone", "update")
    assert entry["detail"]["before"]["geometry"] == PARK
    assert entry["detail"]["geometry"] == smaller


def test_editing_with_a_bad_shape_keeps_the_old_one(client, db, coordinator, park_zone, owner):
    response = client.post(f"/zones/{park_zone}/edit", data=zone_form(coordinator, owner, UNCLOSED))
    assert response.status_code == 400
    assert json.loads(get_zone(db, park_zone)["geometry"]) == PARK


def test_deleting_a_zone_asks_first(client, db, coordinator, park_zone):
    page = client.get(f"/zones/{park_zone}/delete")
    assert page.status_code == 200
    assert "Delete “Råcksta park”?" in page.get_data(as_text=True)
    assert get_zone(db, park_zone) is not None
    response = client.post(f"/zones/{park_zone}/delete", data={"csrf_token": coordinator})
    assert response.status_code == 303
    assert get_zone(db, park_zone) is None
    [entry] = audit_entries(db, "zone", "delete")
    assert entry["detail"]["before"]["geometry"] == PARK  # the shape can be recovered
    assert "Zone “Råcksta park” deleted." in client.get("/zones").get_data(as_text=True)


def test_an_unknown_zone_is_not_found(client, coordinator):
    assert client.get("/zones/999/edit").status_code == 404
    assert client.get("/zones/999/delete").status_code == 404
    assert client.post("/zones/999/delete", data={"csrf_token": coordinator}).status_code == 404


# --- export ------------------------------------------------------------------------------


def test_export_is_a_geojson_download_of_every_zone(client, db, coordinator, park_zone, owner):
    insert_zone(db, owner, "Stationerna", STATIONS, "transit")
    response = client.get("/zones.geojson")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    assert response.headers["Content-Disposition"] == "attachment; filename=zones.geojson"
    data = json.loads(response.get_data(as_text=True))
    assert data["type"] == "FeatureCollection"
    assert len(data["features"]) == 2
    for item in data["features"]:
        assert item["type"] == "Feature"
        geometry = item["geometry"]
        assert geometry["type"] in ("Polygon", "MultiPolygon")
        polygons = (
            [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        )
        for polygon in polygons:
            for ring in polygon:
                assert ring[0] == ring[-1]
                for lon, lat in ring:  # GeoJSON order: longitude first (Stockholm: ~17.9, ~59.4)
                    assert 17 < lon < 19 and 59 < lat < 60
        assert {"name", "kind", "party"} <= set(item["properties"])
    by_name = {f["properties"]["name"]: f for f in data["features"]}
    assert by_name["Råcksta park"]["properties"]["party"] == "Parkingenjörerna"
    assert by_name["Råcksta park"]["properties"]["kind"] == "park"
    assert by_name["Stationerna"]["geometry"] == STATIONS


# --- import ------------------------------------------------------------------------------


def test_importing_a_valid_file_adds_its_zones(client, db, coordinator, park_engineers, owner):
    file = collection(
        feature("Råcksta park", PARK),
        feature("Råcksta torg 1", PROPERTY, party="fastighets ab råcksta", kind="property"),
    )
    response = client.post("/zones/import", data=upload(coordinator, file))
    assert response.status_code == 303
    zones = {z["name"]: z for z in list_zones(db)}
    assert zones["Råcksta park"]["party_id"] == park_engineers
    assert zones["Råcksta torg 1"]["party_id"] == owner  # names match case-insensitively
    assert zones["Råcksta torg 1"]["kind"] == "property"
    assert "Imported 2 zones." in client.get("/zones").get_data(as_text=True)
    [entry] = audit_entries(db, "zone", "import")
    assert entry["detail"]["count"] == 2 and entry["detail"]["filename"] == "zones.geojson"


def test_one_bad_feature_means_nothing_is_imported(client, db, coordinator, park_engineers):
    file = collection(
        feature("Råcksta park", PARK),
        feature("Trasig", UNCLOSED),
        feature("Utan form", None),
        "not a feature",
    )
    response = client.post("/zones/import", data=upload(coordinator, file))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Nothing was imported." in html
    assert "Feature 2 (Trasig): the shape is not a valid Polygon or MultiPolygon" in html
    assert "Feature 3 (Utan form): the shape is not a valid Polygon or MultiPolygon" in html
    assert "Feature 4 is not a GeoJSON Feature." in html
    assert "Feature 1" not in html
    assert list_zones(db) == []


def test_an_unknown_party_is_an_error_unless_parties_may_be_created(client, db, coordinator):
    file = collection(
        feature("Råcksta torg 1", PROPERTY, party="Fastighets AB Råcksta", kind="property"),
        feature("Råcksta torg 2", square(17.882, 59.354, 17.884, 59.356), "Fastighets AB Råcksta"),
        feature("Hållplatsen", STATIONS, party="SL", kind="transit", party_kind="transit"),
    )
    refused = client.post("/zones/import", data=upload(coordinator, file))
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "Feature 1 (Råcksta torg 1): there is no party called “Fastighets AB Råcksta”." in html
    assert "Feature 3 (Hållplatsen): there is no party called “SL”." in html
    assert list_zones(db) == [] and find_party_by_name(db, "SL") is None

    created = client.post("/zones/import", data=upload(coordinator, file, create_parties="y"))
    assert created.status_code == 303
    owner = find_party_by_name(db, "Fastighets AB Råcksta")
    transit = find_party_by_name(db, "SL")
    assert owner["kind"] == "property_owner"  # guessed from the zone's kind
    assert transit["kind"] == "transit"  # given in the file
    assert sorted((z["name"], z["party_id"]) for z in list_zones(db)) == [
        ("Hållplatsen", transit["id"]),
        ("Råcksta torg 1", owner["id"]),
        ("Råcksta torg 2", owner["id"]),
    ]
    created_parties = audit_entries(db, "party", "create")
    assert sorted(e["detail"]["name"] for e in created_parties) == ["Fastighets AB Råcksta", "SL"]


def test_a_feature_without_the_party_property_is_named_in_the_errors(
    client, db, coordinator, park_engineers
):
    file = collection(feature("Råcksta park", PARK, party=None, owner="Parkingenjörerna"))
    response = client.post("/zones/import", data=upload(coordinator, file))
    assert response.status_code == 400
    assert "Feature 1 (Råcksta park) has no property “party” naming its party." in (
        response.get_data(as_text=True)
    )
    # The party's name can live in another property.
    response = client.post("/zones/import", data=upload(coordinator, file, party_property="owner"))
    assert response.status_code == 303
    assert [z["party_id"] for z in list_zones(db)] == [park_engineers]


def test_the_party_name_wins_over_a_party_id_from_elsewhere(
    client, db, coordinator, park_engineers, owner
):
    file = collection(feature("Råcksta park", PARK, party="Parkingenjörerna", party_id=owner))
    assert client.post("/zones/import", data=upload(coordinator, file)).status_code == 303
    assert [z["party_id"] for z in list_zones(db)] == [park_engineers]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"this is not json", "The file is not GeoJSON: it could not be read as JSON."),
        (b"\xff\xfe\x00garbage", "The file is not GeoJSON: it could not be read as JSON."),
        (json.dumps(PARK).encode(), "The file is not a GeoJSON FeatureCollection."),
        (json.dumps(collection()).encode(), "The file has no features."),
    ],
    ids=["not JSON", "not UTF-8", "a bare geometry", "no features"],
)
def test_a_file_that_is_not_a_feature_collection_is_refused(
    client, db, coordinator, park_engineers, body, message
):
    response = client.post("/zones/import", data=upload(coordinator, body))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert list_zones(db) == []


def test_an_import_needs_a_file_of_limited_size(app, client, db, coordinator, park_engineers):
    response = client.post(
        "/zones/import", data={"csrf_token": coordinator, "party_property": "party"}
    )
    assert response.status_code == 400
    assert '<p class="error" id="file-error">Choose a file.' in response.get_data(as_text=True)
    # A small cap keeps the upload in memory (werkzeug's test client leaks bigger ones' files).
    app.config["MAX_ZONE_IMPORT_BYTES"] = 4096
    big = collection(*[feature(f"Zon {i}", PARK) for i in range(30)])
    assert len(json.dumps(big)) > 4096
    response = client.post("/zones/import", data=upload(coordinator, big))
    assert response.status_code == 400
    assert "The file is larger than 4 kB." in response.get_data(as_text=True)
    assert list_zones(db) == []


def test_import_can_replace_every_zone(client, db, coordinator, park_zone, owner):
    insert_zone(db, owner, "Råcksta torg 1", PROPERTY, "property")
    exported = client.get("/zones.geojson").get_json(force=True)
    response = client.post("/zones/import", data=upload(coordinator, exported, replace="y"))
    assert response.status_code == 303
    assert sorted(z["name"] for z in list_zones(db)) == ["Råcksta park", "Råcksta torg 1"]


def zone_summary(db) -> list[tuple]:
    return sorted(
        (z["name"], z["kind"], z["party_name"], z["party_kind"], json.loads(z["geometry"]))
        for z in list_zones(db)
    )


def test_an_exported_file_imports_into_a_fresh_app_as_the_same_zones(
    client, db, coordinator, park_zone, owner, tmp_path
):
    insert_zone(db, owner, "Råcksta torg 1", PROPERTY, "property")
    insert_zone(db, owner, "Stationerna", STATIONS, "transit")
    exported = client.get("/zones.geojson").get_data()

    fresh = create_app({"TESTING": True, "INSTANCE": str(tmp_path / "fresh")})
    fresh_db = connect(fresh.config["DATABASE_PATH"])
    try:
        fresh_client = english_client(fresh)
        token = login(fresh_client, make_staff(fresh_db, "admin"))
        response = fresh_client.post(
            "/zones/import", data=upload(token, exported, create_parties="y")
        )
        assert response.status_code == 303, response.get_data(as_text=True)
        assert zone_summary(fresh_db) == zone_summary(db)
        again = fresh_client.get("/zones.geojson").get_json(force=True)
        original = json.loads(exported)
        strip = lambda data: sorted(  # noqa: E731
            (f["properties"]["name"], f["properties"]["party"], f["properties"]["kind"])
            for f in data["features"]
        )
        assert strip(again) == strip(original)
    finally:
        fresh_db.close()


# --- who may do what ---------------------------------------------------------------------

GETS = ["/zones", "/zones/new", "/zones/{zone}/edit", "/zones/{zone}/delete", "/zones.geojson"]
GETS.append("/zones/import")


def posts(party: int) -> list[tuple[str, dict]]:
    return [
        ("/zones/new", {"party_id": str(party), "name": "Ny", "kind": "park", "geometry": json.dumps(PROPERTY)}),
        ("/zones/{zone}/edit", {"party_id": str(party), "name": "Ändrad", "kind": "park", "geometry": json.dumps(PARK)}),
        ("/zones/import", {"file": (io.BytesIO(json.dumps(collection(feature("Importerad", PROPERTY))).encode()), "z.geojson"), "party_property": "party"}),
        ("/zones/{zone}/delete", {}),
    ]  # fmt: skip


def zones_now(db) -> list[dict]:
    return [dict(r) for r in db.execute("SELECT * FROM zones ORDER BY id")]


@pytest.mark.parametrize("role", ["walk_leader", "engineer"])
def test_other_staff_are_refused_every_zone_route(client, db, park_engineers, park_zone, role):
    party = park_engineers if role == "engineer" else None
    token = login(client, make_staff(db, role, party_id=party))
    before = zones_now(db)
    for path in GETS:
        assert client.get(path.format(zone=park_zone)).status_code == 403, path
    for path, values in posts(park_engineers):
        response = client.post(path.format(zone=park_zone), data={"csrf_token": token, **values})
        assert response.status_code == 403, path
    assert zones_now(db) == before


def test_anonymous_visitors_are_sent_to_login_and_cannot_post(
    client, db, park_engineers, park_zone
):
    for path in GETS:
        response = client.get(path.format(zone=park_zone))
        assert response.status_code == 302, path
        assert "/login?next=" in response.headers["Location"]
    token = csrf_token(client, "/login")
    before = zones_now(db)
    for path, values in posts(park_engineers):
        response = client.post(path.format(zone=park_zone), data={"csrf_token": token, **values})
        assert response.status_code == 401, path
    assert zones_now(db) == before


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_coordinators_and_admins_may_use_every_zone_route(
    client, db, park_engineers, park_zone, role
):
    token = login(client, make_staff(db, role))
    for path in GETS:
        assert client.get(path.format(zone=park_zone)).status_code == 200, path
    for path, values in posts(park_engineers):
        response = client.post(path.format(zone=park_zone), data={"csrf_token": token, **values})
        assert response.status_code == 303, (path, response.get_data(as_text=True))


def test_every_zone_post_without_a_csrf_token_is_refused(
    client, db, coordinator, park_engineers, park_zone
):
    before = zones_now(db)
    for path, values in posts(park_engineers):
        response = client.post(path.format(zone=park_zone), data=values)
        assert response.status_code == 400, path
        assert "Your form has expired" in response.get_data(as_text=True)
    assert zones_now(db) == before
