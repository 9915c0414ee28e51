"""Camera site proposals: the district proposes a site for a city safety camera to the city's
security office, which decides.

A proposal is a point near a place, the district's motivation and the reasons drawn from the
figures (the place's events by type over the last 12 months, the weekly assessments of the
last 12 months), kept as they were when it was proposed. It travels to the security office as
a task, sent at once; the office's answer and decision are recorded on the proposal, which
closes the task with the answer as its note. An approved site becomes a city camera fact
("decided") on the place.
"""

import json
from datetime import datetime, timedelta

from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.events.model import count_events_by
from fieldwalk.geo import distance_to_polygon_m
from fieldwalk.measures.model import record_fact
from fieldwalk.parties.model import get_party
from fieldwalk.places.model import get_place, place_geometry
from fieldwalk.reports.assessments import level_history
from fieldwalk.reports.periods import week_text
from fieldwalk.tasks.model import get_task, get_tasks, insert_task, transition
from fieldwalk.tasks.states import WITH_PARTY, Actor, TaskError
from fieldwalk.tasks.suggest import suggest_for_place

DECISIONS = ("approved", "rejected", "postponed")
MAX_MOTIVATION = 1000
MAX_ANSWER = 2000
# A camera watches the place: its site lies in the place's polygon or at most this far out.
NEAR_PLACE_METRES = 300
LEVELS_ORDER = ("calm", "uneasy", "serious", "acute")


class ProposalAnswered(Exception):
    """The security office's answer to this proposal was already recorded."""


def camera_reasons(db: Database, place_id: int, moment: datetime) -> dict:
    """What speaks for a camera at a place, at `moment` (aware): events by type over the last
    12 months (365 days), and the weekly meeting's latest level of each week in that span,
    counted per level. Plain values, kept with the proposal as they were."""
    since = moment - timedelta(days=365)
    by_type = count_events_by(db, ("type",), place_id=place_id, since=since, until=moment)
    first = since.isocalendar()
    last = moment.isocalendar()
    weeks = level_history(
        db, week_text(first.year, first.week), week_text(last.year, last.week)
    ).get(place_id, {})
    levels = {level: 0 for level in LEVELS_ORDER}
    for level in weeks.values():
        levels[level] = levels.get(level, 0) + 1
    return {
        "since": since.date().isoformat(),
        "until": moment.date().isoformat(),
        "events": {kind: n for (kind,), n in sorted(by_type.items(), key=lambda i: -i[1])},
        "events_total": sum(by_type.values()),
        "levels": levels,
        "weeks_assessed": len(weeks),
        "latest_level": weeks[max(weeks)] if weeks else None,
    }


def check_site(db: Database, place_id: int, lat: float, lon: float) -> dict:
    """The place, when the point can be a camera site for it; ValueError otherwise."""
    place = get_place(db, place_id)
    if place is None:
        raise ValueError("no such place")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("not a position")
    if distance_to_polygon_m(place_geometry(place), lat, lon) > NEAR_PLACE_METRES:
        raise ValueError("far from the place")
    return place


