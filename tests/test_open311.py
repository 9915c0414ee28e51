"""The Open311 GeoReport v2 server: every endpoint in JSON and XML, POST and its idempotency,
the updates extension, errors in the spec's shape, and nothing private in any answer."""

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import exifread
import pytest
from conftest import (
    PHOTO_SETTINGS,
    PHOTOS,
    RACKSTA,
    approve_public,
    blur_all,
    login,
    make_place,
    make_staff,
    make_task,
    make_token,
    make_user,
    sharpness,
)
from PIL import Image
from test_face_blur import BLURRED

from fieldwalk.categories import CATEGORIES
from fieldwalk.clock import stamp
from fieldwalk.devtools.faceset import labelled_set
from fieldwalk.geo import contains
from fieldwalk.observations.model import get_observation, validate
from fieldwalk.observations.moderation import PRIVATE
from fieldwalk.observations.record import record_observation
from fieldwalk.parties.model import insert_party
from fieldwalk.photos import faces
from fieldwalk.photos.attach import store_photo
from fieldwalk.photos.model import list_photos
from fieldwalk.tasks.model import get_task, observations_without_task, transition
from fieldwalk.tasks.states import Actor
from fieldwalk.tasks.suggest import suggest_for_observation

CANON = (PHOTOS / "camera" / "Canon_40D.jpg").read_bytes()
COORDINATOR = Actor(("coordinator",), None, "test")
FORMATS = ("json", "xml")
# Inside RACKSTA (conftest), a square in Råcksta.
LAT, LON = 59.354812, 17.881937


def parse(response, fmt: str):
    """An answer as Python data: JSON as it is, XML as (root tag, element)."""
    if fmt == "json":
        assert response.content_type == "application/json; charset=utf-8"
        return response.get_json()
    assert response.content_type == "text/xml; charset=utf-8"
    body = response.get_data()
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(body)  # noqa: S314 - our own answer


def xml_records(root: ET.Element, item: str) -> list[dict]:
    """Each child element `item` of `root` as a dict of its children's texts (as
    FixMyStreet's XML::Simple reads them), checking none is left empty."""
    records = []
    for element in root.findall(item):
        record = {}
        for child in element:
            assert (child.text or len(child)) and child.text != "", f"empty <{child.tag}>"
            record[child.tag] = child.text
        records.append(record)
    return records


def observe(app, db, *, category="lighting", days_ago=0, works_well=False, description="Mörkt.",
            lat=LAT, lon=LON, photo=False, user_id=None, approved=True) -> str:  # fmt: skip
    """An observation recorded through the one path, observed `days_ago` days ago; `approved`
    for the public pages by staff (and its photo's faces blurred) unless told otherwise."""
    observation_id = str(uuid.uuid4())
    photo_id = str(uuid.uuid4())
    captured = datetime.now(UTC) - timedelta(days=days_ago)
    body = {
        "category": category,
        "works_well": works_well,
        "description": description,
        "lat": lat,
        "lon": lon,
        "captured_at": captured.isoformat(),
        "photos": [photo_id] if photo else [],
    }
    clean = validate(body, 2000, 12)
    photo_dir = Path(app.config["PHOTO_PATH"])
    record_observation(db, photo_dir, observation_id, clean, PHOTO_SETTINGS, user_id=user_id)
    if photo:
        store_photo(db, photo_dir, photo_id, CANON, PHOTO_SETTINGS,
                    observation=get_observation(db, observation_id))  # fmt: skip
        blur_all(app, db, only=[photo_id])
    if approved:
        approve_public(db, observation_id)
    return observation_id


def act(db, task_id: int, action: str, **options) -> dict:
    version = get_task(db, task_id)["version"]
    return transition(db, task_id, action, COORDINATOR, version=version, **options)


@pytest.fixture
def place(db):
    return make_place(db)


