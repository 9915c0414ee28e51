"""Issue 14's whole loop on the demo district, every email through a real SMTP server
(aiosmtpd): a resident reports with an address, the coordinator routes the fix, the party
answers "not ours", the coordinator re-routes it, the new party gets its email and link, the
two sides comment back and forth, the new party closes it with an after-photo, the resident
hears when it is decided and when it is done, and the coordinator verifies it."""

import re
import uuid
from pathlib import Path

from conftest import PHOTOS, blur_all, csrf_token, login, mail_bodies

from fieldwalk.devtools.demo import load_logins
from fieldwalk.devtools.demo_fixes import PARK, STRANDGARDEN
from fieldwalk.parties.model import find_party_by_name
from fieldwalk.tasks.model import get_task, task_history, tasks_for_observation

PHOTO = PHOTOS / "camera" / "Canon_40D.jpg"
LINK_RE = re.compile(r"https?://[^/\s]+(/l/[A-Za-z0-9_.\-]+)")
# Inside the demo's "Maltesholmsparken och lekplatsen" zone, owned by the park engineers.
IN_THE_PARK = (59.3618, 17.8345)


def link_in(message) -> str:
    (path,) = set(LINK_RE.findall(mail_bodies(message)[0]))
    return path


def form_token(client, path) -> str:
    return re.search(
        r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)
    ).group(1)


