"""Parties: coordinators and admins manage them, their contacts and the category defaults."""

import json

import pytest
from conftest import csrf_token, login, make_staff

from fieldwalk.parties.model import (
    add_contact,
    category_defaults,
    get_party,
    insert_party,
    list_contacts,
    looks_like_email,
    set_category_default,
)
from fieldwalk.zones.model import insert_zone

SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[17.878, 59.354], [17.882, 59.354], [17.882, 59.356], [17.878, 59.356], [17.878, 59.354]]
    ],
}


def audit_entries(db, entity: str, action: str | None = None) -> list[dict]:
    rows = db.execute("SELECT * FROM audit_log WHERE entity = ? ORDER BY id", [entity]).fetchall()
    entries = [dict(r, detail=json.loads(r["detail"])) for r in rows]
    return [e for e in entries if action is None or e["action"] == action]


@pytest.fixture
def client(app):
    """Test client that asks for English, so messages can be matched."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def party(db) -> int:
    return insert_party(db, "Parkingenjörerna", "park", "park@example.se", "08-508 000 00")


@pytest.fixture
def coordinator(client, db) -> str:
    """Log in as a coordinator; return a CSRF token."""
    return login(client, make_staff(db, "coordinator"))


def party_form(token: str, **values) -> dict:
    return {
        "csrf_token": token,
        "name": "Trafikkontoret",
        "kind": "traffic",
        "email": "trafik@example.se",
        "phone": "08-508 270 00",
        "notes": "Gator, torg och gatubelysning.",
        **values,
    }


# --- creating and editing -----------------------------------------------------------------


def test_coordinator_adds_a_party_and_finds_it_in_the_list(client, db, coordinator):
    response = client.post("/parties/new", data=party_form(coordinator))
    assert response.status_code == 303
    party_id = int(response.headers["Location"].rsplit("/", 1)[1])
    party = get_party(db, party_id)
    assert (party["name"], party["kind"], party["email"]) == (
        "Trafikkontoret",
        "traffic",
        "trafik@example.se",
    )
    page = client.get("/parties").get_data(as_text=True)
    assert "Trafikkontoret" in page and "Traffic office" in page and "trafik@example.se" in page
    assert [e["detail"]["name"] for e in audit_entries(db, "party", "create")] == ["Trafikkontoret"]


def test_party_form_offers_every_kind_with_its_label(client, coordinator):
    page = client.get("/parties/new").get_data(as_text=True)
    for value, label in [
        ("park", "Park engineers"),
        ("traffic", "Traffic office"),
        ("property_owner", "Property owner"),
        ("transit", "Transit operator"),
        ("security", "Security office"),
        ("police", "Police"),
        ("other", "Other"),
    ]:
        assert f'<option value="{value}">{label}</option>' in page or (
            f'<option selected value="{value}">{label}</option>' in page
        )


def test_editing_a_party_saves_it_and_audits_what_changed(client, db, coordinator, party):
    page = client.get(f"/parties/{party}/edit").get_data(as_text=True)
    assert 'value="Parkingenjörerna"' in page
    response = client.post(
        f"/parties/{party}/edit",
        data=party_form(
            coordinator,
            name="Parkingenjörerna Hässelby-Vällingby",
            kind="park",
            email="park@example.se",
            phone="08-508 000 00",
            notes="",
        ),
    )
    assert response.status_code == 303
    assert get_party(db, party)["name"] == "Parkingenjörerna Hässelby-Vällingby"
    [entry] = audit_entries(db, "party", "update")
    assert entry["detail"] == {"name": ["Parkingenjörerna", "Parkingenjörerna Hässelby-Vällingby"]}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"email": "trafik.example.se"}, "email", "Enter an email address such as"),
        ({"email": "trafik@example"}, "email", "Enter an email address such as"),
        ({"email": "tra fik@example.se"}, "email", "Enter an email address such as"),
        ({"name": "parkingenjörerna"}, "name", "There is already a party with this name."),
        ({"kind": "landlord"}, "kind", "Not a valid choice"),
        ({"name": "x" * 201}, "name", "Field cannot be longer than 200 characters."),
    ],
    ids=["no name", "no @", "no dot after @", "space", "same name", "unknown kind", "long name"],
)
def test_party_form_refuses_bad_values_with_a_message_next_to_the_field(
    client, db, coordinator, party, values, field, message
):
    response = client.post("/parties/new", data=party_form(coordinator, **values))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'<p class="error" id="{field}-error">{message}' in page
    assert len(db.execute("SELECT * FROM parties").fetchall()) == 1


def test_renaming_a_party_to_its_own_name_in_other_case_is_allowed(client, db, coordinator, party):
    response = client.post(
        f"/parties/{party}/edit", data=party_form(coordinator, name="PARKINGENJÖRERNA", kind="park")
    )
    assert response.status_code == 303
    assert get_party(db, party)["name"] == "PARKINGENJÖRERNA"


def test_an_unknown_party_is_not_found(client, coordinator):
    assert client.get("/parties/999").status_code == 404
    assert client.get("/parties/999/edit").status_code == 404
    response = client.post("/parties/999/contacts", data={"csrf_token": coordinator, "name": "Kim"})
    assert response.status_code == 404


def test_the_list_counts_open_tasks_and_zones(client, db, coordinator, party):
    insert_zone(db, party, "Råcksta park", SQUARE, "park")
    for state in ("proposed", "sent", "in_progress", "done"):
        db.execute(
            """INSERT INTO tasks (measure, party_id, state, created_at, updated_at)
               VALUES ('Klipp buskarna', ?, ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')""",
            [party, state],
        )
    page = client.get("/parties").get_data(as_text=True)
    assert "2 open tasks · 1 zone" in page
    show = client.get(f"/parties/{party}").get_data(as_text=True)
    assert "<dt>Open tasks</dt><dd>2</dd>" in show and "Råcksta park" in show


