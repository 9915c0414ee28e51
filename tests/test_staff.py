"""Staff accounts from the browser (issue 14, item 7): admins invite people by email (a
signed link, valid 7 days, where the person chooses a password), set role and party, send a
password reset link, and see the last login. Every email through aiosmtpd."""

import re

import pytest
from conftest import PASSWORD, csrf_token, login, mail_bodies, make_staff

from fieldwalk.auth import find_user_by_email
from fieldwalk.parties.model import insert_party

pytestmark = pytest.mark.usefixtures("english")

LINK_RE = re.compile(r"https?://[^/\s]+(/account/set-password/[A-Za-z0-9_.\-]+)")
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def admin(app, db):
    client = app.test_client()
    token = login(client, make_staff(db, "admin", "admin@example.se"))
    return client, token


def invite(admin, **data):
    client, token = admin
    return client.post("/admin/users/invite", data={"csrf_token": token, **data})


def the_link(smtp, address) -> str:
    (path,) = set(LINK_RE.findall(mail_bodies(smtp.to(address)[-1])[0]))
    return path


def choose_password(app, path, password=NEW_PASSWORD, confirm=None):
    person = app.test_client()
    page = person.get(path)
    assert page.status_code == 200, "the link opens"
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    return person.post(
        path,
        data={
            "csrf_token": token.group(1),
            "new_password": password,
            "confirm_password": confirm or password,
        },
    )


def can_log_in(app, email, password) -> bool:
    client = app.test_client()
    response = client.post(
        "/login",
        data={"csrf_token": csrf_token(client), "email": email, "password": password},
    )
    return response.status_code == 303


def test_an_invited_person_chooses_a_password_once_and_logs_in(app, db, smtp, admin):
    response = invite(admin, email="ny@example.se", name="Nora Ny", role="coordinator")
    assert response.status_code == 303
    user = find_user_by_email(db, "ny@example.se")
    assert (user["role"], user["name"], user["password_hash"]) == ("coordinator", "Nora Ny", None)
    (received,) = smtp.to("ny@example.se")
    text = mail_bodies(received)[0]
    assert "i 7 dagar" in text, "the link's life"
    path = the_link(smtp, "ny@example.se")
    assert not can_log_in(app, "ny@example.se", NEW_PASSWORD)

    done = choose_password(app, path)
    assert done.status_code == 303 and done.headers["Location"] == "/login"
    assert can_log_in(app, "ny@example.se", NEW_PASSWORD)
    assert app.test_client().get(path).status_code == 404, "a link works once"
    listing = admin[0].get("/admin/users").get_data(as_text=True)
    card = listing[listing.index("ny@example.se") :]
    assert "last login" in card[: card.index("</li>")]


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("short", None, "Use at least 10 characters."),
        (NEW_PASSWORD, "something else entirely", "The two new passwords are not the same."),
    ],
)
def test_a_bad_password_is_400_and_the_link_still_works(
    app, db, smtp, admin, password, confirm, message
):
    invite(admin, email="ny@example.se", role="walk_leader")
    path = the_link(smtp, "ny@example.se")
    refused = choose_password(app, path, password, confirm)
    assert refused.status_code == 400 and message in refused.get_data(as_text=True)
    assert find_user_by_email(db, "ny@example.se")["password_hash"] is None
    assert choose_password(app, path).status_code == 303


def test_an_invitation_expires(app, db, smtp, admin):
    invite(admin, email="ny@example.se", role="walk_leader")
    path = the_link(smtp, "ny@example.se")
    app.config["INVITE_LINK_DAYS"] = 0  # as if the 7 days had passed
    assert app.test_client().get(path).status_code == 404


