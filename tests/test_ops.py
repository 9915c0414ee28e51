"""Running for real: /healthz, the JSON request log, and the deployment files in docs/."""

import contextlib
import http.client
import http.server
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from conftest import (
    join,
    login,
    make_place,
    make_user,
    make_walk,
    start_gunicorn,
    unit_gunicorn_args,
)

from fieldwalk.auth import create_token
from fieldwalk.devtools.nginx import (
    SITE_NAME,
    find_nginx,
    loopback_site,
    nginx_options,
    running_nginx,
    self_signed_certificate,
    unchecked_tls,
)

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "docs" / "nginx" / "fieldwalk.conf"
UNIT = ROOT / "docs" / "systemd" / "fieldwalk.service"
PHOTO_UNIT = ROOT / "docs" / "systemd" / "fieldwalk-photos.service"
EXPORT_UNIT = ROOT / "docs" / "systemd" / "fieldwalk-exports.service"
BLUR_UNIT = ROOT / "docs" / "systemd" / "fieldwalk-blur.service"
# glibc's malloc settings for the photo pool (docs/systemd/fieldwalk-photos.service says why)
PHOTO_MALLOC = "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728"
DEPLOY = ROOT / "docs" / "deploy.md"
LOG_FIELDS = {"time", "method", "path", "status", "duration_ms", "user", "remote_addr"}


def _assert_reveals_nothing(response, app, *extra: str) -> None:
    text = response.get_data(as_text=True)
    for secret in (app.instance_path, app.config["SECRET_KEY"], "sqlite", "Traceback", *extra):
        assert secret not in text
    assert not re.search(r"\d+\.\d+\.\d+", text), "no library versions"


# /healthz


def test_healthz_is_ok_without_login_and_never_cached(app, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "photos": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    _assert_reveals_nothing(response, app)


@pytest.mark.parametrize("where", ["under a regular file", "missing"])
def test_healthz_is_503_when_the_photo_folder_cannot_take_a_file(app, client, tmp_path, where):
    # Tests run as root, where a read-only mode does not stop writes: make creation impossible.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    photos = blocker / "photos" if where == "under a regular file" else tmp_path / "gone"
    app.config["PHOTO_PATH"] = str(photos)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "ok", "photos": "error"}
    assert response.headers["Cache-Control"] == "no-store"
    _assert_reveals_nothing(response, app, str(photos))
    assert not (tmp_path / "gone").exists(), "the check never creates the folder"


def test_healthz_is_503_when_the_database_is_unreachable(app, client, tmp_path):
    missing = tmp_path / "no-such-folder" / "fieldwalk.db"
    app.config["DATABASE_PATH"] = str(missing)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "error", "photos": "ok"}
    _assert_reveals_nothing(response, app, str(missing))
    assert not missing.parent.exists(), "the check never creates a database"


def test_healthz_is_503_not_500_when_loading_the_user_hits_the_broken_database(
    app, client, tmp_path
):
    # A bearer token makes security.load_user query the database before the view runs.
    app.config["DATABASE_PATH"] = str(tmp_path / "no-such-folder" / "fieldwalk.db")

    response = client.get("/healthz", headers={"Authorization": "Bearer whatever"})

    assert response.status_code == 503
    assert response.get_json()["status"] == "error"
    _assert_reveals_nothing(response, app)


def test_healthz_is_answered_in_front_of_flask_without_running_its_hooks(app, client):
    """A pool busy with pages answers its load balancer from the cheapest path: no session,
    user loading or CSRF (a hook that would fail is never reached)."""
    ran = []

    @app.before_request
    def _costly_hook():
        ran.append(True)
        raise RuntimeError("a page's hook ran for /healthz")

    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "photos": "ok"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert ran == []


