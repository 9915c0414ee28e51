"""The annual follow-up's joint written assessment of a place, written with the police: how
it has been, how it is expected to develop, and the long-term measures needed (one a line).

Kept in versions like the weekly assessment: every save is a new version naming the one it
was written over (`based_on`), refused with AssessmentConflict when someone saved in between.
A version marked `finished` is the one the meeting agreed on. Each line of the measures can
become a task for a party (`make_measure_task`), linked back so the page shows its state.
"""

from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.places.model import get_place
from fieldwalk.reports.assessments import AssessmentConflict
from fieldwalk.tasks.model import get_task, get_tasks, insert_task, transition
from fieldwalk.tasks.states import Actor, TaskError
from fieldwalk.tasks.suggest import suggest_for_place

TEXT_FIELDS = ("how_it_has_been", "expected_development", "long_term_measures")
MAX_FIELD = 4000
MAX_MEASURE = 500

SELECT = """
    SELECT annual_assessments.*,
           coalesce(nullif(users.name, ''), users.email) AS written_by_name
    FROM annual_assessments LEFT JOIN users ON users.id = annual_assessments.written_by"""


def latest_annual(db: Database, place_id: int, year: int) -> dict | None:
    """The newest version of a place's written assessment for a year, or None."""
    row = db.execute(
        f"{SELECT} WHERE place_id = ? AND year = ? ORDER BY version DESC LIMIT 1",  # noqa: S608
        [place_id, year],
    ).fetchone()
    return dict(row) if row else None


def annual_versions(db: Database, place_id: int, year: int) -> list[dict]:
    """Every version, newest first."""
    rows = db.execute(
        f"{SELECT} WHERE place_id = ? AND year = ? ORDER BY version DESC",  # noqa: S608
        [place_id, year],
    )
    return [dict(r) for r in rows]


def save_annual(
    db: Database,
    *,
    place_id: int,
    year: int,
    texts: dict[str, str],
    finished: bool,
    written_by: int | None,
    based_on: int,
    written_at: str | None = None,
) -> tuple[dict, bool]:
    """Store a new version; return it and whether it is new. The same texts and state sent
    again by the same person are taken as already saved."""
    values = {field: (texts.get(field) or "").strip() for field in TEXT_FIELDS}
    if any(len(v) > MAX_FIELD for v in values.values()):
        raise ValueError("text too long")
    with transaction(db):
        latest = latest_annual(db, place_id, year)
        current = latest["version"] if latest else 0
        if based_on != current:
            same = (
                latest
                and latest["written_by"] == written_by
                and all(latest[f] == values[f] for f in TEXT_FIELDS)
                and bool(latest["finished"]) == finished
            )
            if same:
                return latest, False
            raise AssessmentConflict(latest)
        db.execute(
            """INSERT INTO annual_assessments (place_id, year, version, how_it_has_been,
                   expected_development, long_term_measures, finished, written_by, written_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                place_id,
                year,
                current + 1,
                *values.values(),
                int(finished),
                written_by,
                written_at or now(),
            ],
        )
        return latest_annual(db, place_id, year), True


def measure_lines(text: str) -> list[str]:
    """The measures, one a line (a leading dash or bullet dropped), without repeats."""
    lines = [line.strip().lstrip("-–•*").strip() for line in (text or "").splitlines()]
    return list(dict.fromkeys(line for line in lines if line))


def measure_tasks(db: Database, place_id: int, year: int) -> dict[str, dict]:
    """The measures of a place's year that became tasks: {measure: task}."""
    rows = db.execute(
        "SELECT measure, task_id FROM annual_measures WHERE place_id = ? AND year = ?",
        [place_id, year],
    ).fetchall()
    tasks = get_tasks(db, [r["task_id"] for r in rows])
    return {r["measure"]: tasks[r["task_id"]] for r in rows if r["task_id"] in tasks}


def make_measure_task(
    db: Database,
    *,
    place_id: int,
    year: int,
    measure: str,
    party_id: int | None,
    due_date: str,
    actor: Actor,
    reason: str,
    created_at: str | None = None,
) -> tuple[int, bool]:
    """Make a long-term measure of the written assessment a task for the place (routed like a
    weekly decision: sent at once to a chosen party, else in triage); return (task id,
    created). A measure that is already a task returns that task and False."""
    measure = measure.strip()
    if not measure or len(measure) > MAX_MEASURE:
        raise TaskError("measure")
    with transaction(db):
        latest = latest_annual(db, place_id, year)
        if latest is None or measure not in measure_lines(latest["long_term_measures"]):
            raise TaskError("measure")
        row = db.execute(
            "SELECT task_id FROM annual_measures WHERE place_id = ? AND year = ? AND measure = ?",
            [place_id, year, measure],
        ).fetchone()
        if row:
            return row[0], False
        place = get_place(db, place_id)
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
        if party_id is not None:
            transition(db, task_id, "send", actor, version=get_task(db, task_id)["version"])
        db.execute(
            """INSERT INTO annual_measures (place_id, year, measure, task_id, created_by,
                   created_at) VALUES (?, ?, ?, ?, ?, ?)""",
            [place_id, year, measure, task_id, actor.user_id, created_at or now()],
        )
    return task_id, True