# --- discovery and services


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", ["/open311/discovery", "/open311/v2/discovery"])
def test_discovery_names_the_endpoint_and_both_formats(client, fmt, path):
    response = client.get(f"{path}.{fmt}")
    assert response.status_code == 200
    data = parse(response, fmt)
    if fmt == "json":
        (endpoint,) = data["endpoints"]
        assert endpoint["url"] == "http://localhost/open311/v2/"
        assert endpoint["formats"] == ["text/xml", "application/json"]
        assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert data["changeset"]
    else:
        assert data.tag == "discovery"
        assert data.findtext("endpoints/endpoint/url") == "http://localhost/open311/v2/"
        formats = [f.text for f in data.findall("endpoints/endpoint/formats/format")]
        assert formats == ["text/xml", "application/json"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_services_are_the_categories_in_swedish_by_default(client, fmt):
    data = parse(client.get(f"/open311/v2/services.{fmt}"), fmt)
    services = data if fmt == "json" else xml_records(data, "service")
    assert [s["service_code"] for s in services] == list(CATEGORIES)
    lighting = services[0]
    assert lighting["service_name"] == "Belysning"
    assert lighting["type"] == "realtime"
    assert lighting["metadata"] in (True, "true")


@pytest.mark.parametrize("fmt", FORMATS)
def test_services_in_the_locale_asked_for(client, fmt):
    data = parse(client.get(f"/open311/v2/services.{fmt}?locale=en_US"), fmt)
    services = data if fmt == "json" else xml_records(data, "service")
    assert services[0]["service_name"] == "Lighting"
    # An unknown locale is Swedish.
    data = parse(client.get(f"/open311/v2/services.{fmt}?locale=fr"), fmt)
    services = data if fmt == "json" else xml_records(data, "service")
    assert services[0]["service_name"] == "Belysning"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_service_definition_lists_its_questions(client, fmt):
    response = client.get(f"/open311/v2/services/lighting.{fmt}")
    assert response.status_code == 200
    data = parse(response, fmt)
    if fmt == "json":
        assert data["service_code"] == "lighting"
        feeling, urgent = data["attributes"]
        assert feeling["code"] == "feeling"
        assert [v["key"] for v in feeling["values"]] == ["1", "2", "3", "4", "5"]
        assert urgent["required"] is False
    else:
        assert data.tag == "service_definition"
        codes = [a.findtext("code") for a in data.findall("attributes/attribute")]
        assert codes == ["feeling", "urgent"]
        keys = [v.text for v in data.findall("attributes/attribute/values/value/key")]
        assert keys[:5] == ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unknown_service_is_404_in_the_spec_error_format(client, fmt):
    response = client.get(f"/open311/v2/services/graffitti.{fmt}")
    assert response.status_code == 404
    data = parse(response, fmt)
    if fmt == "json":
        assert data == [
            {"code": 404, "description": "service_code graffitti har ingen definition."}
        ]
    else:
        assert data.tag == "errors"
        assert data.findtext("error/code") == "404"


@pytest.mark.parametrize(
    "path",
    [
        "/open311/v2/services.yaml",
        "/open311/v2/requests.html",
        "/open311/v2/services/lighting.csv",
        "/open311/discovery.txt",
        "/open311/v2/servicerequestupdates.rss",
    ],
)
def test_an_unknown_format_is_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.get_json()[0]["code"] == 404


# --- POST requests


def post(client, fmt="json", **fields):
    return client.post(f"/open311/v2/requests.{fmt}", data=fields)


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_stores_an_observation_that_waits_in_triage(app, client, db, place, fmt):
    token = make_token(db)
    party = insert_party(db, "Trafikkontoret", "traffic")
    db.execute("INSERT INTO category_defaults (category, party_id) VALUES ('lighting', ?)", [party])
    response = post(
        client,
        fmt,
        api_key=token,
        service_code="lighting",
        lat=str(LAT),
        long=str(LON),
        description="Lampan vid trappan är trasig.",
        email="anna@example.se",
        first_name="Anna",
        last_name="Svensson",
        phone="070-123 45 67",
        **{"attribute[feeling]": "2", "attribute[urgent]": "true"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    data = parse(response, fmt)
    request_id = (
        data[0]["service_request_id"]
        if fmt == "json"
        else data.findtext("request/service_request_id")
    )
    observation = get_observation(db, request_id)
    assert observation["category"] == "lighting"
    assert observation["description"] == "Lampan vid trappan är trasig."
    assert (observation["feeling"], observation["urgent"]) == (2, 1)
    assert observation["place_id"] == place
    # Nothing personal was kept anywhere in the row.
    row = json.dumps(dict(observation), ensure_ascii=False)
    for private in ("anna@example.se", "Anna", "Svensson", "070-123"):
        assert private not in row
    # Routing and triage see it like any other observation.
    waiting = [o["id"] for o in observations_without_task(db)]
    assert request_id in waiting
    assert suggest_for_observation(db, observation).party_id == party


def test_post_with_a_photo_as_media(app, client, db, place):
    token = make_token(db)
    response = client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": token,
            "service_code": "graffiti",
            "lat": str(LAT),
            "long": str(LON),
            "media": (io.BytesIO(CANON), "klotter.jpg", "image/jpeg"),
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    request_id = response.get_json()[0]["service_request_id"]
    (photo,) = list_photos(db, request_id)
    assert photo["width"] > 0
    # Not published before staff approve it for the public pages.
    assert client.get(f"/open311/v2/requests/{request_id}.json").status_code == 404
    approve_public(db, request_id)
    blur_all(app, db)
    (photo,) = list_photos(db, request_id)
    # The request read back links the photo, an absolute URL of the public copy.
    (found,) = client.get(f"/open311/v2/requests/{request_id}.json").get_json()
    assert found["media_url"] == f"http://localhost/photos/{photo['public_file']}"
    served = client.get(found["media_url"].removeprefix("http://localhost"), buffered=True)
    assert served.status_code == 200 and served.content_type == "image/jpeg"


def test_a_photo_that_is_not_one_is_refused_and_nothing_is_stored(client, db, place):
    token = make_token(db)
    response = client.post(
        "/open311/v2/requests.xml",
        data={
            "api_key": token,
            "service_code": "graffiti",
            "lat": str(LAT),
            "long": str(LON),
            "media": (io.BytesIO(b"not a photo at all"), "x.jpg", "image/jpeg"),
        },
    )
    assert response.status_code in (400, 415)
    root = parse(response, "xml")
    assert root.findtext("error/description").startswith("media: ")
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 0


def test_media_url_is_not_fetched_and_the_answer_says_so(client, db, place):
    token = make_token(db)
    response = post(
        client,
        api_key=token,
        service_code="upkeep",
        lat=str(LAT),
        long=str(LON),
        description="Sprutor i sandlådan.",
        media_url="http://192.0.2.1/bild.jpg",
        locale="en",
    )
    assert response.status_code == 201
    (answer,) = response.get_json()
    assert "not fetched" in answer["service_notice"]
    observation = get_observation(db, answer["service_request_id"])
    assert observation["description"] == "Sprutor i sandlådan.\nPhoto: http://192.0.2.1/bild.jpg"
    assert list_photos(db, observation["id"]) == []


def test_post_at_a_place_by_address_id(client, db, place):
    token = make_token(db)
    response = post(client, api_key=token, service_code="paths", address_id=str(place))
    assert response.status_code == 201, response.get_data(as_text=True)
    observation = get_observation(db, response.get_json()[0]["service_request_id"])
    assert observation["place_id"] == place
    assert observation["lat"] == pytest.approx(59.355)


def test_post_is_idempotent_on_the_clients_identifier(client, db, place):
    token = make_token(db)
    fields = {
        "api_key": token,
        "service_code": "vegetation",
        "lat": str(LAT),
        "long": str(LON),
        "description": "Buskarna skymmer gången.",
        "service_request_id_ext": "fms-4711",
    }
    first = post(client, **fields)
    again = post(client, **fields)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json() == again.get_json()
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 1
    # FixMyStreet's own attribute names the request as well.
    fms = dict(fields, service_request_id_ext="")
    fms["attribute[fixmystreet_id]"] = "fms-4711"
    assert post(client, **fms).get_json() == first.get_json()
    # Other content under the same name is a conflict, and nothing is stored.
    other = post(client, **dict(fields, description="Något annat."))
    assert other.status_code == 409
    assert other.get_json()[0]["code"] == 409
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 1
    # Without a name, each POST is a new request.
    del fields["service_request_id_ext"]
    post(client, **fields)
    post(client, **fields)
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 3


def test_the_same_client_name_from_another_key_is_another_request(client, db, place):
    fields = {"service_code": "paths", "lat": str(LAT), "long": str(LON)}
    one = post(
        client, api_key=make_token(db, email="a@example.se"), service_request_id_ext="7", **fields
    )
    two = post(client, api_key=make_token(db, email="b@example.se"), service_request_id_ext="7", **fields)  # fmt: skip
    assert one.status_code == two.status_code == 201
    assert one.get_json()[0]["service_request_id"] != two.get_json()[0]["service_request_id"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({}, 403, "api_key saknas eller är ogiltig."),
        ({"api_key": "not-a-token"}, 403, "api_key saknas eller är ogiltig."),
        ({"api_key": "{token}"}, 400, "service_code krävs."),
        ({"api_key": "{token}", "service_code": "pothole"}, 400, "pothole"),
        ({"api_key": "{token}", "service_code": "lighting"}, 400, "address_id"),
        ({"api_key": "{token}", "service_code": "lighting", "lat": "59.35"}, 400, "long"),
        ({"api_key": "{token}", "service_code": "lighting", "address_string": "Råcksta torg"}, 400, "address_string"),
        ({"api_key": "{token}", "service_code": "lighting", "address_id": "999"}, 400, "address_id"),
        ({"api_key": "{token}", "service_code": "lighting", "lat": "91", "long": "17.9"}, 400, "lat:"),
        ({"api_key": "{token}", "service_code": "lighting", "lat": "59.35", "long": "17.9", "attribute[feeling]": "9"}, 400, "attribute[feeling]"),
        ({"api_key": "{token}", "service_code": "lighting", "lat": "59.35", "long": "17.9", "description": "x" * 2001}, 400, "description"),
    ],
)  # fmt: skip
def test_bad_posts_get_the_spec_error_and_store_nothing(client, db, fmt, fields, status, says):
    token = make_token(db)
    fields = {k: v.replace("{token}", token) for k, v in fields.items()}
    response = post(client, fmt, **fields)
    assert response.status_code == status
    data = parse(response, fmt)
    if fmt == "json":
        ((error),) = data
        code, description = error["code"], error["description"]
    else:
        code, description = int(data.findtext("error/code")), data.findtext("error/description")
    assert code == status
    assert says in description
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 0


@pytest.mark.parametrize("role", ["partner", "engineer"])
def test_only_staff_keys_may_create_requests(client, db, role):
    token = make_token(db, role)
    response = post(client, api_key=token, service_code="paths", lat=str(LAT), long=str(LON))
    assert response.status_code == 403


def test_a_revoked_key_or_locked_account_may_not_post(client, db, runner):
    token = make_token(db)
    fields = {"service_code": "paths", "lat": str(LAT), "long": str(LON)}
    db.execute("UPDATE users SET locked_at = '2026-01-01T00:00:00Z'")
    assert post(client, api_key=token, **fields).status_code == 403
    db.execute("UPDATE users SET locked_at = NULL")
    assert post(client, api_key=token, **fields).status_code == 201
    db.execute("UPDATE api_tokens SET revoked_at = '2026-01-01T00:00:00Z'")
    assert post(client, api_key=token, **fields).status_code == 403


def test_jurisdiction_must_match_when_one_is_configured(app, client, db):
    app.config["OPEN311_JURISDICTION_ID"] = "stockholm.se"
    assert client.get("/open311/v2/services.json?jurisdiction_id=stockholm.se").status_code == 200
    assert client.get("/open311/v2/services.json").status_code == 200
    response = client.get("/open311/v2/services.xml?jurisdiction_id=goteborg.se")
    assert response.status_code == 404
    assert parse(response, "xml").findtext("error/code") == "404"


# --- GET requests


@pytest.fixture
def scene(app, db, place):
    """A resident's observation with a photo and two fixes, one done with an after-photo."""
    resident = make_user(db, "walk_leader", "kim.hemlig@example.se", name="Kim Hemlig")
    observation = observe(
        app, db, photo=True, description="Trappan är mörk.", user_id=resident["id"]
    )
    db.execute(
        "UPDATE observations SET device_key_hash = 'device-secret-hash' WHERE id = ?",
        [observation],
    )
    party = insert_party(db, "Parkförvaltningen", "park", "park@example.se")
    lamp = make_task(db, observation, party, "Byt armaturen.")
    trim = make_task(db, observation, party, "Klipp buskarna.")
    act(db, lamp, "send")
    act(db, trim, "send")
    act(db, lamp, "done", note="Hemlig intern anteckning")
    store_photo(db, Path(app.config["PHOTO_PATH"]), str(uuid.uuid4()), CANON, PHOTO_SETTINGS, task_id=lamp)  # fmt: skip
    blur_all(app, db)
    return {"observation": observation, "party": party, "lamp": lamp, "trim": trim}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_request_shows_what_the_status_page_shows_and_no_more(client, db, scene, fmt):
    response = client.get(f"/open311/v2/requests/{scene['observation']}.{fmt}")
    assert response.status_code == 200
    data = parse(response, fmt)
    (found,) = data if fmt == "json" else xml_records(data, "request")
    assert found["service_request_id"] == scene["observation"]
    assert found["status"] == "open"  # one fix is still with the party
    assert found["service_code"] == "lighting"
    assert found["service_name"] == "Belysning"
    assert found["description"] == "Trappan är mörk."
    assert found["agency_responsible"] == "Parkförvaltningen"
    assert (
        found["status_notes"] == "Klar: Byt armaturen.; Skickad till ansvarig part: Klipp buskarna."
    )
    assert found["address"] == "Råcksta"
    assert float(found["lat"]) == round(LAT, 4) and float(found["long"]) == round(LON, 4)
    assert found["media_url"].startswith("http://localhost/photos/")
    observed = get_observation(db, scene["observation"])["observed_at"]
    assert found["requested_datetime"] == observed.replace("Z", "+00:00")
    assert found["updated_datetime"] >= found["requested_datetime"]
    text = response.get_data(as_text=True)
    for private in ("Kim Hemlig", "kim.hemlig", "device-secret-hash", "park@example.se", "Hemlig intern"):  # fmt: skip
        assert private not in text


def test_a_request_closes_when_every_fix_is_finished(client, db, scene):
    def status():
        return client.get(f"/open311/v2/requests/{scene['observation']}.json").get_json()[0][
            "status"
        ]

    assert status() == "open"
    act(db, scene["trim"], "wont_fix", note="Buskarna är fridlysta.")
    assert status() == "closed"
    act(db, scene["trim"], "reopen", note="Ny bedömning.")
    assert status() == "open"
    act(db, scene["trim"], "duplicate", duplicate_of=scene["lamp"])
    assert status() == "closed"


def test_an_observation_without_fixes_is_open(app, client, db, place):
    observation = observe(app, db)
    (found,) = client.get(f"/open311/v2/requests/{observation}.json").get_json()
    assert found["status"] == "open"
    assert found["status_notes"] is None and found["agency_responsible"] is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_requests_and_what_works_well_are_not_found(app, client, db, place, fmt):
    works_well = observe(app, db, works_well=True)
    for request_id in (str(uuid.uuid4()), "not-a-uuid", works_well):
        response = client.get(f"/open311/v2/requests/{request_id}.{fmt}")
        assert response.status_code == 404
        data = parse(response, fmt)
        assert (data[0]["code"] if fmt == "json" else int(data.findtext("error/code"))) == 404


@pytest.mark.parametrize("fmt", FORMATS)
def test_requests_are_filtered_by_code_time_and_status(app, client, db, place, fmt):
    party = insert_party(db, "Parkförvaltningen", "park")
    new_lamp = observe(app, db, category="lighting", days_ago=1)
    old_lamp = observe(app, db, category="lighting", days_ago=120)  # past the 90-day default
    bush = observe(app, db, category="vegetation", days_ago=10)
    observe(app, db, category="lighting", works_well=True)  # praise is not a request
    done = make_task(db, bush, party, "Byt armaturen.")
    act(db, done, "send")
    act(db, done, "done", note="Klippt.")

    def ids(query=""):
        data = parse(client.get(f"/open311/v2/requests.{fmt}?{query}"), fmt)
        found = data if fmt == "json" else xml_records(data, "request")
        return [r["service_request_id"] for r in found]

    assert ids() == [new_lamp, bush]  # newest first, the last 90 days
    assert ids("service_code=vegetation") == [bush]
    assert ids("service_code=vegetation,lighting&status=open") == [new_lamp]
    assert ids("status=closed") == [bush]
    assert ids("status=open,closed") == [new_lamp, bush]
    since = stamp(datetime.now(UTC) - timedelta(days=200))
    assert ids(f"start_date={since}") == [new_lamp, bush, old_lamp]
    end = (datetime.now(UTC) - timedelta(days=5)).isoformat(timespec="seconds")
    assert ids(f"start_date={since}&end_date={end.replace('+', '%2B')}") == [bush, old_lamp]
    # An unencoded '+' (a space by the time it arrives) is still read as the offset.
    assert ids(f"start_date={since}&end_date={end}") == [bush, old_lamp]
    # service_request_id overrides every other filter.
    assert ids(f"service_request_id={old_lamp},{bush}&service_code=paths") == [bush, old_lamp]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("start_date=yesterday", "start_date"),
        ("end_date=2026-13-45", "end_date"),
        ("start_date=2026-02-01T00:00:00Z&end_date=2026-01-01T00:00:00Z", "start_date"),
        ("status=pending", "status"),
    ],
)
def test_bad_request_filters_are_400(client, query, says):
    response = client.get(f"/open311/v2/requests.json?{query}")
    assert response.status_code == 400
    assert says in response.get_json()[0]["description"]


