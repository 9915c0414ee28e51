"""The task state machine, on a real database: every state x action x actor, and its rules.

Tasks are created through `insert_task`; to test an action from a given state, `task_in`
then puts the row in that state directly (with the stamps that state implies), so each
combination is tried in isolation rather than through a long chain of other actions.
"""

import itertools
import json
import uuid

import pytest
from conftest import make_place, make_walk

from fieldwalk.auth import create_user
from fieldwalk.db import connect, migrate
from fieldwalk.observations.model import put_observation, validate
from fieldwalk.parties.model import insert_party
from fieldwalk.tasks.model import (
    get_task,
    insert_task,
    link_observation,
    send_walk_tasks,
    task_history,
    tasks_for_observation,
    transition,
)
from fieldwalk.tasks.states import (
    ACCEPTED,
    ASSIGNEE,
    COORDINATOR,
    DONE,
    DUPLICATE,
    IN_PROGRESS,
    LEADER,
    NOT_OURS,
    PROPOSED,
    SENT,
    STATES,
    TRANSITIONS,
    VERIFIED,
    WONT_FIX,
    Actor,
    TaskError,
    VersionConflict,
    allowed_actions,
)

KINDS = (COORDINATOR, LEADER, ASSIGNEE)
TRIAGE = {"party_id": None, "reason": "triage", "zone_id": None, "zone_name": None}

# The table as the issue describes it, written out by hand: (from states, to, who, needs).
# If TRANSITIONS drifts from this, the first test says where.
EXPECTED_TABLE = {
    "send": ({PROPOSED}, SENT, {COORDINATOR, LEADER}, {"party"}),
    "accept": ({SENT}, ACCEPTED, {ASSIGNEE, COORDINATOR}, set()),
    "start": ({SENT, ACCEPTED}, IN_PROGRESS, {ASSIGNEE, COORDINATOR}, set()),
    "done": ({SENT, ACCEPTED, IN_PROGRESS}, DONE, {ASSIGNEE, COORDINATOR}, {"evidence"}),
    "verify": ({DONE}, VERIFIED, {COORDINATOR}, set()),
    "not_ours": ({SENT, ACCEPTED, IN_PROGRESS}, NOT_OURS, {ASSIGNEE, COORDINATOR}, {"note"}),
    "wont_fix": (
        {PROPOSED, SENT, ACCEPTED, IN_PROGRESS},
        WONT_FIX,
        {ASSIGNEE, COORDINATOR},
        {"note"},
    ),
    "duplicate": (
        {PROPOSED, SENT, ACCEPTED, IN_PROGRESS, NOT_OURS},
        DUPLICATE,
        {COORDINATOR, LEADER},
        {"duplicate_of"},
    ),
    "reopen": ({DONE, VERIFIED, WONT_FIX, DUPLICATE}, None, {COORDINATOR}, {"note"}),
    "reroute": ({PROPOSED, NOT_OURS}, PROPOSED, {COORDINATOR, LEADER}, {"party"}),
}


def build_world(db) -> dict:
    """A walk with one observation, two parties, a coordinator, the walk's leader, an engineer.

    The state machine needs no logins, so the users get no password (hashing one is slow).
    """
    coordinator = create_user(db, "cora@example.se", "coordinator", "Cora")
    leader = create_user(db, "leo@example.se", "walk_leader", "Leo")
    walk = make_walk(db, make_place(db), leader, state="finished")
    park = insert_party(db, "Parkenheten", "park")
    traffic = insert_party(db, "Trafikkontoret", "traffic")
    engineer_id = create_user(db, "eva@example.se", "engineer", "Eva", party_id=park)
    return {
        "db": db,
        "walk": walk,
        "park": park,
        "traffic": traffic,
        "engineer_id": engineer_id,
        "observation": make_observation(db, walk),
        "actors": {
            COORDINATOR: Actor((COORDINATOR,), coordinator, "Cora"),
            LEADER: Actor((LEADER,), leader, "Leo"),
            ASSIGNEE: Actor((ASSIGNEE,), engineer_id, "Eva"),
        },
    }


@pytest.fixture
def world(db):
    """A fresh world on the test's own database."""
    return build_world(db)


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory):
    """One world for the 270 combinations: each makes its own tasks, so they cannot meet."""
    db = connect(tmp_path_factory.mktemp("states") / "fieldwalk.db")
    migrate(db)
    yield build_world(db)
    db.close()


