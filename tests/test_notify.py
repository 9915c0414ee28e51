"""Email to parties through a real SMTP server on loopback (aiosmtpd), and the .eml outbox.

One email per party per sending round listing all its new tasks with its signed link; never
the same email twice; reminders for overdue tasks once per party, task and due date; text
fields escaped in HTML and kept out of headers.
"""

import email
import re
from email.policy import default
from pathlib import Path

import pytest
from conftest import (
    PHOTOS,
    STAFF,
    free_port,
    mail_bodies,
    make_observation,
    make_place,
    make_sent_tasks,
    make_task,
    make_walk,
    state,
)

from fieldwalk.db import transaction
from fieldwalk.parties.model import add_contact, insert_party
from fieldwalk.tasks.model import send_walk_tasks
from fieldwalk.tasks.notify import send_notices, send_reminders

BASE = "http://fieldwalk.test"
LINK_RE = re.compile(r"http://fieldwalk\.test/l/([A-Za-z0-9_.\-]+)")


@pytest.fixture
def walk_with_tasks(app, db):
    """A walk whose tasks were just sent: 3 for the park engineers, 2 for the traffic office."""
    walk = make_walk(db, make_place(db))
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    add_contact(db, park, "Parkchefen", "chef@example.se")
    traffic = insert_party(db, "Trafikkontoret", "traffic", "trafik@example.se")
    photo_dir = Path(app.config["PHOTO_PATH"])
    photo = PHOTOS / "camera" / "no_exif.jpg"
    with_photo = make_observation(db, walk, "Mörk gångväg.", photo=photo, photo_dir=photo_dir)
    park_measures = ["Trim the hedge", "Replace the lamp", "Empty the bins"]
    park_tasks = [make_task(db, with_photo, park, park_measures[0], due_date="2026-06-30")]
    park_tasks += [make_task(db, make_observation(db, walk), park, m) for m in park_measures[1:]]
    traffic_measures = ["Repaint the crossing", "Fix the street light"]
    traffic_tasks = [
        make_task(db, make_observation(db, walk), traffic, m) for m in traffic_measures
    ]
    sent = send_walk_tasks(db, walk["id"], STAFF)
    return {
        "walk": walk,
        "sent": sent,
        "park": park,
        "traffic": traffic,
        "park_measures": park_measures,
        "traffic_measures": traffic_measures,
        "park_tasks": park_tasks,
        "traffic_tasks": traffic_tasks,
    }


bodies = mail_bodies


def notify(app, db, scene):
    with app.app_context():
        return send_notices(db, BASE, walk_id=scene["walk"]["id"])


def test_each_party_gets_one_email_listing_all_its_tasks(app, db, client, smtp, walk_with_tasks):
    scene = walk_with_tasks
    results = notify(app, db, scene)
    assert [r["status"] for r in results] == ["sent", "sent"]
    assert len(smtp.messages) == 2
    by_to = {m["message"]["To"]: m for m in smtp.messages}
    park = by_to["park@example.se, chef@example.se"]
    traffic = by_to["trafik@example.se"]
    assert sorted(park["rcpt"]) == ["chef@example.se", "park@example.se"]
    assert "Parkingenjörerna" in park["message"]["Subject"]
    for received, mine, theirs in (
        (park, scene["park_measures"], scene["traffic_measures"]),
        (traffic, scene["traffic_measures"], scene["park_measures"]),
    ):
        text, html = bodies(received["message"])
        for measure in mine:
            assert measure in text and measure in html
        for measure in theirs:
            assert measure not in text and measure not in html
        (token,) = set(LINK_RE.findall(text))
        page = client.get(f"/l/{token}")
        assert page.status_code == 200
        shown = page.get_data(as_text=True)
        assert all(m in shown for m in mine) and not any(m in shown for m in theirs)


def test_party_email_carries_photos_map_links_and_due_dates(app, db, smtp, walk_with_tasks):
    notify(app, db, walk_with_tasks)
    park = next(
        m["message"] for m in smtp.messages if "Parkingenjörerna" in m["message"]["Subject"]
    )
    text, html = bodies(park)
    assert "Mörk gångväg." in text and "Mörk gångväg." in html
    assert re.search(
        r'<img src="http://fieldwalk\.test/photos/[0-9a-f]{2}/[0-9a-f]{64}\.jpg"', html
    )
    assert "https://www.openstreetmap.org/?mlat=59.355100&amp;mlon=17.882200" in html
    assert "2026" in text  # the due date, in words