def test_at_most_1000_requests_are_listed(app, client, db, place):
    for _n in range(1003):
        db.execute(
            """INSERT INTO observations (id, category, description, body_hash, observed_at,
                   created_at, updated_at, public_review)
               VALUES (?, 'paths', '', '', ?, ?, ?, 'approved')""",
            [str(uuid.uuid4()), *[stamp(datetime.now(UTC))] * 3],
        )
    assert len(client.get("/open311/v2/requests.json").get_json()) == 1000


# --- the updates extension


@pytest.mark.parametrize("fmt", FORMATS)
def test_updates_list_each_change_with_its_public_note(client, db, scene, fmt):
    data = parse(client.get(f"/open311/v2/servicerequestupdates.{fmt}"), fmt)
    if fmt == "xml":
        assert data.tag == "service_requests_updates"
    updates = data if fmt == "json" else xml_records(data, "request_update")
    assert [u["description"] for u in updates] == [
        "Föreslagen: Byt armaturen.",
        "Föreslagen: Klipp buskarna.",
        "Skickad till ansvarig part: Byt armaturen.",
        "Skickad till ansvarig part: Klipp buskarna.",
        "Klar: Byt armaturen.",
    ]
    assert {u["service_request_id"] for u in updates} == {scene["observation"]}
    assert [u["status"] for u in updates] == ["open"] * 5
    assert len({u["update_id"] for u in updates}) == 5
    # The finished fix's after-photo comes with its update; the others have none.
    assert updates[-1]["media_url"].startswith("http://localhost/photos/")
    assert all(not u.get("media_url") for u in updates[:-1])
    text = json.dumps(updates, ensure_ascii=False)
    assert "Hemlig intern" not in text and "Kim Hemlig" not in text
    # The last fix finished: the request's status after that change is closed.
    act(db, scene["trim"], "done", note="Klippt.")
    data = parse(client.get(f"/open311/v2/servicerequestupdates.{fmt}"), fmt)
    updates = data if fmt == "json" else xml_records(data, "request_update")
    assert [u["status"] for u in updates][-2:] == ["open", "closed"]


