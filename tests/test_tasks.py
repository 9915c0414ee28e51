"""Tasks through the web: created from observations, acted on from the task page, closed with
an after-photo from the engineer's phone, sent by walk, sorted out in triage.

Real logins through the login form, real CSRF tokens, a real SQLite file and real photos.
"""

import io
import math
import random
import re
import uuid
from pathlib import Path

import pytest
from conftest import (
    PASSWORD,
    PHOTO_SETTINGS,
    PHOTOS,
    RACKSTA,
    add_task_row,
    blur_all,
    csrf_token,
    join,
    make_place,
    make_walk,
    set_fast_password,
)
from PIL import Image

from fieldwalk import textsearch
from fieldwalk.auth import create_user
from fieldwalk.observations.model import put_observation, validate
from fieldwalk.observations.record import record_photo
from fieldwalk.parties.model import insert_party
from fieldwalk.tasks import model as task_model
from fieldwalk.tasks.model import (
    get_task,
    insert_task,
    task_history,
    tasks_for_observation,
    transition,
)
from fieldwalk.tasks.states import COORDINATOR, Actor
from fieldwalk.tasks.words import case_label
from fieldwalk.zones.model import insert_zone

CANON = PHOTOS / "camera" / "Canon_40D.jpg"
# Two spots in Råcksta, about 450 m apart; the phone stands next to the first.
NEAR = (59.3552, 17.8823)
FAR = (59.3571, 17.8881)
PHONE = (59.3551, 17.8820)


class World:
    """A finished walk in Råcksta with parties, a park zone and people made on first use."""

    def __init__(self, db, app):
        self.db, self.app = db, app
        self.park = insert_party(db, "Parkenheten", "park", "park@example.se")
        self.traffic = insert_party(db, "Trafikkontoret", "traffic", "trafik@example.se")
        insert_zone(db, self.park, "Råckstaparken", RACKSTA, kind="park")
        self.users: dict[str, dict] = {}
        self.walk = make_walk(db, make_place(db), self.user("leader")["id"], state="finished")
        self.observation = self.observe("Trasig lampa vid trappan", *NEAR)

    def user(self, who: str) -> dict:
        """coordinator, leader, other_leader, engineer (park), traffic_engineer."""
        if who not in self.users:
            role = {"leader": "walk_leader", "other_leader": "walk_leader"}.get(who, who)
            party = {"engineer": self.park, "traffic_engineer": self.traffic}.get(who)
            role = "engineer" if party else role
            email = f"{who}@example.se"
            user_id = create_user(self.db, email, role, who.title(), party_id=party)
            # The real login form checks it; a cheap hash keeps the suite quick.
            set_fast_password(self.db, user_id)
            self.users[who] = {"id": user_id, "email": email, "password": PASSWORD}
        return self.users[who]

    def observe(self, description: str, lat: float, lon: float, photo=False, walk=None) -> str:
        """An observation on the walk (or another), optionally with a real photo."""
        walk = walk or self.walk
        observation_id = str(uuid.uuid4())
        photo_ids = [str(uuid.uuid4())] if photo else []
        body = {
            "walk_id": walk["id"],
            "category": "lighting",
            "description": description,
            "lat": lat,
            "lon": lon,
            "photos": photo_ids,
        }
        observation, _ = put_observation(
            self.db, observation_id, validate(body, 2000, 12), walk=walk
        )
        for photo_id in photo_ids:
            record_photo(
                self.db, self.photo_dir, observation, photo_id, CANON.read_bytes(), PHOTO_SETTINGS
            )
        return observation_id

    @property
    def photo_dir(self) -> Path:
        return Path(self.app.config["PHOTO_PATH"])

    def task(self, state="proposed", party="park", observation=None, **values) -> int:
        """A task made and moved through the domain, as the coordinator."""
        coordinator = Actor((COORDINATOR,), self.user("coordinator")["id"], "Coordinator")
        party_id = getattr(self, party) if party else None
        task_id = insert_task(
            self.db,
            observation_ids=[observation or self.observation],
            measure=values.pop("measure", "Byt lampan vid trappan"),
            party_id=party_id,
            suggestion={"party_id": party_id},
            actor=coordinator,
            **values,
        )
        path = {"proposed": [], "sent": ["send"], "accepted": ["send", "accept"]}[state]
        for version, action in enumerate(path, start=1):
            transition(self.db, task_id, action, coordinator, version=version)
        return task_id

    def files(self) -> set[Path]:
        return {p for p in self.photo_dir.rglob("*") if p.is_file()}


@pytest.fixture
def world(db, app):
    return World(db, app)


def english(client):
    """Ask for English, the language of the msgids these tests read."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def sign_in(client, world: World, who: str) -> str:
    """Log in through the form (in English); return a CSRF token for the session."""
    english(client)
    user = world.user(who)
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": user["email"], "password": user["password"], "csrf_token": token}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return csrf_token(client, "/tasks/mine" if "engineer" in who else "/tasks")


def page(response) -> str:
    return response.get_data(as_text=True)


def post_action(client, token, task_id, action, db, **data):
    """Send a step from the task page's form, with the version the page showed."""
    version = data.pop("version", None) or get_task(db, task_id)["version"]
    return client.post(
        f"/tasks/{task_id}/{action}", data={"csrf_token": token, "version": version, **data}
    )


# --- creating tasks ------------------------------------------------------------------------


def test_create_form_is_prefilled_with_the_suggestion_and_says_why(client, world):
    sign_in(client, world, "coordinator")
    html = page(client.get(f"/observations/{world.observation}/tasks/new"))
    assert "Inside zone Råckstaparken, owned by Parkenheten" in html
    assert re.search(rf'<option value="{world.park}" selected>Parkenheten', html)


def test_observation_page_offers_the_create_form_to_the_walks_leader(client, world):
    sign_in(client, world, "leader")
    html = page(client.get(f"/observations/{world.observation}"))
    assert 'id="create-task"' in html
    assert "Inside zone Råckstaparken, owned by Parkenheten" in html


