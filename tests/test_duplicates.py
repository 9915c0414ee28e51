"""The duplicate hint: the same category within 25 m in the 90 days before is hinted; farther,
another category, older or later is not; one click links the observation to the earlier
one's task."""

import math
import random
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from conftest import csrf_token, login, make_place, make_user, make_walk

from fieldwalk import create_app
from fieldwalk.geo import EARTH_RADIUS_M, haversine_m
from fieldwalk.observations import nearby
from fieldwalk.observations.duplicates import (
    CANDIDATES,
    MAX_HINTS,
    candidates_query,
    find_duplicates,
    nearest_candidates,
)
from fieldwalk.observations.model import (
    get_observation,
    put_observation,
    set_location_from_photo,
    validate,
)
from fieldwalk.tasks.model import insert_task, task_observation_ids, transition
from fieldwalk.tasks.states import COORDINATOR, Actor

HERE = (59.35512, 17.88234)
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def moved(metres_north: float, metres_east: float, base=HERE) -> tuple[float, float]:
    """A position this many metres from HERE (or from `base`)."""
    lat = base[0] + math.degrees(metres_north / EARTH_RADIUS_M)
    lon = base[1] + math.degrees(metres_east / EARTH_RADIUS_M) / math.cos(math.radians(base[0]))
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


# The grid (observations/nearby.py): a hotspot's lookup is bounded, the cells' edges cut
# nothing, a moved observation moves cell.


