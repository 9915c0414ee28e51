"""The photo pool as deployed (docs/systemd/fieldwalk-photos.service) answers its health check
while every one of its workers is busy with an upload, and each process still decodes one
photo at a time.

The pool is started from its unit file's own ExecStart arguments, over real HTTP on loopback;
the uploads are real photo PUTs of a resident who joined the walk, held half-sent (a phone on
a slow network) while /healthz is asked, then finished and stored."""

import os
import signal
import socket
import threading
import urllib.request
import uuid

from conftest import (
    PHOTO_SETTINGS,
    PHOTOS,
    free_port,
    join,
    make_place,
    make_walk,
    observation_body,
    start_gunicorn,
    unit_gunicorn_args,
)

from fieldwalk.photos import attach

PHOTO = (PHOTOS / "camera" / "no_exif.jpg").read_bytes()
UNIT = "fieldwalk-photos.service"


def declared_photos(client, db, count: int) -> tuple[list[tuple[str, str]], str, str]:
    """`count` observations of a resident who joined a walk, each declaring a photo not yet
    sent; the resident's cookies, as a header, and CSRF token."""
    walk = make_walk(db, make_place(db))
    token = join(client, walk)
    declared = []
    for _ in range(count):
        observation_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
        response = client.put(
            f"/api/v1/observations/{observation_id}",
            json=observation_body(walk["id"], photos=[photo_id]),
            headers={"X-CSRFToken": token},
        )
        assert response.status_code == 201, response.get_json()
        declared.append((observation_id, photo_id))
    cookies = "; ".join(
        f"{cookie.key}={cookie.value}"
        for cookie in client._cookies.values()  # noqa: SLF001
    )
    return declared, cookies, token


def photo_put_head(observation_id: str, photo_id: str, cookies: str, token: str) -> bytes:
    return (
        f"PUT /api/v1/observations/{observation_id}/photos/{photo_id} HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nCookie: {cookies}\r\nX-CSRFToken: {token}\r\n"
        f"Content-Type: image/jpeg\r\nContent-Length: {len(PHOTO)}\r\nConnection: close\r\n\r\n"
    ).encode()


def test_the_photo_pool_answers_its_health_check_while_every_worker_holds_an_upload(
    app, db, client
):
    port = free_port()
    args = unit_gunicorn_args(UNIT, port)
    workers = int(args[args.index("--workers") + 1])
    declared, cookies, token = declared_photos(client, db, workers)
    process = start_gunicorn(app, args, port)
    uploads = []
    try:
        for observation_id, photo_id in declared:  # one per worker: each is reading one
            upload = socket.create_connection(("127.0.0.1", port), timeout=60)
            upload.sendall(photo_put_head(observation_id, photo_id, cookies, token))
            upload.sendall(PHOTO[: len(PHOTO) // 2])
            uploads.append(upload)
        # A sync worker reads its upload's body until the phone sends the rest: with one
        # upload per worker, nobody would answer this until gunicorn's --timeout.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=15) as health:
            assert health.status == 200
        answers = []
        for upload in uploads:
            upload.sendall(PHOTO[len(PHOTO) // 2 :])
            answers.append(b"".join(iter(lambda u=upload: u.recv(65536), b"")))
    finally:
        for upload in uploads:
            upload.close()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    assert [answer.split(b"\r\n")[0] for answer in answers] == [b"HTTP/1.1 201 CREATED"] * workers
    stored = db.execute("SELECT id, observation_id FROM photos").fetchall()
    assert {(row["observation_id"], row["id"]) for row in stored} == set(declared)


def test_a_process_decodes_one_photo_at_a_time():
    ingested = []
    with attach.DECODING:  # another thread's decode is under way
        waiting = threading.Thread(
            target=lambda: ingested.append(attach.ingest(PHOTO, PHOTO_SETTINGS))
        )
        waiting.start()
        waiting.join(2)  # a decode of this photo takes some 50 ms of one core
        assert waiting.is_alive() and not ingested
    waiting.join(60)
    assert len(ingested) == 1 and ingested[0].width > 0
