"""Tasks (åtgärder): the fixes proposed on a walk, sent to whoever owns the ground.

The state machine lives in one table, `TRANSITIONS`: for each action, the states it may
start from, the state it leads to, who may take it, and what it needs. Every change bumps
the task's version; a change that names an older version is refused as a conflict, so two
people changing a task at once never overwrite each other silently. Every change is written
to the audit log (who, when, from, to, note).
"""

import json
import math
from datetime import date

from sqlite_utils import Database

from fieldwalk import textsearch
from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.parties.model import get_party
from fieldwalk.places.model import get_place
from fieldwalk.tasks import untasked
from fieldwalk.tasks.cases import case_year
from fieldwalk.tasks.notices import REOPENED_REASON, SENT_REASON, queue_notice
from fieldwalk.tasks.states import (
    DONE,
    DUPLICATE,
    PRIORITIES,
    PROPOSED,
    SENT,
    TRANSITIONS,
    VERIFIED,
    Actor,
    TaskError,
    VersionConflict,
)


def get_task(db: Database, task_id: int) -> dict | None:
    """One task with its party's name, or None."""
    row = db.execute(
        """SELECT tasks.*, parties.name AS party_name FROM tasks
           LEFT JOIN parties ON parties.id = tasks.party_id WHERE tasks.id = ?""",
        [task_id],
    ).fetchone()
    return dict(row) if row else None


