"""Sessions the server can end, locked accounts, and rate limits shared by every worker.

A staff login is a row in `sessions`; the signed cookie only names it. These tests replay
cookies the way someone who copied one would, and count requests from two app instances on
one database the way two gunicorn workers would.
"""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from conftest import (
    PASSWORD,
    EnglishClient,
    csrf_token,
    join,
    login,
    make_place,
    make_staff,
    make_walk,
    observation_body,
)

from fieldwalk import create_app
from fieldwalk.auth import create_token
from fieldwalk.db import connect
from fieldwalk.security import hash_secret, list_live_sessions

pytestmark = pytest.mark.usefixtures("english")

NEW_PASSWORD = "a brand new passphrase"
WRONG_PASSWORD = "not the password"
COOKIE = "fieldwalk_session"
FIREFOX_ANDROID = "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0"


def cookie(client) -> str:
    return client.get_cookie(COOKIE).value


def replay(app, value: str):
    """A new browser carrying a copy of someone's session cookie."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, value)
    return thief


def is_logged_in(client) -> bool:
    return client.get("/api/v1/session").get_json()["user"]


def _session(client) -> dict:
    with client.session_transaction() as session:
        return dict(session)


# --- logout --------------------------------------------------------------------------------


def test_login_stores_only_the_hash_of_the_session_id_and_a_device_summary(app, db):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = FIREFOX_ANDROID
    user = make_staff(db)
    login(client, user)
    session_id = _session(client)["sid"]
    row = db.execute("SELECT * FROM sessions").fetchone()
    assert row["id"] == hashlib.sha256(session_id.encode()).hexdigest()
    assert session_id not in [str(v) for v in dict(row).values()]
    assert row["user_id"] == user["id"] and row["revoked_at"] is None
    assert row["user_agent"] == "Firefox · Android"


def test_logout_ends_the_session_so_a_replayed_cookie_is_anonymous(app, client, db):
    user = make_staff(db)
    token = login(client, user)
    copied = cookie(client)
    assert replay(app, copied).get("/walks/new").status_code == 200  # the copy works so far
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    thief = replay(app, copied)
    response = thief.get("/walks/new")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert not is_logged_in(thief)
    assert db.execute("SELECT revoked_at FROM sessions").fetchone()[0] is not None


def test_logout_keeps_the_residents_device_link(app, client, db):
    walk = make_walk(db, make_place(db))
    join(client, walk)
    device = _session(client)["device"]
    token = login(client, make_staff(db))
    client.post("/logout", data={"csrf_token": token})
    assert _session(client).get("device") == device
    assert client.get(f"/walks/{walk['id']}").status_code == 200


def test_logging_in_again_ends_the_previous_session(app, client, db):
    user = make_staff(db)
    login(client, user)
    first = cookie(client)
    login(client, user)
    assert not is_logged_in(replay(app, first))
    assert is_logged_in(client)


def test_a_cookie_from_before_sessions_were_rows_is_anonymous(app, db):
    """Cookies of the old scheme (user id and epoch, no session row) no longer log in."""
    user = make_staff(db)
    client = app.test_client()
    with client.session_transaction() as session:
        session["user_id"], session["epoch"] = user["id"], 0
    assert not is_logged_in(client)
    assert "user_id" not in _session(client)


def test_a_session_of_one_user_does_not_log_in_another(app, db):
    alice, bob = make_staff(db, email="alice@example.se"), make_staff(db, email="bob@example.se")
    client = app.test_client()
    login(client, alice)
    with client.session_transaction() as session:
        session["user_id"] = bob["id"]  # as if the signing key had leaked
    assert not is_logged_in(client)


def test_last_seen_is_written_at_most_once_a_minute(client, db):
    login(client, make_staff(db))

    def seen_ago(seconds: int) -> str:
        stamp = datetime.now(UTC) - timedelta(seconds=seconds)
        value = stamp.isoformat(timespec="seconds").replace("+00:00", "Z")
        db.execute("UPDATE sessions SET last_seen_at = ?", [value])
        return value

    recent = seen_ago(30)
    client.get("/")
    assert db.execute("SELECT last_seen_at FROM sessions").fetchone()[0] == recent
    old = seen_ago(120)
    client.get("/")
    assert db.execute("SELECT last_seen_at FROM sessions").fetchone()[0] > old


# --- idle timeout and lifetime -------------------------------------------------------------


def set_clock(db, **ago: timedelta) -> None:
    """Move the session rows' created_at / last_seen_at back by these amounts."""
    for column, delta in ago.items():
        value = (datetime.now(UTC) - delta).isoformat(timespec="seconds").replace("+00:00", "Z")
        db.execute(f"UPDATE sessions SET {column} = ?", [value])  # noqa: S608


