"""The duplicate hint: the same category within 25 m in the 90 days before is hinted; farther,
another category, older or later is not; one click links the observation to the earlier
one's task."""

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from conftest import csrf_token, login, make_place, make_user, make_walk

from fieldwalk.geo import EARTH_RADIUS_M, haversine_m
from fieldwalk.observations.duplicates import (
    CANDIDATES,
    MAX_HINTS,
    find_duplicates,
    nearest_candidates,
)
from fieldwalk.observations.model import get_observation, put_observation, validate
from fieldwalk.tasks.model import insert_task, task_observation_ids, transition
from fieldwalk.tasks.states import COORDINATOR, Actor

HERE = (59.35512, 17.88234)
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def moved(metres_north: float, metres_east: float) -> tuple[float, float]:
    """A position this many metres from HERE."""
    lat = HERE[0] + math.degrees(metres_north / EARTH_RADIUS_M)
    lon = HERE[1] + math.degrees(metres_east / EARTH_RADIUS_M) / math.cos(math.radians(HERE[0]))
    return lat, lon


def observe(db, position, days_before: float, category="lighting", works_well=False) -> dict:
    """An observation at `position`, recorded `days_before` NOW."""
    body = {"category": category, "lat": position[0], "lon": position[1]}
    body["works_well"] = works_well
    observation, _ = put_observation(db, str(uuid.uuid4()), validate(body, 2000, 12), walk=None)
    at = (NOW - timedelta(days=days_before)).strftime("%Y-%m-%dT%H:%M:%SZ")
    db.execute(
        "UPDATE observations SET created_at = ?, observed_at = ? WHERE id = ?",
        [at, at, observation["id"]],
    )
    return get_observation(db, observation["id"])


def hinted(db, observation, **settings) -> set[str]:
    return {d["id"] for d in find_duplicates(db, observation, **settings)}


@pytest.fixture
def new(db):
    """Today's lighting observation, the one that may repeat an earlier report."""
    make_place(db)
    return observe(db, HERE, 0)


def test_same_category_within_25_m_in_90_days_is_hinted(db, new):
    near = observe(db, moved(10, 10), 5)
    edge = observe(db, moved(0, 24), 89)
    found = find_duplicates(db, new)
    assert [d["id"] for d in found] == [near["id"], edge["id"]]  # nearest first
    assert found[0]["distance_m"] == pytest.approx(haversine_m(*HERE, near["lat"], near["lon"]))
    assert found[0]["metres"] == 14 and found[0]["days"] == 5


def test_30_m_away_is_not_hinted(db, new):
    observe(db, moved(30, 0), 5)
    observe(db, moved(0, -30), 5)
    observe(db, moved(21, 21), 5)  # inside the bounding box, 29.7 m away
    assert hinted(db, new) == set()


def test_another_category_is_not_hinted(db, new):
    observe(db, moved(3, 0), 5, category="vegetation")
    assert hinted(db, new) == set()


def test_100_days_old_is_not_hinted(db, new):
    observe(db, moved(3, 0), 100)
    assert hinted(db, new) == set()


def test_a_later_report_is_not_a_duplicate_of_this_one(db, new):
    later = observe(db, moved(3, 0), -1)
    assert hinted(db, new) == set()
    assert hinted(db, later) == {new["id"]}


def test_what_works_well_is_not_a_duplicate_of_a_problem(db, new):
    observe(db, moved(3, 0), 5, works_well=True)
    assert hinted(db, new) == set()


def test_radius_and_days_are_settings(db, app, new):
    far = observe(db, moved(30, 0), 5)
    old = observe(db, moved(3, 0), 100)
    assert hinted(db, new, radius_m=40, days=120) == {far["id"], old["id"]}
    assert app.config["DUPLICATE_RADIUS_METRES"] == 25 and app.config["DUPLICATE_DAYS"] == 90


def test_a_hint_names_the_task_of_the_earlier_report_or_its_original(db, new):
    earlier = observe(db, moved(5, 0), 10)
    other = observe(db, moved(500, 0), 20)
    actor = Actor((COORDINATOR,), None, "test")
    original = insert_task(
        db, observation_ids=[other["id"]], measure="Byt lampa", party_id=None,
        suggestion={"party_id": None}, actor=actor,
    )  # fmt: skip
    copy = insert_task(
        db, observation_ids=[earlier["id"]], measure="Byt lampa", party_id=None,
        suggestion={"party_id": None}, actor=actor,
    )  # fmt: skip
    [hint] = find_duplicates(db, new)
    assert (hint["task_id"], hint["task_state"]) == (copy, "proposed")
    transition(db, copy, "duplicate", actor, version=1, duplicate_of=original)
    [hint] = find_duplicates(db, new)
    assert (hint["task_id"], hint["task_state"]) == (original, "proposed")


@pytest.fixture
def repeated(db, client):
    """On triage: today's report of a lamp that has a task from a report a week ago."""
    coordinator = make_user(db, "coordinator")
    walk = make_walk(db, make_place(db), coordinator["id"])
    earlier = observe(db, moved(4, 4), 7)
    new = observe(db, HERE, 0)
    task_id = insert_task(
        db,
        observation_ids=[earlier["id"]],
        measure="Byt lampa",
        party_id=None,
        suggestion={"party_id": None},
        actor=Actor((COORDINATOR,), coordinator["id"], "Cora"),
    )
    login(client, coordinator)
    return {"walk": walk, "earlier": earlier, "new": new, "task": task_id}


