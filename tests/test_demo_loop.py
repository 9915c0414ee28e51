"""Issue 3's whole loop on the demo district, as a person would do it by hand (README).

A coordinator sends the finished walk's tasks; each party gets one email (the .eml outbox,
as in demo mode); the property owner closes its task from the emailed link without an
account; the park engineer closes one with an after-photo; the resident's public status pages
show both as done.
"""

import email
import json
import re
from pathlib import Path

from conftest import PHOTOS, blur_all, login

from fieldwalk.devtools.demo import demo_uuid, load_logins

PHOTO = PHOTOS / "camera" / "Canon_40D.jpg"


def _logins(app) -> dict[str, str]:
    return load_logins(Path(app.instance_path) / "demo_logins.json")


def _user(app, email_address: str) -> dict:
    return {"email": email_address, "password": _logins(app)[email_address]}


def _task(db, observation_key: str) -> dict:
    row = db.execute(
        """SELECT tasks.*, parties.name AS party_name FROM tasks
           JOIN task_observations t ON t.task_id = tasks.id
           JOIN parties ON parties.id = tasks.party_id WHERE t.observation_id = ?""",
        [demo_uuid(f"observation:{observation_key}")],
    ).fetchone()
    return dict(row)


def test_demo_fixes_reach_their_owners_get_closed_and_residents_see_them_done(app, db, runner):
    app.config["DEMO"] = True
    assert runner.invoke(args=["seed-demo"]).exit_code == 0, "the demo district loads"
    walk = dict(db.execute("SELECT * FROM walks WHERE state = 'finished'").fetchone())

    # The coordinator sends the walk's tasks: one email per party lands in instance/outbox/.
    coordinator = app.test_client()
    token = login(coordinator, _user(app, "samordnare@demo.fieldwalk.se"))
    sent = coordinator.post(f"/walks/{walk['id']}/tasks/send", data={"csrf_token": token})
    assert sent.status_code in (200, 303), sent.get_data(as_text=True)
    emails = [
        email.message_from_bytes(p.read_bytes())
        for p in sorted((Path(app.instance_path) / "outbox").glob("*.eml"))
    ]
    parties_with_tasks = {
        r[0]
        for r in db.execute(
            "SELECT DISTINCT party_id FROM tasks WHERE state = 'sent' AND walk_id = ?",
            [walk["id"]],
        )
    }
    assert len(emails) == len(parties_with_tasks) == 4, "one email per party, not per task"

    before = app.test_client().get(
        f"/status/{demo_uuid('observation:corner')}", headers={"Accept-Language": "sv"}
    )
    assert "Klar" not in before.get_data(as_text=True), "not done yet: the check below means it"

    # The property owner opens its link from the email and closes its task: no account.
    owner_task = _task(db, "corner")
    assert owner_task["party_name"] == "Bostadsbolaget Strandgården AB"
    owner_mail = next(m for m in emails if "strandgarden" in m["To"])
    body = "".join(
        part.get_payload(decode=True).decode()
        for part in owner_mail.walk()
        if part.get_content_type() == "text/plain"
    )
    link = re.search(r"https?://[^\s]+(/l/[A-Za-z0-9._-]+)", body).group(1)
    owner = app.test_client()
    page = owner.get(link)
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    closed = owner.post(
        f"{link}/tasks/{owner_task['id']}",
        data={
            "csrf_token": csrf.group(1),
            "action": "done",
            "version": owner_task["version"],
            "note": "Spegel uppsatt och ny lampa vid nedfarten.",
        },
    )
    assert closed.status_code == 303, closed.get_data(as_text=True)

    # The park engineer closes the bushes task from the phone, with an after-photo.
    park_task = _task(db, "bushes")
    engineer = app.test_client()
    token = login(engineer, _user(app, "parkingenjor@demo.fieldwalk.se"))
    assert str(park_task["id"]) in engineer.get("/tasks/mine").get_data(as_text=True)
    done = engineer.post(
        f"/tasks/{park_task['id']}/done",
        data={
            "csrf_token": token,
            "version": park_task["version"],
            "photo": (PHOTO.open("rb"), "after.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert done.status_code == 303, done.get_data(as_text=True)

    states = {key: _task(db, key)["state"] for key in ("corner", "bushes")}
    assert states == {"corner": "done", "bushes": "done"}
    assert (
        db.execute("SELECT count(*) FROM photos WHERE task_id = ?", [park_task["id"]]).fetchone()[0]
        == 1
    )

    # What residents see: the public status pages say done, with the after-photo (its faces
    # blurred, as the app's own thread does it).
    (after_photo,) = db.execute(
        "SELECT id FROM photos WHERE task_id = ?", [park_task["id"]]
    ).fetchone()
    blur_all(app, db, only=[after_photo])
    public = app.test_client()
    for key in ("corner", "bushes"):
        status = public.get(
            f"/status/{demo_uuid(f'observation:{key}')}", headers={"Accept-Language": "sv"}
        )
        html = status.get_data(as_text=True)
        assert status.status_code == 200
        assert "Klar" in html, f"{key}: the fix shows as done"
        assert "Amina" not in html and "demo.fieldwalk.se" not in html, "no personal data"
    bushes_page = public.get(f"/status/{demo_uuid('observation:bushes')}").get_data(as_text=True)
    after = db.execute(
        "SELECT public_thumb_file FROM photos WHERE task_id = ?", [park_task["id"]]
    ).fetchone()
    thumb = after["public_thumb_file"]
    assert thumb in bushes_page or json.dumps(thumb) in bushes_page
