"""Security: CSRF, bearer tokens, headers, the session cookie, login throttling, secrets at rest."""

import hashlib
import re
import threading
import uuid
from urllib.parse import urlsplit

import pytest
from conftest import (
    PASSWORD,
    PHOTOS,
    csrf_token,
    join,
    login,
    make_place,
    make_staff,
    make_user,
    make_walk,
    observation_body,
)

from fieldwalk import create_app
from fieldwalk.auth import create_token, revoke_token
from fieldwalk.security import new_token


@pytest.fixture
def walk(db):
    leader = make_staff(db, "walk_leader", "leader@example.se")
    return make_walk(db, make_place(db), created_by=leader["id"])


# --- CSRF --------------------------------------------------------------------------------


def test_login_post_without_csrf_token_is_refused(client, db):
    user = make_staff(db)
    client.get("/login")
    response = client.post("/login", data={"email": user["email"], "password": PASSWORD})
    assert response.status_code == 400
    assert "user_id" not in _session(client)


def test_login_post_with_csrf_token_logs_in(client, db):
    user = make_staff(db)
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": user["email"], "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303
    assert _session(client)["user_id"] == user["id"]


def _walk_form(db, token=None) -> dict:
    place_id = db.execute("SELECT id FROM places").fetchone()[0]
    form = {"place_id": place_id, "title": "Kväll i Råcksta", "starts_at": "2026-12-01T16:30"}
    if token:
        form["csrf_token"] = token
    return form


def test_walk_create_needs_csrf_token(client, db, walk):
    token = login(client, make_staff(db))
    assert client.post("/walks/new", data=_walk_form(db)).status_code == 400
    assert db.execute("SELECT count(*) FROM walks").fetchone()[0] == 1
    assert client.post("/walks/new", data=_walk_form(db, token)).status_code == 303
    assert db.execute("SELECT count(*) FROM walks").fetchone()[0] == 2


def test_walk_state_change_needs_csrf_token(client, db, walk):
    token = login(client, make_staff(db))
    path = f"/walks/{walk['id']}/state"
    assert client.post(path, data={"state": "ongoing"}).status_code == 400
    assert db.execute("SELECT state FROM walks").fetchone()[0] == "planned"
    response = client.post(path, data={"state": "ongoing", "csrf_token": token})
    assert response.status_code == 303
    assert db.execute("SELECT state FROM walks").fetchone()[0] == "ongoing"


def test_join_post_needs_csrf_token(client, db, walk):
    path = f"/j/{walk['invite_token']}"
    client.get(path)
    assert client.post(path, data={"participant_role": "resident"}).status_code == 400
    assert db.execute("SELECT count(*) FROM walk_participants").fetchone()[0] == 0
    join(client, walk)
    assert db.execute("SELECT count(*) FROM walk_participants").fetchone()[0] == 1


def test_capture_form_post_needs_csrf_token(client, db, walk):
    token = join(client, walk)
    path = f"/walks/{walk['id']}/observations"
    form = {"id": str(uuid.uuid4()), "category": "lighting"}
    assert client.post(path, data=form).status_code == 400
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 0
    assert client.post(path, data=dict(form, csrf_token=token)).status_code == 303
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 1


def test_json_put_with_session_needs_csrf_header(client, db, walk):
    token = join(client, walk)
    observation_id = str(uuid.uuid4())
    path = f"/api/v1/observations/{observation_id}"
    refused = client.put(path, json=observation_body(walk["id"]))
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "csrf"
    accepted = client.put(path, json=observation_body(walk["id"]), headers={"X-CSRFToken": token})
    assert accepted.status_code == 201