def assert_sent_to_log_in_and_ended(client, db, copied: str, app) -> None:
    response = client.get("/walks/new")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/walks/new")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your login has expired. Please log in again." in page
    assert db.execute("SELECT revoked_at FROM sessions").fetchone()[0] is not None
    assert not is_logged_in(replay(app, copied))  # ended on the server, not only forgotten


def test_staff_session_idle_past_the_timeout_is_ended_and_sent_to_log_in(app, client, db):
    login(client, make_staff(db))
    set_clock(db, last_seen_at=timedelta(hours=12, minutes=1))
    assert_sent_to_log_in_and_ended(client, db, cookie(client), app)


def test_staff_session_past_its_lifetime_is_ended_even_while_in_use(app, client, db):
    login(client, make_staff(db))
    set_clock(db, created_at=timedelta(days=30, minutes=1), last_seen_at=timedelta(minutes=5))
    assert_sent_to_log_in_and_ended(client, db, cookie(client), app)


def test_an_htmx_request_of_an_expired_session_sends_the_whole_page_to_log_in(client, db):
    """A walk page polls its list with htmx: the login form must not land inside the list."""
    login(client, make_staff(db))
    set_clock(db, last_seen_at=timedelta(hours=13))
    response = client.get("/walks/new", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/login?next=/walks/new"


def test_staff_session_within_both_limits_stays_logged_in(client, db):
    login(client, make_staff(db))
    set_clock(db, created_at=timedelta(days=29, hours=23), last_seen_at=timedelta(hours=11))
    assert client.get("/walks/new").status_code == 200
    assert db.execute("SELECT revoked_at FROM sessions").fetchone()[0] is None


def test_session_limits_are_configurable(app, client, db):
    app.config.update(STAFF_SESSION_IDLE_SECONDS=600, STAFF_SESSION_LIFETIME_SECONDS=3600)
    login(client, make_staff(db))
    set_clock(db, last_seen_at=timedelta(minutes=11))
    assert not is_logged_in(client)
    other = app.test_client()
    login(other, make_staff(db, email="other@example.se"))
    db.execute(
        "UPDATE sessions SET created_at = ? WHERE revoked_at IS NULL",
        [(datetime.now(UTC) - timedelta(minutes=61)).isoformat(timespec="seconds")],
    )
    assert not is_logged_in(other)


def test_an_expired_session_is_anonymous_to_the_api_not_an_error(app, client, db):
    """The outbox asks /api/v1/session for a token: it gets one, as a visitor not logged in."""
    login(client, make_staff(db))
    set_clock(db, last_seen_at=timedelta(hours=13))
    answer = client.get("/api/v1/session")
    assert answer.status_code == 200
    assert answer.get_json()["user"] is False and answer.get_json()["csrf_token"]
    assert db.execute("SELECT revoked_at FROM sessions").fetchone()[0] is not None


def test_an_expired_staff_login_keeps_the_residents_device_link(app, client, db):
    walk = make_walk(db, make_place(db))
    join(client, walk)
    device = _session(client)["device"]
    login(client, make_staff(db))
    set_clock(db, last_seen_at=timedelta(days=2))
    client.get("/")
    assert _session(client).get("device") == device
    assert client.get(f"/walks/{walk['id']}").status_code == 200


def test_expired_sessions_are_not_listed_as_where_one_is_logged_in(app, client, db):
    user = make_staff(db)
    login(app.test_client(), user)  # a session left on another computer three days ago
    set_clock(db, last_seen_at=timedelta(days=3))
    login(client, user)
    with app.app_context():  # the limits are the app's configuration
        live = [s["id"] for s in list_live_sessions(db, user["id"])]
    assert live == [hash_secret(_session(client)["sid"])]
    page = client.get("/account/password").get_data(as_text=True)
    assert page.count("last active") == 1


# --- password change -------------------------------------------------------------------


def change_password(client, token, current=PASSWORD, new=NEW_PASSWORD, confirm=None):
    return client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": current,
            "new_password": new,
            "confirm_password": new if confirm is None else confirm,
        },
    )