# --- contacts ----------------------------------------------------------------------------


def test_adding_a_contact_without_javascript_redirects_back_to_the_party(
    client, db, coordinator, party
):
    response = client.post(
        f"/parties/{party}/contacts",
        data={"csrf_token": coordinator, "name": "Kim Ek", "email": "kim@example.se", "phone": ""},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/parties/{party}#contacts")
    assert [(c["name"], c["email"]) for c in list_contacts(db, party)] == [
        ("Kim Ek", "kim@example.se")
    ]
    assert "Kim Ek" in client.get(f"/parties/{party}").get_data(as_text=True)
    [entry] = audit_entries(db, "party", "add_contact")
    assert entry["entity_id"] == str(party) and entry["detail"]["name"] == "Kim Ek"


def test_adding_a_contact_with_htmx_returns_just_the_contacts_component(
    client, db, coordinator, party
):
    response = client.post(
        f"/parties/{party}/contacts",
        data={"csrf_token": coordinator, "name": "Kim Ek", "email": "", "phone": "070-123 45 67"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="contacts"') and "<html" not in html
    assert 'hx-target="this"' in html
    assert "Kim Ek" in html and 'href="tel:070-1234567"' in html
    # A fresh, empty form comes back, ready for the next contact.
    assert 'id="name" maxlength="200" name="name" required type="text" value=""' in html


def test_a_contact_with_a_bad_email_is_refused_next_to_the_field(client, db, coordinator, party):
    data = {"csrf_token": coordinator, "name": "Kim Ek", "email": "kim@example"}
    page = client.post(f"/parties/{party}/contacts", data=data)
    fragment = client.post(f"/parties/{party}/contacts", data=data, headers={"HX-Request": "true"})
    for response in (page, fragment):
        assert response.status_code == 400
        assert '<p class="error" id="email-error">Enter an email address such as' in (
            response.get_data(as_text=True)
        )
        assert "HX-Request" in response.headers["Vary"]
    assert "<html" in page.get_data(as_text=True)
    assert "<html" not in fragment.get_data(as_text=True)
    assert list_contacts(db, party) == []


def test_a_contact_needs_a_name(client, db, coordinator, party):
    response = client.post(
        f"/parties/{party}/contacts", data={"csrf_token": coordinator, "email": "kim@example.se"}
    )
    assert response.status_code == 400
    assert '<p class="error" id="name-error">This field is required.' in response.get_data(
        as_text=True
    )


def test_removing_a_contact_with_and_without_htmx(client, db, coordinator, party):
    first = add_contact(db, party, "Kim Ek", "kim@example.se")
    second = add_contact(db, party, "Sam Al", "sam@example.se")
    response = client.post(
        f"/parties/{party}/contacts/{first}/remove", data={"csrf_token": coordinator}
    )
    assert response.status_code == 303
    fragment = client.post(
        f"/parties/{party}/contacts/{second}/remove",
        data={"csrf_token": coordinator},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200
    assert fragment.get_data(as_text=True).lstrip().startswith('<section id="contacts"')
    assert "No contacts yet." in fragment.get_data(as_text=True)
    assert list_contacts(db, party) == []
    assert [e["detail"]["name"] for e in audit_entries(db, "party", "remove_contact")] == [
        "Kim Ek",
        "Sam Al",
    ]


def test_a_contact_cannot_be_removed_through_another_party(client, db, coordinator, party):
    other = insert_party(db, "Trafikkontoret", "traffic")
    contact = add_contact(db, party, "Kim Ek")
    response = client.post(
        f"/parties/{other}/contacts/{contact}/remove", data={"csrf_token": coordinator}
    )
    assert response.status_code == 404
    assert len(list_contacts(db, party)) == 1


# --- category defaults -------------------------------------------------------------------


def test_category_defaults_are_set_and_cleared_from_the_list_page(client, db, coordinator, party):
    traffic = insert_party(db, "Trafikkontoret", "traffic")
    page = client.get("/parties").get_data(as_text=True)
    assert 'name="category_lighting"' in page and "None: to the triage list" in page
    data = {"csrf_token": coordinator, "category_lighting": str(traffic)}
    data["category_vegetation"] = str(party)
    response = client.post("/parties/defaults", data=data)
    assert response.status_code == 303
    assert category_defaults(db) == {"lighting": traffic, "vegetation": party}
    assert "Category defaults saved." in client.get("/parties").get_data(as_text=True)

    response = client.post(
        "/parties/defaults",
        data={
            "csrf_token": coordinator,
            "category_lighting": str(traffic),
            "category_vegetation": "",
        },
    )
    assert response.status_code == 303
    assert category_defaults(db) == {"lighting": traffic}
    changes = [(e["entity_id"], e["detail"]) for e in audit_entries(db, "category")]
    assert changes == [
        ("lighting", {"from": None, "to": traffic}),
        ("vegetation", {"from": None, "to": party}),
        ("vegetation", {"from": party, "to": None}),
    ]


def test_the_list_page_shows_the_saved_defaults(client, db, coordinator, party):
    set_category_default(db, "lighting", party)
    page = client.get("/parties").get_data(as_text=True)
    assert f'<option selected value="{party}">Parkingenjörerna</option>' in page


def test_a_default_naming_an_unknown_party_is_refused(client, db, coordinator, party):
    response = client.post(
        "/parties/defaults", data={"csrf_token": coordinator, "category_lighting": "999"}
    )
    assert response.status_code == 400
    assert '<p class="error" id="category_lighting-error">Not a valid choice' in (
        response.get_data(as_text=True)
    )
    assert category_defaults(db) == {}


# --- who may do what ---------------------------------------------------------------------

GETS = ["/parties", "/parties/new", "/parties/{party}", "/parties/{party}/edit"]
POSTS = [
    ("/parties/new", {"name": "Polisen", "kind": "police"}),
    ("/parties/defaults", {"category_lighting": ""}),
    ("/parties/{party}/edit", {"name": "Parkförvaltningen", "kind": "park"}),
    ("/parties/{party}/contacts", {"name": "Kim Ek"}),
    ("/parties/{party}/contacts/{contact}/remove", {}),
]


@pytest.fixture
def contact(db, party) -> int:
    return add_contact(db, party, "Kim Ek", "kim@example.se")


def fill(path: str, party: int, contact: int) -> str:
    return path.format(party=party, contact=contact)


def unchanged(db) -> tuple:
    return (
        [dict(r) for r in db.execute("SELECT * FROM parties")],
        [dict(r) for r in db.execute("SELECT * FROM party_contacts")],
        category_defaults(db),
    )


@pytest.mark.parametrize("role", ["walk_leader", "engineer"])
def test_other_staff_are_refused_every_party_route(client, db, party, contact, role):
    token = login(client, make_staff(db, role, party_id=party if role == "engineer" else None))
    before = unchanged(db)
    for path in GETS:
        assert client.get(fill(path, party, contact)).status_code == 403, path
    for path, values in POSTS:
        response = client.post(fill(path, party, contact), data={"csrf_token": token, **values})
        assert response.status_code == 403, path
    assert unchanged(db) == before


def test_anonymous_visitors_are_sent_to_login_and_cannot_post(client, db, party, contact):
    for path in GETS:
        response = client.get(fill(path, party, contact))
        assert response.status_code == 302, path
        assert "/login?next=" in response.headers["Location"]
    token = csrf_token(client, "/login")
    before = unchanged(db)
    for path, values in POSTS:
        response = client.post(fill(path, party, contact), data={"csrf_token": token, **values})
        assert response.status_code == 401, path
    assert unchanged(db) == before


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_coordinators_and_admins_may_use_every_party_route(client, db, party, contact, role):
    token = login(client, make_staff(db, role))
    for path in GETS:
        assert client.get(fill(path, party, contact)).status_code == 200, path
    for path, values in POSTS:
        response = client.post(fill(path, party, contact), data={"csrf_token": token, **values})
        assert response.status_code == 303, (path, response.get_data(as_text=True))


def test_every_party_post_without_a_csrf_token_is_refused(client, db, coordinator, party, contact):
    before = unchanged(db)
    for path, values in POSTS:
        response = client.post(fill(path, party, contact), data=values)
        assert response.status_code == 400, path
        assert "Your form has expired" in response.get_data(as_text=True)
    assert unchanged(db) == before


def test_only_coordinators_and_admins_see_the_parties_and_zones_links(client, db):
    login(client, make_staff(db, "walk_leader"))
    page = client.get("/").get_data(as_text=True)
    assert 'href="/parties"' not in page and 'href="/zones"' not in page
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, make_staff(db, "coordinator"))
    page = client.get("/").get_data(as_text=True)
    assert 'href="/parties"' in page and 'href="/zones"' in page


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("kim@example.se", True),
        ("kim.ek+walks@stockholm.se", True),
        ("kim@example", False),
        ("kim.example.se", False),
        ("kim@@example.se", False),
        ("kim ek@example.se", False),
        ("@example.se", False),
    ],
)
def test_looks_like_email_is_a_light_check(value, ok):
    assert looks_like_email(value) is ok