def make_observation(db, walk, category="lighting", description="Trasig lampa") -> str:
    observation_id = str(uuid.uuid4())
    clean = validate(
        {
            "walk_id": walk["id"],
            "category": category,
            "description": description,
            "lat": 59.355,
            "lon": 17.882,
            "photos": [],
        },
        2000,
        12,
    )
    put_observation(db, observation_id, clean, walk=walk)
    return observation_id


def new_task(world, party="park", **values) -> int:
    party_id = world[party] if party else None
    suggestion = {**TRIAGE, "party_id": party_id}
    return insert_task(
        world["db"],
        observation_ids=[world["observation"]],
        measure=values.pop("measure", "Byt lampan"),
        party_id=party_id,
        suggestion=suggestion,
        actor=world["actors"][COORDINATOR],
        **values,
    )


def task_in(world, state: str, party="park") -> dict:
    """A task put straight into `state`, with the stamps and links that state implies."""
    task_id = new_task(world, party)
    sent = None if state == PROPOSED else "2026-12-02T08:00:00Z"
    original = new_task(world, party, measure="Originalet") if state == DUPLICATE else None
    world["db"].execute(
        """UPDATE tasks SET state = ?, sent_at = ?, done_at = ?, verified_at = ?, duplicate_of = ?
           WHERE id = ?""",
        [
            state,
            sent if state not in (PROPOSED, WONT_FIX) else None,
            "2026-12-03T08:00:00Z" if state in (DONE, VERIFIED) else None,
            "2026-12-04T08:00:00Z" if state == VERIFIED else None,
            original,
            task_id,
        ],
    )
    return get_task(world["db"], task_id)


def fields_for(world, action: str, task: dict) -> dict:
    """Everything an action needs, so that only the table decides whether it is allowed."""
    if action == "duplicate":
        return {"duplicate_of": new_task(world, measure="Samma sak")}
    if action == "reroute":
        return {"party_id": world["traffic"], "note": "Gatubelysning, inte park"}
    return {"note": "En anteckning", "has_photo": action == "done"}


def test_the_transition_table_is_the_one_the_issue_describes():
    actual = {
        name: (set(rule.sources), rule.target, set(rule.actors), set(rule.needs))
        for name, rule in TRANSITIONS.items()
    }
    assert actual == EXPECTED_TABLE


@pytest.mark.parametrize(
    ("state", "action", "kind"), list(itertools.product(STATES, TRANSITIONS, KINDS))
)
def test_every_state_action_and_actor_is_allowed_or_refused_as_the_table_says(
    shared_world, state, action, kind
):
    world = shared_world
    sources, target, actors, _needs = EXPECTED_TABLE[action]
    task = task_in(world, state)
    actor = world["actors"][kind]
    options = fields_for(world, action, task)
    assert (action in allowed_actions(task, actor)) == (state in sources and kind in actors)
    if kind not in actors or state not in sources:
        with pytest.raises(TaskError) as refused:
            transition(world["db"], task["id"], action, actor, version=task["version"], **options)
        assert refused.value.code == ("forbidden" if kind not in actors else "state")
        assert get_task(world["db"], task["id"]) == task
        return
    changed = transition(world["db"], task["id"], action, actor, version=task["version"], **options)
    expected = target
    if action == "reopen":
        expected = SENT if task["sent_at"] else PROPOSED
    assert changed["state"] == expected
    assert changed["version"] == task["version"] + 1
    last = task_history(world["db"], task["id"])[-1]
    assert (last["action"], last["from"], last["to"]) == (action, state, expected)
    assert last["user_id"] == actor.user_id and last["actor"] == actor.label


@pytest.mark.parametrize(
    ("action", "state", "code"),
    [
        ("not_ours", SENT, "note"),
        ("wont_fix", ACCEPTED, "note"),
        ("reopen", DONE, "note"),
        ("done", IN_PROGRESS, "evidence"),
        ("duplicate", SENT, "duplicate_of"),
        ("reroute", NOT_OURS, "party"),
    ],
)
def test_an_action_without_what_it_needs_is_refused_and_changes_nothing(world, action, state, code):
    task = task_in(world, state)
    with pytest.raises(TaskError) as refused:
        transition(
            world["db"], task["id"], action, world["actors"][COORDINATOR], version=task["version"]
        )
    assert refused.value.code == code
    assert get_task(world["db"], task["id"]) == task