def test_triage_shows_the_hint_with_a_one_click_duplicate_of(client, repeated):
    html = client.get("/tasks/triage").get_data(as_text=True)
    card = html[html.index(f'id="triage-observation-{repeated["new"]["id"]}"') :]
    card = card[: card.index("</li>")]
    assert 'class="duplicates"' in card
    assert f'/observations/{repeated["earlier"]["id"]}"' in card
    assert f'action="/observations/{repeated["new"]["id"]}/duplicate-of"' in card
    assert f'name="task_id" value="{repeated["task"]}"' in card


def test_duplicate_of_links_the_observation_to_the_earlier_task(client, db, repeated):
    token = csrf_token(client, "/tasks/triage")
    response = client.post(
        f"/observations/{repeated['new']['id']}/duplicate-of",
        data={"csrf_token": token, "task_id": repeated["task"], "next": "/tasks/triage"},
    )
    assert response.status_code == 303 and response.headers["Location"] == "/tasks/triage"
    assert set(task_observation_ids(db, repeated["task"])) == {
        repeated["earlier"]["id"],
        repeated["new"]["id"],
    }
    html = client.get("/tasks/triage").get_data(as_text=True)
    assert f'id="triage-observation-{repeated["new"]["id"]}"' not in html  # it has a task now


def test_duplicate_of_only_a_hinted_task(client, db, repeated):
    stranger = observe(db, moved(900, 0), 3)
    elsewhere = insert_task(
        db, observation_ids=[stranger["id"]], measure="Annat", party_id=None,
        suggestion={"party_id": None}, actor=Actor((COORDINATOR,), None, "test"),
    )  # fmt: skip
    token = csrf_token(client, "/tasks/triage")
    url = f"/observations/{repeated['new']['id']}/duplicate-of"
    for task_id in (elsewhere, "abc", ""):
        response = client.post(url, data={"csrf_token": token, "task_id": task_id})
        assert response.status_code == 400
    assert client.post(url, data={"task_id": repeated["task"]}).status_code == 400  # no CSRF
    assert task_observation_ids(db, repeated["task"]) == [repeated["earlier"]["id"]]


def test_walk_leaders_may_not_answer_duplicate_of(app, db, repeated):
    leader = app.test_client()
    login(leader, make_user(db, "walk_leader"))
    token = csrf_token(leader, "/")
    response = leader.post(
        f"/observations/{repeated['new']['id']}/duplicate-of",
        data={"csrf_token": token, "task_id": repeated["task"]},
    )
    assert response.status_code == 403


def test_the_dashboard_shows_the_hint_on_observations_without_a_task(client, db, repeated):
    def item(html: str, observation: dict) -> str:
        key = db.execute("SELECT rowid FROM observations WHERE id = ?", [observation["id"]])
        start = html[html.index(f'data-key="{key.fetchone()[0]}"') :]
        return start[: start.index("</li>")]

    html = client.get("/dashboard?kind=observations").get_data(as_text=True)
    assert 'class="duplicates"' in item(html, repeated["new"])
    assert "/duplicate-of" in item(html, repeated["new"])
    assert 'class="duplicates"' not in item(html, repeated["earlier"])  # it has a task


def every_hint(db, observation, radius=25, days=90) -> list[str]:
    """The hints as they were before the index: every earlier observation of the category,
    kind and look-back measured exactly, nearest first, ties to the oldest, the first three."""
    observed = datetime.fromisoformat(observation["observed_at"].replace("Z", "+00:00"))
    since = (observed - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = db.execute(
        """SELECT id, lat, lon, observed_at FROM observations
           WHERE category = ? AND works_well = ? AND id != ? AND observed_at >= ?
             AND observed_at < ? AND lat IS NOT NULL""",
        [
            observation["category"],
            observation["works_well"],
            observation["id"],
            since,
            observation["observed_at"],
        ],
    ).fetchall()
    near = []
    for row in rows:
        distance = haversine_m(observation["lat"], observation["lon"], row["lat"], row["lon"])
        if distance <= radius:
            near.append((distance, row["observed_at"], row["id"]))
    return [row_id for _d, _at, row_id in sorted(near)[:MAX_HINTS]]


def test_hints_are_the_nearest_three_as_before_on_ordinary_data(db):
    """A street's worth of reports scattered within 40 m over four months, three categories,
    some "works well": every observation gets the same hints as measuring every one."""
    make_place(db)
    rng = random.Random(18)
    made = [
        observe(
            db,
            moved(rng.uniform(-40, 40), rng.uniform(-40, 40)),
            rng.uniform(0, 120),
            category=rng.choice(["lighting", "lighting", "vegetation", "graffiti"]),
            works_well=rng.random() < 0.1,
        )
        for _ in range(300)
    ]
    hinted_some = 0
    for observation in made:
        expected = every_hint(db, observation)
        assert [d["id"] for d in find_duplicates(db, observation)] == expected
        hinted_some += len(expected) == MAX_HINTS
    assert hinted_some > 100  # the data does exercise the cap


def test_a_hotspot_hands_python_a_dozen_whatever_it_holds(db, new):
    """400 reports at one spot over the last 90 days: the hints are the three oldest (all are
    0 m away), as before, and SQLite hands over CANDIDATES rows, not 400."""
    spot = [observe(db, HERE, 1 + i * 0.2) for i in range(400)]
    assert len(nearest_candidates(db, new, 25, 90)) == CANDIDATES
    expected = every_hint(db, new)
    assert [d["id"] for d in find_duplicates(db, new)] == expected
    assert expected == [o["id"] for o in spot[-1:-4:-1]]  # the oldest first
    # Another category's hotspot next door changes nothing.
    for i in range(50):
        observe(db, moved(1, 1), 1 + i, category="vegetation")
    assert [d["id"] for d in find_duplicates(db, new)] == expected