def insert_task(
    db: Database,
    *,
    observation_ids: list[str],
    measure: str,
    party_id: int | None,
    suggestion: dict,
    override_reason: str | None = None,
    priority: str = "normal",
    due_date: str | None = None,
    assignee_user_id: int | None = None,
    actor: Actor,
    place_id: int | None = None,
) -> int:
    """Create a proposed task for one or more observations; return its id.

    Leaving `party_id` empty puts the task in triage. Choosing another party than the routing
    suggestion needs an `override_reason`, which is kept with the task. With no observations
    but a `place_id`, the task is for the place as a whole (a measure the weekly meeting
    decided) and sits at the place's centre.
    """
    if not measure.strip():
        raise TaskError("measure")
    if priority not in PRIORITIES:
        raise TaskError("priority")
    if due_date is not None and not is_date(due_date):
        raise TaskError("due_date")
    if not observation_ids and place_id is None:
        raise TaskError("observations")
    if party_id != suggestion.get("party_id") and not (override_reason or "").strip():
        raise TaskError("override_reason")
    stamp = now()
    with transaction(db):
        _check_party(db, party_id, assignee_user_id)
        for observation_id in observation_ids:
            if not db.execute(
                "SELECT 1 FROM observations WHERE id = ?", [observation_id]
            ).fetchone():
                raise TaskError("observations")
        if observation_ids:
            first = db.execute(
                "SELECT walk_id, place_id, lat, lon FROM observations WHERE id = ?",
                [observation_ids[0]],
            ).fetchone()
        else:
            place = get_place(db, place_id)
            if place is None:
                raise TaskError("place")
            first = {
                "walk_id": None,
                "place_id": place_id,
                "lat": place["center_lat"],
                "lon": place["center_lon"],
            }
        # The next case number of the year, under this transaction's write lock: no two
        # tasks get the same one, and none is skipped.
        year = case_year(stamp)
        seq = db.execute(
            "SELECT coalesce(max(case_seq), 0) + 1 FROM tasks WHERE case_year = ?", [year]
        ).fetchone()[0]
        cursor = db.execute(
            """INSERT INTO tasks (walk_id, place_id, measure, party_id, assignee_user_id, priority,
                   due_date, state, routing_reason, override_reason, lat, lon, created_by,
                   created_at, updated_at, case_year, case_seq)
               VALUES (?, ?, ?, ?, ?, ?, ?, 'proposed', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                first["walk_id"],
                first["place_id"],
                measure.strip(),
                party_id,
                assignee_user_id,
                priority,
                due_date,
                json.dumps(suggestion),
                (override_reason or "").strip() or None,
                first["lat"],
                first["lon"],
                actor.user_id,
                stamp,
                stamp,
                year,
                seq,
            ],
        )
        task_id = cursor.lastrowid
        for observation_id in dict.fromkeys(observation_ids):
            db.execute(
                "INSERT INTO task_observations (task_id, observation_id) VALUES (?, ?)",
                [task_id, observation_id],
            )
        _log(db, actor, task_id, "create", None, PROPOSED, override_reason, party_id=party_id)
    return task_id


def get_tasks(db: Database, task_ids: list[int]) -> dict[int, dict]:
    """Tasks by id, each with its party's name (ids that are not found are left out)."""
    if not task_ids:
        return {}
    rows = db.execute(
        f"""SELECT tasks.*, parties.name AS party_name FROM tasks
            LEFT JOIN parties ON parties.id = tasks.party_id
            WHERE tasks.id IN ({",".join("?" * len(task_ids))})""",  # noqa: S608
        list(task_ids),
    )
    return {row["id"]: dict(row) for row in rows}


def fix_states(db: Database, observation_ids: list[str]) -> dict[str, set[str]]:
    """The states of the tasks that fix each observation, by observation (a task closed as a
    duplicate counts with the state of its original); observations without a task are left
    out."""
    found: dict[str, set[str]] = {}
    for start in range(0, len(observation_ids), 500):
        chunk = observation_ids[start : start + 500]
        rows = db.execute(
            f"""SELECT y.observation_id,
                       CASE WHEN t.state = 'duplicate' AND d.id IS NOT NULL THEN d.state
                            ELSE t.state END AS state
                FROM task_observations y JOIN tasks t ON t.id = y.task_id
                LEFT JOIN tasks d ON d.id = t.duplicate_of
                WHERE y.observation_id IN ({",".join("?" * len(chunk))})""",  # noqa: S608
            chunk,
        )
        for observation_id, state in rows:
            found.setdefault(observation_id, set()).add(state)
    return found


def is_date(value: str) -> bool:
    """True for an ISO date (YYYY-MM-DD) that exists."""
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _check_party(db: Database, party_id: int | None, assignee_user_id: int | None) -> None:
    """The party exists, and a named assignee is an engineer of it."""
    if party_id is not None and get_party(db, party_id) is None:
        raise TaskError("party")
    check_assignee(db, party_id, assignee_user_id)


def check_assignee(db: Database, party_id: int | None, assignee_user_id: int | None) -> None:
    """A named assignee (None: anyone at the party) is an unlocked engineer of the party."""
    if assignee_user_id is not None:
        row = db.execute(
            "SELECT party_id FROM users WHERE id = ? AND role = 'engineer' AND locked_at IS NULL",
            [assignee_user_id],
        ).fetchone()
        if row is None or party_id is None or row["party_id"] != party_id:
            raise TaskError("assignee")


def link_observation(db: Database, task_id: int, observation_id: str, actor: Actor) -> None:
    """Point one more observation at an existing task (the same problem seen twice)."""
    with transaction(db):
        if get_task(db, task_id) is None:
            raise TaskError("not_found")
        if not db.execute("SELECT 1 FROM observations WHERE id = ?", [observation_id]).fetchone():
            raise TaskError("observations")
        db.execute(
            "INSERT OR IGNORE INTO task_observations (task_id, observation_id) VALUES (?, ?)",
            [task_id, observation_id],
        )
        _log(db, actor, task_id, "link", None, None, None, observation_id=observation_id)


def transition(
    db: Database,
    task_id: int,
    action: str,
    actor: Actor,
    *,
    version: int,
    note: str | None = None,
    has_photo: bool = False,
    duplicate_of: int | None = None,
    party_id: int | None = None,
    suggestion: dict | None = None,
) -> dict:
    """Apply an action to a task; return the changed task. Raise TaskError or VersionConflict.

    `reroute` takes the new `party_id` and, optionally, a fresh routing `suggestion`; a
    party other than the suggestion needs a reason in `note`, as when the task was created.
    """
    rule = TRANSITIONS.get(action)
    if rule is None:
        raise TaskError("unknown_action")
    note = (note or "").strip() or None
    with transaction(db):
        task = get_task(db, task_id)
        if task is None:
            raise TaskError("not_found")
        if task["version"] != version:
            raise VersionConflict(task)
        if not set(rule.actors) & set(actor.kinds):
            raise TaskError("forbidden")
        if task["state"] not in rule.sources:
            raise TaskError("state", state=task["state"])
        if "note" in rule.needs and not note:
            raise TaskError("note")
        if "evidence" in rule.needs and not (note or has_photo):
            raise TaskError("evidence")
        target = rule.target
        changes: dict = {}
        if action == "send" and task["party_id"] is None:
            raise TaskError("party")
        if action == "reroute":
            if party_id is None:
                raise TaskError("party")
            _check_party(db, party_id, None)
            if suggestion is None:
                suggestion = json.loads(task["routing_reason"] or "{}")
            if party_id != suggestion.get("party_id") and not note:
                raise TaskError("override_reason")
            # A new party has been sent nothing yet, and the old party's engineer is no
            # longer the one to do it.
            changes.update(
                party_id=party_id,
                override_reason=note,
                routing_reason=json.dumps(suggestion),
                assignee_user_id=None,
                sent_at=None,
            )
        if action == "duplicate":
            changes["duplicate_of"] = _resolve_original(db, task_id, duplicate_of)
        if action == "reopen":
            # Back to the party only when it was sent to them; else back to the leader's list.
            target = SENT if task["sent_at"] is not None else PROPOSED
            changes["duplicate_of"] = None
            changes["done_at"] = None
            changes["verified_at"] = None
        stamp = now()
        if target == SENT and changes.get("sent_at", task["sent_at"]) is None:
            changes["sent_at"] = stamp
        if target == DONE:
            changes["done_at"] = stamp
        if target == VERIFIED:
            changes["verified_at"] = stamp
        changes.update(state=target, state_note=note, updated_at=stamp, version=task["version"] + 1)
        assignments = ", ".join(f"{column} = ?" for column in changes)
        cursor = db.execute(
            f"UPDATE tasks SET {assignments} WHERE id = ? AND version = ?",  # noqa: S608
            [*changes.values(), task_id, version],
        )
        if cursor.rowcount != 1:
            raise VersionConflict(get_task(db, task_id))
        if target == SENT:
            # Handed to a party (sent, sent after a re-route, reopened back to it): the party
            # is told in the next sending round, whichever way it got there.
            reason = REOPENED_REASON if action == "reopen" else SENT_REASON
            holder = changes.get("party_id", task["party_id"])
            queue_notice(db, task_id, holder, reason, note if action == "reopen" else None)
        _log(
            db,
            actor,
            task_id,
            action,
            task["state"],
            target,
            note,
            **({"party_id": party_id} if party_id else {}),
            **({"duplicate_of": changes["duplicate_of"]} if changes.get("duplicate_of") else {}),
        )
        return get_task(db, task_id)


def _resolve_original(db: Database, task_id: int, duplicate_of: int | None) -> int:
    """The task a duplicate points at: the end of the chain, never the task itself."""
    original = get_task(db, duplicate_of) if duplicate_of else None
    seen = {task_id}
    while original is not None and original["id"] not in seen:
        if original["state"] != DUPLICATE or not original["duplicate_of"]:
            return original["id"]
        seen.add(original["id"])
        original = get_task(db, original["duplicate_of"])
    raise TaskError("duplicate_of")


def log_change(db: Database, actor: Actor, task_id: int, action: str, **detail) -> None:
    """Write one change of a task to the audit log (inside the change's transaction)."""
    _log(db, actor, task_id, action, None, None, None, **detail)


def _log(db, actor: Actor, task_id, action, source, target, note, **extra) -> None:
    detail = {"from": source, "to": target, "note": note, **extra}
    db.execute(
        """INSERT INTO audit_log (at, user_id, action, entity, entity_id, detail, actor)
           VALUES (?, ?, ?, 'task', ?, ?, ?)""",
        [
            now(),
            actor.user_id,
            action,
            str(task_id),
            json.dumps(detail, ensure_ascii=False),
            actor.label,
        ],
    )


def task_history(db: Database, task_id: int) -> list[dict]:
    """Every change of a task, oldest first: who, when, from, to, note."""
    rows = db.execute(
        """SELECT audit_log.*, users.name AS user_name FROM audit_log
           LEFT JOIN users ON users.id = audit_log.user_id
           WHERE entity = 'task' AND entity_id = ? ORDER BY audit_log.id""",
        [str(task_id)],
    )
    history = []
    for row in rows:
        entry = dict(row)
        entry.update(json.loads(entry.pop("detail")))
        history.append(entry)
    return history


def task_observation_ids(db: Database, task_id: int) -> list[str]:
    """The observations a task fixes."""
    return [
        r[0]
        for r in db.execute(
            "SELECT observation_id FROM task_observations WHERE task_id = ? ORDER BY rowid",
            [task_id],
        )
    ]


def tasks_for_observation(db: Database, observation_id: str) -> list[dict]:
    """The tasks that fix an observation, with their party's name."""
    rows = db.execute(
        """SELECT tasks.*, parties.name AS party_name FROM tasks
           JOIN task_observations t ON t.task_id = tasks.id
           LEFT JOIN parties ON parties.id = tasks.party_id
           WHERE t.observation_id = ? ORDER BY tasks.id""",
        [observation_id],
    )
    return [dict(r) for r in rows]


# Most urgent first, then by due date (none last), then as opened; the index
# tasks_list_order holds the same expressions, so a page is read off it.
TASK_ORDER = """CASE tasks.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1
               WHEN 'normal' THEN 2 ELSE 3 END, tasks.due_date IS NULL, tasks.due_date, tasks.id"""


def _task_where(
    *,
    party_id: int | None = None,
    walk_id: int | None = None,
    states: tuple[str, ...] | None = None,
    without_party: bool = False,
    without_walk: bool = False,
    case: tuple[int, int] | None = None,
    text: str = "",
    ids: list[int] | None = None,
    due_before: str | None = None,
    ordered: bool = False,
    dense: bool = False,
) -> tuple[str, list]:
    """The WHERE clause (or "") and params for list_tasks' filters (`ordered`: the state is
    left out of the indexes, as on its own it keeps too many rows to beat reading them in
    the list's order; `dense`: so are the party and the walk, as for DENSE_ROWS)."""
    where, params = [], []
    plus = "+" if ordered and dense else ""
    if ids is not None:
        where.append(f"tasks.id IN ({','.join('?' * len(ids))})")
        params += list(ids)
    if case is not None:
        where.append("tasks.case_year = ? AND tasks.case_seq = ?")
        params += list(case)
    if text:
        condition, text_params = textsearch.condition("tasks", "tasks", text)
        where.append(condition)
        params += text_params
    if without_party:
        where.append(f"{plus}tasks.party_id IS NULL")
    if without_walk:
        where.append(f"{plus}tasks.walk_id IS NULL")
    if party_id is not None:
        where.append(f"{plus}tasks.party_id = ?")
        params.append(party_id)
    if walk_id is not None:
        where.append(f"{plus}tasks.walk_id = ?")
        params.append(walk_id)
    if due_before is not None:
        where.append("tasks.due_date < ?")
        params.append(due_before)
    if states:
        where.append(f"{'+' if ordered else ''}tasks.state IN ({','.join('?' * len(states))})")
        params += list(states)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def count_tasks(db: Database, **filters) -> int:
    """How many tasks list_tasks' filters keep."""
    where, params = _task_where(**filters)
    return db.execute(f"SELECT count(*) FROM tasks{where}", params).fetchone()[0]  # noqa: S608


# A filter that keeps more tasks than this has a page read off the list's order, each row
# checked, rather than all its rows read off the filter's own index and sorted.
DENSE_ROWS = 1000


def _order(near: tuple[float, float] | None, by_due: bool) -> tuple[str, list]:
    """ORDER BY terms and params: nearest to `near` first (those with no position last), by
    due date alone (none last), or TASK_ORDER."""
    if near is not None:
        lat, lon = near
        shrink = math.cos(math.radians(lat))  # a degree of longitude, in degrees of latitude
        distance = "(tasks.lat - ?) * (tasks.lat - ?) + (tasks.lon - ?) * (tasks.lon - ?) * ?"
        return f"tasks.lat IS NULL, {distance}, tasks.id", [lat, lat, lon, lon, shrink**2]
    if by_due:
        return "tasks.due_date IS NULL, tasks.due_date, tasks.id", []
    return TASK_ORDER, []


def list_tasks(
    db: Database,
    *,
    limit: int | None = None,
    offset: int = 0,
    near: tuple[float, float] | None = None,
    by_due: bool = False,
    kept: int | None = None,
    **filters,
) -> list[dict]:
    """Tasks filtered by party, walk and state, most urgent and oldest due first, or
    nearest to `near` first, or `by_due` date alone (`limit` and `offset`: a page of them;
    `kept`: how many the filters keep, when the caller counted them, see DENSE_ROWS).

    `without_walk` keeps the tasks on observations made outside a walk; `case` (year,
    number) the task with that case number; `text` the tasks whose measure holds it; `ids`
    those tasks; `due_before` those due before that day. A page is picked on the order
    alone, then its rows' details are read.
    """
    order, order_params = _order(near, by_due)
    dense = kept is not None and kept > DENSE_ROWS
    where, params = _task_where(ordered=near is None and not by_due, dense=dense, **filters)
    details = """SELECT tasks.*, parties.name AS party_name, places.name AS place_name,
                    (SELECT p.thumb_file FROM task_observations t JOIN photos p
                       ON p.observation_id = t.observation_id WHERE t.task_id = tasks.id
                       ORDER BY p.created_at LIMIT 1) AS first_thumb
             FROM tasks LEFT JOIN parties ON parties.id = tasks.party_id
             LEFT JOIN places ON places.id = tasks.place_id"""
    if limit is None:
        sql = f"{details}{where} ORDER BY {order}"
        return [dict(r) for r in db.execute(sql, [*params, *order_params])]
    sql = f"SELECT tasks.id FROM tasks{where} ORDER BY {order} LIMIT ? OFFSET ?"  # noqa: S608
    picked = [row[0] for row in db.execute(sql, [*params, *order_params, limit, offset])]
    if not picked:
        return []
    rows = db.execute(f"{details} WHERE tasks.id IN ({','.join('?' * len(picked))})", picked)
    by_id = {row["id"]: dict(row) for row in rows}
    return [by_id[task_id] for task_id in picked]


def task_observations(db: Database, task_id: int) -> list[dict]:
    """The observations a task fixes, each with its `photos`, in the order they were linked."""
    rows = db.execute(
        """SELECT observations.* FROM task_observations t
           JOIN observations ON observations.id = t.observation_id
           WHERE t.task_id = ? ORDER BY t.rowid""",
        [task_id],
    )
    observations = [dict(r) for r in rows]
    for observation in observations:
        observation["photos"] = [
            dict(r)
            for r in db.execute(
                "SELECT * FROM photos WHERE observation_id = ? ORDER BY created_at, id",
                [observation["id"]],
            )
        ]
    return observations


# How many tasks a form offers to point a duplicate or a link at: the nearest ones; any
# other of the same walk or place is named by its case number.
RELATED_AT_MOST = 30


def related_tasks(
    db: Database,
    walk_id: int | None,
    place_id: int | None,
    near: tuple[float, float] | None = None,
    limit: int = RELATED_AT_MOST,
    without: tuple[int, ...] = (),
    walks_of: int | None = None,
) -> list[dict]:
    """Tasks from the same walk or place (the ones a duplicate or a link may point to), not
    those `without` nor duplicates themselves, and when `walks_of` names a user, only those
    of the walks that user made (what a walk leader may change): the `limit` nearest to
    `near` (lat, lon) first, those without a position last, else the newest first."""
    marks = ", ".join("?" * len(without))
    mine, mine_params = (
        ("", [])
        if walks_of is None
        else (" AND {alias}.walk_id IN (SELECT id FROM walks WHERE created_by = ?)", [walks_of])
    )
    # `unary` "+" keeps the walk's and place's indexes out (a box's keys pick the rows).
    related = """SELECT tasks.*, parties.name AS party_name FROM tasks
        LEFT JOIN parties ON parties.id = tasks.party_id
        WHERE ({unary}tasks.walk_id = ? OR {unary}tasks.place_id = ?)
            AND tasks.state != 'duplicate' AND tasks.id NOT IN ({marks}){mine}"""
    sql = related.format(unary="", marks=marks, mine=mine.format(alias="tasks"))
    params: list = [walk_id, place_id, *without, *mine_params]
    if near is None:
        rows = db.execute(f"{sql} ORDER BY tasks.id DESC LIMIT ?", [*params, limit])
        return [dict(r) for r in rows]
    shrink = math.cos(math.radians(near[0])) ** 2
    distance = "(tasks.lat - ?) * (tasks.lat - ?) + (tasks.lon - ?) * (tasks.lon - ?) * ?"
    order = [near[0], near[0], near[1], near[1], shrink]
    # First the tasks in growing boxes around the spot, read off the text index's keys (they
    # say where each task lies, and copy its walk, place and state): when a box holds enough
    # and the farthest is nearer than its edge, they are the nearest of all.
    copies = (
        "(t.walk_id = ? OR t.place_id = ?) AND t.state != 'duplicate'" + mine.format(alias="t"),
        [walk_id, place_id, *mine_params],
    )
    for span in NEAR_BOX_DEGREES:
        width = span / math.sqrt(shrink)
        box = (near[1] - width, near[0] - span, near[1] + width, near[0] + span)
        boxed, boxed_params = textsearch.in_box("tasks", box, copies)
        rows = [
            dict(r)
            for r in db.execute(
                f"{related.format(unary='+', marks=marks, mine=mine.format(alias='tasks'))}"
                f" AND tasks.id IN ({boxed})"
                f" ORDER BY {distance}, tasks.id DESC LIMIT ?",
                [*params, *boxed_params, *order, limit],
            )
        ]
        if len(rows) == limit and all(
            (r["lat"] - near[0]) ** 2 + (r["lon"] - near[1]) ** 2 * shrink <= span**2 for r in rows
        ):
            return rows
    rows = db.execute(
        f"{sql} ORDER BY tasks.lat IS NULL, {distance}, tasks.id DESC LIMIT ?",
        [*params, *order, limit],
    )
    return [dict(r) for r in rows]


# Half the heights of the boxes `related_tasks` looks in first, in degrees of latitude
# (about 11 m, 33 m, 100 m, 330 m and 1 km): each three times the last, so where tasks are
# dense the box that answers holds about nine times what the one too small held, not the
# thousand tasks of a 100 m box in a busy square.
NEAR_BOX_DEGREES = (0.0001, 0.0003, 0.0009, 0.003, 0.009)


def related_task(
    db: Database,
    walk_id: int | None,
    place_id: int | None,
    task_id: int | None,
    case: tuple[int, int] | None = None,
) -> dict | None:
    """The task of the same walk or place (not a duplicate itself) a form points at: by its
    case number (year, number) when one is given, else by `task_id`; None when none is."""
    if case is not None:
        row = db.execute(
            "SELECT id FROM tasks WHERE case_year = ? AND case_seq = ?", list(case)
        ).fetchone()
        task_id = row[0] if row else None
    if task_id is None:
        return None
    row = db.execute(
        """SELECT tasks.* FROM tasks WHERE id = ? AND (walk_id = ? OR place_id = ?)
           AND state != 'duplicate'""",
        [task_id, walk_id, place_id],
    ).fetchone()
    return dict(row) if row else None


# Observations of problems (not what works well) that no task fixes yet.
def observations_without_task(
    db: Database, walk_id: int | None = None, limit: int = -1, offset: int = 0
) -> list[dict]:
    """Observations no task fixes yet, oldest first; `limit` of them from `offset` (all by
    default), read off `observation_untasked` (tasks/untasked.py)."""
    columns = """o.*, places.name AS place_name, walks.title AS walk_title,
                 (SELECT thumb_file FROM photos WHERE observation_id = o.id
                  ORDER BY created_at LIMIT 1) AS first_thumb"""
    names = """LEFT JOIN places ON places.id = o.place_id
               LEFT JOIN walks ON walks.id = o.walk_id"""
    if walk_id is None:  # off the table's order
        sql = f"""SELECT {columns} FROM observation_untasked u
                  CROSS JOIN observations o ON o.id = u.observation_id {names}
                  ORDER BY u.observed_at, u.observation_id LIMIT ? OFFSET ?"""  # noqa: S608
        return [dict(r) for r in db.execute(sql, [limit, offset])]
    sql = f"""SELECT {columns} FROM observations o
              JOIN observation_untasked u ON u.observation_id = o.id {names}
              WHERE o.walk_id = ? ORDER BY o.observed_at, o.id LIMIT ? OFFSET ?"""  # noqa: S608
    return [dict(r) for r in db.execute(sql, [walk_id, limit, offset])]


def count_observations_without_task(db: Database) -> int:
    """How many observations no task fixes yet (a count kept by triggers)."""
    return untasked.count(db)


def list_engineers(db: Database) -> list[dict]:
    """Every engineer with their party's name: the people a task can be assigned to."""
    rows = db.execute(
        """SELECT users.id, users.name, users.email, users.party_id, parties.name AS party_name
           FROM users JOIN parties ON parties.id = users.party_id
           WHERE users.role = 'engineer' AND users.locked_at IS NULL
           ORDER BY parties.name, users.name, users.email"""
    )
    return [dict(r) for r in rows]


def send_walk_tasks(db: Database, walk_id: int, actor: Actor) -> dict[int, list[int]]:
    """Send every proposed task of a walk that has a party; return task ids by party.

    Tasks still without a party stay proposed (they wait in triage).
    """
    sent: dict[int, list[int]] = {}
    with transaction(db):
        rows = db.execute(
            """SELECT id, version, party_id FROM tasks
               WHERE walk_id = ? AND state = 'proposed' AND party_id IS NOT NULL ORDER BY id""",
            [walk_id],
        ).fetchall()
        for row in rows:
            transition(db, row["id"], "send", actor, version=row["version"])
            sent.setdefault(row["party_id"], []).append(row["id"])
        db.execute("UPDATE walks SET tasks_sent_at = ? WHERE id = ?", [now(), walk_id])
    return sent
