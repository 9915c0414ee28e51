"""Walks: planning through the form, editing, states with an audit trail, joining, QR, live list."""

import json
import re
import uuid

import pytest
import segno
from conftest import error_text, join, login, make_place, make_staff, make_walk

ROUTE = {
    "type": "LineString",
    "coordinates": [[17.877, 59.353], [17.881, 59.355], [17.886, 59.357]],
}


@pytest.fixture
def place(db):
    return make_place(db)


@pytest.fixture
def leader(db):
    return make_staff(db, "walk_leader", "leader@example.se")


@pytest.fixture
def walk(db, place, leader):
    return make_walk(db, place, created_by=leader["id"], meeting_point="Vid tunnelbanan")


def walk_form(place, token, **values) -> dict:
    return {
        "csrf_token": token,
        "place_id": place,
        "title": "Kvällsvandring runt torget",
        "starts_at": "2026-12-03T16:00",
        "meeting_point": "Utanför biblioteket",
        "meeting_lat": "59.3553",
        "meeting_lon": "17.8815",
        "route": json.dumps(ROUTE),
        "invitation_text": "Välkommen!",
        **values,
    }


# --- planning ----------------------------------------------------------------------------


def test_plan_walk_form_is_shown_to_staff(client, db, place, leader):
    login(client, leader)
    response = client.get("/walks/new")
    assert response.status_code == 200
    assert "Råcksta" in response.get_data(as_text=True)


def test_planning_a_walk_stores_it_and_goes_to_its_page(client, db, place, leader):
    token = login(client, leader)
    response = client.post("/walks/new", data=walk_form(place, token))
    assert response.status_code == 303
    walk_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    row = dict(db.execute("SELECT * FROM walks WHERE id = ?", [walk_id]).fetchone())
    assert row["title"] == "Kvällsvandring runt torget"
    assert row["starts_at"] == "2026-12-03T16:00"
    assert (row["meeting_lat"], row["meeting_lon"]) == (59.3553, 17.8815)
    assert json.loads(row["route"]) == ROUTE
    assert row["state"] == "planned"
    assert row["created_by"] == leader["id"]
    assert len(row["invite_token"]) >= 32
    audit = db.execute("SELECT * FROM audit_log WHERE entity = 'walk'").fetchone()
    assert (audit["action"], audit["user_id"], audit["entity_id"]) == (
        "create",
        leader["id"],
        str(walk_id),
    )


def test_route_given_as_a_feature_is_stored_as_its_geometry(client, db, place, leader):
    token = login(client, leader)
    feature = json.dumps({"type": "Feature", "geometry": ROUTE, "properties": {}})
    response = client.post("/walks/new", data=walk_form(place, token, route=feature))
    assert response.status_code == 303
    assert json.loads(db.execute("SELECT route FROM walks").fetchone()[0]) == ROUTE


@pytest.mark.parametrize(
    ("values", "field_id"),
    [
        pytest.param({"title": ""}, "title", id="no-title"),
        pytest.param({"title": "x" * 201}, "title", id="title-too-long"),
        pytest.param({"starts_at": "next tuesday"}, "starts_at", id="bad-date"),
        pytest.param({"place_id": "9999"}, "place_id", id="unknown-place"),
    ],
)
def test_invalid_walk_form_is_400_with_the_message_by_the_field(
    client, db, place, leader, values, field_id
):
    token = login(client, leader)
    response = client.post("/walks/new", data=walk_form(place, token, **values))
    assert response.status_code == 400
    assert error_text(response.get_data(as_text=True), field_id)
    assert db.execute("SELECT count(*) FROM walks").fetchone()[0] == 0


@pytest.mark.parametrize(
    "route",
    [
        "not json",
        "[]",
        json.dumps({"type": "Polygon", "coordinates": [[[17.8, 59.3]] * 4]}),
        json.dumps({"type": "LineString", "coordinates": [[17.8, 59.3]]}),
        json.dumps({"type": "LineString", "coordinates": [[17.8, 95.0], [17.9, 59.3]]}),
        json.dumps({"type": "LineString", "coordinates": [["a", "b"], [1, 2]]}),
        json.dumps({"type": "LineString", "coordinates": [[1], [2]]}),
        json.dumps({"type": "Feature", "geometry": None}),
    ],
    ids=["not-json", "list", "polygon", "one-point", "lat-95", "text-coords", "short-pos", "null"],
)
def test_walk_route_must_be_a_geojson_linestring(client, db, place, leader, route):
    token = login(client, leader)
    response = client.post("/walks/new", data=walk_form(place, token, route=route))
    assert response.status_code == 400
    assert re.search(r'<p class="error"[^>]*>[^<]+</p>', response.get_data(as_text=True))
    assert db.execute("SELECT count(*) FROM walks").fetchone()[0] == 0


