"""Property tests of the JSON API: whatever a client sends, the answer is 2xx or 4xx, never 5xx.

Hypothesis writes the requests: any JSON value as an observation body, bodies with the real
field names holding any JSON, a valid body with a field or two swapped for anything, bytes
that are not JSON; any bytes as a photo (random, behind an image format's magic bytes, or a
real JPEG with bytes flipped or cut off); any query string for the observation list. They are
sent with a staff bearer token (so no CSRF token is needed, and no rate limit applies) to one
app on a real SQLite file, shared by the module.
"""

import io
import json
import uuid
from urllib.parse import quote, urlencode

import pytest
from conftest import make_place, make_user, make_walk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from fieldwalk import create_app
from fieldwalk.auth import create_token
from fieldwalk.db import connect
from fieldwalk.observations.model import CLIENT_FIELDS

BASE = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,  # no .hypothesis folder in the working tree
)


def examples(count: int) -> settings:
    """The module's settings with `count` examples: the whole file runs in about 20 s."""
    return settings(BASE, max_examples=count)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """One app for the module: its client, a bearer token's headers, and a walk's id."""
    app = create_app({"TESTING": True, "INSTANCE": str(tmp_path_factory.mktemp("props"))})
    db = connect(app.config["DATABASE_PATH"])
    user = make_user(db, "coordinator", password=None)
    walk = make_walk(db, make_place(db), created_by=user["id"])
    token = create_token(db, user["id"], "properties")
    db.close()
    return {
        "client": app.test_client(),
        "headers": {"Authorization": f"Bearer {token}"},
        "walk_id": walk["id"],
    }


def assert_not_5xx(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:800]
    assert 200 <= response.status_code < 500


# --- strategies ----------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, -(2**63) - 1, 10**400, -(10**400)])  # past int64, past float
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
field_bodies = st.dictionaries(
    st.sampled_from(CLIENT_FIELDS), json_values, max_size=len(CLIENT_FIELDS)
)


def valid_body(walk_id: int) -> dict:
    return {
        "category": "lighting",
        "description": "Lampan vid trappan är trasig.",
        "feeling": 2,
        "urgent": False,
        "walk_id": walk_id,
        "lat": 59.3551,
        "lon": 17.8822,
        "accuracy_m": 8,
        "location_source": "device",
        "captured_at": "2026-11-24T17:05:00Z",
        "photos": [str(uuid.uuid4())],
    }


# A handful of ids is reused, so repeats (200) and conflicts (409) happen as well as creation.
REUSED_IDS = [str(uuid.uuid4()) for _ in range(3)]
observation_ids = (
    st.sampled_from(REUSED_IDS)
    | st.uuids().map(str)
    | st.text(min_size=1, max_size=40).map(lambda t: quote(t, safe=""))
)


def put(api, observation_id: str, body: bytes):
    return api["client"].put(
        f"/api/v1/observations/{observation_id}",
        data=body,
        content_type="application/json",
        headers=api["headers"],
    )


def dumps(value) -> bytes:
    # allow_nan: NaN and Infinity are not JSON, but Python's parser (and so Flask's) reads them.
    return json.dumps(value, allow_nan=True).encode()


# --- observation PUT -----------------------------------------------------------------------


@examples(300)
@given(observation_id=observation_ids, value=json_values)
def test_any_json_value_as_an_observation_gets_2xx_or_4xx(api, observation_id, value):
    assert_not_5xx(put(api, observation_id, dumps(value)))


@examples(300)
@given(observation_id=observation_ids, body=field_bodies)
def test_the_real_fields_holding_any_json_get_2xx_or_4xx(api, observation_id, body):
    assert_not_5xx(put(api, observation_id, dumps(body)))


@examples(300)
@given(
    observation_id=observation_ids,
    changes=st.dictionaries(st.sampled_from(CLIENT_FIELDS), json_values, min_size=1, max_size=2),
    walk_id=st.sampled_from([None, 0, -1, 2**63, 10**30, "1", "x"]) | st.just("the walk"),
)
def test_a_valid_body_with_a_field_or_two_changed_gets_2xx_or_4xx(
    api, observation_id, changes, walk_id
):
    body = valid_body(api["walk_id"])
    if walk_id != "the walk":
        body["walk_id"] = walk_id
    body.update(changes)
    assert_not_5xx(put(api, observation_id, dumps(body)))


@examples(200)
@given(body=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_bytes_that_are_not_json_get_2xx_or_4xx(api, body):
    assert_not_5xx(put(api, str(uuid.uuid4()), body))


def test_json_nested_deeper_than_the_parser_allows_gets_4xx(api):
    assert_not_5xx(put(api, str(uuid.uuid4()), b"[" * 100_000 + b"]" * 100_000))


# --- photo PUT -----------------------------------------------------------------------------


def small_jpeg() -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((48, 32)).convert("RGB").save(out, "JPEG")
    return out.getvalue()


JPEG = small_jpeg()
MAGIC = [
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"\x00\x00\x00\x18ftypheic",
]


@st.composite
def broken_jpegs(draw) -> bytes:
    """The small JPEG with a few bytes changed, and perhaps cut short."""
    data = bytearray(JPEG)
    for _ in range(draw(st.integers(1, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(2, len(data)))])


photo_bytes = (
    st.binary(max_size=2048)
    | st.tuples(st.sampled_from(MAGIC), st.binary(max_size=2048)).map(b"".join)
    | broken_jpegs()
)


@examples(150)
@given(data=photo_bytes, declared=st.booleans())
def test_any_bytes_as_a_photo_get_2xx_or_4xx(api, data, declared):
    observation_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
    body = valid_body(api["walk_id"])
    body["photos"] = [photo_id] if declared else []
    assert put(api, observation_id, dumps(body)).status_code == 201
    response = api["client"].put(
        f"/api/v1/observations/{observation_id}/photos/{photo_id}",
        data=data,
        content_type="image/jpeg",
        headers=api["headers"],
    )
    assert_not_5xx(response)


# --- observation list ----------------------------------------------------------------------

query_values = st.text(max_size=30) | st.sampled_from(
    ["1", "0", "-1", str(2**63), "1e309", "nan", "17,59,18,60", "nan,nan,inf,-inf", ",,,"]
)
query_pairs = st.lists(
    st.tuples(st.sampled_from(["walk_id", "bbox", "since"]) | st.text(max_size=8), query_values),
    max_size=4,
)


@examples(300)
@given(pairs=query_pairs, as_staff=st.booleans())
def test_any_query_for_the_observation_list_gets_2xx_or_4xx(api, pairs, as_staff):
    headers = api["headers"] if as_staff else {}
    response = api["client"].get(
        "/api/v1/observations", query_string=urlencode(pairs), headers=headers
    )
    assert_not_5xx(response)


@examples(150)
@given(raw=st.binary(max_size=200))
def test_any_raw_query_bytes_for_the_observation_list_get_2xx_or_4xx(api, raw):
    response = api["client"].get(
        "/api/v1/observations",
        headers=api["headers"],
        environ_overrides={"QUERY_STRING": raw.decode("latin-1")},  # as a WSGI server passes it
    )
    assert_not_5xx(response)