def test_create_task_with_the_suggested_party_needs_no_reason(client, world):
    token = sign_in(client, world, "leader")
    response = client.post(
        f"/observations/{world.observation}/tasks",
        data={"csrf_token": token, "measure": "Byt lampan", "party_id": world.park},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/observations/{world.observation}"
    [task] = tasks_for_observation(world.db, world.observation)
    assert (task["measure"], task["party_id"], task["state"]) == (
        "Byt lampan",
        world.park,
        "proposed",
    )
    assert task["override_reason"] is None


def test_choosing_another_party_without_a_reason_is_refused_with_400(client, world):
    token = sign_in(client, world, "coordinator")
    response = client.post(
        f"/observations/{world.observation}/tasks",
        data={"csrf_token": token, "measure": "Byt lampan", "party_id": world.traffic},
    )
    assert response.status_code == 400
    assert "Say why you chose another party than the suggestion." in page(response)
    assert tasks_for_observation(world.db, world.observation) == []


def test_choosing_another_party_with_a_reason_keeps_the_reason(client, world):
    token = sign_in(client, world, "coordinator")
    response = client.post(
        f"/observations/{world.observation}/tasks",
        data={
            "csrf_token": token,
            "measure": "Byt gatlyktan",
            "party_id": world.traffic,
            "override_reason": "Lyktan står på gatan",
            "priority": "high",
            "due_date": "2026-12-20",
        },
    )
    assert response.status_code == 303
    [task] = tasks_for_observation(world.db, world.observation)
    assert (task["party_id"], task["override_reason"]) == (world.traffic, "Lyktan står på gatan")
    assert (task["priority"], task["due_date"]) == ("high", "2026-12-20")


def test_leaving_the_party_empty_sends_the_task_to_triage(client, world):
    token = sign_in(client, world, "coordinator")
    response = client.post(
        f"/observations/{world.observation}/tasks",
        data={
            "csrf_token": token,
            "measure": "Utred ägaren",
            "party_id": "",
            "override_reason": "Oklart vems marken är",
        },
    )
    assert response.status_code == 303
    [task] = tasks_for_observation(world.db, world.observation)
    assert task["party_id"] is None
    assert f'id="triage-task-{task["id"]}"' in page(client.get("/tasks/triage"))


def test_a_bad_due_date_or_an_empty_measure_is_shown_beside_its_field(client, world):
    token = sign_in(client, world, "coordinator")
    url = f"/observations/{world.observation}/tasks"
    response = client.post(url, data={"csrf_token": token, "measure": " ", "party_id": world.park})
    assert response.status_code == 400 and "Say what should be done." in page(response)
    response = client.post(
        url, data={"csrf_token": token, "measure": "x", "party_id": world.park, "due_date": "snart"}
    )
    assert response.status_code == 400
    assert '<p class="error" id="due_date-error">' in page(response)


def test_one_observation_gets_several_tasks(client, world):
    token = sign_in(client, world, "coordinator")
    for measure in ("Byt lampan", "Klipp buskarna"):
        client.post(
            f"/observations/{world.observation}/tasks",
            data={"csrf_token": token, "measure": measure, "party_id": world.park},
        )
    tasks = tasks_for_observation(world.db, world.observation)
    assert [t["measure"] for t in tasks] == ["Byt lampan", "Klipp buskarna"]
    html = page(client.get(f"/observations/{world.observation}"))
    assert "Byt lampan" in html and "Klipp buskarna" in html


def test_a_second_observation_links_to_the_existing_task(client, world):
    task_id = world.task()
    second = world.observe("Samma lampa, sedd från bron", *NEAR)
    token = sign_in(client, world, "leader")
    html = page(client.get(f"/observations/{second}"))
    assert f'<option value="{task_id}">' in html
    response = client.post(
        f"/observations/{second}/tasks/link", data={"csrf_token": token, "task_id": task_id}
    )
    assert response.status_code == 303
    assert [t["id"] for t in tasks_for_observation(world.db, second)] == [task_id]
    assert "Samma lampa, sedd från bron" in page(client.get(f"/tasks/{task_id}"))


def test_linking_to_a_task_of_another_walk_and_place_is_refused(client, world):
    other_place = make_place(world.db, slug="vallingby", name="Vällingby")
    other_walk = make_walk(world.db, other_place, None, title="Annan vandring")
    task_id = world.task(observation=world.observe("Annan vandring", *NEAR, walk=other_walk))
    token = sign_in(client, world, "coordinator")
    response = client.post(
        f"/observations/{world.observation}/tasks/link",
        data={"csrf_token": token, "task_id": task_id},
    )
    assert response.status_code == 400
    assert tasks_for_observation(world.db, world.observation) == []


def test_a_walk_leader_cannot_change_a_task_of_a_walk_they_do_not_manage_by_linking(client, world):
    """Same place, another leader's walk: its task is not theirs to add observations to."""
    others = make_walk(world.db, world.walk["place_id"], world.user("other_leader")["id"])
    task_id = world.task(observation=world.observe("Annans lampa", *NEAR, walk=others))
    token = sign_in(client, world, "leader")
    assert f'<option value="{task_id}">' not in page(
        client.get(f"/observations/{world.observation}")
    )
    response = client.post(
        f"/observations/{world.observation}/tasks/link",
        data={"csrf_token": token, "task_id": task_id},
    )
    assert response.status_code == 400
    assert tasks_for_observation(world.db, world.observation) == []
    # A coordinator may link across walks of the same place.
    token = sign_in(app_client := world.app.test_client(), world, "coordinator")
    response = app_client.post(
        f"/observations/{world.observation}/tasks/link",
        data={"csrf_token": token, "task_id": task_id},
    )
    assert response.status_code == 303


def test_a_walk_leader_is_offered_their_own_walks_tasks_past_nearer_ones_of_others(client, world):
    """The place holds more tasks of another leader's walk, nearer, than the link form
    offers: the leader is offered the nearest they may link to (their own walk's), not an
    empty list after the others are picked and dropped."""
    others = make_walk(world.db, world.walk["place_id"], world.user("other_leader")["id"])
    theirs = [
        world.task(observation=world.observe(f"Annans lampa {i}", *NEAR, walk=others))
        for i in range(task_model.RELATED_AT_MOST + 2)
    ]
    own = world.task(observation=world.observe("Vår lampa längre bort", *FAR))
    second = world.observe("Samma lampa", *NEAR)
    sign_in(client, world, "leader")
    html = page(client.get(f"/observations/{second}"))
    assert 'id="link-task-id"' in html
    select = html.split('id="link-task-id"')[1]
    offered = {int(i) for i in re.findall(r'<option value="(\d+)">', select.split("</select>")[0])}
    assert offered == {own} and not offered & set(theirs)


def test_a_walk_leader_who_does_not_manage_the_walk_cannot_create_tasks(client, world):
    token = sign_in(client, world, "other_leader")
    response = client.post(
        f"/observations/{world.observation}/tasks",
        data={"csrf_token": token, "measure": "x", "party_id": world.park},
    )
    assert response.status_code == 403
    assert 'id="create-task"' not in page(client.get(f"/observations/{world.observation}"))


# --- who sees the task page ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status", "steps"),
    [
        # The steps, then editing (those who plan the task) and commenting (all who see it).
        (
            "coordinator",
            200,
            ["done", "accept", "start", "not_ours", "wont_fix", "duplicate", "edit", "comments"],
        ),
        ("leader", 200, ["duplicate", "edit", "comments"]),
        ("other_leader", 200, ["comments"]),
        ("engineer", 200, ["done", "accept", "start", "not_ours", "wont_fix", "comments"]),
        ("traffic_engineer", 404, None),
    ],
)
def test_task_page_by_role(client, world, who, status, steps):
    task_id = world.task("sent")
    world.task(measure="Något annat här")  # something the task could be a duplicate of
    sign_in(client, world, who)
    response = client.get(f"/tasks/{task_id}")
    assert response.status_code == status
    if steps is not None:
        shown = re.findall(rf'action="/tasks/{task_id}/(\w+)"', page(response))
        assert shown == steps


