"""A party reached over Open311: its tasks are posted to a second fieldwalk's Open311 server
over real HTTP, read back by `sync-open311` when closed there, retried with back-off while
the other end is down, and never posted twice."""

import io
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import (
    PHOTO_SETTINGS,
    PHOTOS,
    LiveServer,
    blur_all,
    login,
    make_place,
    make_staff,
    make_token,
    make_walk,
)
from flask_babel import force_locale

from fieldwalk import create_app
from fieldwalk.db import connect
from fieldwalk.devtools.faceset import labelled_set
from fieldwalk.mail import url_builder
from fieldwalk.observations.model import get_observation, validate
from fieldwalk.observations.record import record_observation
from fieldwalk.open311.channel import (
    _claim,
    compose,
    endpoint_of,
    get_channel,
    queue_tasks,
    request_for_task,
    save_channel,
    sync_all,
    wait_after,
)
from fieldwalk.open311.client import RemoteError, post_request
from fieldwalk.parties.model import insert_party
from fieldwalk.photos.attach import store_photo
from fieldwalk.photos.model import list_photos
from fieldwalk.tasks.model import get_task, insert_task, task_history, transition
from fieldwalk.tasks.states import Actor

CANON = (PHOTOS / "camera" / "Canon_40D.jpg").read_bytes()
STAFF = Actor(("coordinator",), None, "test")
# The other end is a fieldwalk too: its service codes are its categories.
CODES = {"lighting": "lighting", "*": "other"}


@pytest.fixture
def remote(tmp_path):
    """A second fieldwalk (the traffic office's system), serving Open311 over real HTTP."""
    app = create_app({"TESTING": True, "INSTANCE": str(tmp_path / "remote")})
    db = connect(app.config["DATABASE_PATH"])
    token = make_token(db, email="integration@trafik.example.se")
    with LiveServer(app) as server:
        yield {"app": app, "db": db, "url": f"{server.url}/open311/v2/", "token": token}
    db.close()


@pytest.fixture
def scene(app, db):
    """Here: a walk's observation with a photo, and a proposed fix for the traffic office."""
    coordinator = make_staff(db, "coordinator", "samordnare@example.se")
    walk = make_walk(db, make_place(db), created_by=coordinator["id"])
    observation_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
    body = {
        "category": "lighting",
        "description": "Lampan vid trappan är trasig.",
        "lat": 59.354812,
        "lon": 17.881937,
        "walk_id": walk["id"],
        "photos": [photo_id],
    }
    photo_dir = Path(app.config["PHOTO_PATH"])
    record_observation(db, photo_dir, observation_id, validate(body, 2000, 12), PHOTO_SETTINGS, walk=walk)  # fmt: skip
    store_photo(db, photo_dir, photo_id, CANON, PHOTO_SETTINGS, observation=get_observation(db, observation_id))  # fmt: skip
    blur_all(app, db)  # the face-blurred public copy a party is sent (not reviewed for the public)
    party = insert_party(db, "Trafikkontoret", "traffic", "trafik@example.se")
    task = insert_task(
        db,
        observation_ids=[observation_id],
        measure="Byt lampan vid trappan.",
        party_id=party,
        suggestion={"party_id": party},
        actor=STAFF,
    )
    return {"coordinator": coordinator, "walk": walk, "party": party, "task": task,
            "observation": observation_id}  # fmt: skip


def remote_observations(remote) -> list[dict]:
    return [dict(r) for r in remote["db"].execute("SELECT * FROM observations")]


def send_walk(client, scene):
    token = login(client, scene["coordinator"])
    return client.post(f"/walks/{scene['walk']['id']}/tasks/send", data={"csrf_token": token})