def propose_camera(
    db: Database,
    *,
    place_id: int,
    lat: float,
    lon: float,
    motivation: str,
    party_id: int,
    measure: str,
    reason: str,
    due_date: str,
    actor: Actor,
    moment: datetime,
    key: str | None = None,
    proposed_at: str | None = None,
) -> tuple[int, bool]:
    """Store a proposal with its reasons and send it to the security office (`party_id`) as a
    task (`measure` its text, `reason` why it goes to that party when the zones suggest
    another); return (proposal id, created). A `key` already stored returns that proposal and
    False (a form sent twice)."""
    motivation = motivation.strip()
    if len(motivation) > MAX_MOTIVATION:
        raise ValueError("motivation too long")
    party = get_party(db, party_id)
    if party is None:
        raise TaskError("party")
    with transaction(db):
        if key is not None:
            row = db.execute("SELECT id FROM camera_proposals WHERE key = ?", [key]).fetchone()
            if row:
                return row[0], False
        place = check_site(db, place_id, lat, lon)
        reasons = camera_reasons(db, place_id, moment)
        suggestion = suggest_for_place(db, place).as_dict()
        task_id = insert_task(
            db,
            observation_ids=[],
            place_id=place_id,
            measure=measure,
            party_id=party_id,
            suggestion=suggestion,
            override_reason=reason if party_id != suggestion["party_id"] else None,
            due_date=due_date,
            actor=actor,
        )
        transition(db, task_id, "send", actor, version=get_task(db, task_id)["version"])
        cursor = db.execute(
            """INSERT INTO camera_proposals (place_id, lat, lon, motivation, reasons, task_id,
                   key, proposed_by, proposed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                place_id,
                round(lat, 6),
                round(lon, 6),
                motivation,
                json.dumps(reasons, ensure_ascii=False),
                task_id,
                key,
                actor.user_id,
                proposed_at or now(),
            ],
        )
    return cursor.lastrowid, True


SELECT = """
    SELECT camera_proposals.*, places.name AS place_name,
           coalesce(nullif(p.name, ''), p.email) AS proposed_by_name,
           coalesce(nullif(a.name, ''), a.email) AS answered_by_name
    FROM camera_proposals JOIN places ON places.id = camera_proposals.place_id
    LEFT JOIN users p ON p.id = camera_proposals.proposed_by
    LEFT JOIN users a ON a.id = camera_proposals.answered_by"""


def _with_tasks(db: Database, rows: list) -> list[dict]:
    proposals = [dict(r) for r in rows]
    tasks = get_tasks(db, [p["task_id"] for p in proposals if p["task_id"]])
    for proposal in proposals:
        proposal["reasons"] = json.loads(proposal["reasons"])
        proposal["task"] = tasks.get(proposal["task_id"])
    return proposals


def get_proposal(db: Database, proposal_id: int) -> dict | None:
    """One proposal with its reasons (a dict) and its task, or None."""
    row = db.execute(f"{SELECT} WHERE camera_proposals.id = ?", [proposal_id]).fetchone()  # noqa: S608
    return _with_tasks(db, [row])[0] if row else None


def list_proposals(db: Database, place_id: int | None = None) -> list[dict]:
    """Proposals, newest first; one place's when named."""
    where, params = ("WHERE camera_proposals.place_id = ?", [place_id]) if place_id else ("", [])
    rows = db.execute(
        f"{SELECT} {where} ORDER BY camera_proposals.proposed_at DESC, camera_proposals.id DESC",  # noqa: S608
        params,
    ).fetchall()
    return _with_tasks(db, rows)


def record_answer(
    db: Database,
    proposal_id: int,
    *,
    decision: str,
    answer: str,
    actor: Actor,
    fact_note: str,
    answered_at: str | None = None,
) -> dict:
    """Record the security office's decision and answer; the task is done with the answer as
    its note, and an approved site becomes a city camera fact ("decided", `fact_note`) on the
    place. ProposalAnswered when an answer is already there (the first one stands)."""
    answer = answer.strip()
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    if not answer or len(answer) > MAX_ANSWER:
        raise ValueError("answer missing or too long")
    with transaction(db):
        proposal = get_proposal(db, proposal_id)
        if proposal is None:
            raise ValueError("no such proposal")
        if proposal["decision"]:
            raise ProposalAnswered()
        stamp = answered_at or now()
        db.execute(
            """UPDATE camera_proposals SET decision = ?, answer = ?, answered_by = ?,
                   answered_at = ? WHERE id = ?""",
            [decision, answer, actor.user_id, stamp, proposal_id],
        )
        task = proposal["task"]
        if task and task["state"] in WITH_PARTY:
            transition(db, task["id"], "done", actor, version=task["version"], note=answer)
        if decision == "approved":
            record_fact(
                db,
                place_id=proposal["place_id"],
                kind="city_cameras",
                state="decided",
                from_date=stamp[:10],
                note=fact_note,
                recorded_by=actor.user_id,
                recorded_at=answered_at,
            )
        return get_proposal(db, proposal_id)
