"""A task's conversation and edits (issue 14, item 3).

Those who plan a task edit its measure, due date, priority and named engineer, each change in
the history; coordinators, engineers and the party's link holder comment on it, every view of
the task shows the conversation, and each comment emails the other side (aiosmtpd).
"""

import re

import pytest
from conftest import (
    STAFF,
    login,
    mail_bodies,
    make_observation,
    make_place,
    make_staff,
    make_task,
    make_walk,
)

from fieldwalk.parties.model import add_contact, insert_party
from fieldwalk.tasks.conversation import list_comments
from fieldwalk.tasks.model import get_task, task_history, transition

pytestmark = pytest.mark.usefixtures("english")

LINK_RE = re.compile(r"https?://[^/\s]+(/l/[A-Za-z0-9_.\-]+)")


@pytest.fixture
def scene(app, db):
    """A sent task for the park engineers (an engineer, a contact), a coordinator who made it."""
    walk = make_walk(db, make_place(db))
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    add_contact(db, park, "Kim", "kim@example.se")
    coordinator = make_staff(db, "coordinator", "samordnare@example.se", name="Sam Samordnare")
    engineer = make_staff(db, "engineer", "tekniker@example.se", party_id=park, name="Eli")
    other_engineer = make_staff(db, "engineer", "tva@example.se", party_id=park, name="Tove")
    task_id = make_task(db, make_observation(db, walk), park, "Klipp häcken", due_date="2027-01-10")
    db.execute("UPDATE tasks SET created_by = ? WHERE id = ?", [coordinator["id"], task_id])
    transition(db, task_id, "send", STAFF, version=1)
    return {
        "walk": walk,
        "park": park,
        "task": task_id,
        "coordinator": coordinator,
        "engineer": engineer,
        "other_engineer": other_engineer,
    }


def signed_in(app, user) -> tuple:
    client = app.test_client()
    return client, login(client, user)


def page(response) -> str:
    return response.get_data(as_text=True)


# --- editing ----------------------------------------------------------------------------------


def test_a_coordinator_edits_every_field_and_each_change_is_in_the_history(app, db, scene):
    client, token = signed_in(app, scene["coordinator"])
    task = get_task(db, scene["task"])
    response = client.post(
        f"/tasks/{task['id']}/edit",
        data={
            "csrf_token": token,
            "version": task["version"],
            "measure": "Klipp häcken och ta bort slyet",
            "priority": "urgent",
            "due_date": "2027-02-01",
            "assignee_user_id": scene["engineer"]["id"],
        },
    )
    assert response.status_code == 303
    changed = get_task(db, task["id"])
    assert (changed["measure"], changed["priority"], changed["due_date"]) == (
        "Klipp häcken och ta bort slyet",
        "urgent",
        "2027-02-01",
    )
    assert changed["assignee_user_id"] == scene["engineer"]["id"]
    assert changed["version"] == task["version"] + 1
    (edit,) = [h for h in task_history(db, task["id"]) if h["action"] == "edit"]
    assert edit["changes"] == {
        "measure": ["Klipp häcken", "Klipp häcken och ta bort slyet"],
        "priority": ["normal", "urgent"],
        "due_date": ["2027-01-10", "2027-02-01"],
        "assignee_user_id": [None, scene["engineer"]["id"]],
    }
    html = page(client.get(f"/tasks/{task['id']}"))
    history = html[html.index('id="history"') :]
    assert "Edited" in history
    assert "Priority: Normal → Urgent" in history
    assert "Named engineer: – → Eli" in history
    assert "What should be done: Klipp häcken → Klipp häcken och ta bort slyet" in history