def closed_port() -> int:
    """A loopback port nothing listens on: the party's server, down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_task_goes_to_the_partys_system_and_comes_back_done(
    app, client, db, runner, scene, remote, tmp_path
):
    save_channel(db, scene["party"], endpoint=remote["url"], api_key=remote["token"],
                 jurisdiction_id="", service_codes=CODES)  # fmt: skip
    response = send_walk(client, scene)
    assert response.status_code == 303
    assert (
        "&posted=1" in response.headers["Location"]
        and "emailed" not in response.headers["Location"]
    )
    assert not (Path(app.instance_path) / "outbox").exists()  # no email for this party

    # There: one observation, in the mapped category, with the measure, the status link
    # and the public photo's address (not fetched), at the task's position.
    (there,) = remote_observations(remote)
    assert there["category"] == "lighting"
    assert there["description"].startswith(
        "Byt lampan vid trappan.\n\nBelysning: Lampan vid trappan"
    )
    assert f"http://localhost/status/{scene['observation']}" in there["description"]
    # The party gets the text though staff have not reviewed it for the public pages, and
    # the photo as its face-blurred public copy, never the original.
    assert get_observation(db, scene["observation"])["public_review"] is None
    (photo,) = list_photos(db, scene["observation"])
    assert f"Bild: http://localhost/photos/{photo['public_file']}" in there["description"]
    assert (there["lat"], there["lon"]) == (59.354812, 17.881937)
    row = request_for_task(db, scene["task"])
    assert row["remote_id"] == there["id"] and row["last_error"] is None
    page = client.get(f"/tasks/{scene['task']}").get_data(as_text=True)
    assert there["id"] in page

    # Nothing closed there yet: a sync changes nothing.
    result = runner.invoke(args=["sync-open311"])
    assert result.exit_code == 0, result.output
    assert get_task(db, scene["task"])["state"] == "sent"

    # The traffic office fixes it in its own system.
    rdb = remote["db"]
    theirs = insert_task(rdb, observation_ids=[there["id"]], measure="Ny armatur.", party_id=None,
                         suggestion={"party_id": None}, actor=STAFF)  # fmt: skip
    transition(rdb, theirs, "wont_fix", STAFF, version=1, note="Ersatt av ny armatur.")

    result = runner.invoke(args=["sync-open311"])
    assert result.exit_code == 0, result.output
    assert f"closed: task {scene['task']}" in result.output
    task = get_task(db, scene["task"])
    assert task["state"] == "done"
    assert task["state_note"] == "Åtgärdas inte: Ny armatur."
    last = task_history(db, scene["task"])[-1]
    assert (last["action"], last["actor"]) == ("done", "Open311: Trafikkontoret")
    # Again: nothing more to do, and still one request there.
    assert runner.invoke(args=["sync-open311"]).exit_code == 0
    assert len(remote_observations(remote)) == 1
    # A coordinator who reopens it here is not overruled by the request closed there, and
    # no second request is posted for it.
    transition(db, scene["task"], "reopen", STAFF, version=task["version"], note="Lyser inte.")
    assert runner.invoke(args=["sync-open311"]).exit_code == 0
    assert get_task(db, scene["task"])["state"] == "sent"
    assert len(remote_observations(remote)) == 1


def test_while_the_party_is_down_the_task_waits_shows_why_and_goes_later(
    app, client, db, runner, scene, tmp_path
):
    down = f"http://127.0.0.1:{closed_port()}/open311/v2/"
    save_channel(db, scene["party"], endpoint=down, api_key="key", service_codes=CODES)
    response = send_walk(client, scene)
    assert "unposted=1" in response.headers["Location"]
    assert "&posted=0" in response.headers["Location"]
    assert get_task(db, scene["task"])["state"] == "sent"  # sent here; waiting to be posted
    row = request_for_task(db, scene["task"])
    assert row["remote_id"] is None and row["attempts"] == 1
    assert "could not reach" in row["last_error"]
    page = client.get(f"/tasks/{scene['task']}").get_data(as_text=True)
    assert "Det senaste försöket misslyckades" in page and "could not reach" in page

    # cron right away: the back-off holds the retry back.
    result = runner.invoke(args=["sync-open311"])
    assert result.exit_code == 0
    assert request_for_task(db, scene["task"])["attempts"] == 1
    # Later, still down: a second attempt, and a longer wait; cron's exit status says so.
    with app.app_context(), force_locale("sv"):
        external = url_builder("http://fieldwalk.example.se")
        later = datetime.now(UTC) + timedelta(minutes=2)
        sync_all(db, external, later, timeout=2)
    row = request_for_task(db, scene["task"])
    assert row["attempts"] == 2
    assert (
        row["next_attempt_at"]
        >= (later + timedelta(minutes=2) - timedelta(seconds=1)).isoformat()[:19]
    )

    # The party's server is back.
    remote_app = create_app({"TESTING": True, "INSTANCE": str(tmp_path / "back")})
    rdb = connect(remote_app.config["DATABASE_PATH"])
    try:
        token = make_token(rdb)
        with LiveServer(remote_app) as server:
            # The coordinator corrects the address: what waits is tried at the next run.
            save_channel(db, scene["party"], endpoint=f"{server.url}/open311/v2/",
                         api_key=token, service_codes=CODES)  # fmt: skip
            result = runner.invoke(args=["sync-open311"])
            assert result.exit_code == 0, result.output
            assert f"sent: task {scene['task']}" in result.output
        (there,) = [dict(r) for r in rdb.execute("SELECT * FROM observations")]
        row = request_for_task(db, scene["task"])
        assert row["remote_id"] == there["id"] and row["last_error"] is None
    finally:
        rdb.close()


def test_a_lost_answer_never_makes_a_second_request(app, db, scene, remote):
    save_channel(db, scene["party"], endpoint=remote["url"], api_key=remote["token"],
                 service_codes=CODES)  # fmt: skip
    transition(db, scene["task"], "send", STAFF, version=1)
    queue_tasks(db, datetime.now(UTC))
    row = request_for_task(db, scene["task"])
    channel = get_channel(db, scene["party"])
    with app.app_context(), force_locale("sv"):
        external = url_builder("http://fieldwalk.example.se")
        fields, media = compose(db, get_task(db, scene["task"]), channel, external)
    fields["service_request_id_ext"] = row["client_id"]
    # An earlier attempt reached the party's server, but its answer never came back.
    first = post_request(endpoint_of(channel, 5), fields, media)

    calls = []

    def flaky(endpoint, fields, media):
        calls.append(fields["service_request_id_ext"])
        answer = post_request(endpoint, fields, media)
        if len(calls) == 1:
            raise RemoteError("connection reset while reading the answer")
        return answer

    with app.app_context(), force_locale("sv"):
        now = datetime.now(UTC)
        sync_all(db, external, now, post=flaky)
        assert request_for_task(db, scene["task"])["remote_id"] is None
        sync_all(db, external, now + timedelta(minutes=5), post=flaky)
    assert calls == [row["client_id"], row["client_id"]]  # the same name each time
    assert request_for_task(db, scene["task"])["remote_id"] == first
    assert len(remote_observations(remote)) == 1


def test_a_category_without_a_service_code_waits_with_a_message(app, client, db, scene, remote):
    save_channel(db, scene["party"], endpoint=remote["url"], api_key=remote["token"],
                 service_codes={"graffiti": "klotter"})  # fmt: skip
    send_walk(client, scene)
    row = request_for_task(db, scene["task"])
    assert row["remote_id"] is None
    assert "Belysning" in row["last_error"] and "tjänstekod" in row["last_error"]
    assert remote_observations(remote) == []


def test_a_row_is_posted_by_one_process_at_a_time(db, scene):
    save_channel(db, scene["party"], endpoint="http://127.0.0.1:9/", service_codes=CODES)
    transition(db, scene["task"], "send", STAFF, version=1)
    now = datetime.now(UTC)
    queue_tasks(db, now)
    queue_tasks(db, now)  # a second queueing makes no second row
    assert db.execute("SELECT count(*) FROM open311_requests").fetchone()[0] == 1
    row = request_for_task(db, scene["task"])
    assert _claim(db, row["id"], now) is True
    assert _claim(db, row["id"], now) is False  # the other process keeps away
    assert _claim(db, row["id"], now + timedelta(minutes=3)) is True  # a lease left behind ends


def test_the_wait_doubles_up_to_six_hours():
    assert [wait_after(n) for n in (1, 2, 3)] == [timedelta(minutes=m) for m in (1, 2, 4)]
    assert wait_after(30) == timedelta(hours=6)


def test_coordinators_set_up_a_party_channel_and_the_key_is_kept(client, db, scene):
    token = login(client, scene["coordinator"])
    path = f"/parties/{scene['party']}/open311"
    assert client.get(path).status_code == 200
    form = {"csrf_token": token, "endpoint": "https://open311.trafik.example.se/v2/",
            "jurisdiction_id": "stockholm.se", "api_key": "hemlig", "code_lighting": "GATLJUS",
            "code_default": "OVRIGT"}  # fmt: skip
    assert client.post(path, data=form).status_code == 303
    channel = get_channel(db, scene["party"])
    assert channel["api_key"] == "hemlig"
    assert channel["service_codes"] == {"lighting": "GATLJUS", "*": "OVRIGT"}
    # Saving again without a key keeps the one saved; the page never shows it.
    assert client.post(path, data=dict(form, api_key="")).status_code == 303
    assert get_channel(db, scene["party"])["api_key"] == "hemlig"
    assert "hemlig" not in client.get(path).get_data(as_text=True)
    assert "open311.trafik.example.se" in client.get(f"/parties/{scene['party']}").get_data(
        as_text=True
    )
    bad = client.post(path, data=dict(form, endpoint="file:///etc/passwd"))
    assert bad.status_code == 400
    assert "https://" in bad.get_data(as_text=True)
    response = client.post(f"/parties/{scene['party']}/open311/remove", data={"csrf_token": token})
    assert response.status_code == 303
    assert get_channel(db, scene["party"]) is None


def test_the_post_waits_until_every_photo_has_its_blurred_copy(app, db, scene, remote):
    """A photo whose faces are still being blurred holds the request back (with a message on
    the task), so the party's server never fetches a stand-in or an unblurred photo; once the
    copy is made the request goes, with the blurred copies only. A hidden photo is left out."""
    photo_dir = Path(app.config["PHOTO_PATH"])
    late, hidden = str(uuid.uuid4()), str(uuid.uuid4())
    face = io.BytesIO()
    labelled_set()[0].image.save(face, "JPEG", quality=92)  # three real faces
    for photo_id, data in ((late, face.getvalue()),
                           (hidden, (PHOTOS / "camera" / "Pentax_K10D.jpg").read_bytes())):  # fmt: skip
        db.execute(
            "UPDATE observations SET photo_ids = json_insert(photo_ids, '$[#]', ?) WHERE id = ?",
            [photo_id, scene["observation"]],
        )
        observation = get_observation(db, scene["observation"])
        store_photo(db, photo_dir, photo_id, data, PHOTO_SETTINGS, observation=observation)
    db.execute("UPDATE photos SET hidden_at = '2026-01-01T00:00:00Z' WHERE id = ?", [hidden])
    save_channel(db, scene["party"], endpoint=remote["url"], api_key=remote["token"],
                 service_codes=CODES)  # fmt: skip
    transition(db, scene["task"], "send", STAFF, version=1)
    with app.app_context(), force_locale("sv"):
        external = url_builder("http://localhost")
        now = datetime.now(UTC)
        sync_all(db, external, now)
        row = request_for_task(db, scene["task"])
        assert row["remote_id"] is None
        assert "suddas fortfarande" in row["last_error"]
        assert remote_observations(remote) == []
        blur_all(app, db)
        sync_all(db, external, now + timedelta(minutes=5))
    (there,) = remote_observations(remote)
    assert request_for_task(db, scene["task"])["remote_id"] == there["id"]
    photos = {p["id"]: p for p in list_photos(db, scene["observation"])}
    assert photos[late]["faces"] >= 3 and photos[late]["public_file"] != photos[late]["file"]
    assert photos[late]["file"] not in there["description"]
    for photo_id, photo in photos.items():
        shown = f"http://localhost/photos/{photo['public_file']}" in there["description"]
        assert shown == (photo_id != hidden), photo_id
