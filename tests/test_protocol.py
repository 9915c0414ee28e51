"""The walk protocol: its PDF's text (read back with pypdf), escaping, no network, roles."""

import io
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import (
    PHOTO_SETTINGS,
    PHOTOS,
    join,
    login,
    make_place,
    make_staff,
    make_walk,
    pdf_text,
)
from PIL import ImageFile
from pypdf import PdfReader

from fieldwalk.observations.model import get_observation
from fieldwalk.observations.record import record_photo
from fieldwalk.parties.model import insert_party
from fieldwalk.walks import protocol

EN = {"Accept-Language": "en"}
SCRIPT = '<script>alert("x")</script> Lampan vid trappan är trasig'
ONERROR = "<img src=x onerror=alert(1)> Buskarna skymmer gången"
ROUTE = {
    "type": "LineString",
    "coordinates": [[17.877, 59.353], [17.881, 59.355], [17.886, 59.357]],
}
# Who took part, by role; "other" stays at zero.
ROLES = {"resident": 3, "police": 1, "property_owner": 2, "staff": 1}


def add_observation(db, walk, description, created_at, *, lat, urgent=False, photos=()) -> dict:
    observation_id = str(uuid.uuid4())
    db.execute(
        """INSERT INTO observations (id, walk_id, place_id, category, description, urgent, lat,
               lon, photo_ids, body_hash, created_at, updated_at)
           VALUES (?, ?, ?, 'lighting', ?, ?, ?, 17.882, ?, 'test', ?, ?)""",
        [observation_id, walk["id"], walk["place_id"], description, int(urgent), lat,
         json.dumps(list(photos)), created_at, created_at],
    )  # fmt: skip
    return get_observation(db, observation_id)


def add_task(db, walk, party_id, measure, observations, state="proposed") -> int:
    task_id = db.execute(
        """INSERT INTO tasks (walk_id, place_id, party_id, measure, state, due_date, created_at,
               updated_at) VALUES (?, ?, ?, ?, ?, '2026-12-20', '2026-12-01T18:00:00Z',
               '2026-12-01T18:00:00Z')""",
        [walk["id"], walk["place_id"], party_id, measure, state],
    ).lastrowid
    for observation in observations:
        db.execute(
            "INSERT INTO task_observations (task_id, observation_id) VALUES (?, ?)",
            [task_id, observation["id"]],
        )
    return task_id


@pytest.fixture
def walk(app, db):
    """A finished walk around Råcksta: participants in four roles, three observations (two
    with markup in their text, one with a real photo), fixes for two parties and one in
    triage."""
    place = make_place(db, name="Råcksta: gamla torget")
    walk = make_walk(
        db,
        place,
        title="Kvällsvandring i Ådalen",
        starts_at="2026-12-01T16:30",
        meeting_point="Vid tunnelbanans uppgång",
        meeting_lat=59.3535,
        meeting_lon=17.8775,
        route=json.dumps(ROUTE),
        state="finished",
    )
    for role, count in ROLES.items():
        for n in range(count):
            db.execute(
                """INSERT INTO walk_participants (walk_id, display_name, participant_role,
                       joined_at) VALUES (?, ?, ?, '2026-12-01T15:30:00Z')""",
                [walk["id"], f"{role} {n}", role],
            )
    photo_id = str(uuid.uuid4())
    first = add_observation(
        db, walk, SCRIPT, "2026-12-01T15:40:00Z", lat=59.354, urgent=True, photos=[photo_id]
    )
    record_photo(
        db,
        Path(app.config["PHOTO_PATH"]),
        first,
        photo_id,
        (PHOTOS / "camera" / "no_exif.jpg").read_bytes(),
        PHOTO_SETTINGS,
    )
    second = add_observation(db, walk, ONERROR, "2026-12-01T15:55:00Z", lat=59.355)
    third = add_observation(db, walk, "Klotter på elskåpet", "2026-12-01T16:10:00Z", lat=59.356)
    traffic = insert_party(db, "Trafikkontoret", "traffic")
    housing = insert_party(db, "Svenska Bostäder AB", "property_owner")
    add_task(db, walk, traffic, "Byt armaturen vid trappan", [first], "sent")
    add_task(db, walk, traffic, "Sätt upp en extra lampa", [first, second])
    add_task(db, walk, housing, "Klipp häcken längs gången", [second], "done")
    add_task(db, walk, None, "Sanera klottret", [third])
    return walk


def test_protocol_pdf_text_has_walk_place_roles_observations_and_fixes_by_party(client, db, walk):
    login(client, make_staff(db, "coordinator"))
    response = client.get(f"/walks/{walk['id']}/protocol.pdf", headers=EN)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert 'filename="protokoll-2026-12-01-' in response.headers["Content-Disposition"]
    text = pdf_text(response.data)
    assert "Kvällsvandring i Ådalen" in text
    assert "Tuesday 1 December 2026" in text and "16:30" in text
    assert "Place Råcksta: gamla torget" in text
    for label, count in [
        ("Resident", 3),
        ("Staff", 1),
        ("Police", 1),
        ("Property owner", 2),
        ("Other", 0),
        ("In all", 7),
    ]:
        assert f"{label} {count}" in text, label
    for description in (SCRIPT, ONERROR, "Klotter på elskåpet"):
        assert description in text  # markup comes out as the literal text that was typed
    # Each party, then its tasks; the task with no party under triage, last.
    traffic = text.index("Trafikkontoret")
    housing = text.index("Svenska Bostäder AB")
    triage = text.index("No responsible party yet (triage)")
    assert housing < traffic < triage
    assert housing < text.index("Klipp häcken längs gången") < traffic
    assert traffic < text.index("Byt armaturen vid trappan") < triage
    assert traffic < text.index("Sätt upp en extra lampa") < triage
    assert triage < text.index("Sanera klottret")
    # The photo's thumbnail (WeasyPrint shares image resources between pages: count by content).
    images = {
        image.data for page in PdfReader(io.BytesIO(response.data)).pages for image in page.images
    }
    assert len(images) == 1