def test_an_edit_from_a_stale_page_is_a_conflict_and_changes_nothing(app, db, scene):
    client, token = signed_in(app, scene["coordinator"])
    version = get_task(db, scene["task"])["version"]
    data = {"csrf_token": token, "version": version, "measure": "Ny text", "priority": "high"}
    assert client.post(f"/tasks/{scene['task']}/edit", data=data).status_code == 303
    again = client.post(f"/tasks/{scene['task']}/edit", data={**data, "measure": "Annan text"})
    assert again.status_code == 409
    assert get_task(db, scene["task"])["measure"] == "Ny text"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("due_date", "2027-02-30", "Give the due date as a date (YYYY-MM-DD)."),
        ("measure", "   ", "Say what should be done."),
        ("priority", "whenever", "Choose a priority."),
        ("assignee_user_id", "999", "The named assignee must be an engineer of the chosen party."),
    ],
)
def test_a_bad_edit_is_400_with_the_message_beside_its_field_and_changes_nothing(
    app, db, scene, field, value, message
):
    client, token = signed_in(app, scene["coordinator"])
    before = get_task(db, scene["task"])
    data = {
        "csrf_token": token,
        "version": before["version"],
        "measure": before["measure"],
        "priority": before["priority"],
        "due_date": before["due_date"],
        field: value,
    }
    response = client.post(f"/tasks/{scene['task']}/edit", data=data)
    assert response.status_code == 400
    assert message in page(response)
    assert get_task(db, scene["task"]) == before


def test_an_engineer_may_not_edit_and_sees_no_edit_form(app, db, scene):
    client, token = signed_in(app, scene["engineer"])
    assert 'id="edit-task"' not in page(client.get(f"/tasks/{scene['task']}"))
    version = get_task(db, scene["task"])["version"]
    response = client.post(
        f"/tasks/{scene['task']}/edit",
        data={"csrf_token": token, "version": version, "measure": "Inget", "priority": "low"},
    )
    assert response.status_code == 403
    assert get_task(db, scene["task"])["measure"] == "Klipp häcken"


# --- the conversation -------------------------------------------------------------------------