def test_updates_are_limited_to_the_window(client, db, scene):
    db.execute("UPDATE audit_log SET at = '2026-01-10T12:00:00Z' WHERE entity = 'task'")
    db.execute(
        "UPDATE audit_log SET at = '2026-01-20T12:00:00Z' WHERE entity = 'task' AND action = 'done'"
    )
    query = "start_date=2026-01-15T00:00:00Z&end_date=2026-01-25T00:00:00%2B01:00"
    updates = client.get(f"/open311/v2/servicerequestupdates.json?{query}").get_json()
    assert [u["description"] for u in updates] == ["Klar: Byt armaturen."]
    assert updates[0]["updated_datetime"] == "2026-01-20T12:00:00+00:00"
    # By default, the last 90 days: January 2026 is long gone by then.
    assert client.get("/open311/v2/servicerequestupdates.json").get_json() == []
    response = client.get("/open311/v2/servicerequestupdates.xml?end_date=soon")
    assert response.status_code == 400


def test_post_ignores_a_session_cookie_and_needs_no_csrf(app, db, place):
    """The key in the body is the only credential: a staff cookie adds nothing."""
    staff = make_staff(db, "coordinator", "samordnare@example.se")
    browser = app.test_client()
    login(browser, staff)
    fields = {"service_code": "paths", "lat": str(LAT), "long": str(LON)}
    assert browser.post("/open311/v2/requests.json", data=fields).status_code == 403
    response = browser.post("/open311/v2/requests.json", data=dict(fields, api_key=make_token(db)))
    assert response.status_code == 201