@pytest.mark.parametrize(
    "values",
    [
        {"meeting_lon": ""},
        {"meeting_lat": "91", "meeting_lon": "17.8"},
        {"meeting_lat": "north"},
        {"meeting_lat": "nan"},
        {"meeting_lon": "inf"},
    ],
    ids=["lat-without-lon", "lat-91", "lat-text", "lat-nan", "lon-inf"],
)
def test_meeting_point_must_be_a_position(client, db, place, leader, values):
    token = login(client, leader)
    response = client.post("/walks/new", data=walk_form(place, token, **values))
    assert response.status_code == 400
    assert db.execute("SELECT count(*) FROM walks").fetchone()[0] == 0


# --- editing -----------------------------------------------------------------------------


def test_edit_form_is_filled_with_the_walk(client, walk, leader):
    login(client, leader)
    html = client.get(f"/walks/{walk['id']}/edit").get_data(as_text=True)
    assert 'value="Kvällsvandring"' in html
    assert 'value="2026-12-01T16:30"' in html


def test_editing_a_walk_changes_it_and_is_audited(client, db, walk, place, leader):
    token = login(client, leader)
    response = client.post(
        f"/walks/{walk['id']}/edit", data=walk_form(place, token, title="Ny titel", route="")
    )
    assert response.status_code == 303
    row = db.execute("SELECT title, route FROM walks WHERE id = ?", [walk["id"]]).fetchone()
    assert tuple(row) == ("Ny titel", None)
    audit = db.execute("SELECT user_id FROM audit_log WHERE action = 'update'").fetchone()
    assert audit["user_id"] == leader["id"]


def test_invalid_edit_is_400_and_changes_nothing(client, db, walk, place, leader):
    token = login(client, leader)
    response = client.post(f"/walks/{walk['id']}/edit", data=walk_form(place, token, title=""))
    assert response.status_code == 400
    assert db.execute("SELECT title FROM walks").fetchone()[0] == "Kvällsvandring"


# --- states ------------------------------------------------------------------------------


