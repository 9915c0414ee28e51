"""A long export streams to the end on the export pool as deployed (docs/systemd/
fieldwalk-exports.service: gthread), even when the client reads slower than gunicorn's
timeout allows a sync worker; on the page pool's sync workers the same download is cut.

Both pools are started from their unit files' own ExecStart arguments, with a 2 s timeout
and a client that stops reading for 8 s mid-stream, over real HTTP on loopback."""

import csv
import http.cookiejar
import io
import os
import signal
import socket
import time
import urllib.parse
import urllib.request
import uuid

import pytest
from conftest import CSRF_RE, free_port, make_staff, start_gunicorn, unit_gunicorn_args

UNITS = {"exports": "fieldwalk-exports.service", "main": "fieldwalk.service"}
ROWS = 40_000  # about 10 MB of CSV: more than loopback's socket buffers hold
TIMEOUT_S = 2
PAUSE_S = 8


@pytest.fixture
def district_rows(app, db):
    db.execute("BEGIN")  # one transaction: not one fsync per row
    db.conn.executemany(
        """INSERT INTO observations (id, category, description, body_hash, created_at,
               updated_at) VALUES (?, 'lighting', 'Trasig lampa vid gångvägen', 'x', ?, ?)""",
        [
            (str(uuid.UUID(int=i)), "2026-11-02T10:00:00Z", "2026-11-02T10:00:00Z")
            for i in range(ROWS)
        ],
    )
    db.execute("COMMIT")
    return make_staff(db)


def session_cookie(port: int, user: dict) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(f"http://127.0.0.1:{port}/login", timeout=30).read().decode()
    match = CSRF_RE.search(html)
    form = {"email": user["email"], "password": user["password"]}
    form["csrf_token"] = match.group(1) or match.group(2)
    opener.open(f"http://127.0.0.1:{port}/login", urllib.parse.urlencode(form).encode(), timeout=30)
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def slow_download(port: int, path: str, cookie: str) -> bytes:
    """GET over HTTP/1.0 (the body ends when the server closes), with a small receive buffer
    and a pause mid-stream: the server's writes block meanwhile."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode())
        s.settimeout(60)
        received = [s.recv(65536)]
        time.sleep(PAUSE_S)
        while chunk := s.recv(65536):
            received.append(chunk)
    head, _sep, body = b"".join(received).partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].endswith(b" 200 OK"), head[:200]
    return body


@pytest.mark.parametrize("pool", ["exports", "main"])
def test_a_slow_long_export_finishes_on_the_export_pool_and_is_cut_on_the_page_pool(
    app, district_rows, pool
):
    port = free_port()
    process = start_gunicorn(app, unit_gunicorn_args(UNITS[pool], port, TIMEOUT_S), port)
    try:
        cookie = session_cookie(port, district_rows)
        body = slow_download(port, "/dashboard/observations.csv", cookie)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    text = body.decode("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    if pool == "exports":
        assert len(rows) == ROWS + 1  # the header and every row, each once, whole
        ids = {row[0] for row in rows[1:]}
        assert ids == {str(uuid.UUID(int=i)) for i in range(ROWS)}
        assert all(len(row) == len(rows[0]) for row in rows)
    else:
        # The sync worker blocked on the paused client past --timeout: gunicorn killed it.
        assert len(rows) < ROWS + 1
