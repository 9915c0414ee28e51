"""Task figures for the annual follow-up and the safety index: fixes done per party with
their days to done, and how many were open at given moments."""

from collections.abc import Sequence
from datetime import datetime

from sqlite_utils import Database

from fieldwalk.tasks.states import OPEN_STATES

DAY_SECONDS = 86400


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def done_by_party(
    db: Database, place_ids: Sequence[int], start_utc: str, end_utc: str
) -> dict[int, dict[int | None, dict]]:
    """Per place and party (None: no party), the tasks done from `start_utc` to `end_utc`
    (UTC text, end excluded): {place_id: {party_id: {"name", "days": [...]}}}. A task's days
    run from its first observation's `observed_at` to `done_at`; a task with no observation
    (a meeting's decision) counts from when it was opened."""
    if not place_ids:
        return {}
    rows = db.execute(
        f"""SELECT tasks.place_id, tasks.party_id, parties.name AS party_name, tasks.done_at,
                   coalesce((SELECT min(o.observed_at) FROM task_observations t
                             JOIN observations o ON o.id = t.observation_id
                             WHERE t.task_id = tasks.id), tasks.created_at) AS began_at
            FROM tasks LEFT JOIN parties ON parties.id = tasks.party_id
            WHERE tasks.done_at >= ? AND tasks.done_at < ?
              AND tasks.place_id IN ({",".join("?" * len(place_ids))})""",  # noqa: S608
        [start_utc, end_utc, *place_ids],
    )
    found: dict[int, dict[int | None, dict]] = {}
    for row in rows:
        seconds = (_instant(row["done_at"]) - _instant(row["began_at"])).total_seconds()
        entry = found.setdefault(row["place_id"], {}).setdefault(
            row["party_id"], {"name": row["party_name"], "days": []}
        )
        entry["days"].append(max(seconds, 0) / DAY_SECONDS)
    return found


def open_at(db: Database, place_ids: Sequence[int], moments: Sequence[str]) -> dict[int, list[int]]:
    """Per place, how many of its tasks were open at each moment (UTC text): opened before
    it, and neither done by then nor closed without a date since (will not fix, duplicate
    and "not ours" tasks that have no `done_at` count as open only while still open now)."""
    if not place_ids or not moments:
        return {}
    states = ",".join(f"'{s}'" for s in OPEN_STATES)
    values = ",".join("(?, ?)" for _m in moments)
    params: list = [v for i, m in enumerate(moments) for v in (i, m)]
    rows = db.execute(
        f"""WITH ends(i, at) AS (VALUES {values})
            SELECT tasks.place_id, ends.i, count(*) AS n FROM tasks JOIN ends
              ON tasks.created_at < ends.at
             AND (tasks.done_at >= ends.at OR (tasks.done_at IS NULL AND tasks.state IN ({states})))
            WHERE tasks.place_id IN ({",".join("?" * len(place_ids))})
            GROUP BY tasks.place_id, ends.i""",  # noqa: S608 - placeholders and constants
        [*params, *place_ids],
    )
    found: dict[int, list[int]] = {p: [0] * len(moments) for p in place_ids}
    for row in rows:
        found[row["place_id"]][row["i"]] = row["n"]
    return found