def test_a_body_too_large_is_413_in_the_spec_format(app, client, db):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post(
        "/open311/v2/requests.xml",
        data={"api_key": "x", "media": (io.BytesIO(b"x" * 5000), "a.jpg", "image/jpeg")},
    )
    assert response.status_code == 413
    assert parse(response, "xml").findtext("error/code") == "413"


def test_racksta_is_where_the_tests_stand():
    """LAT, LON lie inside the test place (so requests get its name)."""
    assert contains(RACKSTA, LAT, LON)


# --- public only after review (issue 16): what staff have not approved is not published

SECRET = "Han i röd jacka säljer här varje kväll."


def request_ids(response, fmt: str) -> list[str]:
    data = parse(response, fmt)
    found = data if fmt == "json" else xml_records(data, "request")
    return [r["service_request_id"] for r in found]


def update_ids(response, fmt: str) -> list[str]:
    data = parse(response, fmt)
    found = data if fmt == "json" else xml_records(data, "request_update")
    return [u["service_request_id"] for u in found]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_request_staff_have_not_approved_is_in_no_public_answer(app, client, db, place, fmt):
    """Before "Visa publikt", and for good after "Visa inte publikt", an observation is not
    listed, not found by its id, and its fixes' changes are no updates: neither its text, nor
    its measure, nor a link to its photo reaches anyone. Once approved, it is published."""
    party = insert_party(db, "Parkförvaltningen", "park", "park@example.se")
    waiting = observe(app, db, description=SECRET, photo=True, approved=False)
    task = make_task(db, waiting, party, "Klipp häcken där han står.")
    act(db, task, "send")
    shown = observe(app, db, description="Trappan är mörk.")
    (photo,) = list_photos(db, waiting)
    assert photo["public_file"]  # its blurred copy exists: only the review holds it back
    withheld = (waiting, SECRET, "Klipp häcken", photo["file"], photo["thumb_file"],
                photo["public_file"], photo["public_thumb_file"])  # fmt: skip

    for decision in (None, PRIVATE):
        if decision:
            approve_public(db, waiting, decision)
        answers = {
            "list": client.get(f"/open311/v2/requests.{fmt}"),
            "ids": client.get(f"/open311/v2/requests.{fmt}?service_request_id={waiting},{shown}"),
            "one": client.get(f"/open311/v2/requests/{waiting}.{fmt}"),
            "updates": client.get(f"/open311/v2/servicerequestupdates.{fmt}"),
        }
        assert request_ids(answers["list"], fmt) == [shown]
        assert request_ids(answers["ids"], fmt) == [shown]
        assert answers["one"].status_code == 404
        assert update_ids(answers["updates"], fmt) == []
        for name, response in answers.items():
            text = response.get_data(as_text=True)
            for secret in withheld:
                assert secret not in text, (decision, name, secret)

    approve_public(db, waiting)
    response = client.get(f"/open311/v2/requests/{waiting}.{fmt}")
    (found,) = (
        parse(response, fmt) if fmt == "json" else xml_records(parse(response, fmt), "request")
    )
    assert found["description"] == SECRET
    assert found["media_url"] == f"http://localhost/photos/{photo['public_file']}"
    assert "Klipp häcken där han står." in found["status_notes"]
    listed = request_ids(client.get(f"/open311/v2/requests.{fmt}"), fmt)
    assert sorted(listed) == sorted([waiting, shown])
    updates = update_ids(client.get(f"/open311/v2/servicerequestupdates.{fmt}"), fmt)
    assert updates and set(updates) == {waiting}