def test_a_hidden_photo_is_in_neither_body_of_the_party_email(app, db, smtp, walk_with_tasks):
    """Staff hid the photo ("Dölj"): the party's email links it in neither its HTML nor its
    plain text (the link would only answer 404 to the party)."""
    (photo,) = [dict(r) for r in db.execute("SELECT * FROM photos")]
    db.execute("UPDATE photos SET hidden_at = '2026-01-01T00:00:00Z'")
    notify(app, db, walk_with_tasks)
    park = next(
        m["message"] for m in smtp.messages if "Parkingenjörerna" in m["message"]["Subject"]
    )
    text, html = bodies(park)
    assert "Mörk gångväg." in text and "Mörk gångväg." in html
    for body in (text, html):
        assert "/photos/" not in body
        assert photo["file"] not in body and photo["thumb_file"] not in body


def test_notifying_again_sends_nothing_new(app, db, smtp, walk_with_tasks):
    notify(app, db, walk_with_tasks)
    again = notify(app, db, walk_with_tasks)
    assert again == [], "nobody is waiting to be told anything"
    assert len(smtp.messages) == 2
    rows = db.execute("SELECT key, transport FROM notifications ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [(f"notice:{n}", "smtp") for n in range(1, 6)]
    settled = db.execute("SELECT count(*) FROM task_notices WHERE outcome = 'smtp'").fetchone()
    assert settled[0] == 5


def test_a_notice_sent_but_not_settled_is_never_sent_again(app, db, smtp, walk_with_tasks):
    """A round that stopped between the email and settling its notices: the next settles."""
    notify(app, db, walk_with_tasks)
    db.execute("UPDATE task_notices SET settled_at = NULL, outcome = NULL")
    again = notify(app, db, walk_with_tasks)
    assert [r["status"] for r in again] == ["already_sent", "already_sent"]
    assert len(smtp.messages) == 2
    assert (
        db.execute("SELECT count(*) FROM task_notices WHERE settled_at IS NULL").fetchone()[0] == 0
    )


def test_one_link_per_party_and_walk_is_reused_by_later_emails(app, db, smtp, walk_with_tasks):
    scene = walk_with_tasks
    notify(app, db, scene)
    later = make_task(db, make_observation(db, scene["walk"]), scene["park"], "Fix the fence")
    send_walk_tasks(db, scene["walk"]["id"], STAFF)
    with app.app_context():
        send_notices(db, BASE, walk_id=scene["walk"]["id"])
    assert len(smtp.messages) == 3
    assert "Fix the fence" in bodies(smtp.messages[2]["message"])[0]
    assert state(db, later) == "sent"
    counts = db.execute("SELECT party_id, count(*) FROM party_links GROUP BY party_id").fetchall()
    assert [tuple(r) for r in counts] == [(1, 1), (2, 1)]


def test_without_smtp_host_emails_are_written_to_the_outbox(app, db, walk_with_tasks):
    assert not app.config["SMTP_HOST"]
    results = notify(app, db, walk_with_tasks)
    assert {r["transport"] for r in results} == {"outbox"}
    files = sorted((Path(app.instance_path) / "outbox").glob("*.eml"))
    assert len(files) == 2
    messages = [email.message_from_bytes(f.read_bytes(), policy=default) for f in files]
    assert {m["To"] for m in messages} == {"park@example.se, chef@example.se", "trafik@example.se"}
    for message in messages:
        text, _html = bodies(message)
        assert LINK_RE.search(text)


def test_party_without_an_email_address_is_reported_not_sent(app, db, smtp):
    walk = make_walk(db, make_place(db))
    party = insert_party(db, "Fastighets AB Råcksta", "property_owner", "")
    make_task(db, make_observation(db, walk), party, "Light the entrance")
    send_walk_tasks(db, walk["id"], STAFF)
    with app.app_context():
        (result,) = send_notices(db, BASE, walk_id=walk["id"])
    assert result["status"] == "no_recipients"
    assert smtp.messages == []
    assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0


def test_smtp_failure_releases_the_key_so_a_later_run_sends(app, db, walk_with_tasks):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_STARTTLS=False)
    results = notify(app, db, walk_with_tasks)  # nothing listens on that port
    assert {r["status"] for r in results} == {"failed"}
    assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0


def test_html_email_escapes_text_fields(app, db, smtp):
    walk = make_walk(db, make_place(db), title="Walk <b>bold</b>")
    party = insert_party(db, "Park & <Co>", "park", "park@example.se")
    observation = make_observation(db, walk, "<script>alert('x')</script> & more")
    make_task(db, observation, party, "Fix <img src=x onerror=alert(1)>")
    send_walk_tasks(db, walk["id"], STAFF)
    with app.app_context():
        send_notices(db, BASE, walk_id=walk["id"])
    text, html = bodies(smtp.messages[0]["message"])
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert "<b>bold</b>" not in html and "Park &amp; &lt;Co&gt;" in html
    assert "<script>alert('x')</script>" in text  # plain text stays as written