def test_healthz_reuses_a_good_answer_for_a_second_but_never_a_failure(app, client, tmp_path):
    app.config["HEALTH_CACHE_SECONDS"] = 60
    photo_path = app.config["PHOTO_PATH"]
    assert client.get("/healthz").status_code == 200
    app.config["PHOTO_PATH"] = str(tmp_path / "gone")
    assert client.get("/healthz").status_code == 503  # other folder: checked, not reused
    assert client.get("/healthz").status_code == 503  # a failure is checked again each time
    app.config["PHOTO_PATH"] = photo_path
    written = list(Path(photo_path).glob(".tmp-healthz-*"))
    assert client.get("/healthz").status_code == 200
    assert written == []  # the checks left nothing behind


# Request log


@pytest.fixture
def request_log(app, caplog, monkeypatch):
    """The request log's lines as dicts, captured with caplog.

    The logger writes complete lines to stderr and does not propagate; here it propagates
    to caplog's handler on the root logger.
    """
    monkeypatch.setattr(logging.getLogger("fieldwalk.request"), "propagate", True)
    caplog.set_level(logging.INFO, logger="fieldwalk.request")

    def lines() -> list[dict]:
        return [
            json.loads(record.getMessage())
            for record in caplog.records
            if record.name == "fieldwalk.request"
        ]

    return lines


def test_each_request_logs_one_json_line_with_time_method_path_status_duration_user_address(
    client, request_log
):
    client.get("/healthz", environ_base={"REMOTE_ADDR": "203.0.113.9"})

    (line,) = request_log()
    assert set(line) == LOG_FIELDS
    assert line["time"].endswith("Z") and datetime.fromisoformat(
        line["time"].replace("Z", "+00:00")
    )
    assert line["method"] == "GET" and line["path"] == "/healthz" and line["status"] == 200
    assert isinstance(line["duration_ms"], float) and 0 <= line["duration_ms"] < 10_000
    assert line["user"] == "anonymous"
    assert line["remote_addr"] == "203.0.113.9"


def test_request_log_names_the_user_id_after_login_and_anonymous_before(db, client, request_log):
    user = make_user(db, "coordinator")
    client.get("/login")
    login(client, user)
    client.get("/")

    lines = request_log()
    assert lines[0] == {**lines[0], "path": "/login", "user": "anonymous"}
    assert lines[-1] == {**lines[-1], "path": "/", "status": 200, "user": user["id"]}


def test_request_log_names_the_owner_of_a_bearer_token_and_never_the_token(
    db, client, request_log, caplog
):
    user = make_user(db, "walk_leader")
    token = create_token(db, user["id"])

    client.get("/api/v1/categories", headers={"Authorization": f"Bearer {token}"})

    (line,) = request_log()
    assert line["user"] == user["id"]
    assert token not in caplog.text and "Bearer" not in caplog.text


def test_request_log_redacts_link_tokens_and_drops_query_strings(db, client, request_log, caplog):
    walk = make_walk(db, make_place(db))
    invite = walk["invite_token"]
    party_token, public_token = "PARTY-LINK-SECRET-1234", "PUBLIC-WALK-SECRET-5678"

    client.get(f"/j/{invite}?utm=x&token=QUERY-SECRET")
    join(client, walk)
    client.get(f"/l/{party_token}")
    client.get(f"/w/{public_token}")
    client.get("/healthz?key=QUERY-SECRET-2")

    lines = request_log()
    paths = [line["path"] for line in lines]
    assert paths == [
        "/j/[redacted]",
        "/j/[redacted]",
        "/j/[redacted]",
        "/l/[redacted]",
        "/w/[redacted]",
        "/healthz",
    ]
    for secret in (invite, party_token, public_token, "QUERY-SECRET"):
        assert secret not in caplog.text
    assert "?" not in json.dumps(lines)


