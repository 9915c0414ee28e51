"""Text fields render as text everywhere: no HTML injection in pages, fragments, the PDF or
email, and no formula injection in CSV.

One walk carries every payload: a place named like a spreadsheet formula, a walk title that
closes an attribute and opens an <svg>, observation descriptions and task measures with each
payload, and a party whose name is an <img onerror>. Each place that shows them is read back.
"""

import csv
import email
import io
import uuid
from datetime import UTC, datetime
from email.policy import default
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import (
    PASSWORD,
    approve_public,
    login,
    make_place,
    make_user,
    make_walk,
    set_fast_password,
)
from markupsafe import escape
from pypdf import PdfReader

from fieldwalk.observations.model import put_observation, validate
from fieldwalk.parties.model import insert_party
from fieldwalk.status import ensure_public_token
from fieldwalk.tasks.model import insert_task, send_walk_tasks
from fieldwalk.tasks.notify import send_notices
from fieldwalk.tasks.states import COORDINATOR, Actor

pytestmark = pytest.mark.usefixtures("english")

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
SVG = '"><svg onload=alert(1)>'
FORMULA = '=HYPERLINK("http://evil","x")'
PAYLOADS = [SCRIPT, IMG, SVG, FORMULA]
PLACE_NAME = FORMULA
WALK_TITLE = f"{SVG} Kvällsvandring"
PARTY_NAME = f"{IMG} Parkförvaltningen"
# What a spreadsheet would run, besides "=": each stored as the start of a description.
FORMULA_STARTS = ["+1+1", "-1+2", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"]
STAFF = Actor((COORDINATOR,), None, "test")
BASE = "http://fieldwalk.test"


class Elements(HTMLParser):
    """Every element with its attributes, and the text of scripts a browser would run."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        kind = (attributes.get("type") or "text/javascript").lower()
        self._in_script = tag == "script" and ("javascript" in kind or kind == "module")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def assert_shown_as_text(html: str, texts: list[str]) -> None:
    """Each text is in the HTML escaped, and nothing in the HTML would run it."""
    for text in texts:
        assert str(escape(text)) in html, text
    parsed = Elements(html)
    handlers = [(tag, name) for tag, attrs in parsed.tags for name in attrs if name[:2] == "on"]
    assert handlers == []
    assert not any(tag == "svg" and "onload" in attrs for tag, attrs in parsed.tags)
    assert not any(tag == "img" and attrs.get("src") == "x" for tag, attrs in parsed.tags)
    assert not any("alert(" in script for script in parsed.scripts)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def scene(app, db, client):
    """The hostile walk: observations, tasks sent to the party, its email, a public address."""
    user = make_user(db, "coordinator", password=None)
    set_fast_password(db, user["id"])
    login(client, dict(user, password=PASSWORD))
    place_id = make_place(db, name=PLACE_NAME)
    walk = make_walk(db, place_id, created_by=user["id"], title=WALK_TITLE)
    party = insert_party(db, PARTY_NAME, "park", "park@example.se")
    observations = []
    for payload in PAYLOADS:
        body = {
            "category": "lighting",
            "description": payload,
            "walk_id": walk["id"],
            "lat": 59.3551,
            "lon": 17.8822,
        }
        observation, _created = put_observation(
            db, str(uuid.uuid4()), validate(body, 2000, 12), walk=walk
        )
        observations.append(observation["id"])
        approve_public(db, observation["id"])  # staff let it onto the public pages: as text
        insert_task(
            db,
            observation_ids=[observation["id"]],
            measure=payload,
            party_id=party,
            suggestion={"party_id": party},
            actor=STAFF,
        )
    for start in FORMULA_STARTS:  # stored as is: validate() would strip the tab and CR
        db.execute(
            """INSERT INTO observations (id, walk_id, place_id, category, description, photo_ids,
                   body_hash, created_at, updated_at)
               VALUES (?, ?, ?, 'upkeep', ?, '[]', 'test', ?, ?)""",
            [str(uuid.uuid4()), walk["id"], place_id, start, *[utc_now()] * 2],
        )
    send_walk_tasks(db, walk["id"], STAFF)
    with app.app_context():
        results = send_notices(db, BASE, walk_id=walk["id"])
    assert [r["status"] for r in results] == ["sent"]
    (eml,) = (Path(app.instance_path) / "outbox").glob("*.eml")
    return {
        "walk": walk,
        "observations": observations,
        "email": email.message_from_bytes(eml.read_bytes(), policy=default),
        "public_token": ensure_public_token(db, walk["id"]),
    }


def page(client, path: str, **headers) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


# --- pages and fragments -----------------------------------------------------------------


def test_walk_page_and_its_live_list_fragment_show_every_payload_as_text(client, scene):
    walk_id = scene["walk"]["id"]
    assert_shown_as_text(page(client, f"/walks/{walk_id}"), [*PAYLOADS, WALK_TITLE])
    fragment = page(client, f"/walks/{walk_id}/observations", **{"HX-Request": "true"})
    assert "<html" not in fragment
    assert_shown_as_text(fragment, PAYLOADS)


@pytest.mark.parametrize("index", range(len(PAYLOADS)))
def test_observation_page_shows_its_description_as_text(client, scene, index):
    html = page(client, f"/observations/{scene['observations'][index]}")
    assert_shown_as_text(html, [PAYLOADS[index], WALK_TITLE])


@pytest.mark.parametrize("index", range(len(PAYLOADS)))
def test_public_status_page_shows_description_measure_and_party_as_text(app, scene, index):
    anonymous = app.test_client()
    html = page(anonymous, f"/status/{scene['observations'][index]}")
    assert_shown_as_text(html, [PAYLOADS[index], PARTY_NAME])


def test_public_walk_page_shows_every_payload_as_text(app, scene):
    html = page(app.test_client(), f"/w/{scene['public_token']}")
    assert_shown_as_text(html, [*PAYLOADS, PARTY_NAME])


def test_dashboard_list_shows_descriptions_and_measures_as_text(client, scene):
    assert_shown_as_text(page(client, "/dashboard"), [*PAYLOADS, PLACE_NAME])
    fragment = page(client, "/dashboard", **{"HX-Request": "true"})
    assert_shown_as_text(fragment, PAYLOADS)


def test_protocol_page_shows_every_payload_as_text(client, scene):
    html = page(client, f"/walks/{scene['walk']['id']}/protocol")
    assert_shown_as_text(html, [*PAYLOADS, WALK_TITLE, PARTY_NAME, PLACE_NAME])


def test_protocol_pdf_carries_every_payload_as_literal_text(client, scene):
    response = client.get(f"/walks/{scene['walk']['id']}/protocol.pdf")
    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.data))
    text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    for payload in [*PAYLOADS, PARTY_NAME]:
        assert payload in text, payload
    assert "&lt;" not in text and "&#34;" not in text  # text, not escaped twice


# --- email -------------------------------------------------------------------------------


def test_party_email_escapes_html_and_keeps_plain_text_literal(scene):
    message = scene["email"]
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert_shown_as_text(html, [*PAYLOADS, PARTY_NAME])
    for payload in [*PAYLOADS, PARTY_NAME]:
        assert payload in text
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]


def test_party_link_page_from_the_email_shows_measures_as_text(app, scene):
    text = scene["email"].get_body(("plain",)).get_content()
    link = next(w for w in text.split() if w.startswith(f"{BASE}/l/"))
    html = page(app.test_client(), link.removeprefix(BASE))
    assert_shown_as_text(html, [*PAYLOADS, PARTY_NAME])


# --- CSV ---------------------------------------------------------------------------------

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def csv_rows(client, path: str) -> list[list[str]]:
    response = client.get(path)
    assert response.status_code == 200, path
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def assert_no_formulas(rows: list[list[str]]) -> None:
    """No text cell starts like a formula; numbers ("-3", a change) stay numbers."""
    cells = [cell for row in rows for cell in row if not is_number(cell)]
    assert [c for c in cells if c.startswith(DANGEROUS)] == []


def test_observation_csv_neutralises_every_formula_start(client, scene):
    rows = csv_rows(client, "/dashboard/observations.csv")
    assert_no_formulas(rows)
    cells = {cell for row in rows for cell in row}
    for text in [FORMULA, *FORMULA_STARTS]:
        assert "'" + text in cells, text
    assert "'" + PLACE_NAME in cells
    assert {SCRIPT, IMG, SVG} <= cells  # text stays text: nothing escaped in a CSV


def test_task_csv_neutralises_measures_and_names(client, scene):
    rows = csv_rows(client, "/dashboard/tasks.csv")
    assert_no_formulas(rows)
    cells = {cell for row in rows for cell in row}
    assert {"'" + FORMULA, "'" + PLACE_NAME, PARTY_NAME, SCRIPT} <= cells


def test_report_csv_neutralises_place_names(client, scene):
    year, week, _day = datetime.now(ZoneInfo("Europe/Stockholm")).isocalendar()
    rows = csv_rows(client, f"/reports/week.csv?week={year}-W{week:02d}")
    assert_no_formulas(rows)
    assert "'" + PLACE_NAME in {cell for row in rows for cell in row}