def test_a_blank_note_counts_as_no_note(world):
    task = task_in(world, SENT)
    with pytest.raises(TaskError, match="note"):
        transition(
            world["db"], task["id"], "not_ours", world["actors"][ASSIGNEE], version=1, note="  "
        )


@pytest.mark.parametrize("evidence", [{"note": "Klippt"}, {"has_photo": True}])
def test_done_takes_a_note_or_an_after_photo_as_evidence(world, evidence):
    task = task_in(world, IN_PROGRESS)
    actor = world["actors"][ASSIGNEE]
    assert (
        transition(world["db"], task["id"], "done", actor, version=1, **evidence)["state"] == DONE
    )


def test_send_needs_a_party(world):
    task = task_in(world, PROPOSED, party=None)
    with pytest.raises(TaskError) as refused:
        transition(world["db"], task["id"], "send", world["actors"][LEADER], version=1)
    assert refused.value.code == "party"


def test_not_ours_goes_back_through_reroute_to_another_party_and_is_sent_again(world):
    db, actors = world["db"], world["actors"]
    task_id = new_task(world, assignee_user_id=world["engineer_id"])
    task = transition(db, task_id, "send", actors[LEADER], version=1)
    first_sent = task["sent_at"]
    assert first_sent
    task = transition(
        db, task_id, "not_ours", actors[ASSIGNEE], version=2, note="Gatan är Trafikkontorets"
    )
    assert (task["state"], task["state_note"], task["party_id"]) == (
        NOT_OURS,
        "Gatan är Trafikkontorets",
        world["park"],
    )
    task = transition(
        db,
        task_id,
        "reroute",
        actors[COORDINATOR],
        version=3,
        party_id=world["traffic"],
        note="Gatubelysning",
    )
    assert (task["state"], task["party_id"], task["override_reason"]) == (
        PROPOSED,
        world["traffic"],
        "Gatubelysning",
    )
    assert task["assignee_user_id"] is None, "the park engineer is not the traffic office's"
    assert task["sent_at"] is None, "the new party has been sent nothing yet"
    sent = send_walk_tasks(db, world["walk"]["id"], actors[LEADER])
    assert sent == {world["traffic"]: [task_id]}
    task = get_task(db, task_id)
    assert task["state"] == SENT and task["sent_at"] is not None
    assert [h["action"] for h in task_history(db, task_id)] == [
        "create",
        "send",
        "not_ours",
        "reroute",
        "send",
    ]


def test_reroute_to_another_party_than_the_suggestion_needs_a_reason(world):
    task = task_in(world, NOT_OURS)
    suggestion = {**TRIAGE, "party_id": world["park"], "reason": "zone"}
    db, coordinator = world["db"], world["actors"][COORDINATOR]
    with pytest.raises(TaskError) as refused:
        transition(
            db,
            task["id"],
            "reroute",
            coordinator,
            version=1,
            party_id=world["traffic"],
            suggestion=suggestion,
        )
    assert refused.value.code == "override_reason"
    changed = transition(
        db,
        task["id"],
        "reroute",
        coordinator,
        version=1,
        party_id=world["park"],
        suggestion=suggestion,
    )
    assert changed["party_id"] == world["park"] and changed["override_reason"] is None
    assert json.loads(changed["routing_reason"])["reason"] == "zone"


def test_reroute_to_a_party_that_does_not_exist_is_refused(world):
    task = task_in(world, PROPOSED)
    with pytest.raises(TaskError, match="party"):
        transition(
            world["db"],
            task["id"],
            "reroute",
            world["actors"][COORDINATOR],
            version=1,
            party_id=9999,
            note="x",
        )


def test_duplicate_points_at_the_end_of_a_duplicate_chain(world):
    db, coordinator = world["db"], world["actors"][COORDINATOR]
    a, b, c = new_task(world), new_task(world), new_task(world)
    transition(db, b, "duplicate", coordinator, version=1, duplicate_of=a)
    changed = transition(db, c, "duplicate", coordinator, version=1, duplicate_of=b)
    assert changed["duplicate_of"] == a
    assert task_history(db, c)[-1]["duplicate_of"] == a