def test_walk_goes_planned_ongoing_finished_with_an_audit_row_each(client, db, walk, leader):
    token = login(client, leader)
    path = f"/walks/{walk['id']}/state"
    assert client.post(path, data={"state": "ongoing", "csrf_token": token}).status_code == 303
    assert db.execute("SELECT state FROM walks").fetchone()[0] == "ongoing"
    assert client.post(path, data={"state": "finished", "csrf_token": token}).status_code == 303
    assert db.execute("SELECT state FROM walks").fetchone()[0] == "finished"
    rows = db.execute(
        "SELECT * FROM audit_log WHERE action = 'state' AND entity = 'walk' ORDER BY id"
    ).fetchall()
    assert [json.loads(r["detail"]) for r in rows] == [
        {"from": "planned", "to": "ongoing"},
        {"from": "ongoing", "to": "finished"},
    ]
    for row in rows:
        assert row["user_id"] == leader["id"]
        assert row["entity_id"] == str(walk["id"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["at"])


def test_walk_page_offers_the_next_state(client, walk, leader):
    token = login(client, leader)
    html = client.get(f"/walks/{walk['id']}").get_data(as_text=True)
    assert 'name="state" value="ongoing"' in html
    client.post(f"/walks/{walk['id']}/state", data={"state": "ongoing", "csrf_token": token})
    html = client.get(f"/walks/{walk['id']}").get_data(as_text=True)
    assert 'name="state" value="finished"' in html


@pytest.mark.parametrize("state", ["planned", "cancelled", ""])
def test_unknown_or_unchanged_state_is_400(client, db, walk, leader, state):
    token = login(client, leader)
    response = client.post(f"/walks/{walk['id']}/state", data={"state": state, "csrf_token": token})
    assert response.status_code == 400
    assert db.execute("SELECT count(*) FROM audit_log WHERE action = 'state'").fetchone()[0] == 0


# --- joining -----------------------------------------------------------------------------


def test_invite_link_shows_the_join_form(client, walk):
    response = client.get(f"/j/{walk['invite_token']}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Kvällsvandring" in html
    assert "Vid tunnelbanan" in html
    assert 'name="display_name"' in html


def test_joining_creates_one_participant_and_opens_the_capture_screen(client, db, walk):
    token = join(client, walk, name="Kim", role="police")
    rows = db.execute("SELECT * FROM walk_participants").fetchall()
    assert len(rows) == 1
    assert (rows[0]["display_name"], rows[0]["participant_role"]) == ("Kim", "police")
    assert rows[0]["device_key_hash"] and rows[0]["user_id"] is None
    # Joining again, by form or by link, adds nobody.
    again = client.post(
        f"/j/{walk['invite_token']}", data={"csrf_token": token, "display_name": "Kim"}
    )
    assert again.status_code == 303
    assert again.headers["Location"].endswith(f"/walks/{walk['id']}/capture")
    link = client.get(f"/j/{walk['invite_token']}")
    assert link.status_code == 303
    assert db.execute("SELECT count(*) FROM walk_participants").fetchone()[0] == 1
    audit = db.execute("SELECT participant_id FROM audit_log WHERE action = 'join'").fetchall()
    assert [r[0] for r in audit] == [rows[0]["id"]]


def test_two_phones_joining_are_two_participants(app, db, walk):
    join(app.test_client(), walk, name="A")
    join(app.test_client(), walk, name="B")
    names = sorted(r[0] for r in db.execute("SELECT display_name FROM walk_participants"))
    assert names == ["A", "B"]


def test_join_refuses_an_unknown_role(client, db, walk):
    token = join(client, make_walk(db, walk["place_id"], title="Annan"))
    response = client.post(
        f"/j/{walk['invite_token']}", data={"csrf_token": token, "participant_role": "mayor"}
    )
    assert response.status_code == 400
    assert (
        db.execute(
            "SELECT count(*) FROM walk_participants WHERE walk_id = ?", [walk["id"]]
        ).fetchone()[0]
        == 0
    )


def test_unknown_invite_token_is_404(client, walk):
    assert client.get("/j/not-a-real-token").status_code == 404


# --- QR ----------------------------------------------------------------------------------


def _svg_path(svg: str) -> str:
    """The drawing of the QR code's dark modules."""
    match = re.search(r'<path[^>]*class="qrline"[^>]* d="([^"]+)"', svg)
    assert match, svg[:200]
    return match.group(1)


def test_qr_code_is_an_svg_of_the_invite_url(client, walk, leader):
    login(client, leader)
    response = client.get(f"/walks/{walk['id']}/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    # A file of its own (an <img>) needs the SVG namespace, or the browser shows nothing.
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert "viewBox=" in svg
    invite_url = f"http://localhost/j/{walk['invite_token']}"
    assert invite_url in client.get(f"/walks/{walk['id']}").get_data(as_text=True)
    expected = segno.make(invite_url, error="m").svg_inline(scale=6, dark="#000", light="#fff")
    assert _svg_path(svg) == _svg_path(expected)
    elsewhere = segno.make(invite_url + "x", error="m").svg_inline(scale=6)
    assert _svg_path(svg) != _svg_path(elsewhere)


# --- the walk page and its live list -----------------------------------------------------


def _record(client, token, walk, **values) -> str:
    observation_id = str(uuid.uuid4())
    data = {"category": "lighting", "walk_id": walk["id"], **values}
    response = client.put(
        f"/api/v1/observations/{observation_id}", json=data, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201, response.get_json()
    return observation_id


def _version(html: str) -> str:
    match = re.search(r'hx-get="[^"]*/observations\?v=([0-9a-f]+)"', html)
    assert match, "no polling URL with a version"
    return match.group(1)


def test_walk_page_lists_the_observations(app, client, walk, leader):
    phone = app.test_client()
    token = join(phone, walk)
    observation_id = _record(phone, token, walk, description="Buskarna skymmer gången.")
    login(client, leader)
    response = client.get(f"/walks/{walk['id']}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Buskarna skymmer gången." in html
    assert f'id="obs-{observation_id}"' in html
    assert "HX-Request" in response.headers.get("Vary", "")


def test_the_live_list_shows_the_newest_few_with_every_one_on_the_map_and_a_link_to_all(
    app, client, walk
):
    """Each change re-sends the list to every phone on the walk: it stays short."""
    app.config["WALK_LIST_LIMIT"] = 3
    token = join(client, walk)
    recorded = [
        _record(client, token, walk, description=f"Nummer {i}", lat=59.355, lon=17.882 + i / 1e4)
        for i in range(5)
    ]
    items = re.compile(r'<li class="observation[^"]*" id="obs-([0-9a-f-]+)"')
    points = re.compile(r"data-geojson='([^']*)'")

    def listed(html: str) -> tuple[list[str], list[str]]:
        geojson = json.loads(points.search(html).group(1).replace("&#34;", '"'))
        return items.findall(html), [p["id"] for p in geojson]

    for html in (
        client.get(f"/walks/{walk['id']}").get_data(as_text=True),
        client.get(f"/walks/{walk['id']}/capture").get_data(as_text=True),
        client.get(f"/walks/{walk['id']}/observations").get_data(as_text=True),
    ):
        shown, mapped = listed(html)
        assert len(shown) == 3 and set(shown) <= set(recorded)
        assert sorted(mapped) == sorted(recorded)  # the map has all five
        assert '<span class="count">(5)</span>' in html
        assert "Visa alla 5 observationer" in html
        assert f'hx-get="/walks/{walk["id"]}/observations?all=1"' in html

    every = client.get(f"/walks/{walk['id']}/observations?all=1").get_data(as_text=True)
    shown, mapped = listed(every)
    assert sorted(shown) == sorted(recorded) and sorted(mapped) == sorted(recorded)
    assert "Visa alla" not in every
    assert re.search(r'hx-get="[^"]*/observations\?v=[0-9a-f]+&amp;all=1"', every), (
        "polling keeps showing all"
    )
    page = client.get(f"/walks/{walk['id']}?all=1").get_data(as_text=True)
    assert len(listed(page)[0]) == 5  # the link works without JavaScript too


def test_list_fragment_is_204_until_something_new_arrives(client, walk):
    token = join(client, walk)
    html = client.get(f"/walks/{walk['id']}").get_data(as_text=True)
    version = _version(html)
    path = f"/walks/{walk['id']}/observations?v={version}"
    unchanged = client.get(path, headers={"HX-Request": "true"})
    assert unchanged.status_code == 204
    assert unchanged.data == b""

    observation_id = _record(client, token, walk, description="Ny lampa behövs.")
    changed = client.get(path, headers={"HX-Request": "true"})
    assert changed.status_code == 200
    fragment = changed.get_data(as_text=True)
    assert f'id="obs-{observation_id}"' in fragment
    new_version = _version(fragment)
    assert new_version != version
    assert client.get(f"/walks/{walk['id']}/observations?v={new_version}").status_code == 204


def test_list_fragment_changes_version_when_a_photo_arrives(client, walk):
    from conftest import PHOTOS

    token = join(client, walk)
    photo_id = str(uuid.uuid4())
    observation_id = _record(client, token, walk, photos=[photo_id])
    version = _version(client.get(f"/walks/{walk['id']}").get_data(as_text=True))
    client.put(
        f"/api/v1/observations/{observation_id}/photos/{photo_id}",
        data=(PHOTOS / "camera" / "Canon_40D.jpg").read_bytes(),
        headers={"X-CSRFToken": token},
    )
    response = client.get(f"/walks/{walk['id']}/observations?v={version}")
    assert response.status_code == 200
    assert "/photos/" in response.get_data(as_text=True)


def test_photo_counts_in_the_list_are_singular_or_plural(client, walk):
    """'0 av 1 foto', '1 av 2 foton': counts read as Swedish, not '1 av 1 foton'."""
    from conftest import PHOTOS

    token = join(client, walk)
    one = _record(client, token, walk, photos=[str(uuid.uuid4())])
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    two = _record(client, token, walk, photos=[first, second])
    client.put(
        f"/api/v1/observations/{two}/photos/{first}",
        data=(PHOTOS / "camera" / "Canon_40D.jpg").read_bytes(),
        headers={"X-CSRFToken": token},
    )
    html = client.get(f"/walks/{walk['id']}").get_data(as_text=True)
    items = {i: re.search(rf'id="obs-{i}".*?</li>', html, re.S).group(0) for i in (one, two)}
    assert re.search(r"· 0 av 1 foto\s*</p>", items[one])
    assert "· 1 av 2 foton" in items[two]


def test_htmx_request_gets_just_the_section(client, walk):
    join(client, walk)
    response = client.get(f"/walks/{walk['id']}/observations", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True).strip()
    assert html.startswith('<section id="observation-list"')
    assert html.endswith("</section>")
    assert "<html" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_walk_page_is_a_whole_page_even_for_htmx_boosted_requests(client, walk):
    join(client, walk)
    response = client.get(
        f"/walks/{walk['id']}", headers={"HX-Request": "true", "HX-Boosted": "true"}
    )
    assert "<html" in response.get_data(as_text=True)
    assert "HX-Request" in response.headers["Vary"]


def test_list_fragment_is_hidden_from_strangers(app, walk):
    response = app.test_client().get(f"/walks/{walk['id']}/observations")
    assert response.status_code == 403
    assert walk["title"] not in response.get_data(as_text=True)


def test_staff_home_lists_walks_and_resident_home_lists_their_own(app, client, db, walk, leader):
    other = make_walk(db, walk["place_id"], title="Vandring i parken")
    phone = app.test_client()
    join(phone, walk)
    home = phone.get("/").get_data(as_text=True)
    assert "Kvällsvandring" in home and "Vandring i parken" not in home
    login(client, leader)
    staff_home = client.get("/").get_data(as_text=True)
    assert "Kvällsvandring" in staff_home and "Vandring i parken" in staff_home
    assert other["id"]