def test_password_change_logs_out_other_sessions_but_keeps_this_one(app, db):
    user = make_staff(db)
    laptop, phone = app.test_client(), app.test_client()
    token = login(laptop, user)
    login(phone, user)
    response = change_password(laptop, token)
    assert response.status_code == 303
    assert is_logged_in(laptop) and not is_logged_in(phone)
    page = laptop.get("/account/password").get_data(as_text=True)
    assert "Your password is changed. You are logged out everywhere else." in page
    assert login(app.test_client(), dict(user, password=NEW_PASSWORD))
    old = app.test_client()
    refused = old.post(
        "/login",
        data={"email": user["email"], "password": PASSWORD, "csrf_token": csrf_token(old)},
    )
    assert refused.status_code == 401


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("not my password", NEW_PASSWORD, None, "That is not your current password."),
        (PASSWORD, "too short", None, "Use at least 10 characters."),
        (PASSWORD, NEW_PASSWORD, "something else", "The two new passwords are not the same."),
    ],
)
def test_password_change_refuses_a_wrong_current_or_weak_new_password(
    app, db, current, new, confirm, message
):
    user = make_staff(db)
    laptop, phone = app.test_client(), app.test_client()
    token = login(laptop, user)
    login(phone, user)
    response = change_password(laptop, token, current, new, confirm)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert is_logged_in(phone)  # nothing changed
    assert login(app.test_client(), user)


def test_wrong_current_passwords_count_as_failed_logins(app, client, db):
    app.config["LOGIN_MAX_FAILURES"] = 3
    user = make_staff(db)
    token = login(client, user)
    for _ in range(3):
        assert change_password(client, token, current="guess guess").status_code == 400
    response = change_password(client, token)  # even the right one, now
    assert response.status_code == 429
    assert "Too many failed attempts" in response.get_data(as_text=True)


# --- locked accounts -----------------------------------------------------------------------


@pytest.fixture
def admin(app, db):
    """An admin's logged-in client and CSRF token."""
    client = app.test_client()
    token = login(client, make_staff(db, "admin", "admin@example.se"))
    return client, token


def lock(admin, user_id: int, action: str = "lock"):
    client, token = admin
    return client.post(f"/admin/users/{user_id}/{action}", data={"csrf_token": token})


def test_staff_reach_their_account_page_from_the_menu_and_admins_the_user_list(app, admin, db):
    leader = app.test_client()
    login(leader, make_staff(db, "walk_leader"))
    assert 'href="/account/password"' in leader.get("/").get_data(as_text=True)
    assert 'href="/admin/users"' not in leader.get("/account/password").get_data(as_text=True)
    assert 'href="/admin/users"' in admin[0].get("/account/password").get_data(as_text=True)


def test_admin_user_list_offers_lock_buttons(admin, db):
    make_staff(db, "walk_leader", "kim@example.se")
    html = admin[0].get("/admin/users").get_data(as_text=True)
    assert "kim@example.se" in html and "Lock kim@example.se" in html
    assert "Lock admin@example.se" not in html  # not oneself