def test_an_engineer_is_invited_with_a_party_and_only_an_engineer_has_one(app, db, smtp, admin):
    park = insert_party(db, "Parkingenjörerna", "park")
    refused = invite(admin, email="tekniker@example.se", role="engineer")
    assert refused.status_code == 400
    assert "An engineer belongs to a party: choose one." in refused.get_data(as_text=True)
    refused = invite(admin, email="samordnare@example.se", role="coordinator", party_id=park)
    assert refused.status_code == 400 and "Only engineers belong to a party." in (
        refused.get_data(as_text=True)
    )
    assert (
        invite(admin, email="tekniker@example.se", role="engineer", party_id=park).status_code
        == 303
    )
    assert find_user_by_email(db, "tekniker@example.se")["party_id"] == park


@pytest.mark.parametrize("address", ["admin@example.se", "ADMIN@example.se", "inte en adress"])
def test_an_address_taken_or_malformed_is_400(app, db, smtp, admin, address):
    response = invite(admin, email=address, role="walk_leader")
    assert response.status_code == 400
    assert smtp.messages == []


def test_the_admin_sets_role_and_party(app, db, admin):
    park = insert_party(db, "Parkingenjörerna", "park")
    person = make_staff(db, "walk_leader", "ledare@example.se")
    client, token = admin
    url = f"/admin/users/{person['id']}/role"
    assert client.post(url, data={"csrf_token": token, "role": "engineer"}).status_code == 400
    changed = client.post(url, data={"csrf_token": token, "role": "engineer", "party_id": park})
    assert changed.status_code == 303
    user = find_user_by_email(db, "ledare@example.se")
    assert (user["role"], user["party_id"]) == ("engineer", park)
    back = client.post(url, data={"csrf_token": token, "role": "coordinator", "party_id": ""})
    assert back.status_code == 303
    user = find_user_by_email(db, "ledare@example.se")
    assert (user["role"], user["party_id"]) == ("coordinator", None)
    me = find_user_by_email(db, "admin@example.se")
    own = client.post(
        f"/admin/users/{me['id']}/role", data={"csrf_token": token, "role": "walk_leader"}
    )
    assert own.status_code == 400


def test_a_reset_link_sets_a_new_password_and_logs_out_everywhere(app, db, smtp, admin):
    person = make_staff(db, "coordinator", "glomsk@example.se")
    logged_in = app.test_client()
    login(logged_in, person)
    client, token = admin
    assert (
        client.post(f"/admin/users/{person['id']}/reset", data={"csrf_token": token}).status_code
        == 303
    )
    path = the_link(smtp, "glomsk@example.se")
    assert can_log_in(app, "glomsk@example.se", PASSWORD), "the old one works until then"
    assert choose_password(app, path).status_code == 303
    assert not can_log_in(app, "glomsk@example.se", PASSWORD)
    assert can_log_in(app, "glomsk@example.se", NEW_PASSWORD)
    assert logged_in.get("/dashboard").status_code == 302, "its sessions ended"


def test_a_locked_account_s_link_does_not_open(app, db, smtp, admin):
    person = make_staff(db, "coordinator", "glomsk@example.se")
    client, token = admin
    client.post(f"/admin/users/{person['id']}/reset", data={"csrf_token": token})
    path = the_link(smtp, "glomsk@example.se")
    client.post(f"/admin/users/{person['id']}/lock", data={"csrf_token": token})
    assert app.test_client().get(path).status_code == 404


def test_a_tampered_link_is_404(app, client):
    assert client.get("/account/set-password/x.y.z").status_code == 404


def test_coordinators_cannot_invite(app, db):
    coordinator = app.test_client()
    token = login(coordinator, make_staff(db, "coordinator"))
    response = coordinator.post(
        "/admin/users/invite",
        data={"csrf_token": token, "email": "ny@example.se", "role": "admin"},
    )
    assert response.status_code == 403
    assert find_user_by_email(db, "ny@example.se") is None


def test_the_cli_still_makes_the_first_admin(runner, db):
    result = runner.invoke(
        args=["create-user", "forsta@example.se", "--role", "admin", "--password", NEW_PASSWORD]
    )
    assert result.exit_code == 0, result.output
    assert find_user_by_email(db, "forsta@example.se")["role"] == "admin"