def test_newline_in_a_party_name_does_not_create_a_header(app, db, smtp):
    walk = make_walk(db, make_place(db), title="Kväll\r\nX-Injected: walk")
    with transaction(db):
        db.execute(
            """INSERT INTO parties (name, kind, email, created_at, updated_at)
               VALUES (?, 'other', 'owner@example.se', '2026-01-01', '2026-01-01')""",
            ["Ägaren\r\nBcc: evil@example.com"],
        )
    add_contact(db, 1, "Sneaky", "other@example.se\r\nBcc: evil2@example.com")
    make_task(db, make_observation(db, walk), 1, "Light the entrance")
    send_walk_tasks(db, walk["id"], STAFF)
    with app.app_context():
        send_notices(db, BASE, walk_id=walk["id"])
    (received,) = smtp.messages
    message = received["message"]
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert "\n" not in message["Subject"] and "Ägaren Bcc: evil@example.com" in message["Subject"]
    assert received["rcpt"] == ["owner@example.se"]


# --- reminders -----------------------------------------------------------------------------


@pytest.fixture
def overdue(app, db):
    """Two parties with overdue tasks (and one task not yet due)."""
    walk = make_walk(db, make_place(db))
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    traffic = insert_party(db, "Trafikkontoret", "traffic", "trafik@example.se")
    make_sent_tasks(db, walk, park, ["Trim the hedge", "Replace the lamp"], due_date="2020-01-01")
    make_sent_tasks(db, walk, traffic, ["Repaint the crossing"], due_date="2020-02-01")
    make_sent_tasks(db, walk, traffic, ["Plan new lights"], due_date="2999-01-01")
    # As if the sending round had told both parties (send-reminders would tell them else).
    db.execute("UPDATE task_notices SET settled_at = '2020-01-01T00:00:00Z', outcome = 'smtp'")
    return {"walk": walk, "park": park, "traffic": traffic}


def test_send_reminders_also_sends_tasks_no_party_was_told_about(runner, db, smtp, overdue):
    db.execute("UPDATE task_notices SET settled_at = NULL, outcome = NULL")
    result = runner.invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    subjects = sorted(m["message"]["Subject"] for m in smtp.messages)
    assert len(subjects) == 4, "each party: its new tasks, and a reminder"
    assert sum(s.startswith("Påminnelse") for s in subjects) == 2


def test_send_reminders_sends_one_per_party_and_never_twice(runner, smtp, overdue):
    result = runner.invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    assert "2 reminder(s) sent." in result.output
    assert len(smtp.messages) == 2
    texts = {m["message"]["To"]: bodies(m["message"])[0] for m in smtp.messages}
    assert "Trim the hedge" in texts["park@example.se"]
    assert "Replace the lamp" in texts["park@example.se"]
    assert "Repaint the crossing" in texts["trafik@example.se"]
    assert "Plan new lights" not in texts["trafik@example.se"]
    assert "http://localhost:5000/l/" in texts["park@example.se"]  # PUBLIC_BASE_URL
    again = runner.invoke(args=["send-reminders"])
    assert again.exit_code == 0
    assert "0 reminder(s) sent." in again.output
    assert len(smtp.messages) == 2


def test_a_changed_due_date_may_remind_again(app, db, smtp, overdue):
    with app.app_context():
        send_reminders(db, BASE, "2026-01-01")
        with transaction(db):
            db.execute("UPDATE tasks SET due_date = '2021-01-01' WHERE measure = 'Trim the hedge'")
        results = send_reminders(db, BASE, "2026-01-01")
    assert [(r["party_name"], r["status"]) for r in results] == [
        ("Parkingenjörerna", "sent"),
        ("Trafikkontoret", "already_sent"),
    ]
    text = bodies(smtp.messages[-1]["message"])[0]
    assert "Trim the hedge" in text and "Replace the lamp" not in text
    (token,) = set(LINK_RE.findall(text))
    assert token


def test_done_tasks_are_not_reminded(app, db, client, smtp, overdue):
    with transaction(db):
        db.execute("UPDATE tasks SET state = 'done'")
    with app.app_context():
        assert send_reminders(db, BASE, "2026-01-01") == []
    assert smtp.messages == []