def test_a_task_cannot_be_a_duplicate_of_itself(world):
    task_id = new_task(world)
    with pytest.raises(TaskError, match="duplicate_of"):
        transition(
            world["db"],
            task_id,
            "duplicate",
            world["actors"][COORDINATOR],
            version=1,
            duplicate_of=task_id,
        )


def test_duplicates_cannot_make_a_cycle(world):
    db, coordinator = world["db"], world["actors"][COORDINATOR]
    a, b = new_task(world), new_task(world)
    transition(db, b, "duplicate", coordinator, version=1, duplicate_of=a)
    with pytest.raises(TaskError, match="duplicate_of"):
        transition(db, a, "duplicate", coordinator, version=1, duplicate_of=b)
    assert get_task(db, a)["state"] == PROPOSED


def test_duplicate_of_a_missing_task_is_refused(world):
    task_id = new_task(world)
    with pytest.raises(TaskError, match="duplicate_of"):
        transition(
            world["db"],
            task_id,
            "duplicate",
            world["actors"][LEADER],
            version=1,
            duplicate_of=424242,
        )


@pytest.mark.parametrize(
    ("state", "back_to"),
    [(DONE, SENT), (VERIFIED, SENT), (WONT_FIX, PROPOSED), (DUPLICATE, PROPOSED)],
)
def test_reopen_goes_back_to_the_party_only_when_it_was_sent_to_them(world, state, back_to):
    task = task_in(world, state)
    if state == DUPLICATE:  # never sent
        world["db"].execute("UPDATE tasks SET sent_at = NULL WHERE id = ?", [task["id"]])
    changed = transition(
        world["db"], task["id"], "reopen", world["actors"][COORDINATOR], version=1, note="Igen"
    )
    assert changed["state"] == back_to
    assert changed["done_at"] is None and changed["verified_at"] is None
    assert changed["duplicate_of"] is None


def test_the_same_version_twice_changes_the_task_once(world):
    db, engineer = world["db"], world["actors"][ASSIGNEE]
    task = task_in(world, SENT)
    transition(db, task["id"], "accept", engineer, version=task["version"])
    with pytest.raises(VersionConflict) as conflict:
        transition(db, task["id"], "start", engineer, version=task["version"])
    assert conflict.value.code == "conflict"
    assert conflict.value.current["state"] == ACCEPTED
    now = get_task(db, task["id"])
    assert (now["state"], now["version"]) == (ACCEPTED, task["version"] + 1)
    assert [h["action"] for h in task_history(db, task["id"])] == ["create", "accept"]


def test_two_people_on_two_connections_cannot_overwrite_each_other(app, world):
    task = task_in(world, SENT)
    other = connect(app.config["DATABASE_PATH"])
    try:
        seen_by_both = get_task(other, task["id"])["version"]
        transition(
            world["db"], task["id"], "accept", world["actors"][ASSIGNEE], version=seen_by_both
        )
        with pytest.raises(VersionConflict):
            transition(
                other,
                task["id"],
                "not_ours",
                world["actors"][COORDINATOR],
                version=seen_by_both,
                note="x",
            )
    finally:
        other.close()
    assert get_task(world["db"], task["id"])["state"] == ACCEPTED


def test_every_change_leaves_a_history_row_with_from_to_note_and_who(world):
    db, actors = world["db"], world["actors"]
    task_id = new_task(world)
    steps = [
        ("send", LEADER, {}),
        ("accept", ASSIGNEE, {}),
        ("start", ASSIGNEE, {}),
        ("done", ASSIGNEE, {"note": "Lampan bytt"}),
        ("verify", COORDINATOR, {}),
        ("reopen", COORDINATOR, {"note": "Trasig igen"}),
    ]
    for version, (action, kind, options) in enumerate(steps, start=1):
        transition(db, task_id, action, actors[kind], version=version, **options)
    history = task_history(db, task_id)
    assert [(h["action"], h["from"], h["to"], h["note"], h["actor"]) for h in history] == [
        ("create", None, PROPOSED, None, "Cora"),
        ("send", PROPOSED, SENT, None, "Leo"),
        ("accept", SENT, ACCEPTED, None, "Eva"),
        ("start", ACCEPTED, IN_PROGRESS, None, "Eva"),
        ("done", IN_PROGRESS, DONE, "Lampan bytt", "Eva"),
        ("verify", DONE, VERIFIED, None, "Cora"),
        ("reopen", VERIFIED, SENT, "Trasig igen", "Cora"),
    ]
    assert [h["user_name"] for h in history][:3] == ["Cora", "Leo", "Eva"]
    assert all(h["at"].endswith("Z") for h in history)