def test_an_engineer_does_not_see_their_partys_task_before_it_is_sent(client, world):
    task_id = world.task("proposed")
    sign_in(client, world, "engineer")
    assert client.get(f"/tasks/{task_id}").status_code == 404


def test_anonymous_visitors_and_residents_are_sent_to_the_login(client, world):
    task_id = world.task("sent")
    response = client.get(f"/tasks/{task_id}")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    join(client, world.walk)
    assert client.get(f"/tasks/{task_id}").status_code == 302
    assert client.get("/tasks/mine").status_code == 302


def test_task_page_shows_the_observation_its_photo_the_place_and_the_map_links(
    app, db, client, world
):
    observation = world.observe("Mörkt under bron", *NEAR, photo=True)
    task_id = world.task("sent", observation=observation)
    sign_in(client, world, "engineer")
    html = page(client.get(f"/tasks/{task_id}"))
    assert "Mörkt under bron" in html and "Råcksta" in html
    [thumb] = re.findall(r'<img src="(/photos/[^"]+)" alt="Photo 1"', html)
    blur_all(app, db)  # an engineer is shown the photo's face-blurred copy, once it is made
    with client.get(thumb, follow_redirects=True) as response:
        assert response.status_code == 200
    lat, lon = f"{NEAR[0]:.6f}", f"{NEAR[1]:.6f}"
    assert f'href="geo:{lat},{lon}?q={lat},{lon}"' in html
    assert f"https://www.openstreetmap.org/?mlat={lat}&amp;mlon={lon}" in html


def test_a_walk_leader_who_does_not_manage_the_walk_gets_403_for_a_step(client, world):
    task_id = world.task()
    token = sign_in(client, world, "other_leader")
    assert post_action(client, token, task_id, "send", world.db).status_code == 403
    assert get_task(world.db, task_id)["state"] == "proposed"


def test_an_engineer_of_another_party_gets_404_for_a_step(client, world):
    task_id = world.task("sent")
    token = sign_in(client, world, "traffic_engineer")
    assert post_action(client, token, task_id, "accept", world.db).status_code == 404
    assert get_task(world.db, task_id)["state"] == "sent"


# --- steps ---------------------------------------------------------------------------------


def test_every_step_from_the_task_page_forms(app, world):
    """Leader sends, engineer accepts, starts, finishes; coordinator verifies and reopens;
    the engineer says not ours, the coordinator re-routes and sends, traffic will not fix."""
    people = {who: app.test_client() for who in ("leader", "engineer", "coordinator")}
    people["traffic_engineer"] = app.test_client()
    tokens = {who: sign_in(client, world, who) for who, client in people.items()}
    task_id = world.task()
    steps = [
        ("leader", "send", {}, "sent"),
        ("engineer", "accept", {}, "accepted"),
        ("engineer", "start", {}, "in_progress"),
        ("engineer", "done", {"note": "Ny lampa"}, "done"),
        ("coordinator", "verify", {}, "verified"),
        ("coordinator", "reopen", {"note": "Släckt igen"}, "sent"),
        ("engineer", "not_ours", {"note": "Gatlyktan är Trafikkontorets"}, "not_ours"),
        (
            "coordinator",
            "reroute",
            {"party_id": world.traffic, "note": "Gatlykta", "send_now": "1"},
            "sent",
        ),
        ("traffic_engineer", "wont_fix", {"note": "Byts ut nästa år"}, "wont_fix"),
    ]
    for who, action, data, state in steps:
        response = post_action(people[who], tokens[who], task_id, action, world.db, **data)
        assert response.status_code == 303, (action, page(response)[:300])
        emailed = "&mail=sent" if state == "sent" else ""  # handed to a party: it is told
        assert response.headers["Location"] == f"/tasks/{task_id}?ok={action}{emailed}"
        assert get_task(world.db, task_id)["state"] == state, action
    assert get_task(world.db, task_id)["party_id"] == world.traffic
    html = page(people["coordinator"].get(f"/tasks/{task_id}"))
    for note in ("Ny lampa", "Släckt igen", "Gatlyktan är Trafikkontorets", "Byts ut nästa år"):
        assert note in html
    assert html.count("<li>", html.index('id="history"')) == len(steps) + 2  # create, send