def test_request_log_never_holds_cookies_csrf_tokens_bodies_or_photo_bytes(
    db, client, request_log, caplog
):
    user = make_user(db, "coordinator")
    csrf = login(client, user)
    session_cookie = client.get_cookie("fieldwalk_session").value
    token = create_token(db, user["id"])
    walk = make_walk(db, make_place(db), created_by=user["id"])
    body = {"category": "lighting", "description": "BODY-MARKER-4711", "walk_id": walk["id"]}
    photo = (ROOT / "tests" / "data" / "photos" / "camera" / "Canon_40D.jpg").read_bytes()

    client.put(
        "/api/v1/observations/1b4e28ba-2fa1-41d2-883f-0016d3cca427",
        json={**body, "photos": ["6fa459ea-ee8a-4ca4-894e-db77e160355e"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    client.put(
        "/api/v1/observations/1b4e28ba-2fa1-41d2-883f-0016d3cca427/photos/6fa459ea-ee8a-4ca4-894e-db77e160355e",
        data=photo,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"},
    )
    client.post("/logout", data={"csrf_token": csrf})

    lines = request_log()
    assert [line["status"] for line in lines][-3:] == [201, 201, 303]
    assert all(set(line) == LOG_FIELDS for line in lines)
    assert max(len(json.dumps(line)) for line in lines) < 400, "no bodies or bytes"
    for secret in (token, csrf, "BODY-MARKER-4711", "Bearer", "Cookie", "fieldwalk_session"):
        assert secret not in caplog.text
    assert session_cookie not in caplog.text


def test_a_request_that_crashes_is_logged_once_with_status_500(app, client, request_log):
    @app.get("/crash")
    def crash():
        raise RuntimeError("boom")

    assert client.get("/crash").status_code == 500
    assert [(line["path"], line["status"]) for line in request_log()] == [("/crash", 500)]


def test_request_log_is_off_with_request_log_false(app, client, request_log):
    app.config["REQUEST_LOG"] = False
    client.get("/healthz")
    assert request_log() == []


# Deployment files


def _require_nginx() -> str:
    nginx = find_nginx()
    if nginx is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing under CI: `make test` installs Debian's nginx as root")
        pytest.skip("nginx is not installed (`make test` installs it when run as root)")
    return nginx


def _nginx_setup(tmp_path: Path, site: str) -> list[str]:
    """`site` with a throwaway certificate in a minimal nginx.conf in tmp_path; its options."""
    return nginx_options(tmp_path, site, *self_signed_certificate(tmp_path))


def test_example_nginx_config_passes_nginx_t(tmp_path):
    nginx = _require_nginx()
    options = _nginx_setup(tmp_path, NGINX_CONF.read_text())

    result = subprocess.run([nginx, "-t", *options], capture_output=True, text=True, timeout=30)

    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


class _Pool(http.server.ThreadingHTTPServer):
    """Stands in for one gunicorn pool on loopback: answers 201 with its name and keeps
    (method, path, headers, body) of every request it got."""

    def __init__(self, name: str):
        self.name = name
        self.seen: list[tuple[str, str, dict, bytes]] = []
        super().__init__(("127.0.0.1", 0), _PoolHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _PoolHandler(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.command, self.path, dict(self.headers), body))
        self.send_response(201)
        self.send_header("Content-Length", str(len(self.server.name)))
        self.end_headers()
        self.wfile.write(self.server.name.encode())

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, *args):  # quiet
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nginx_sends_only_photo_uploads_to_the_photo_pool_and_falls_back_to_the_main_one(
    tmp_path,
):
    """The example site, run for real on loopback in front of two stand-in pools: which pool
    gets which request, with the same proxy headers and the body intact."""
    nginx = _require_nginx()
    main, photos, exports = _Pool("main"), _Pool("photos"), _Pool("exports")
    http_port, https_port = _free_port(), _free_port()
    site = loopback_site(
        NGINX_CONF.read_text(),
        http_port,
        https_port,
        {5000: main.port, 5001: photos.port, 5002: exports.port},
    )
    options = _nginx_setup(tmp_path, site)
    tls = unchecked_tls()

    def send(method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPSConnection("127.0.0.1", https_port, timeout=10, context=tls)
        try:
            conn.request(method, path, body=body, headers={"Host": SITE_NAME})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    with contextlib.ExitStack() as stack:
        stack.callback(exports.stop)
        stack.callback(photos.stop)
        stack.callback(main.stop)
        stack.enter_context(running_nginx(nginx, options, https_port))
        observation = "/api/v1/observations/1b4e28ba-2fa1-41d2-883f-0016d3cca427"
        photo = f"{observation}/photos/6fa459ea-ee8a-4ca4-894e-db77e160355e"
        jpeg = b"\xff\xd8\xff" + os.urandom(50_000)
        where = {
            ("PUT", photo): send("PUT", photo, jpeg),
            ("PUT", observation): send("PUT", observation, b'{"category": "lighting"}'),
            ("GET", observation): send("GET", observation),
            ("GET", f"{observation}/photos"): send("GET", f"{observation}/photos"),
            ("PUT", f"{photo}/x"): send("PUT", f"{photo}/x", b"x"),
            ("GET", "/walks/1"): send("GET", "/walks/1"),
            ("POST", "/walks/1/observations"): send("POST", "/walks/1/observations", b"a=1"),
            ("POST", "/tasks/1/done"): send("POST", "/tasks/1/done", b"a=1"),
            ("GET", "/dashboard/observations.csv?category=lighting"): send(
                "GET", "/dashboard/observations.csv?category=lighting"
            ),
            ("GET", "/dashboard/tasks.geojson"): send("GET", "/dashboard/tasks.geojson"),
            ("GET", "/events.csv"): send("GET", "/events.csv"),
            ("GET", "/dashboard"): send("GET", "/dashboard"),
            ("GET", "/reports/week.csv"): send("GET", "/reports/week.csv"),
        }
        assert {request: body for request, (_status, body) in where.items()} == {
            ("PUT", photo): b"photos",
            ("PUT", observation): b"main",
            ("GET", observation): b"main",
            ("GET", f"{observation}/photos"): b"main",
            ("PUT", f"{photo}/x"): b"main",
            ("GET", "/walks/1"): b"main",
            ("POST", "/walks/1/observations"): b"main",
            ("POST", "/tasks/1/done"): b"main",
            ("GET", "/dashboard/observations.csv?category=lighting"): b"exports",
            ("GET", "/dashboard/tasks.geojson"): b"exports",
            ("GET", "/events.csv"): b"exports",
            ("GET", "/dashboard"): b"main",
            ("GET", "/reports/week.csv"): b"main",
        }
        assert {status for status, _body in where.values()} == {201}
        (method, path, headers, body), *_ = photos.seen
        assert (method, path, body) == ("PUT", photo, jpeg)
        for pool in (main, photos, exports):
            for _method, _path, headers, _body in pool.seen:
                assert headers["Host"] == "fieldwalk.example.se"
                assert headers["X-Forwarded-For"] == "127.0.0.1"
                assert headers["X-Forwarded-Proto"] == "https"

        photos.stop()  # the photo pool down: its uploads go to the main pool instead
        assert send("PUT", photo, jpeg) == (201, b"main")
        assert main.seen[-1][1] == photo and main.seen[-1][3] == jpeg
        exports.stop()  # the export pool down: exports go to the main pool instead
        assert send("GET", "/events.csv") == (201, b"main")

        plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        plain.request("PUT", photo, body=jpeg, headers={"Host": SITE_NAME})
        redirect = plain.getresponse()
        assert redirect.status == 301
        assert redirect.headers["Location"] == f"https://fieldwalk.example.se{photo}"
        plain.close()


def _unit_settings(text: str) -> dict[str, list[str]]:
    """A unit's settings (comments dropped, continued lines joined): name -> values."""
    settings: dict[str, list[str]] = {}
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            name, value = line.split("=", 1)
            settings.setdefault(name, []).append(value)
    return settings


def test_nginx_config_and_systemd_units_agree_with_each_other_and_the_app(app):
    nginx, unit, photo_unit = NGINX_CONF.read_text(), UNIT.read_text(), PHOTO_UNIT.read_text()
    upstreams = dict(re.findall(r"upstream (\w+) \{([^}]*)\}", nginx))
    assert upstreams["fieldwalk_app"].split() == ["server", "127.0.0.1:5000;"]
    assert upstreams["fieldwalk_photos"].split() == [
        *("server", "127.0.0.1:5001;"),
        *("server", "127.0.0.1:5000", "backup;"),
    ]
    assert "proxy_pass http://fieldwalk_app;" in nginx
    assert "proxy_pass http://fieldwalk_photos;" in nginx
    assert upstreams["fieldwalk_exports"].split() == [
        *("server", "127.0.0.1:5002;"),
        *("server", "127.0.0.1:5000", "backup;"),
    ]
    assert "proxy_pass http://fieldwalk_exports;" in nginx
    assert "--bind 127.0.0.1:5000" in unit
    assert "--bind 127.0.0.1:5001" in photo_unit
    assert "--bind 127.0.0.1:5002" in EXPORT_UNIT.read_text()
    body_mb = int(re.search(r"client_max_body_size (\d+)m;", nginx).group(1))
    assert body_mb * 1024 * 1024 > app.config["MAX_CONTENT_LENGTH"]
    assert "X-Forwarded-For" in nginx and "X-Forwarded-Proto $scheme" in nginx
    workers = int(re.search(r"--workers (\d+)", unit).group(1))
    photo_workers = int(re.search(r"--workers (\d+)", photo_unit).group(1))
    assert 2 <= workers <= 4 and 1 <= photo_workers <= 2, "a 2-core server"
    for line in (
        "User=fieldwalk",
        "Restart=on-failure",
        "Environment=FIELDWALK_INSTANCE=/var/lib/fieldwalk",
        "Environment=FIELDWALK_PROXY_FIX_X_FOR=1",
        "Environment=FIELDWALK_PROXY_FIX_X_PROTO=1",
        "Environment=FIELDWALK_SESSION_COOKIE_SECURE=true",
    ):
        assert line in unit.splitlines()
    exec_start = unit.split("ExecStart=")[1].split("\nExecReload")[0]
    assert "access-log" not in exec_start, "the app writes the request log, gunicorn does not"


def test_the_photo_unit_is_the_main_unit_but_for_its_pool_and_its_tie_to_the_main_unit():
    """Same user, instance, environment and hardening; its own port, workers (threaded:
    gthread), control socket folder, malloc settings and a lower priority (Nice=10,
    CPUWeight=10); started after, and stopped, restarted and reloaded with, the main unit."""
    main, photos = _unit_settings(UNIT.read_text()), _unit_settings(PHOTO_UNIT.read_text())
    differing = {name for name in main.keys() | photos.keys() if main.get(name) != photos.get(name)}
    assert differing == {
        "Description",
        "After",
        "PartOf",
        "ReloadPropagatedFrom",
        "RuntimeDirectory",
        "Environment",
        "ExecStart",
        "Nice",
        "CPUWeight",
        "WantedBy",
    }
    assert set(main["Environment"]) ^ set(photos["Environment"]) == {
        "XDG_RUNTIME_DIR=/run/fieldwalk",
        "XDG_RUNTIME_DIR=/run/fieldwalk-photos",
        f"GLIBC_TUNABLES={PHOTO_MALLOC}",
    }
    assert main["RuntimeDirectory"] == ["fieldwalk"]
    assert photos["RuntimeDirectory"] == ["fieldwalk-photos"]
    assert photos["PartOf"] == photos["ReloadPropagatedFrom"] == ["fieldwalk.service"]
    assert "fieldwalk.service" in photos["After"][0].split()
    assert photos["WantedBy"] == ["fieldwalk.service"]
    assert "--worker-class gthread --threads 32" in photos["ExecStart"][0]
    assert photos["Nice"] == ["10"] and photos["CPUWeight"] == ["10"]
    strip = r"--workers \d+ --bind \S+(\s+--worker-class gthread --threads \d+)?"
    same = [re.sub(strip, "", unit["ExecStart"][0]).split() for unit in (main, photos)]
    assert same[0] == same[1]


def test_glibc_takes_the_photo_units_malloc_settings():
    """glibc ignores a tunable it does not know, or out of its range, without a word: its
    loader lists what it took. Two arenas, blocks up to 32 MiB kept in the heap, given back
    beyond 128 MiB free."""
    # glibc's loader on the machines the units are for (Debian on x86-64 or arm64).
    loaders = sorted(Path("/").glob("lib*/ld-linux-*.so.[0-9]"))
    assert loaders, "no glibc loader in /lib*: the units' GLIBC_TUNABLES are for glibc"
    listed = subprocess.run(
        [str(loaders[0]), "--list-tunables"],
        env={"GLIBC_TUNABLES": PHOTO_MALLOC},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    taken = dict(re.findall(r"^glibc\.malloc\.(\w+): (0x[0-9a-f]+)", listed, re.M))
    assert int(taken["arena_max"], 16) == 2
    assert int(taken["mmap_threshold"], 16) == 32 * 2**20
    assert int(taken["trim_threshold"], 16) == 128 * 2**20


def test_the_export_unit_is_the_photo_unit_but_for_its_pool_and_threads():
    """The export pool is tied to the main unit like the photo pool; it differs in its port,
    its control socket folder, its workers and threads (threads keep gunicorn's heartbeat
    going while an export streams) and glibc's malloc defaults (it holds no pixels)."""
    photos, exports = (
        _unit_settings(PHOTO_UNIT.read_text()),
        _unit_settings(EXPORT_UNIT.read_text()),
    )
    differing = {n for n in photos.keys() | exports.keys() if photos.get(n) != exports.get(n)}
    assert differing == {
        "Description",
        "RuntimeDirectory",
        "Environment",
        "ExecStart",
        "Nice",
        "CPUWeight",
    }
    assert set(photos["Environment"]) ^ set(exports["Environment"]) == {
        "XDG_RUNTIME_DIR=/run/fieldwalk-photos",
        "XDG_RUNTIME_DIR=/run/fieldwalk-exports",
        f"GLIBC_TUNABLES={PHOTO_MALLOC}",
    }
    assert "--worker-class gthread --threads 4" in exports["ExecStart"][0]
    strip = r"--workers \d+ --bind \S+(\s+--worker-class gthread --threads \d+)?"
    same = [re.sub(strip, "", unit["ExecStart"][0]).split() for unit in (photos, exports)]
    assert same[0] == same[1]


def test_the_blur_unit_blurs_every_pools_photos_on_cores_nothing_else_wants(app):
    """The pools leave faces to fieldwalk-blur.service, which runs `blur-pending --watch` on
    the same instance as the same user with the same hardening, at idle priority, tied to the
    main unit like the pools."""
    main, blur = _unit_settings(UNIT.read_text()), _unit_settings(BLUR_UNIT.read_text())
    for unit in (UNIT, PHOTO_UNIT, EXPORT_UNIT):
        assert (
            "FIELDWALK_FACE_BLUR_IN_PROCESS=false"
            in _unit_settings(unit.read_text())["Environment"]
        ), unit.name
    assert blur["ExecStart"] == ["/srv/fieldwalk/.venv/bin/flask --app app blur-pending --watch"]
    assert "blur-pending" in app.cli.list_commands(None)
    assert blur["Environment"] == ["FIELDWALK_INSTANCE=/var/lib/fieldwalk"]
    assert blur["CPUSchedulingPolicy"] == ["idle"] and blur["CPUWeight"] == ["idle"]
    assert blur["Nice"] == ["19"] and blur["IOSchedulingClass"] == ["idle"]
    assert blur["PartOf"] == ["fieldwalk.service"] and blur["WantedBy"] == ["fieldwalk.service"]
    assert "fieldwalk.service" in blur["After"][0].split()
    for name in (
        "User",
        "Group",
        "WorkingDirectory",
        "StateDirectory",
        "StateDirectoryMode",
        "UMask",
        "NoNewPrivileges",
        "PrivateTmp",
        "ProtectSystem",
        "ProtectHome",
        "ReadWritePaths",
        "KillMode",
        "Restart",
    ):
        assert blur[name] == main[name], name


def test_every_app_command_in_deploy_md_exists(app):
    text = DEPLOY.read_text()
    used = set(re.findall(r"(?:\bfw|flask --app app) ([a-z][a-z0-9-]+)", text))
    assert {"init-db", "create-user", "backup", "restore", "check-photos"} <= used
    assert used <= set(app.cli.list_commands(None))


@pytest.mark.parametrize(
    "unit_file", [UNIT, PHOTO_UNIT, EXPORT_UNIT, BLUR_UNIT], ids=lambda path: path.name
)
def test_systemd_units_pass_systemd_analyze_verify(tmp_path, unit_file):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing under CI: `make test` installs systemd as root")
        pytest.skip("systemd-analyze is not installed (`make test` installs it when run as root)")
    # The units as they would be with this checkout at /srv/fieldwalk.
    for path in (UNIT, PHOTO_UNIT, EXPORT_UNIT, BLUR_UNIT):
        (tmp_path / path.name).write_text(path.read_text().replace("/srv/fieldwalk", str(ROOT)))
    unit = tmp_path / unit_file.name

    result = subprocess.run(
        [analyze, "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"},  # finds its fellow unit
    )

    assert result.returncode == 0, result.stderr
    assert "fieldwalk" not in result.stderr, result.stderr


def test_the_wsgi_entry_point_freezes_what_starting_made(tmp_path):
    """gunicorn's app:app leaves the start-up objects out of the garbage collector's walks."""
    result = subprocess.run(
        [sys.executable, "-c", "import gc, app; print(gc.get_freeze_count())"],
        cwd=ROOT,
        env=dict(os.environ, FIELDWALK_INSTANCE=str(tmp_path / "instance")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) > 10_000


def test_a_json_body_too_large_gets_the_apps_413_through_nginx(app, db, client, tmp_path):
    """Behind the example site, a 10 MB observation gets the app's own refusal every time. A
    worker that answered without reading the body reset the connection, and nginx, still
    sending it, answered 502: a phone's outbox retries a 5xx as if the server were down."""
    nginx = _require_nginx()
    walk = make_walk(db, make_place(db))
    token = join(client, walk)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    port, https_port = _free_port(), _free_port()
    main = start_gunicorn(app, unit_gunicorn_args("fieldwalk.service", port), port)
    site = loopback_site(NGINX_CONF.read_text(), _free_port(), https_port, {5000: port})
    options = _nginx_setup(tmp_path, site)
    tls = unchecked_tls()
    body = json.dumps({"category": "lighting", "photos": [0] * 3_400_000}).encode()
    answers = []
    try:
        with running_nginx(nginx, options, https_port):
            for _attempt in range(8):
                conn = http.client.HTTPSConnection("127.0.0.1", https_port, timeout=30, context=tls)
                try:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        conn.request(
                            "PUT",
                            f"/api/v1/observations/{uuid.uuid4()}",
                            body=body,
                            headers={
                                "Host": SITE_NAME,
                                "Content-Type": "application/json",
                                "X-CSRFToken": token,
                                "Cookie": f"{cookie.key}={cookie.value}",
                            },
                        )
                    response = conn.getresponse()
                    answers.append((response.status, response.read()))
                finally:
                    conn.close()
    finally:
        os.killpg(main.pid, signal.SIGTERM)
        main.wait(30)
    assert [status for status, _body in answers] == [413] * 8
    assert all(json.loads(answer)["error"] == 413 for _status, answer in answers)