@pytest.fixture(scope="module")
def faces_with_metadata():
    """Three real faces in a dusk scene (fieldwalk/devtools/faceset.py), as a phone's JPEG
    with its maker, model and GPS position inside; and the faces' boxes."""
    scene = labelled_set()[0]
    exif = Image.Exif()
    exif[0x010F] = "Hemlig Kamera AB"  # Make
    exif[0x0110] = "Telefon 12"  # Model
    exif.get_ifd(0x8825).update(
        {1: "N", 2: (59.0, 21.0, 17.0), 3: "E", 4: (17.0, 52.0, 55.0)}  # GPS
    )
    out = io.BytesIO()
    scene.image.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue(), scene.faces


def test_media_url_is_the_face_blurred_copy_with_no_metadata(app, client, db, place,
                                                             faces_with_metadata):  # fmt: skip
    """A photo POSTed with faces and a GPS position is published, once approved, only as its
    public copy: every face blurred, nothing of the phone's metadata inside; while that copy
    is being made, media_url is empty rather than the original."""
    data, boxes = faces_with_metadata
    sent = exifread.process_file(io.BytesIO(data), details=False)
    assert "GPS GPSLatitude" in sent and "Image Make" in sent  # what must not come back
    response = client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": make_token(db),
            "service_code": "people",
            "lat": str(LAT),
            "long": str(LON),
            "description": "Folksamling vid trappan.",
            "media": (io.BytesIO(data), "folk.jpg", "image/jpeg"),
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    request_id = response.get_json()[0]["service_request_id"]
    approve_public(db, request_id)
    (found,) = client.get(f"/open311/v2/requests/{request_id}.json").get_json()
    assert found["description"] == "Folksamling vid trappan."
    assert found["media_url"] is None  # approved, but its faces are not blurred yet

    blur_all(app, db)
    (photo,) = list_photos(db, request_id)
    assert photo["faces"] >= 3 and photo["public_file"] != photo["file"]
    for fmt in FORMATS:
        response = client.get(f"/open311/v2/requests/{request_id}.{fmt}")
        answer = parse(response, fmt)
        (found,) = answer if fmt == "json" else xml_records(answer, "request")
        assert found["media_url"] == f"http://localhost/photos/{photo['public_file']}"
    stranger = app.test_client()
    served = stranger.get(found["media_url"].removeprefix("http://localhost"))
    body = served.get_data()
    served.close()
    assert served.status_code == 200 and served.content_type == "image/jpeg"
    assert exifread.process_file(io.BytesIO(body), details=False) == {}
    image = Image.open(io.BytesIO(body))
    assert not image.getexif() and "exif" not in image.info
    assert image.size == (1600, 1200)
    for box in boxes:
        assert sharpness(image, box) < BLURRED, box
    assert faces.detect(image) == []