def test_json_photo_put_with_session_needs_csrf_header(client, db, walk):
    token = join(client, walk)
    observation_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
    client.put(
        f"/api/v1/observations/{observation_id}",
        json=observation_body(walk["id"], photos=[photo_id]),
        headers={"X-CSRFToken": token},
    )
    path = f"/api/v1/observations/{observation_id}/photos/{photo_id}"
    data = (PHOTOS / "camera" / "Canon_40D.jpg").read_bytes()
    refused = client.put(path, data=data, content_type="image/jpeg")
    assert refused.status_code == 400
    assert db.execute("SELECT count(*) FROM photos").fetchone()[0] == 0
    accepted = client.put(
        path, data=data, content_type="image/jpeg", headers={"X-CSRFToken": token}
    )
    assert accepted.status_code == 201


def _page_language(client) -> str:
    return re.search(r'<html lang="(\w+)"', client.get("/").get_data(as_text=True)).group(1)


def test_language_switch_needs_csrf_token(client):
    client.get("/")
    refused = client.post("/lang", data={"lang": "en", "next": "/"})
    assert refused.status_code == 400
    assert _page_language(client) == "sv"
    token = csrf_token(client, "/")
    accepted = client.post("/lang", data={"lang": "en", "next": "/", "csrf_token": token})
    assert accepted.status_code == 303
    assert _page_language(client) == "en"


OFFSITE_NEXT = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\r\n/evil.example/",
    "evil.example",
]


def _same_site(location: str) -> bool:
    parts = urlsplit(location)
    return parts.netloc in ("", "localhost") and location.startswith("/") and "//" not in location


@pytest.mark.parametrize("target", OFFSITE_NEXT)
def test_language_switch_never_redirects_off_site(client, target):
    token = csrf_token(client, "/")
    response = client.post("/lang", data={"lang": "en", "next": target, "csrf_token": token})
    assert response.status_code == 303
    assert _same_site(response.headers["Location"]), response.headers["Location"]


@pytest.mark.parametrize("target", OFFSITE_NEXT)
def test_login_never_redirects_off_site(client, db, target):
    user = make_staff(db)
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"email": user["email"], "password": PASSWORD, "csrf_token": token, "next": target},
    )
    assert response.status_code == 303
    assert _same_site(response.headers["Location"]), response.headers["Location"]


def test_login_goes_back_to_a_same_site_next(client, db):
    user = make_staff(db)
    token = csrf_token(client, "/login?next=/walks/new")
    response = client.post(
        "/login",
        data={
            "email": user["email"],
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/walks/new",
        },
    )
    assert response.headers["Location"] == "/walks/new"


def test_csrf_token_from_another_session_is_refused(app, client, db, walk):
    other = app.test_client()
    stolen = csrf_token(other, "/")
    join(client, walk)
    response = client.put(
        f"/api/v1/observations/{uuid.uuid4()}",
        json=observation_body(walk["id"]),
        headers={"X-CSRFToken": stolen},
    )
    assert response.status_code == 400


# --- bearer tokens -----------------------------------------------------------------------