def hint_lookup_plan(db, observation, radius=25) -> list[str]:
    sql, params = candidates_query(observation, radius, 90)
    return [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def test_the_hint_lookup_reads_each_cell_as_an_index_range_with_a_limit(db, new):
    """Each touched cell is two ranges of the covering grid index (newest and oldest few, in
    the index's order, so each stops at its LIMIT): no scan of observations, no sort but the
    one of the few read, the hint's row and place fetched by key."""
    plan = hint_lookup_plan(db, new)
    cells = nearby.cells_around(new["lat"], new["lon"], 25)
    assert 4 <= len(cells) <= 9
    ranges = [
        line
        for line in plan
        if line == "SEARCH n USING COVERING INDEX observations_nearby (category=? AND"
        " works_well=? AND <expr>=? AND observed_at>? AND observed_at<?)"
    ]
    assert len(ranges) == 2 * len(cells)
    # Scans only of what a range read (each subquery, c) and of the dozen nearest (near),
    # never of a table.
    scans = {line for line in plan if line.startswith("SCAN")}
    assert scans and all(re.fullmatch(r"SCAN (c|near|\(subquery-\d+\))", line) for line in scans)
    assert sum("TEMP B-TREE FOR ORDER BY" in line for line in plan) == 1  # the few read, once
    assert "SEARCH d USING INTEGER PRIMARY KEY (rowid=?)" in plan
    assert "SEARCH places USING INTEGER PRIMARY KEY (rowid=?) LEFT-JOIN" in plan
    # A radius of 250 m (the most allowed) touches hundreds of cells: still index ranges only.
    wide = hint_lookup_plan(db, new, radius=250)
    assert (
        sum(line.startswith("SEARCH n USING COVERING INDEX observations_nearby") for line in wide)
        > 500
    )


def vm_steps(db, observation) -> int:
    """SQLite virtual machine instructions the hint lookup runs: rows visited, not time."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    db.conn.set_progress_handler(count, 1)
    try:
        nearest_candidates(db, observation, 25, 90)
    finally:
        db.conn.set_progress_handler(None, 1)
    return steps[0]


def capped_hints(db, observation) -> list[str]:
    """What the cap promises, from every row: per grid cell (as SQLite computes it) the 12
    newest and 12 oldest earlier reports in the look-back; of those, the nearest three
    within 25 m, ties to the oldest."""
    observed = datetime.fromisoformat(observation["observed_at"].replace("Z", "+00:00"))
    since = (observed - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = db.execute(
        f"""SELECT id, lat, lon, observed_at, {nearby.CELL_SQL.format(row="")} AS cell
            FROM observations WHERE category = ? AND works_well = ? AND observed_at >= ?
              AND observed_at < ? AND lat IS NOT NULL ORDER BY observed_at""",  # noqa: S608
        [observation["category"], observation["works_well"], since, observation["observed_at"]],
    ).fetchall()
    by_cell: dict[int, list] = {}
    for row in rows:
        by_cell.setdefault(row["cell"], []).append(row)
    read = {r["id"]: r for cell in by_cell.values() for r in cell[:12] + cell[-12:]}
    near = []
    for row in read.values():
        distance = haversine_m(observation["lat"], observation["lon"], row["lat"], row["lon"])
        if distance <= 25:
            near.append((distance, row["observed_at"], row["id"]))
    return [row_id for _d, _at, row_id in sorted(near)[:MAX_HINTS]]


def test_a_hotspot_of_200_gets_the_nearest_among_the_cells_few_in_bounded_steps(db):
    """200 reports scattered over 6 m at one spot in 80 days, the newest asking: its hints are
    the nearest among each cell's newest and oldest dozen, and 600 more at the spot leave the
    lookup's SQLite instructions as they were (within noise of the temporary b-trees; before
    the grid they grew with every row)."""
    make_place(db)
    rng = random.Random(200)
    for i in range(200):
        observe(db, moved(rng.uniform(-3, 3), rng.uniform(-3, 3)), 1 + i * 0.4)
    close = observe(db, moved(0.5, 0), 0.5)  # among the newest: found whatever the cap
    asking = observe(db, HERE, 0)
    expected = capped_hints(db, asking)
    assert [d["id"] for d in find_duplicates(db, asking)] == expected
    assert expected[0] == close["id"]
    assert expected != every_hint(db, asking)  # the cap is at work here
    middle = observe(db, moved(1, 1), 40.1)  # one asking from the middle of the history
    assert [d["id"] for d in find_duplicates(db, middle)] == capped_hints(db, middle)
    steps = vm_steps(db, asking)
    for i in range(600):
        observe(db, moved(rng.uniform(-3, 3), rng.uniform(-3, 3)), 1 + i * 0.13)
    assert vm_steps(db, asking) <= steps * 1.1  # the box read all 800: about 4x
    assert [d["id"] for d in find_duplicates(db, asking)] == capped_hints(db, asking)


def test_a_match_20_m_away_across_a_cell_edge_is_found(db):
    """Asking from a centimetre inside a cell's corner: reports 20 m away north, east and
    diagonally lie in three other cells and are all hinted; 30 m away is not."""
    make_place(db)
    row, column = nearby.cell_row(HERE[0]), nearby.cell_column(HERE[1])
    corner = ((row + 1) * nearby.CELL_LAT - 90, (column + 1) * nearby.CELL_LON - 180)
    spot = moved(-0.01, -0.01, base=corner)
    asking = observe(db, spot, 0)
    north = observe(db, moved(20, 0, base=spot), 3)
    east = observe(db, moved(0, 20, base=spot), 2)
    diagonal = observe(db, moved(14, 14, base=spot), 1)
    observe(db, moved(30, 0, base=spot), 1)
    cells = {
        o["id"]: db.execute(
            f"SELECT {nearby.CELL_SQL.format(row='')} FROM observations WHERE id = ?",  # noqa: S608
            [o["id"]],
        ).fetchone()[0]
        for o in (asking, north, east, diagonal)
    }
    assert len(set(cells.values())) == 4  # four cells
    assert cells[asking["id"]] == nearby.cell_of(*spot)  # Python names SQLite's cell
    assert [d["id"] for d in find_duplicates(db, asking)] == [
        diagonal["id"],
        north["id"],
        east["id"],
    ]
    # And from across the corner: a later report in the diagonal cell finds this one.
    here = observe(db, spot, 0, category="graffiti")
    later = observe(db, moved(14, 14, base=spot), -1, category="graffiti")
    assert hinted(db, later) == {here["id"]}


def test_an_observation_whose_position_changes_moves_cell(db, new):
    """Given its photo's position later, an observation is found at that position; moved
    300 m it is found there and no longer here."""
    body = {"category": "lighting", "lat": None, "lon": None}
    observation, _ = put_observation(db, str(uuid.uuid4()), validate(body, 2000, 12), walk=None)
    db.execute(
        "UPDATE observations SET observed_at = ? WHERE id = ?",
        [(NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"), observation["id"]],
    )
    assert hinted(db, new) == set()
    set_location_from_photo(db, observation["id"], *moved(5, 0))
    assert hinted(db, new) == {observation["id"]}
    there = moved(300, 0)
    db.execute("UPDATE observations SET lat = ?, lon = ? WHERE id = ?", [*there, observation["id"]])
    assert hinted(db, new) == set()
    assert hinted(db, observe(db, moved(3, 3, base=there), 0)) == {observation["id"]}
    assert nearby.cell_of(*there) != nearby.cell_of(*moved(5, 0))


def test_a_radius_over_250_m_is_refused_at_start(tmp_path):
    with pytest.raises(ValueError, match="at most 250"):
        create_app({"INSTANCE": str(tmp_path), "DUPLICATE_RADIUS_METRES": 300})