def test_a_fix_goes_round_the_whole_loop_on_the_demo_district(app, db, runner, smtp):
    app.config["DEMO"] = True
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    logins = load_logins(Path(app.instance_path) / "demo_logins.json")
    walk = dict(db.execute("SELECT * FROM walks WHERE state = 'finished'").fetchone())
    park = find_party_by_name(db, PARK)
    owner = find_party_by_name(db, STRANDGARDEN)

    # A resident joins the walk, leaves an address, and reports a dark path in the park.
    resident = app.test_client()
    joined = resident.post(
        f"/j/{walk['invite_token']}",
        data={
            "csrf_token": csrf_token(resident, f"/j/{walk['invite_token']}"),
            "display_name": "Lina",
            "participant_role": "resident",
            "follow": "1",
            "follow_email": "lina@example.se",
        },
    )
    assert joined.status_code == 303
    observation_id = str(uuid.uuid4())
    saved = resident.post(
        f"/walks/{walk['id']}/observations",
        data={
            "csrf_token": form_token(resident, f"/walks/{walk['id']}/capture"),
            "id": observation_id,
            "category": "lighting",
            "description": "Mörk gångväg genom parken, ingen lampa fungerar.",
            "lat": str(IN_THE_PARK[0]),
            "lon": str(IN_THE_PARK[1]),
        },
    )
    assert saved.status_code == 303

    # The coordinator makes a fix of it: the zone routes it to the park engineers, sent now.
    coordinator = app.test_client()
    token = login(
        coordinator,
        {
            "email": "samordnare@demo.fieldwalk.se",
            "password": logins["samordnare@demo.fieldwalk.se"],
        },
    )
    form = coordinator.get(f"/observations/{observation_id}/tasks/new").get_data(as_text=True)
    assert "Maltesholmsparken och lekplatsen" in form
    created = coordinator.post(
        f"/observations/{observation_id}/tasks",
        data={
            "csrf_token": token,
            "measure": "Byt armaturerna längs gångvägen genom parken.",
            "party_id": park["id"],
            "priority": "high",
            "send_now": "1",
        },
    )
    assert created.status_code == 303
    (task,) = tasks_for_observation(db, observation_id)
    assert (task["state"], task["party_id"]) == ("sent", park["id"])
    (to_park,) = smtp.to(park["email"])
    (decided,) = smtp.to("lina@example.se")
    assert "Beslut om det du rapporterade" in decided["Subject"]

    # The park engineers open their link: the path is the housing company's.
    park_link = link_in(to_park)
    holder = app.test_client()
    answered = holder.post(
        f"{park_link}/tasks/{task['id']}",
        data={
            "csrf_token": form_token(holder, park_link),
            "action": "not_ours",
            "version": get_task(db, task["id"])["version"],
            "note": "Gångvägen ligger på Strandgårdens gård.",
        },
    )
    assert answered.status_code == 303
    assert get_task(db, task["id"])["state"] == "not_ours"

    # The coordinator re-routes it to the housing company and sends it at once.
    rerouted = coordinator.post(
        f"/tasks/{task['id']}/reroute",
        data={
            "csrf_token": token,
            "version": get_task(db, task["id"])["version"],
            "party_id": owner["id"],
            "note": "Strandgårdens gård enligt parkingenjörerna.",
            "send_now": "1",
        },
    )
    assert rerouted.status_code == 303
    assert (get_task(db, task["id"])["state"], get_task(db, task["id"])["party_id"]) == (
        "sent",
        owner["id"],
    )
    (to_owner,) = smtp.to(owner["email"])
    owner_link = link_in(to_owner)
    company = app.test_client()
    page = company.get(owner_link).get_data(as_text=True)
    assert "Byt armaturerna längs gångvägen genom parken." in page and 'value="accept"' in page

    # They talk: the coordinator asks, the company answers from its link.
    asked = coordinator.post(
        f"/tasks/{task['id']}/comments",
        data={"csrf_token": token, "body": "Hinner ni före skolstarten?"},
    )
    assert asked.status_code == 303
    question = smtp.to(owner["email"])[-1]
    assert "Hinner ni före skolstarten?" in mail_bodies(question)[0]
    replied = company.post(
        f"{owner_link}/tasks/{task['id']}/comments",
        data={"csrf_token": form_token(company, owner_link), "body": "Ja, vecka 32."},
    )
    assert replied.status_code == 303
    answer = smtp.to("samordnare@demo.fieldwalk.se")[-1]
    assert "Ja, vecka 32." in mail_bodies(answer)[0]

    # The company closes it with an after-photo.
    done = company.post(
        f"{owner_link}/tasks/{task['id']}",
        data={
            "csrf_token": form_token(company, owner_link),
            "action": "done",
            "version": get_task(db, task["id"])["version"],
            "note": "Nya armaturer uppsatta.",
            "photo": (PHOTO.open("rb"), "efter.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert done.status_code == 303
    assert get_task(db, task["id"])["state"] == "done"
    assert db.execute("SELECT count(*) FROM photos WHERE task_id = ?", [task["id"]]).fetchone()[0]

    # The resident hears it is done, once; the coordinator verifies.
    fixed = smtp.to("lina@example.se")[-1]
    assert fixed["Subject"].startswith("Åtgärdat:")
    assert f"/status/{observation_id}" in mail_bodies(fixed)[0]
    verified = coordinator.post(
        f"/tasks/{task['id']}/verify",
        data={"csrf_token": token, "version": get_task(db, task["id"])["version"]},
    )
    assert verified.status_code == 303
    assert get_task(db, task["id"])["state"] == "verified"
    assert len(smtp.to("lina@example.se")) == 2, "one when decided, one when done"

    # The coordinator shows it publicly ("Visa publikt"); the photos' blurred copies are made.
    shown = coordinator.post(
        f"/observations/{observation_id}/public",
        data={"csrf_token": token, "decision": "approved"},
    )
    assert shown.status_code == 303
    # The after-photo's public copy (the demo's own photos are not this loop's).
    after_photos = db.execute("SELECT id FROM photos WHERE task_id = ?", [task["id"]]).fetchall()
    assert blur_all(app, db, only=[row[0] for row in after_photos]) == 1

    # The public page says so, with the after-photo's public copy, and asks about the place.
    status = app.test_client().get(f"/status/{observation_id}").get_data(as_text=True)
    assert "Känns platsen tryggare nu?" in status and "lina@example.se" not in status
    after = db.execute(
        "SELECT public_thumb_file FROM photos WHERE task_id = ?", [task["id"]]
    ).fetchone()
    assert after["public_thumb_file"] in status

    events = [h["action"] for h in task_history(db, task["id"])]
    assert events == ["create", "send", "not_ours", "reroute", "send", "done", "verify"]
    # Every email went through the SMTP server; nothing fell back to the outbox.
    assert not list((Path(app.instance_path) / "outbox").glob("*.eml"))