def test_bearer_token_puts_without_csrf(client, db, walk):
    user = make_staff(db)
    token = create_token(db, user["id"], "sync")
    response = client.put(
        f"/api/v1/observations/{uuid.uuid4()}",
        json=observation_body(walk["id"]),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.get_json()
    row = db.execute("SELECT user_id FROM observations").fetchone()
    assert row["user_id"] == user["id"]


def test_bearer_token_from_create_token_command_works(client, runner, db, walk):
    user = make_staff(db)
    result = runner.invoke(args=["create-token", user["email"], "--label", "script"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    response = client.put(
        f"/api/v1/observations/{uuid.uuid4()}",
        json=observation_body(walk["id"]),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201


def test_revoked_bearer_token_gets_401(client, db, walk):
    user = make_staff(db)
    token = create_token(db, user["id"])
    assert revoke_token(db, token)
    response = client.put(
        f"/api/v1/observations/{uuid.uuid4()}",
        json=observation_body(walk["id"]),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 0


def test_no_token_starts_with_a_dash_that_a_command_line_takes_for_an_option():
    """One in 64 random tokens did, and `flask revoke-token <token>` refused it."""
    assert not [token for token in (new_token() for _ in range(2000)) if token.startswith("-")]


def test_revoke_token_command_revokes(client, runner, db, walk):
    token = create_token(db, make_staff(db)["id"])
    result = runner.invoke(args=["revoke-token", token])
    assert result.exit_code == 0, result.output
    response = client.get("/api/v1/categories", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Bearer ", "bearer x" * 50])
def test_wrong_bearer_token_gets_401(client, db, walk, header):
    response = client.put(
        f"/api/v1/observations/{uuid.uuid4()}",
        json=observation_body(walk["id"]),
        headers={"Authorization": header},
    )
    assert response.status_code == 401
    assert response.is_json


def test_bearer_token_of_a_locked_user_gets_401(client, db):
    user = make_staff(db)
    token = create_token(db, user["id"])
    db.execute("UPDATE users SET locked_at = '2026-01-01T00:00:00Z' WHERE id = ?", [user["id"]])
    response = client.get("/api/v1/observations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_tokens_are_stored_only_as_hashes(app, db):
    user = make_staff(db)
    token = create_token(db, user["id"], "sync")
    row = db.execute("SELECT * FROM api_tokens").fetchone()
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in [str(v) for v in dict(row).values()]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(app.config["DATABASE_PATH"], "rb") as f:
        assert token.encode() not in f.read()


# --- headers -----------------------------------------------------------------------------


def _csp(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    directives = [d.split() for d in policy.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def _stored_photo_url(client, walk) -> str:
    token = join(client, walk)
    observation_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
    client.put(
        f"/api/v1/observations/{observation_id}",
        json=observation_body(walk["id"], photos=[photo_id]),
        headers={"X-CSRFToken": token},
    )
    response = client.put(
        f"/api/v1/observations/{observation_id}/photos/{photo_id}",
        data=(PHOTOS / "camera" / "Canon_40D.jpg").read_bytes(),
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201
    return response.get_json()["url"]


@pytest.mark.parametrize("kind", ["html", "json", "photo", "static", "404", "api-404"])
def test_security_headers_on_every_kind_of_response(client, walk, kind):
    path = {
        "html": "/login",
        "json": "/api/v1/categories",
        "static": "/static/css/app.css",
        "404": "/no/such/page",
        "api-404": "/api/v1/no-such-thing",
    }.get(kind) or _stored_photo_url(client, walk)
    response = client.get(path, buffered=True)  # buffered: file bodies are read and closed
    expected_status = 404 if kind.endswith("404") else 200
    assert response.status_code == expected_status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if kind == "static":
        return  # a stylesheet is never a document: nosniff is what applies (see below for SVG)
    csp = _csp(response)
    assert csp["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in csp.get("script-src", []) + csp.get("default-src", [])
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin")


def test_policy_opens_only_images_to_other_origins(client):
    """Directives left out fall back to default-src 'self': only img-src reaches elsewhere."""
    csp = _csp(client.get("/login"))
    assert csp["default-src"] == ["'self'"]
    for name, sources in csp.items():
        if name != "img-src":
            assert set(sources) <= {"'self'", "'none'"}, name


def test_static_files_a_browser_could_open_as_a_document_get_the_full_policy(client):
    response = client.get("/static/vendor/leaflet-draw-1.0.4/images/spritesheet.svg", buffered=True)
    assert response.status_code == 200
    assert _csp(response)["script-src"] == ["'self'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    script = client.get("/static/js/app.js", buffered=True)
    assert script.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in script.headers


def test_photo_files_are_served_as_jpeg_and_cached_immutably(client, walk):
    response = client.get(_stored_photo_url(client, walk), buffered=True)
    assert response.mimetype == "image/jpeg"
    assert "immutable" in response.headers["Cache-Control"]


def _session_cookie_header(client) -> str:
    response = client.get("/login")  # the CSRF token goes into the session: a cookie is set
    cookies = [c for c in response.headers.getlist("Set-Cookie") if "fieldwalk_session=" in c]
    assert cookies, response.headers
    return cookies[0]


def test_session_cookie_is_httponly_and_samesite_lax(client):
    cookie = _session_cookie_header(client).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "; secure" not in cookie


def test_session_cookie_is_secure_when_configured(tmp_path):
    app = create_app(
        {"TESTING": True, "INSTANCE": str(tmp_path / "i"), "SESSION_COOKIE_SECURE": True}
    )
    client = app.test_client()
    cookie = _session_cookie_header(client).lower()
    assert "; secure" in cookie
    assert "httponly" in cookie
    assert "Strict-Transport-Security" in client.get("/login").headers


# --- login throttling --------------------------------------------------------------------


def _attempt(client, email, password):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def test_login_is_throttled_after_max_failures_even_with_the_right_password(app, client, db):
    app.config["LOGIN_MAX_FAILURES"] = 3
    user = make_staff(db)
    for _ in range(3):
        assert _attempt(client, user["email"], "wrong password!").status_code == 401
    response = _attempt(client, user["email"], PASSWORD)
    assert response.status_code == 429
    assert "user_id" not in _session(client)


def test_login_failures_are_counted_in_sqlite_so_a_new_worker_sees_them(app, client, db):
    app.config["LOGIN_MAX_FAILURES"] = 3
    user = make_staff(db)
    for _ in range(3):
        _attempt(client, user["email"].upper(), "wrong password!")
    keys = {r[0] for r in db.execute("SELECT key FROM login_failures")}
    assert f"email:{user['email']}" in keys
    assert db.execute("SELECT count(*) FROM login_failures").fetchone()[0] >= 3
    # A second app on the same instance folder stands for another gunicorn worker.
    worker = create_app(
        {"TESTING": True, "INSTANCE": app.instance_path, "LOGIN_MAX_FAILURES": 3}
    ).test_client()
    assert _attempt(worker, user["email"], PASSWORD).status_code == 429


def test_login_below_the_limit_still_works(app, client, db):
    app.config["LOGIN_MAX_FAILURES"] = 3
    user = make_staff(db)
    for _ in range(2):
        _attempt(client, user["email"], "wrong password!")
    assert _attempt(client, user["email"], PASSWORD).status_code == 303


def test_unknown_email_counts_as_a_failure_for_that_email_only(app, client, db):
    app.config["LOGIN_MAX_FAILURES"] = 2
    user = make_staff(db)
    for _ in range(2):
        assert _attempt(client, "nobody@example.se", "whatever pw").status_code == 401
    assert _attempt(client, "nobody@example.se", "whatever pw").status_code == 429
    # Everyone else behind the same address (an office, a mobile operator's NAT) logs in.
    assert _attempt(client, user["email"], PASSWORD).status_code == 303


def from_address(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_failures_from_one_address_do_not_lock_the_owner_out_from_another(app, db):
    """Five wrong passwords for a staff email used to answer its owner 429 for 15 minutes."""
    user = make_staff(db)
    attacker, owner = from_address(app, "203.0.113.9"), from_address(app, "198.51.100.4")
    for _ in range(5):
        assert _attempt(attacker, user["email"], "wrong password!").status_code == 401
    assert _attempt(attacker, user["email"], PASSWORD).status_code == 429
    assert _attempt(owner, user["email"], PASSWORD).status_code == 303


def test_failures_for_one_account_do_not_block_others_behind_the_same_address(app, db):
    user, colleague = make_staff(db), make_staff(db, "walk_leader", "kollega@example.se")
    office = from_address(app, "192.0.2.50")
    for _ in range(5):
        assert _attempt(office, user["email"], "wrong password!").status_code == 401
    assert (
        _attempt(from_address(app, "192.0.2.50"), colleague["email"], PASSWORD).status_code == 303
    )


def test_guessing_one_account_from_many_addresses_gets_one_try_each_but_its_owner_gets_in(app, db):
    """Past LOGIN_ACCOUNT_MAX_FAILURES for an account (from anywhere), each address gets one
    failure for it per window, not five; an address that has not failed is still checked."""
    app.config.update(LOGIN_MAX_FAILURES=5, LOGIN_ACCOUNT_MAX_FAILURES=4)
    user = make_staff(db)
    guessers = [from_address(app, f"203.0.113.{i}") for i in range(1, 5)]
    for guesser in guessers:
        assert _attempt(guesser, user["email"], "wrong password!").status_code == 401
    assert _attempt(guessers[0], user["email"], "wrong password!").status_code == 429
    assert _attempt(guessers[1], user["email"], PASSWORD).status_code == 429
    newcomer = from_address(app, "203.0.113.77")
    assert _attempt(newcomer, user["email"], "wrong password!").status_code == 401
    assert _attempt(newcomer, user["email"], "wrong password!").status_code == 429
    assert _attempt(from_address(app, "198.51.100.4"), user["email"], PASSWORD).status_code == 303


def test_concurrent_wrong_passwords_are_checked_no_more_often_than_the_limit(app, db):
    """12 attempts at once from one address: 5 password checks (401), 7 refusals (429).

    The user has a real (scrypt) hash, so each check takes long enough for the attempts to
    overlap; counting and checking the limit is one write, so they cannot all pass it.
    """
    user = make_user(db, "coordinator", "scrypt@example.se", real_hash=True)
    clients = [from_address(app, "203.0.113.9") for _ in range(12)]
    tokens = [csrf_token(c, "/login") for c in clients]
    start = threading.Barrier(len(clients))
    statuses = []

    def attempt(client, token):
        start.wait()
        response = client.post(
            "/login",
            data={"email": user["email"], "password": "wrong password!", "csrf_token": token},
        )
        statuses.append(response.status_code)

    threads = [
        threading.Thread(target=attempt, args=pair) for pair in zip(clients, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [401] * 5 + [429] * 7


# --- secrets at rest ---------------------------------------------------------------------


def test_passwords_are_stored_hashed(db):
    user = make_user(db, "coordinator", real_hash=True)  # the real default hash
    (stored,) = db.execute("SELECT password_hash FROM users WHERE id = ?", [user["id"]]).fetchone()
    assert PASSWORD not in stored
    assert stored.startswith(("scrypt:", "pbkdf2:"))


def test_create_user_command_with_password_option(client, runner, db):
    result = runner.invoke(
        args=["create-user", "anna@example.se", "--role", "coordinator", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    assert "Created user" in result.output
    (stored,) = db.execute(
        "SELECT password_hash FROM users WHERE email = 'anna@example.se'"
    ).fetchone()
    assert stored.startswith(("scrypt:", "pbkdf2:")) and PASSWORD not in stored
    assert _attempt(client, "anna@example.se", PASSWORD).status_code == 303


def test_create_user_command_prompts_for_the_password(runner, db):
    result = runner.invoke(
        args=["create-user", "bo@example.se", "--role", "walk_leader"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    (stored,) = db.execute(
        "SELECT password_hash FROM users WHERE email = 'bo@example.se'"
    ).fetchone()
    assert stored.startswith(("scrypt:", "pbkdf2:"))
    assert PASSWORD not in result.output


def test_create_user_command_refuses_a_short_password(runner, db):
    result = runner.invoke(
        args=["create-user", "cy@example.se", "--role", "admin", "--password", "short"]
    )
    assert result.exit_code != 0
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 0


def test_create_user_command_refuses_a_duplicate_email(runner, db):
    make_staff(db, "admin", "dup@example.se")
    result = runner.invoke(
        args=["create-user", "DUP@example.se", "--role", "admin", "--password", PASSWORD]
    )
    assert result.exit_code != 0
    assert "already exists" in result.output


def _session(client) -> dict:
    with client.session_transaction() as session:
        return dict(session)