def test_duplicate_points_at_a_task_of_the_same_walk(client, world):
    original, copy = world.task(), world.task(measure="Lampan igen")
    token = sign_in(client, world, "leader")
    html = page(client.get(f"/tasks/{copy}"))
    assert f'<option value="{original}">' in html
    response = post_action(client, token, copy, "duplicate", world.db, duplicate_of=original)
    assert response.status_code == 303
    assert get_task(world.db, copy)["duplicate_of"] == original
    assert f'href="/tasks/{original}"' in page(client.get(f"/tasks/{copy}"))


def test_the_forms_offer_the_nearest_tasks_and_take_any_other_by_its_case_number(client, world):
    """A place with more tasks than a form lists: the duplicate and link forms offer the
    RELATED_AT_MOST nearest; another of the same walk or place is named by its case number,
    one elsewhere (or a case number that is none) is refused beside the field."""
    at_most = task_model.RELATED_AT_MOST
    farther = []
    for i in range(at_most + 3):  # each 11 m farther north than the one before
        spot = world.observe(f"Lampa nr {i}", NEAR[0] + 0.0001 * (i + 1), NEAR[1])
        farther.append(world.task(observation=spot, measure=f"Byt lampa nr {i}"))
    copy = world.task(measure="Lampan igen")
    other_place = make_place(world.db, slug="vallingby", name="Vällingby")
    other_walk = make_walk(world.db, other_place, None, title="Annan vandring")
    elsewhere = world.task(observation=world.observe("Annan", *NEAR, walk=other_walk))
    token = sign_in(client, world, "coordinator")
    html = page(client.get(f"/tasks/{copy}"))
    select = html.split('id="duplicate-of"')[1].split("</select>")[0]
    offered = [int(v) for v in re.findall(r'<option value="(\d+)">', select)]
    assert offered == farther[:at_most]  # nearest first, the copy itself not among them
    with world.app.test_request_context():
        case = {t: case_label(get_task(world.db, t)) for t in (farther[-1], elsewhere)}
    for named in (case[elsewhere], "HV-9999-0001", "lampan"):
        response = post_action(
            client, token, copy, "duplicate", world.db, duplicate_of=farther[0],
            duplicate_case=named,
        )  # fmt: skip
        assert response.status_code == 400, named
        assert "Choose the original task" in page(response)
        assert get_task(world.db, copy)["state"] == "proposed"
    response = post_action(
        client, token, copy, "duplicate", world.db, duplicate_of=farther[0],
        duplicate_case=case[farther[-1]].lower(),
    )  # fmt: skip
    assert response.status_code == 303
    assert get_task(world.db, copy)["duplicate_of"] == farther[-1]
    # The link form: the nearest, and any other of the walk or place by its case number.
    second = world.observe("Samma lampa igen", *NEAR)
    html = page(client.get(f"/observations/{second}"))
    select = html.split('id="link-task-id"')[1].split("</select>")[0]
    assert len(re.findall(r'<option value="(\d+)">', select)) == at_most
    url = f"/observations/{second}/tasks/link"
    refused = client.post(url, data={"csrf_token": token, "task_case": case[elsewhere]})
    assert refused.status_code == 400
    response = client.post(url, data={"csrf_token": token, "task_case": case[farther[-1]]})
    assert response.status_code == 303
    assert [t["id"] for t in tasks_for_observation(world.db, second)] == [farther[-1]]


def test_the_nearest_tasks_are_those_a_full_sort_gives(db):
    """Tasks clustered at a spot, spread over its quarter and over the city, some without a
    position, some of another place or duplicates: the nearest found box by box off the
    text index's keys are the nearest of a sort of them all, from a crowded spot, a quiet
    one and one far from every task."""
    rng = random.Random(18)
    place = make_place(db)
    other = make_place(db, slug="vallingby", name="Vällingby")
    for _i in range(400):
        spread = rng.choice([0.0005, 0.003, 0.05])
        lat, lon = 59.36 + rng.uniform(-spread, spread), 17.87 + rng.uniform(-spread, spread) * 2
        if rng.random() < 0.05:
            lat = lon = None
        state = rng.choice(["proposed", "sent", "done", "duplicate"])
        add_task_row(db, rng.choice([place, place, other]), state, "2026-11-02T10:00:00Z",
                     lat=lat, lon=lon)  # fmt: skip
    rows = [dict(r) for r in db.execute("SELECT * FROM tasks WHERE place_id = ?", [place])]
    for near in ((59.36, 17.87), (59.3615, 17.8740), (59.50, 18.20)):
        shrink = math.cos(math.radians(near[0])) ** 2

        def key(task, near=near, shrink=shrink):
            if task["lat"] is None:
                return (1, 0, -task["id"])
            far = (task["lat"] - near[0]) ** 2 + (task["lon"] - near[1]) ** 2 * shrink
            return (0, far, -task["id"])

        mine = sorted((t for t in rows if t["state"] != "duplicate"), key=key)
        for limit in (5, 30):
            found = task_model.related_tasks(db, None, place, near, limit=limit)
            assert [t["id"] for t in found] == [t["id"] for t in mine[:limit]], (near, limit)
    # A box's corners are farther than the middle of its edges: 30 tasks in the first box's
    # corners, one just past its northern edge, nearer than all of them.
    spot, span = (59.30, 17.70), task_model.NEAR_BOX_DEGREES[0]
    width = span / math.cos(math.radians(spot[0]))
    corners = [
        add_task_row(
            db,
            place,
            "sent",
            "2026-11-02T10:00:00Z",
            lat=spot[0] + dy * span * 0.95,
            lon=spot[1] + dx * width * 0.95,
        )  # fmt: skip
        for dy, dx in ((1, 1), (1, -1), (-1, 1), (-1, -1)) * 8
    ]
    past = add_task_row(db, place, "sent", "2026-11-02T10:00:00Z", lat=spot[0] + span * 1.05,
                        lon=spot[1])  # fmt: skip
    found = [t["id"] for t in task_model.related_tasks(db, None, place, spot, limit=30)]
    assert found[0] == past and set(found[1:]) <= set(corners)