def test_sent_done_and_verified_are_stamped_when_they_happen(world):
    db, actors = world["db"], world["actors"]
    task_id = new_task(world)
    task = get_task(db, task_id)
    assert (task["sent_at"], task["done_at"], task["verified_at"]) == (None, None, None)
    task = transition(db, task_id, "send", actors[LEADER], version=1)
    assert task["sent_at"]
    first_sent = task["sent_at"]
    task = transition(db, task_id, "done", actors[ASSIGNEE], version=2, note="Klart")
    assert task["done_at"] and task["verified_at"] is None
    task = transition(db, task_id, "verify", actors[COORDINATOR], version=3)
    assert task["verified_at"] and task["sent_at"] == first_sent


def test_a_task_needs_a_measure_a_known_priority_and_a_real_due_date(world):
    for values, code in [
        ({"measure": "  "}, "measure"),
        ({"priority": "asap"}, "priority"),
        ({"due_date": "snart"}, "due_date"),
        ({"due_date": "2026-02-30"}, "due_date"),
    ]:
        with pytest.raises(TaskError) as refused:
            new_task(world, **values)
        assert refused.value.code == code


def test_choosing_another_party_than_the_suggestion_needs_a_reason_that_is_kept(world):
    suggestion = {**TRIAGE, "party_id": world["park"], "reason": "zone"}
    base = {
        "observation_ids": [world["observation"]],
        "measure": "Byt lampan",
        "party_id": world["traffic"],
        "suggestion": suggestion,
        "actor": world["actors"][COORDINATOR],
    }
    with pytest.raises(TaskError, match="override_reason"):
        insert_task(world["db"], **base)
    task_id = insert_task(world["db"], **base, override_reason="Gatlyktan är kommunens")
    assert get_task(world["db"], task_id)["override_reason"] == "Gatlyktan är kommunens"


def test_a_named_assignee_must_be_an_engineer_of_the_party(world):
    with pytest.raises(TaskError, match="assignee"):
        new_task(world, party="traffic", assignee_user_id=world["engineer_id"])
    task_id = new_task(world, assignee_user_id=world["engineer_id"])
    assert get_task(world["db"], task_id)["assignee_user_id"] == world["engineer_id"]


def test_a_task_for_a_missing_observation_is_refused(world):
    with pytest.raises(TaskError, match="observations"):
        insert_task(
            world["db"],
            observation_ids=[str(uuid.uuid4())],
            measure="x",
            party_id=None,
            suggestion=TRIAGE,
            actor=world["actors"][COORDINATOR],
        )


def test_several_observations_point_at_one_task_and_one_observation_at_several(world):
    db = world["db"]
    second = make_observation(db, world["walk"], description="Samma lampa, andra hållet")
    lamp = new_task(world)
    bushes = new_task(world, measure="Klipp buskarna")
    link_observation(db, lamp, second, world["actors"][LEADER])
    assert [t["id"] for t in tasks_for_observation(db, world["observation"])] == [lamp, bushes]
    assert [t["id"] for t in tasks_for_observation(db, second)] == [lamp]
    assert task_history(db, lamp)[-1]["observation_id"] == second


def test_send_walk_tasks_sends_those_with_a_party_and_leaves_triage_waiting(world):
    db = world["db"]
    park_task, traffic_task = new_task(world), new_task(world, party="traffic")
    triage_task = new_task(world, party=None)
    sent = send_walk_tasks(db, world["walk"]["id"], world["actors"][LEADER])
    assert sent == {world["park"]: [park_task], world["traffic"]: [traffic_task]}
    assert get_task(db, triage_task)["state"] == PROPOSED
    assert send_walk_tasks(db, world["walk"]["id"], world["actors"][LEADER]) == {}
