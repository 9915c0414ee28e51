"""How far an observation's fixes got: open or closed, and every change to them over time.

An observation is *closed* once it has fixes and every one of them is done, verified, a
duplicate or will not be fixed; until then (no fix yet, or one still proposed, with the party
or being passed on) it is *open*. What works well is not a problem to fix and has no status.
Open311 (`fieldwalk/open311/`) reads observations as service requests through these
functions; the rule lives here, beside the tasks it is about.
"""

import json

from sqlite_utils import Database

from fieldwalk.tasks.states import DONE, DUPLICATE, VERIFIED, WONT_FIX

CLOSING_STATES = (DONE, VERIFIED, DUPLICATE, WONT_FIX)

_CLOSING = ", ".join(f"'{state}'" for state in CLOSING_STATES)
# 1 when the observation (alias o) has fixes and every one of them is finished.
_CLOSED = f"""(EXISTS (SELECT 1 FROM task_observations t WHERE t.observation_id = o.id)
    AND NOT EXISTS (SELECT 1 FROM task_observations t JOIN tasks ON tasks.id = t.task_id
                    WHERE t.observation_id = o.id AND tasks.state NOT IN ({_CLOSING})))"""  # noqa: S608 - constants
_TASKS_UPDATED = """(SELECT max(tasks.updated_at) FROM task_observations t
    JOIN tasks ON tasks.id = t.task_id WHERE t.observation_id = o.id)"""


def is_closed(states: list[str]) -> bool:
    """The rule on a list of task states: some fixes, all of them finished."""
    return bool(states) and all(state in CLOSING_STATES for state in states)


def find_requests(
    db: Database,
    *,
    ids: list[str] | None = None,
    categories: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    closed: bool | None = None,
    reviewed: str | None = None,
    limit: int = 1000,
) -> list[dict]:
    """Observations of problems (not what works well), newest observed first, each with
    `closed` (0 or 1) and `changed_at` (its own or its fixes' latest change).

    `ids` picks observations by UUID and ignores every other filter but `reviewed` (staff's
    public review decision, e.g. 'approved', which always applies); otherwise `categories`,
    the observed time from `start` to `end` (UTC stamps, both included) and `closed`.
    """
    where, params = ["o.works_well = 0"], []
    if reviewed is not None:
        where.append("o.public_review = ?")
        params.append(reviewed)
    if ids is not None:
        where.append(f"o.id IN ({','.join('?' * len(ids)) or 'NULL'})")
        params += ids
    else:
        if categories:
            where.append(f"o.category IN ({','.join('?' * len(categories))})")
            params += categories
        if start is not None:
            where.append("o.observed_at >= ?")
            params.append(start)
        if end is not None:
            where.append("o.observed_at <= ?")
            params.append(end)
        if closed is not None:
            where.append(f"{_CLOSED} = ?")
            params.append(int(closed))
    sql = f"""SELECT o.*, {_CLOSED} AS closed,
                     max(o.updated_at, coalesce({_TASKS_UPDATED}, '')) AS changed_at
              FROM observations o WHERE {" AND ".join(where)}
              ORDER BY o.observed_at DESC, o.id LIMIT ?"""  # noqa: S608 - fixed fragments
    return [dict(r) for r in db.execute(sql, [*params, limit])]


def task_changes(db: Database, start: str, end: str, limit: int = 1000) -> list[dict]:
    """Every change of a task's state from `start` to `end` (UTC stamps, both included),
    oldest first: audit id, time, task id, action, the state it led to, and the task's
    measure and observation ids."""
    rows = db.execute(
        """SELECT a.id, a.at, a.entity_id, a.action, a.detail, tasks.measure,
                  (SELECT json_group_array(t.observation_id) FROM task_observations t
                   WHERE t.task_id = tasks.id) AS observation_ids
           FROM audit_log a JOIN tasks ON tasks.id = CAST(a.entity_id AS INTEGER)
           WHERE a.entity = 'task' AND a.at BETWEEN ? AND ?
             AND json_extract(a.detail, '$.to') IS NOT NULL
           ORDER BY a.id LIMIT ?""",
        [start, end, limit],
    )
    return [_change(row) for row in rows]


def changes_of_observations(db: Database, observation_ids: list[str]) -> dict[str, list[dict]]:
    """Every state change of the tasks of these observations, oldest first, by observation:
    what replaying them needs to tell the status after each one."""
    found: dict[str, list[dict]] = {oid: [] for oid in observation_ids}
    for start in range(0, len(observation_ids), 500):
        chunk = observation_ids[start : start + 500]
        rows = db.execute(
            f"""SELECT a.id, a.at, a.entity_id, a.action, a.detail, tasks.measure,
                       json_array(t.observation_id) AS observation_ids
                FROM task_observations t JOIN tasks ON tasks.id = t.task_id
                JOIN audit_log a ON a.entity = 'task' AND a.entity_id = CAST(tasks.id AS TEXT)
                WHERE t.observation_id IN ({",".join("?" * len(chunk))})
                  AND json_extract(a.detail, '$.to') IS NOT NULL
                ORDER BY a.id""",  # noqa: S608 - placeholders only
            chunk,
        )
        for row in rows:
            change = _change(row)
            found[change["observation_ids"][0]].append(change)
    return found


def _change(row) -> dict:
    detail = json.loads(row["detail"])
    return {
        "id": row["id"],
        "at": row["at"],
        "task_id": int(row["entity_id"]),
        "action": row["action"],
        "to": detail.get("to"),
        "measure": row["measure"],
        "observation_ids": json.loads(row["observation_ids"]),
    }


def status_after_each(changes: list[dict]) -> dict[int, bool]:
    """Replay an observation's task changes (oldest first): whether it was closed after each
    one, by audit id."""
    states: dict[int, str] = {}
    closed = {}
    for change in changes:
        states[change["task_id"]] = change["to"]
        closed[change["id"]] = is_closed(list(states.values()))
    return closed
