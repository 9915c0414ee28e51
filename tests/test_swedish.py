"""Swedish that reads naturally (issue 14, item 9): the history tells what happened, one name
per role, "förvald part", decimal commas, times without seconds, "ni" to parties and "du" to
people without mixing, "Hej," in emails, no doubled nouns in subjects. Read as a Swedish
browser and a Swedish mail client would."""

import html as htmllib
import re
from pathlib import Path

from babel.messages.pofile import read_po
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

from fieldwalk.parties.model import insert_party, set_category_default
from fieldwalk.tasks.model import get_task, transition
from fieldwalk.tasks.states import ASSIGNEE, Actor

SV_PO = Path(__file__).resolve().parent.parent / "fieldwalk/translations/sv/LC_MESSAGES/messages.po"
SECONDS = re.compile(r"\b\d{1,2}:\d{2}:\d{2}\b")
DU = re.compile(r"\b(du|dig|din|ditt|dina)\b", re.IGNORECASE)
NI = re.compile(r"\b(ni|er|ert|era)\b", re.IGNORECASE)


def visible_text(page: str) -> str:
    """The words a person reads: no tags, scripts or attribute values."""
    page = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", page)
    return htmllib.unescape(re.sub(r"(?s)<[^>]+>", " ", page))


def strings(message) -> tuple:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def test_one_name_for_the_engineer_role_and_forvald_part_for_a_category_default():
    with SV_PO.open("rb") as f:
        catalogue = read_po(f)
    texts = [s for m in catalogue if m.id for s in strings(m)]
    assert not [t for t in texts if re.search(r"ingenjör|handläggar", t, re.IGNORECASE)]
    assert any("tekniker" in t.lower() for t in texts)
    assert not [t for t in texts if re.search(r"\bstandard(part|er)?\b", t, re.IGNORECASE)]
    assert "Förvald part för kategorin %(category)s: %(party)s" in texts


def test_the_history_tells_what_happened_without_seconds(app, db, smtp):
    walk = make_walk(db, make_place(db))
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    owner = insert_party(db, "Bostadsbolaget", "property_owner", "bo@example.se")
    task_id = make_task(db, make_observation(db, walk), park, "Klipp häcken")
    client = app.test_client()
    token = login(client, make_staff(db, "coordinator"))

    def step(action, **data):
        version = get_task(db, task_id)["version"]
        response = client.post(
            f"/tasks/{task_id}/{action}", data={"csrf_token": token, "version": version, **data}
        )
        assert response.status_code == 303, response.get_data(as_text=True)[:300]

    step("send")
    transition(db, task_id, "not_ours", Actor((ASSIGNEE,), None, "link:Parkingenjörerna"),
               version=2, note="Bostadsbolagets gård")  # fmt: skip
    step("reroute", party_id=owner, note="Gården är bostadsbolagets", send_now="1")
    transition(db, task_id, "done", STAFF, version=get_task(db, task_id)["version"], note="Klart")
    step("reopen", note="Växer igen")

    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    history = visible_text(page[page.index('id="history"') :])
    for event in ("Skapad", "Skickad till parten", "Besvarad: inte vårt ansvar", "Part bytt",
                  "Markerad som klar", "Återöppnad"):  # fmt: skip
        assert event in history, event
    assert "Skicka till parten" not in history and "Öppna igen" not in history, "no orders"
    assert not SECONDS.search(history), "times to the minute"
    assert "Sparat: Återöppnad." in visible_text(
        client.get(f"/tasks/{task_id}?ok=reopen").get_data(as_text=True)
    )


def test_a_category_default_is_called_forvald_part_in_the_suggestion(app, db):
    walk = make_walk(db, make_place(db))
    park = insert_party(db, "Parkförvaltningen", "park")
    set_category_default(db, "lighting", park)
    observation_id = make_observation(db, walk)
    client = app.test_client()
    login(client, make_staff(db, "coordinator"))
    page = client.get(f"/observations/{observation_id}/tasks/new").get_data(as_text=True)
    assert "Förvald part för kategorin Belysning: Parkförvaltningen" in visible_text(page)


def test_numbers_have_a_decimal_comma(app, db):
    place_id = make_place(db)
    walk = make_walk(db, place_id)
    park = insert_party(db, "Parkförvaltningen", "park")
    task_id = make_task(db, make_observation(db, walk), park, "Byt lampan")
    transition(db, task_id, "send", STAFF, version=1)
    transition(db, task_id, "done", STAFF, version=2, note="Klart")
    observed = db.execute("SELECT created_at FROM observations").fetchone()[0]
    db.execute(
        "UPDATE tasks SET done_at = strftime('%Y-%m-%dT%H:%M:%SZ', ?, '+36 hours')", [observed]
    )
    client = app.test_client()
    login(client, make_staff(db, "coordinator"))
    page = visible_text(client.get(f"/places/{place_id}").get_data(as_text=True))
    assert re.search(r"\b1,5\b", page) and not re.search(r"\b1\.5\b", page)


def test_parties_are_told_ni_and_greeted_hej_with_no_doubled_noun(app, db, smtp):
    walk = make_walk(db, make_place(db), title="Kvällsvandring vid torget")
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    make_task(db, make_observation(db, walk), park, "Klipp häcken")
    client = app.test_client()
    token = login(client, make_staff(db, "coordinator"))
    client.post(f"/walks/{walk['id']}/tasks/send", data={"csrf_token": token})
    (received,) = smtp.messages
    message = received["message"]
    assert message["Subject"] == "1 ny åtgärd för Parkingenjörerna efter Kvällsvandring vid torget"
    assert not re.search(r"[Tt]rygghetsvandring\w* Kvällsvandring", message["Subject"])
    text, body = mail_bodies(message)
    assert text.startswith("Hej,") and "Hej Parkingenjörerna" not in text
    for words in (text, visible_text(body)):
        assert NI.search(words) and not DU.search(words), "ni to a party, never du"
    path = re.search(r"https?://[^/\s]+(/l/[A-Za-z0-9_.\-]+)", text).group(1)
    link_page = visible_text(app.test_client().get(path).get_data(as_text=True))
    assert not DU.search(link_page)
    assert not SECONDS.search(link_page)


def test_the_engineers_task_page_says_du_not_ni(app, db):
    walk = make_walk(db, make_place(db))
    park = insert_party(db, "Parkförvaltningen", "park")
    task_id = make_task(db, make_observation(db, walk), park, "Byt lampan")
    transition(db, task_id, "send", STAFF, version=1)
    engineer = make_staff(db, "engineer", "tekniker@example.se", party_id=park)
    client = app.test_client()
    login(client, engineer)
    page = visible_text(client.get(f"/tasks/{task_id}").get_data(as_text=True))
    assert not NI.search(page), NI.search(page)
    assert "Varför parten inte ansvarar för det" in page