def test_protocol_pdf_date_is_in_swedish_by_default(client, db, walk):
    login(client, make_staff(db, "coordinator"))
    text = pdf_text(client.get(f"/walks/{walk['id']}/protocol.pdf").data)
    assert "tisdag 1 december 2026" in text


def test_protocol_page_escapes_markup_and_links_a_print_stylesheet(client, db, walk):
    login(client, make_staff(db, "coordinator"))
    response = client.get(f"/walks/{walk['id']}/protocol", headers=EN)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert re.search(
        r'<link rel="stylesheet" href="/static/(build/)?css/print\.css\?v=\w+" media="print">', html
    )
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="route-map"' in html
    assert f'href="/walks/{walk["id"]}/protocol.pdf"' in html


def test_protocol_pdf_reads_only_fieldwalk_files(app, client, db, walk, monkeypatch):
    fetchers = []

    def recording_fetcher(roots):
        fetcher = real_fetcher(roots)
        original = fetcher.fetch
        fetcher.seen = []

        def fetch(url, headers=None):
            fetcher.seen.append(url)
            return original(url, headers)

        fetcher.fetch = fetch
        fetchers.append(fetcher)
        return fetcher

    real_fetcher = protocol.local_fetcher
    monkeypatch.setattr(protocol, "local_fetcher", recording_fetcher)
    login(client, make_staff(db, "coordinator"))
    assert client.get(f"/walks/{walk['id']}/protocol.pdf").status_code == 200
    (fetcher,) = fetchers
    photo_dir = Path(app.config["PHOTO_PATH"]).resolve().as_uri()
    static_dir = Path(app.static_folder).resolve().as_uri()
    assert any(url.endswith("/css/print.css") for url in fetcher.seen)
    assert any(url.startswith(photo_dir) for url in fetcher.seen)
    assert all(url.startswith((photo_dir, static_dir)) for url in fetcher.seen)
    assert fetcher.refused == []


class Recorder(BaseHTTPRequestHandler):
    """A local web server that notes every request it gets."""

    requests: list[str] = []

    def do_GET(self):
        Recorder.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"p { color: red }")

    def log_message(self, *args):
        pass


@pytest.fixture
def web_server():
    Recorder.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_pdf_maker_refuses_remote_urls_and_files_outside_its_folders(app, web_server):
    roots = [Path(app.static_folder), Path(app.config["PHOTO_PATH"])]
    fetcher = protocol.local_fetcher(roots)
    html = f"""<html><head>
      <link rel="stylesheet" href="{web_server}/style.css">
      <link rel="stylesheet" href="{Path(app.static_folder, "css/print.css").as_uri()}">
      </head><body><p>Hej</p>
      <img src="{web_server}/pixel.png" alt="remote">
      <img src="https://example.org/remote.png" alt="remote over https">
      <img src="file:///etc/passwd" alt="outside">
      </body></html>"""
    data = protocol.html_to_pdf(html, roots, fetcher)
    assert data.startswith(b"%PDF")
    # WeasyPrint turns this on when imported; the photo pipeline needs it off.
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert "Hej" in pdf_text(data)
    assert Recorder.requests == []  # nothing reached the web server
    assert f"{web_server}/style.css" in fetcher.refused
    assert f"{web_server}/pixel.png" in fetcher.refused
    assert "https://example.org/remote.png" in fetcher.refused
    assert "file:///etc/passwd" in fetcher.refused
    with pytest.raises(ValueError):
        fetcher.fetch(f"{web_server}/direct")
    assert Recorder.requests == []


def test_walk_leaders_may_read_the_protocol_of_any_walk(client, db, walk):
    login(client, make_staff(db, "walk_leader"))  # not the walk's creator
    assert client.get(f"/walks/{walk['id']}/protocol").status_code == 200
    assert client.get(f"/walks/{walk['id']}/protocol.pdf").status_code == 200


def test_engineers_residents_and_anonymous_visitors_cannot_read_protocols(client, db, walk):
    for path in ("protocol", "protocol.pdf"):
        response = client.get(f"/walks/{walk['id']}/{path}")
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    join(client, walk)  # a resident who took part still gets no protocol
    assert client.get(f"/walks/{walk['id']}/protocol").status_code == 302
    login(client, make_staff(db, "engineer"))
    assert client.get(f"/walks/{walk['id']}/protocol").status_code == 403
    assert client.get(f"/walks/{walk['id']}/protocol.pdf").status_code == 403


def test_unknown_walk_has_no_protocol(client, db):
    login(client, make_staff(db, "coordinator"))
    assert client.get("/walks/999/protocol").status_code == 404
    assert client.get("/walks/999/protocol.pdf").status_code == 404