def test_a_box_of_the_text_index_keys_holds_the_rows_in_it(db):
    """The keys in a box, one range per latitude step: the positioned tasks whose steps lie
    in the box's, and no others."""
    rng = random.Random(19)
    place = make_place(db)
    for _i in range(300):
        add_task_row(db, place, "sent", "2026-11-02T10:00:00Z",
                     lat=59.30 + rng.random() * 0.02, lon=17.80 + rng.random() * 0.04)  # fmt: skip
    steps = 2**22

    def step(value, offset, whole):
        return int((value + offset) / whole * steps)

    rows = db.execute("SELECT id, lat, lon FROM tasks").fetchall()
    for _i in range(20):
        south, west = 59.30 + rng.random() * 0.015, 17.80 + rng.random() * 0.03
        box = (
            west,
            south,
            west + 0.006 + rng.random() * 0.01,
            south + 0.003 + rng.random() * 0.005,
        )
        sql, params = textsearch.in_box("tasks", box, ("1", []))
        found = {row[0] for row in db.execute(sql, params)}
        lats, lons = (step(box[1], 90, 180), step(box[3], 90, 180)), (
            step(box[0], 180, 360), step(box[2], 180, 360))  # fmt: skip
        assert found == {
            task for task, lat, lon in rows
            if lats[0] <= step(lat, 90, 180) <= lats[1] and lons[0] <= step(lon, 180, 360) <= lons[1]
        }  # fmt: skip
        assert found


def test_a_step_that_needs_a_note_without_one_is_400_with_the_message_beside_it(client, world):
    task_id = world.task("sent")
    token = sign_in(client, world, "engineer")
    response = post_action(client, token, task_id, "not_ours", world.db, note="")
    assert response.status_code == 400
    html = page(response)
    assert '<p class="error" id="note-error">Write a reason; this step needs one.</p>' in html
    assert '<details class="step" open>' in html
    assert get_task(world.db, task_id)["state"] == "sent"


def test_done_without_a_note_or_a_photo_asks_for_evidence(client, world):
    task_id = world.task("sent")
    token = sign_in(client, world, "engineer")
    response = post_action(client, token, task_id, "done", world.db)
    assert response.status_code == 400
    assert "Add an after-photo or a note saying what was done." in page(response)


def test_a_stale_version_is_409_and_changes_nothing(app, world):
    task_id = world.task("sent")
    engineer, coordinator = app.test_client(), app.test_client()
    engineer_token = sign_in(engineer, world, "engineer")
    coordinator_token = sign_in(coordinator, world, "coordinator")
    loaded = get_task(world.db, task_id)["version"]
    assert post_action(engineer, engineer_token, task_id, "accept", world.db).status_code == 303
    response = post_action(
        coordinator, coordinator_token, task_id, "not_ours", world.db, version=loaded, note="x"
    )
    assert response.status_code == 409
    html = page(response)
    assert "Someone else changed this task just now" in html
    assert 'data-state="accepted"' in html
    assert f'name="version" value="{loaded + 1}"' in html, "the page now holds the new version"
    task = get_task(world.db, task_id)
    assert (task["state"], task["version"]) == ("accepted", loaded + 1)


def test_a_step_the_state_does_not_allow_is_409(client, world):
    task_id = world.task("accepted")
    token = sign_in(client, world, "coordinator")
    response = post_action(client, token, task_id, "accept", world.db)
    assert response.status_code == 409
    assert "This step is not possible now: the task is Accepted." in page(response)


def test_an_unknown_step_is_404(client, world):
    task_id = world.task("sent")
    token = sign_in(client, world, "coordinator")
    assert post_action(client, token, task_id, "explode", world.db).status_code == 404


@pytest.mark.parametrize("kind", ["step", "create", "link", "send"])
def test_posts_without_a_csrf_token_are_refused(client, world, kind):
    task_id = world.task()
    sign_in(client, world, "coordinator")
    url, data = {
        "step": (f"/tasks/{task_id}/send", {"version": 1}),
        "create": (f"/observations/{world.observation}/tasks", {"measure": "x"}),
        "link": (f"/observations/{world.observation}/tasks/link", {"task_id": task_id}),
        "send": (f"/walks/{world.walk['id']}/tasks/send", {}),
    }[kind]
    response = client.post(url, data=data)
    assert response.status_code == 400
    assert "Your form has expired" in page(response)
    assert get_task(world.db, task_id)["state"] == "proposed"
    assert len(tasks_for_observation(world.db, world.observation)) == 1


# --- closing with an after-photo -----------------------------------------------------------