def test_locked_account_cannot_log_in_and_is_told_so(app, admin, db):
    user = make_staff(db)
    assert lock(admin, user["id"]).status_code == 303
    client = app.test_client()
    response = client.post(
        "/login",
        data={"email": user["email"], "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 403
    assert "This account is locked. Contact your administrator." in response.get_data(as_text=True)
    assert not is_logged_in(client)


def test_a_wrong_password_does_not_learn_that_an_account_is_locked(app, admin, db):
    user = make_staff(db)
    lock(admin, user["id"])
    client = app.test_client()
    response = client.post(
        "/login",
        data={
            "email": user["email"],
            "password": "wrong password",
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 401
    assert "locked" not in response.get_data(as_text=True)


def test_locking_ends_existing_sessions_and_stops_api_tokens_until_unlocked(app, admin, db):
    user = make_staff(db)
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, user)
    login(phone, user)
    token = create_token(db, user["id"], "sync")
    bearer = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/observations", headers=bearer).status_code == 200

    assert lock(admin, user["id"]).status_code == 303
    assert not is_logged_in(laptop) and not is_logged_in(phone)
    assert app.test_client().get("/api/v1/observations", headers=bearer).status_code == 401
    live = db.execute(
        "SELECT count(*) FROM sessions WHERE user_id = ? AND revoked_at IS NULL", [user["id"]]
    )
    assert live.fetchone()[0] == 0

    assert lock(admin, user["id"], "unlock").status_code == 303
    assert app.test_client().get("/api/v1/observations", headers=bearer).status_code == 200
    assert not is_logged_in(laptop)  # ended sessions stay ended: log in again
    assert login(app.test_client(), user)


def test_locking_and_unlocking_are_audited(admin, db):
    user = make_staff(db)
    lock(admin, user["id"])
    lock(admin, user["id"], "unlock")
    actions = [
        r[0]
        for r in db.execute(
            "SELECT action FROM audit_log WHERE entity = 'user' AND entity_id = ? ORDER BY id",
            [str(user["id"])],
        )
    ]
    assert actions == ["lock", "unlock"]


def test_an_admin_cannot_lock_their_own_account(admin, db):
    (admin_id,) = db.execute("SELECT id FROM users WHERE role = 'admin'").fetchone()
    response = lock(admin, admin_id)
    assert response.status_code == 400
    assert "You cannot lock your own account." in response.get_data(as_text=True)
    assert is_logged_in(admin[0])


# --- rate limits -------------------------------------------------------------------------


def attempt_login(client, email="nobody@example.se", password=WRONG_PASSWORD):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def test_login_gets_429_after_the_per_address_limit_even_with_the_right_password(app, db):
    app.config.update(LOGIN_RATE_LIMIT_PER_ADDRESS=3, LOGIN_MAX_FAILURES=100)
    user = make_staff(db)
    client = app.test_client()
    assert [attempt_login(client).status_code for _ in range(3)] == [401, 401, 401]
    refused = attempt_login(client, user["email"], PASSWORD)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    assert "Too many login attempts from your network." in refused.get_data(as_text=True)
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert attempt_login(elsewhere, user["email"], PASSWORD).status_code == 303


def test_joining_gets_429_after_the_per_address_limit(app, db):
    app.config["JOIN_RATE_LIMIT_PER_ADDRESS"] = 2
    walk = make_walk(db, make_place(db))
    join(app.test_client(), walk)
    join(app.test_client(), walk)
    phone = app.test_client()
    token = csrf_token(phone, f"/j/{walk['invite_token']}")
    refused = phone.post(
        f"/j/{walk['invite_token']}", data={"csrf_token": token, "participant_role": "resident"}
    )
    assert refused.status_code == 429
    assert refused.headers["Retry-After"]
    assert "Too many people joined walks from your network" in refused.get_data(as_text=True)
    assert db.execute("SELECT count(*) FROM walk_participants").fetchone()[0] == 2


@pytest.fixture
def walk(db):
    return make_walk(db, make_place(db))


def put_observation(client, walk, token, **values):
    return client.put(
        f"/api/v1/observations/{uuid.uuid4()}",
        json=observation_body(walk["id"], **values),
        headers={"X-CSRFToken": token},
    )


def test_a_phone_gets_429_as_json_after_its_write_limit(app, db, walk):
    app.config["WRITE_RATE_LIMIT_PER_DEVICE"] = 3
    phone = app.test_client()
    token = join(phone, walk)
    assert [put_observation(phone, walk, token).status_code for _ in range(3)] == [201] * 3
    refused = put_observation(phone, walk, token)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    body = refused.get_json()
    assert body["error"] == 429
    assert body["message"].startswith("Too much was sent from this phone or network just now.")
    other = app.test_client()  # another phone on the same address has its own count
    assert put_observation(other, walk, join(other, walk)).status_code == 201
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 4


def test_phones_sharing_an_address_get_429_after_the_address_limit(app, db, walk):
    app.config.update(WRITE_RATE_LIMIT_PER_DEVICE=100, WRITE_RATE_LIMIT_PER_ADDRESS=4)
    phones = [app.test_client() for _ in range(2)]
    tokens = [join(phone, walk) for phone in phones]
    statuses = [put_observation(phones[i % 2], walk, tokens[i % 2]).status_code for i in range(5)]
    assert statuses == [201, 201, 201, 201, 429]


def test_photo_puts_and_the_no_js_form_count_as_writes_too(app, db, walk):
    app.config["WRITE_RATE_LIMIT_PER_DEVICE"] = 2
    phone = app.test_client()
    token = join(phone, walk)
    observation_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
    created = phone.put(
        f"/api/v1/observations/{observation_id}",
        json=observation_body(walk["id"], photos=[photo_id]),
        headers={"X-CSRFToken": token},
    )
    assert created.status_code == 201
    photo = phone.put(
        f"/api/v1/observations/{observation_id}/photos/{photo_id}",
        data=b"not a photo",
        headers={"X-CSRFToken": token},
    )
    assert photo.status_code == 415  # counted, then refused for what it is
    form = phone.post(
        f"/walks/{walk['id']}/observations",
        data={"id": str(uuid.uuid4()), "category": "lighting", "csrf_token": token},
    )
    assert form.status_code == 429
    assert form.mimetype == "text/html"
    assert "Too much was sent from this phone or network just now." in form.get_data(as_text=True)
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 1


def test_staff_writes_with_a_bearer_token_are_not_limited(app, db, walk):
    app.config.update(WRITE_RATE_LIMIT_PER_DEVICE=1, WRITE_RATE_LIMIT_PER_ADDRESS=1)
    token = create_token(db, make_staff(db)["id"])
    client = app.test_client()
    statuses = [
        client.put(
            f"/api/v1/observations/{uuid.uuid4()}",
            json=observation_body(walk["id"]),
            headers={"Authorization": f"Bearer {token}"},
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [201, 201, 201]


LIMITS = {
    "LOGIN_RATE_LIMIT_PER_ADDRESS": 2,
    "JOIN_RATE_LIMIT_PER_ADDRESS": 2,
    "WRITE_RATE_LIMIT_PER_DEVICE": 2,
    "LOGIN_MAX_FAILURES": 100,
}


@pytest.mark.parametrize("what", ["login", "join", "write"])
def test_limits_hold_across_two_app_instances_on_one_database(tmp_path, what):
    """Two create_app() on one instance folder stand for two gunicorn workers."""
    instance = str(tmp_path / "instance")
    workers = [create_app({"TESTING": True, "INSTANCE": instance, **LIMITS}) for _ in range(2)]
    for worker in workers:
        worker.test_client_class = EnglishClient
    db = connect(workers[0].config["DATABASE_PATH"])
    walk = make_walk(db, make_place(db))
    db.close()
    phone = workers[0].test_client()
    token = join(phone, walk) if what == "write" else None

    def send(worker):
        if what == "login":
            return attempt_login(worker.test_client())
        if what == "join":
            client = worker.test_client()
            form_token = csrf_token(client, f"/j/{walk['invite_token']}")
            return client.post(
                f"/j/{walk['invite_token']}",
                data={"csrf_token": form_token, "participant_role": "resident"},
            )
        other = worker.test_client()
        other.set_cookie(COOKIE, cookie(phone))  # the same phone, answered by either worker
        return put_observation(other, walk, token)

    allowed = {"login": 401, "join": 303, "write": 201}[what]  # a wrong password is allowed
    statuses = [send(workers[0]).status_code, send(workers[1]).status_code]
    assert statuses == [allowed, allowed]
    assert send(workers[0]).status_code == 429
    assert send(workers[1]).status_code == 429


def test_session_ids_in_cookies_are_random_and_distinct(app, db):
    user = make_staff(db)
    ids = set()
    for _ in range(3):
        client = app.test_client()
        login(client, user)
        ids.add(_session(client)["sid"])
    assert len(ids) == 3
    stored = {r[0] for r in db.execute("SELECT id FROM sessions")}
    assert stored == {hash_secret(i) for i in ids}


def test_logging_in_deletes_rows_of_sessions_that_can_never_log_in_again(app, client, db):
    """Ended a month ago, or unseen for longer than a cookie lives: gone at the next login.
    A recent logout and a live session stay."""
    user = make_staff(db)
    long_ago = (datetime.now(UTC) - timedelta(days=400)).isoformat(timespec="seconds")
    month_ago = (datetime.now(UTC) - timedelta(days=31)).isoformat(timespec="seconds")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
    rows = {
        "ended-long-ago": (month_ago, month_ago),
        "ended-yesterday": (yesterday, yesterday),
        "unseen-for-400-days": (None, long_ago),
        "live": (None, yesterday),
    }
    for name, (revoked_at, seen) in rows.items():
        db["sessions"].insert(
            {
                "id": hash_secret(name),
                "user_id": user["id"],
                "created_at": long_ago,
                "last_seen_at": seen.replace("+00:00", "Z"),
                "revoked_at": revoked_at.replace("+00:00", "Z") if revoked_at else None,
                "user_agent": "",
            }
        )
    login(client, user)  # ends this browser's earlier session: none here
    left = {r[0] for r in db.execute("SELECT id FROM sessions")}
    assert hash_secret("ended-long-ago") not in left
    assert hash_secret("unseen-for-400-days") not in left
    assert {hash_secret("ended-yesterday"), hash_secret("live")} <= left
    assert len(left) == 3  # and the new one
