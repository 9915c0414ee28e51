"""Running for real: /healthz, the JSON request log, and the deployment files in docs/."""

import json
import logging
import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from conftest import join, login, make_place, make_user, make_walk

from fieldwalk.auth import create_token

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "docs" / "nginx" / "fieldwalk.conf"
UNIT = ROOT / "docs" / "systemd" / "fieldwalk.service"
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


def _nginx() -> str | None:
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    if shutil.which("openssl"):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
            + ["-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
            check=True,
            capture_output=True,
        )
        return cert, key
    x509 = pytest.importorskip("cryptography.x509", reason="needs openssl or cryptography")
    from datetime import UTC, timedelta

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def test_example_nginx_config_passes_nginx_t(tmp_path):
    nginx = _nginx()
    if nginx is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing under CI: `make test` installs Debian's nginx as root")
        pytest.skip("nginx is not installed (`make test` installs it when run as root)")
    cert, key = _self_signed_certificate(tmp_path)
    site, replaced = re.subn(
        r"(?m)^(\s*)ssl_certificate\s+\S+;", rf"\1ssl_certificate {cert};", NGINX_CONF.read_text()
    )
    site, replaced_key = re.subn(
        r"(?m)^(\s*)ssl_certificate_key\s+\S+;", rf"\1ssl_certificate_key {key};", site
    )
    assert replaced == replaced_key == 1
    (tmp_path / "fieldwalk.conf").write_text(site)
    (tmp_path / "temp").mkdir()
    mime = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
    temp = tmp_path / "temp"
    (tmp_path / "nginx.conf").write_text(
        f"""
        pid {tmp_path}/nginx.pid;
        error_log {tmp_path}/error.log;
        events {{}}
        http {{
            {mime}
            access_log {tmp_path}/access.log;
            client_body_temp_path {temp}; proxy_temp_path {temp}; fastcgi_temp_path {temp};
            uwsgi_temp_path {temp}; scgi_temp_path {temp};
            include {tmp_path}/fieldwalk.conf;
        }}
        """
    )

    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log")]
        + ["-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_config_and_systemd_unit_agree_with_each_other_and_the_app(app):
    nginx, unit = NGINX_CONF.read_text(), UNIT.read_text()
    assert "proxy_pass http://127.0.0.1:5000;" in nginx
    assert "--bind 127.0.0.1:5000" in unit
    body_mb = int(re.search(r"client_max_body_size (\d+)m;", nginx).group(1))
    assert body_mb * 1024 * 1024 > app.config["MAX_CONTENT_LENGTH"]
    assert "X-Forwarded-For" in nginx and "X-Forwarded-Proto $scheme" in nginx
    workers = int(re.search(r"--workers (\d+)", unit).group(1))
    assert 2 <= workers <= 4
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


def test_every_app_command_in_deploy_md_exists(app):
    text = DEPLOY.read_text()
    used = set(re.findall(r"(?:\bfw|flask --app app) ([a-z][a-z-]+)", text))
    assert {"init-db", "create-user", "backup", "restore", "check-photos"} <= used
    assert used <= set(app.cli.list_commands(None))


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The unit as it would be with this checkout at /srv/fieldwalk.
    unit = tmp_path / "fieldwalk.service"
    unit.write_text(UNIT.read_text().replace("/srv/fieldwalk", str(ROOT)))

    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert "fieldwalk.service" not in result.stderr, result.stderr