def test_closing_with_an_after_photo_stores_it_with_the_task_without_exif(client, world):
    task_id = world.task("accepted")
    token = sign_in(client, world, "engineer")
    before = world.files()
    response = client.post(
        f"/tasks/{task_id}/done",
        data={
            "csrf_token": token,
            "version": get_task(world.db, task_id)["version"],
            "photo": (io.BytesIO(CANON.read_bytes()), "IMG_0001.JPG"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    task = get_task(world.db, task_id)
    assert task["state"] == "done" and task["done_at"]
    [photo] = [
        dict(r) for r in world.db.execute("SELECT * FROM photos WHERE task_id = ?", [task_id])
    ]
    assert photo["observation_id"] is None
    for relative in (photo["file"], photo["thumb_file"]):
        path = world.photo_dir / relative
        assert path in world.files() - before
        with Image.open(path) as image:
            assert not image.getexif() and "exif" not in image.info
    html = page(client.get(f"/tasks/{task_id}"))
    assert f'src="/photos/{photo["thumb_file"]}" alt="After-photo 1"' in html
    assert 'data-state="done"' in html


def test_a_refused_after_photo_is_415_leaves_the_task_and_stores_no_file(client, world):
    task_id = world.task("accepted")
    token = sign_in(client, world, "engineer")
    before = world.files()
    response = client.post(
        f"/tasks/{task_id}/done",
        data={
            "csrf_token": token,
            "version": get_task(world.db, task_id)["version"],
            "photo": (io.BytesIO(b"this is not a photo at all\n" * 20), "lampa.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 415
    assert "This is not a photo. Use JPEG, PNG, WebP or HEIC." in page(response)
    assert get_task(world.db, task_id)["state"] == "accepted"
    assert (
        world.db.execute("SELECT count(*) FROM photos WHERE task_id = ?", [task_id]).fetchone()[0]
        == 0
    )
    assert world.files() == before
    assert [h["action"] for h in task_history(world.db, task_id)] == ["create", "send", "accept"]


def test_the_done_form_is_a_camera_label_and_a_send_button(client, world):
    task_id = world.task("sent")
    sign_in(client, world, "engineer")
    html = page(client.get(f"/tasks/{task_id}"))
    form = html[html.index('id="done-form"') - 200 : html.index('id="send-done"')]
    assert 'enctype="multipart/form-data"' in form
    assert '<label class="button primary big photo-button" for="after-photo"' in form
    assert 'type="file" name="photo" accept="image/*" capture="environment"' in form


# --- My tasks ------------------------------------------------------------------------------


def test_my_tasks_lists_only_the_partys_open_tasks(client, world):
    mine = world.task("sent", measure="Vår lampa")
    accepted = world.task("accepted", measure="Vår buske")
    world.task("proposed", measure="Inte skickad än")
    world.task("sent", party="traffic", measure="Trafikens skylt")
    closed = world.task("sent", measure="Redan klar")
    engineer = Actor(("assignee",), world.user("engineer")["id"], "Engineer")
    transition(world.db, closed, "done", engineer, version=2, note="Klart")
    sign_in(client, world, "engineer")
    html = page(client.get("/tasks/mine?sort=due"))
    shown = [int(i) for i in re.findall(r'data-task-id="(\d+)"', html)]
    assert sorted(shown) == sorted([mine, accepted])


def test_my_tasks_are_nearest_first_when_the_phone_gives_its_position(client, world):
    far = world.task("sent", observation=world.observe("Långt bort", *FAR), measure="Långt bort")
    near = world.task("sent", measure="Nära")
    sign_in(client, world, "engineer")
    html = page(client.get(f"/tasks/mine?sort=near&lat={PHONE[0]}&lon={PHONE[1]}"))
    assert [int(i) for i in re.findall(r'data-task-id="(\d+)"', html)] == [near, far]
    assert re.findall(r'<span class="distance">([^<]+)</span>', html) == ["20 m", "410 m"]
    assert 'id="tasks-map"' in html


def test_my_tasks_come_a_page_at_a_time_nearest_first(client, world):
    """A party's open tasks in a city are thousands: the phone gets the 25 nearest, the map
    shows those, and the next page the next."""
    db = world.db
    party = db.execute("SELECT party_id FROM tasks WHERE id = ?", [world.task("sent")]).fetchone()[
        0
    ]
    for i in range(29):  # ever farther east of the phone
        add_task_row(
            db, None, "sent", "2026-11-02T10:00:00Z", measure=f"Uppdrag {i}",
            party_id=party, lat=PHONE[0], lon=PHONE[1] + 0.001 * (i + 1),
        )  # fmt: skip
    order = [
        r[0]
        for r in db.execute("SELECT id FROM tasks WHERE measure LIKE 'Uppdrag %' ORDER BY lon, id")
    ]
    sign_in(client, world, "engineer")
    near = f"sort=near&lat={PHONE[0]}&lon={PHONE[1]}"
    first = page(client.get(f"/tasks/mine?{near}"))
    shown = [int(i) for i in re.findall(r'data-task-id="(\d+)"', first)]
    assert len(shown) == 25 and shown[1:] == order[:24]
    assert "30 tasks · page 1 of 2" in first and first.count('"url": "/tasks/') == 25
    second = page(client.get(f"/tasks/mine?{near}&page=2"))
    assert [int(i) for i in re.findall(r'data-task-id="(\d+)"', second)] == order[24:]


def test_my_tasks_by_due_date_highlights_the_overdue(client, world):
    later = world.task("sent", measure="Senare", due_date="2099-01-01")
    overdue = world.task("sent", measure="Försenad", due_date="2020-01-01")
    undated = world.task("sent", measure="Utan datum")
    sign_in(client, world, "engineer")
    html = page(client.get("/tasks/mine?sort=due"))
    assert [int(i) for i in re.findall(r'data-task-id="(\d+)"', html)] == [overdue, later, undated]
    item = re.search(rf'<li class="observation task urgent" id="task-{overdue}"', html)
    assert item and "Overdue" in html[item.start() : html.index("</li>", item.start())]
    assert f'<li class="observation task" id="task-{later}"' in html


def test_without_a_position_near_first_asks_the_phone_and_orders_by_due_date(client, world):
    sign_in(client, world, "engineer")
    html = page(client.get("/tasks/mine"))
    assert 'data-needs-position="true"' in html


def test_an_engineer_landing_on_the_start_page_goes_to_my_tasks(client, world):
    sign_in(client, world, "engineer")
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/tasks/mine"
    assert '<a href="/tasks/mine">My tasks</a>' in page(client.get("/tasks/mine"))


def test_staff_cannot_open_my_tasks_and_see_a_tasks_link_instead(client, world):
    sign_in(client, world, "coordinator")
    assert client.get("/tasks/mine").status_code == 403
    assert '<a href="/tasks">Tasks</a>' in page(client.get("/"))


# --- a walk's tasks and triage -------------------------------------------------------------


def test_send_walk_tasks_sends_those_with_a_party_and_leaves_triage(client, world):
    park, traffic = world.task(), world.task(party="traffic")
    waiting = world.task(party=None, override_reason="Oklart")
    token = sign_in(client, world, "leader")
    html = page(client.get(f"/walks/{world.walk['id']}/tasks"))
    assert "Send tasks to the parties (2)" in html
    assert "Triage: no party yet" in html and "Parkenheten" in html
    response = client.post(f"/walks/{world.walk['id']}/tasks/send", data={"csrf_token": token})
    assert response.status_code == 303
    states = {t: get_task(world.db, t)["state"] for t in (park, traffic, waiting)}
    assert states == {park: "sent", traffic: "sent", waiting: "proposed"}
    html = page(client.get(response.headers["Location"]))
    assert "2 tasks sent to the parties." in html
    assert "Send tasks to the parties (0)" in html


def test_another_walk_leader_cannot_send_the_walks_tasks(client, world):
    task_id = world.task()
    token = sign_in(client, world, "other_leader")
    response = client.post(f"/walks/{world.walk['id']}/tasks/send", data={"csrf_token": token})
    assert response.status_code == 403
    assert get_task(world.db, task_id)["state"] == "proposed"


def test_triage_lists_unrouted_tasks_not_ours_answers_and_untasked_observations(client, world):
    unrouted = world.task(party=None, override_reason="Oklart")
    refused = world.task("sent")
    engineer = Actor(("assignee",), world.user("engineer")["id"], "Engineer")
    transition(world.db, refused, "not_ours", engineer, version=2, note="Bostadsbolagets gård")
    untasked = world.observe("Klotter på muren", *NEAR)
    sign_in(client, world, "coordinator")
    html = page(client.get("/tasks/triage"))
    assert f'id="triage-task-{unrouted}"' in html
    assert f'id="triage-task-{refused}"' in html and "Bostadsbolagets gård" in html
    assert f'id="triage-observation-{untasked}"' in html
    assert f'id="triage-observation-{world.observation}"' not in html, "it has tasks"
    assert html.count("Inside zone Råckstaparken, owned by Parkenheten") == 3


def test_triage_reroutes_in_one_click_to_the_suggested_party_and_sends(client, world):
    task_id = world.task(party=None, override_reason="Oklart")
    world.db.execute("UPDATE walks SET tasks_sent_at = '2026-12-02T08:00:00Z'")
    token = sign_in(client, world, "coordinator")
    html = page(client.get("/tasks/triage"))
    card = html[html.index(f'id="triage-task-{task_id}"') :]
    assert re.search(rf'<option value="{world.park}" selected>', card)
    assert f'id="send-{task_id}" name="send_now" value="1" checked' in card
    response = post_action(
        client,
        token,
        task_id,
        "reroute",
        world.db,
        party_id=world.park,
        send_now="1",
        next="/tasks/triage",
    )
    assert response.status_code == 303 and response.headers["Location"] == "/tasks/triage"
    task = get_task(world.db, task_id)
    assert (task["state"], task["party_id"]) == ("sent", world.park)


def test_triage_creates_a_task_from_an_untasked_observation(client, world):
    untasked = world.observe("Klotter på muren", *NEAR)
    token = sign_in(client, world, "coordinator")
    response = client.post(
        f"/observations/{untasked}/tasks",
        data={
            "csrf_token": token,
            "measure": "Sanera",
            "party_id": world.park,
            "next": "/tasks/triage",
        },
    )
    assert response.status_code == 303 and response.headers["Location"] == "/tasks/triage"
    assert [t["measure"] for t in tasks_for_observation(world.db, untasked)] == ["Sanera"]


def test_triage_pages_the_observations_without_a_task_oldest_first(app, client, world):
    """Years of untasked observations must not make one enormous page."""
    app.config["TRIAGE_PAGE_SIZE"] = 2
    for i in range(3):
        world.observe(f"Obehandlad {i}", *NEAR)
    world.db.execute(
        "UPDATE observations SET observed_at = '2026-01-' || printf('%02d', rowid) || 'T10:00:00Z'"
    )
    oldest_first = [
        r[0]
        for r in world.db.execute(
            """SELECT id FROM observations o WHERE works_well = 0 AND NOT EXISTS
               (SELECT 1 FROM task_observations t WHERE t.observation_id = o.id)
               ORDER BY observed_at, id"""
        )
    ]
    total = len(oldest_first)
    assert total >= 3
    last = -(-total // 2)
    token = sign_in(client, world, "coordinator")
    shown = re.compile(r'id="triage-observation-([0-9a-f-]+)"')
    first = page(client.get("/tasks/triage"))
    assert f'<span class="count">({total})</span>' in first and f"page 1 of {last}" in first
    assert shown.findall(first) == oldest_first[:2]
    assert 'rel="next" href="/tasks/triage?page=2"' in first and 'rel="prev"' not in first
    second = page(client.get("/tasks/triage?page=2"))
    assert shown.findall(second) == oldest_first[2:4]
    assert 'rel="prev" href="/tasks/triage?page=1"' in second
    assert 'name="next" value="/tasks/triage?page=2"' in second  # acting keeps the page
    final = page(client.get(f"/tasks/triage?page={last}"))
    assert shown.findall(final) == oldest_first[(last - 1) * 2 :] and 'rel="next"' not in final
    for bad in ("0", "x", "-1", "99999999999"):
        assert client.get(f"/tasks/triage?page={bad}").status_code == 400
    response = client.post(
        f"/observations/{oldest_first[2]}/tasks",
        data={
            "csrf_token": token,
            "measure": "Laga",
            "party_id": world.park,
            "next": "/tasks/triage?page=2",
        },
    )
    assert response.status_code == 303 and response.headers["Location"] == "/tasks/triage?page=2"
    assert f'<span class="count">({total - 1})</span>' in page(client.get("/tasks/triage"))


def test_walk_leaders_have_no_triage(client, world):
    sign_in(client, world, "leader")
    assert client.get("/tasks/triage").status_code == 403


# --- history and the observation page ------------------------------------------------------


def test_the_history_shows_who_when_what_and_the_note(client, world):
    task_id = world.task("sent")
    token = sign_in(client, world, "engineer")
    post_action(client, token, task_id, "not_ours", world.db, note="Inte vår mark")
    html = page(client.get(f"/tasks/{task_id}"))
    history = html[html.index('id="history"') :]
    assert "Answered: not ours</strong>: Sent → Not ours" in history
    assert "Engineer ·" in history and "Inte vår mark" in history
    row = world.db.execute(
        "SELECT * FROM audit_log WHERE entity = 'task' AND entity_id = ? AND action = 'not_ours'",
        [str(task_id)],
    ).fetchone()
    assert row["user_id"] == world.user("engineer")["id"] and row["actor"] == "Engineer"


def test_the_observation_page_shows_its_tasks_state_and_after_photo(client, world):
    task_id = world.task("accepted")
    token = sign_in(client, world, "engineer")
    client.post(
        f"/tasks/{task_id}/done",
        data={
            "csrf_token": token,
            "version": get_task(world.db, task_id)["version"],
            "photo": (io.BytesIO(CANON.read_bytes()), "after.jpg"),
        },
        content_type="multipart/form-data",
    )
    resident = english(client.application.test_client())
    join(resident, world.walk)
    html = page(resident.get(f"/observations/{world.observation}"))
    section = html[html.index('id="tasks"') :]
    assert 'data-state="done"' in section and "Byt lampan vid trappan" in section
    assert 'alt="After-photo 1"' in section
    assert f'href="/tasks/{task_id}"' not in section, "residents have no task page"
    assert 'id="create-task"' not in section


def test_staff_task_list_filters_open_and_done(client, world):
    open_task = world.task("sent", measure="Öppen")
    done_task = world.task("sent", measure="Klar")
    engineer = Actor(("assignee",), world.user("engineer")["id"], "Engineer")
    transition(world.db, done_task, "done", engineer, version=2, note="ok")
    sign_in(client, world, "leader")
    open_ids = re.findall(r'data-task-id="(\d+)"', page(client.get("/tasks")))
    done_ids = re.findall(r'data-task-id="(\d+)"', page(client.get("/tasks?list=done")))
    assert open_ids == [str(open_task)] and done_ids == [str(done_task)]


# --- the list of every task, a page at a time ----------------------------------------------


@pytest.mark.parametrize("dense_rows", [0, 10**6])
def test_the_task_list_is_read_a_page_at_a_time_most_urgent_and_soonest_due_first(
    client, world, monkeypatch, dense_rows
):
    """A city's open tasks make many pages: each holds 50 in the list's order, the count
    says how many in all."""
    monkeypatch.setattr(task_model, "DENSE_ROWS", dense_rows)
    db = world.db
    for i in range(118):
        task = add_task_row(
            db, None, "sent", "2026-11-02T10:00:00Z", measure=f"Åtgärd nr {i:03d}",
            priority="urgent" if i % 10 == 0 else "normal",
        )  # fmt: skip
        db.execute(
            "UPDATE tasks SET due_date = ? WHERE id = ?",
            [None if i % 7 == 0 else f"2027-01-{i % 28 + 1:02d}", task],
        )
    order = [
        r[0]
        for r in db.execute(
            """SELECT id FROM tasks WHERE state IN ('proposed', 'sent', 'accepted',
               'in_progress') ORDER BY priority != 'urgent', due_date IS NULL, due_date, id"""
        )
    ]
    sign_in(client, world, "coordinator")
    shown = []
    for number in (1, 2, 3):
        html = page(client.get(f"/tasks?page={number}"))
        assert f"{len(order)} tasks · page {number} of 3" in html
        shown += [int(t) for t in re.findall(r'href="/tasks/(\d+)"', html)]
        assert ('rel="next"' in html) == (number < 3) and ('rel="prev"' in html) == (number > 1)
    assert list(dict.fromkeys(shown)) == order
    assert client.get("/tasks?page=0").status_code == 400


def test_a_search_of_a_letter_or_two_is_refused_with_a_message(client, world):
    world.task()
    sign_in(client, world, "coordinator")
    response = client.get("/tasks?q=ab&list=all")
    assert response.status_code == 400
    assert "Search with at least 3 characters." in page(response)
    response = client.get("/dashboard?q=ab")
    assert response.status_code == 400 and "At least 3 characters." in page(response)
    response = client.get("/dashboard/map.json?q=ab")
    assert response.status_code == 400 and "At least 3 characters" in response.get_json()["message"]
    swedish = client.get("/tasks?q=ab", headers={"Accept-Language": "sv"})
    assert "Sök med minst 3 tecken." in page(swedish)


@pytest.mark.parametrize("dense_rows", [0, 10**6])
def test_triage_shows_the_most_urgent_waiting_tasks_and_how_many_wait(
    app, client, world, monkeypatch, dense_rows
):
    """Tasks without a party first, then those a party did not take, the most urgent first:
    the first few of them, and the number waiting in all (read off the list's order, or off
    the filter's index and sorted)."""
    monkeypatch.setattr(task_model, "DENSE_ROWS", dense_rows)
    app.config["TRIAGE_PAGE_SIZE"] = 3
    db = world.db
    normal = [world.task(party=None, override_reason="Oklart") for _i in range(2)]
    urgent = world.task(party=None, override_reason="Oklart")
    db.execute("UPDATE tasks SET priority = 'urgent' WHERE id = ?", [urgent])
    refused = add_task_row(db, None, "not_ours", "2026-11-02T10:00:00Z")
    sign_in(client, world, "coordinator")
    html = page(client.get("/tasks/triage"))
    shown = [int(t) for t in re.findall(r'id="triage-task-(\d+)"', html)]
    assert shown == [urgent, *normal] and refused not in shown
    assert "The 3 most urgent of 4; the next come up as these are routed." in html