def test_a_coordinators_comment_reaches_the_party_whose_link_shows_it_and_answers(
    app, db, smtp, scene
):
    client, token = signed_in(app, scene["coordinator"])
    response = client.post(
        f"/tasks/{scene['task']}/comments",
        data={"csrf_token": token, "body": "Kan ni ta den före midsommar?"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("#conversation")
    (received,) = smtp.messages
    assert sorted(received["rcpt"]) == [
        "kim@example.se",
        "park@example.se",
        "tekniker@example.se",
        "tva@example.se",
    ], "the party, its contact and its engineers"
    text, html = mail_bodies(received["message"])
    assert "Kan ni ta den före midsommar?" in text and "Kan ni ta den före midsommar?" in html
    assert "Sam Samordnare" in received["message"]["Subject"]

    # The party opens the link from the email, reads the comment and answers.
    (path,) = set(LINK_RE.findall(text))
    holder = app.test_client()
    link_page = page(holder.get(path))
    assert "Kan ni ta den före midsommar?" in link_page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', link_page).group(1)
    answered = holder.post(
        f"{path}/tasks/{scene['task']}/comments",
        data={"csrf_token": csrf, "body": "Ja, vecka 24."},
    )
    assert answered.status_code == 303
    reply = smtp.messages[-1]
    assert reply["rcpt"] == ["samordnare@example.se"], "the coordinators and the task's creator"
    assert "Ja, vecka 24." in mail_bodies(reply["message"])[0]
    assert f"/tasks/{scene['task']}#conversation" in mail_bodies(reply["message"])[0]

    # Every view shows the whole conversation.
    comments = [(c["side"], c["author"], c["body"]) for c in list_comments(db, scene["task"])]
    assert comments == [
        ("staff", "Sam Samordnare", "Kan ni ta den före midsommar?"),
        ("party", "Parkingenjörerna", "Ja, vecka 24."),
    ]
    staff_view = page(client.get(f"/tasks/{scene['task']}"))
    engineer, _token = signed_in(app, scene["engineer"])
    engineer_view = page(engineer.get(f"/tasks/{scene['task']}"))
    for view in (staff_view, engineer_view, page(holder.get(path))):
        assert "Kan ni ta den före midsommar?" in view and "Ja, vecka 24." in view


def test_a_comment_to_a_party_with_a_named_engineer_goes_to_that_engineer(app, db, smtp, scene):
    db.execute(
        "UPDATE tasks SET assignee_user_id = ? WHERE id = ?",
        [scene["engineer"]["id"], scene["task"]],
    )
    client, token = signed_in(app, scene["coordinator"])
    client.post(f"/tasks/{scene['task']}/comments", data={"csrf_token": token, "body": "Hej"})
    (received,) = smtp.messages
    assert "tekniker@example.se" in received["rcpt"] and "tva@example.se" not in received["rcpt"]


def test_an_engineers_comment_reaches_the_coordinators(app, db, smtp, scene):
    make_staff(db, "coordinator", "annan@example.se")
    client, token = signed_in(app, scene["engineer"])
    response = client.post(
        f"/tasks/{scene['task']}/comments", data={"csrf_token": token, "body": "Beställt."}
    )
    assert response.status_code == 303
    (received,) = smtp.messages
    assert sorted(received["rcpt"]) == ["annan@example.se", "samordnare@example.se"]
    (comment,) = list_comments(db, scene["task"])
    assert (comment["side"], comment["author"]) == ("party", "Eli")


def test_a_comment_on_a_task_not_yet_sent_emails_no_party(app, db, smtp, scene):
    walk = scene["walk"]
    proposed = make_task(db, make_observation(db, walk), scene["park"], "Byt lampan")
    client, token = signed_in(app, scene["coordinator"])
    response = client.post(
        f"/tasks/{proposed}/comments", data={"csrf_token": token, "body": "Vänta med den."}
    )
    assert response.status_code == 303
    assert smtp.messages == []
    assert "Comment saved, but nobody on the other side could be emailed." in page(
        client.get(response.headers["Location"])
    )


@pytest.mark.parametrize("body", ["", "   ", "x" * 2001])
def test_an_empty_or_too_long_comment_is_400_and_stores_nothing(app, db, smtp, scene, body):
    client, token = signed_in(app, scene["coordinator"])
    response = client.post(
        f"/tasks/{scene['task']}/comments", data={"csrf_token": token, "body": body}
    )
    assert response.status_code == 400
    assert "Write a comment of at most 2000 characters." in page(response)
    assert list_comments(db, scene["task"]) == []
    assert smtp.messages == []


def test_an_engineer_of_another_party_cannot_comment(app, db, scene):
    stranger = make_staff(db, "engineer", "annan-tekniker@example.se")
    client, token = signed_in(app, stranger)
    response = client.post(
        f"/tasks/{scene['task']}/comments", data={"csrf_token": token, "body": "Hej"}
    )
    assert response.status_code == 404
    assert list_comments(db, scene["task"]) == []


def test_a_link_holder_cannot_comment_on_a_task_outside_the_link(app, db, smtp, scene):
    client, token = signed_in(app, scene["coordinator"])
    client.post(f"/tasks/{scene['task']}/comments", data={"csrf_token": token, "body": "Hej"})
    (path,) = set(LINK_RE.findall(mail_bodies(smtp.messages[0]["message"])[0]))
    other = insert_party(db, "Trafikkontoret", "traffic", "trafik@example.se")
    foreign = make_task(db, make_observation(db, scene["walk"]), other, "Måla övergångsstället")
    transition(db, foreign, "send", STAFF, version=1)
    holder = app.test_client()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page(holder.get(path))).group(1)
    response = holder.post(
        f"{path}/tasks/{foreign}/comments", data={"csrf_token": csrf, "body": "x"}
    )
    assert response.status_code == 404
    assert list_comments(db, foreign) == []