def test_a_staff_key_follows_requests_not_approved_yet_without_their_text(app, client, db, place):
    """An integration staff set up (a staff account's api_key, as a party's system or another
    fieldwalk reading back what it posted) sees an unapproved request's state and its fixes'
    measures, never its text or photo; any other key reads as the public does."""
    party = insert_party(db, "Parkförvaltningen", "park", "park@example.se")
    waiting = observe(app, db, description=SECRET, photo=True, approved=False)
    task = make_task(db, waiting, party, "Klipp häcken.")
    act(db, task, "send")
    token = make_token(db)
    response = client.get(f"/open311/v2/requests/{waiting}.json?api_key={token}")
    (found,) = response.get_json()
    assert found["status"] == "open"
    assert found["description"] is None and found["media_url"] is None
    assert found["status_notes"] == "Skickad till ansvarig part: Klipp häcken."
    (photo,) = list_photos(db, waiting)
    text = response.get_data(as_text=True)
    assert SECRET not in text and photo["file"] not in text and photo["public_file"] not in text
    assert request_ids(client.get(f"/open311/v2/requests.xml?api_key={token}"), "xml") == [waiting]
    updates = client.get(f"/open311/v2/servicerequestupdates.json?api_key={token}")
    assert set(update_ids(updates, "json")) == {waiting}
    for other in ("not-a-key", make_token(db, "partner"), make_token(db, "engineer")):
        assert client.get(f"/open311/v2/requests/{waiting}.json?api_key={other}").status_code == 404
        assert request_ids(client.get(f"/open311/v2/requests.json?api_key={other}"), "json") == []
