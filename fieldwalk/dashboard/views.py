"""The coordinators' dashboard: every observation and task on a map beside a list.

Both are driven by the same filters (`fieldwalk.filters`), which live in the URL: the filter
form asks for the list with htmx and pushes the URL, and the map follows by loading
`/dashboard/map.json` with the same query string whenever the list changes (dashboard.js
reads the URL from the list) and the visible box, again after each move. The map data is
made by SQLite itself (`fieldwalk.dashboard.mapdata`): single points when few are in view,
counts per grid cell when many, so an answer stays small however many the district holds.
"""

import json
import math
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, abort, current_app, g, redirect, request, url_for
from flask_babel import gettext as _
from sqlite_utils import Database

from fieldwalk import textsearch
from fieldwalk.categories import CATEGORIES, category_label
from fieldwalk.dashboard.filters import (
    NO_PARTY,
    OPEN,
    STATE_CHOICES,
    UNTASKED,
    Filters,
    across_links,
    copied_where,
    error_text,
    field_labels,
    indexed_text,
    indexed_with_bits,
    local_today,
    local_zone,
    observation_where,
    overdue_alone,
    parse_filters,
    parse_page,
    task_where,
)
from fieldwalk.dashboard.mapcells import PARTY, TASKED, due_before, link_total
from fieldwalk.dashboard.mapdata import map_answer, parse_view
from fieldwalk.db import get_db
from fieldwalk.ids import MAX_ROW_ID
from fieldwalk.observations.duplicates import add_duplicate_hints
from fieldwalk.parties.model import list_parties
from fieldwalk.render import render
from fieldwalk.reports.totals import counted_rows
from fieldwalk.security import MANAGER_ROLES, STAFF_ROLES, role_required
from fieldwalk.tasks.states import OPEN_STATES, OPEN_STATES_SQL, STATES
from fieldwalk.tasks.words import PRIORITY_LABELS, STATE_LABELS, case_label

bp = Blueprint("dashboard", __name__)


PAGE_SIZE = 50


def count_matches(db: Database, f: Filters, today: str, tz: ZoneInfo) -> dict[str, int]:
    """How many observations and tasks the filters select (without filters, from the
    running totals: the dashboard's first view does not count a city's every row)."""
    counts = {"observations": 0, "tasks": 0}
    if f.unfiltered:
        every = counted_rows(db)
        return {kind: every[kind] if f.kind in ("all", kind) else 0 for kind in counts}
    counted = _counted(db, f, today)
    if counted is not None:
        return counted
    indexed = indexed_with_bits(f, today, tz)
    if indexed is not None:  # each row has one key in the text index
        for kind, (where, bits) in indexed.items():
            counts[kind] = textsearch.count(db, kind, f.q, where, bits)
        return counts
    for kind, table, alias, where in (
        ("observations", "observations", "o", observation_where(f, today, tz)),
        ("tasks", "tasks", "t", task_where(f, today, tz)),
    ):
        if where is None:
            continue
        if not f.q and not f.narrow and across_links(f, kind):
            # A filter on the other kind, over the whole district: from what the text
            # index's keys hold of every row and its links, one narrow table read once,
            # not every linked row the filter keeps.
            copied = copied_where(f, kind, today, tz)
            if copied is not None:
                counts[kind] = textsearch.count_rows(db, kind, copied)
                continue
        sql = f"SELECT count(*) FROM {table} {alias} WHERE {where[0]}"  # noqa: S608
        counts[kind] = db.execute(sql, where[1]).fetchone()[0]
    return counts


def _counted(db: Database, f: Filters, today: str) -> dict[str, int] | None:
    """The counts of a filter the running totals hold, asked alone (besides the kind): a
    category, a task state (the open ones, none), a party (none), being overdue. None for
    any other filter."""
    alone = replace(f, kind="all", category=None, state=None, party=None, overdue=False)
    asked = [f.category is not None, f.state is not None, f.party is not None, f.overdue]
    if alone != Filters() or sum(asked) != 1:
        return None
    party = None if f.party is None else 0 if f.party == NO_PARTY else f.party
    counts = {"observations": 0, "tasks": 0}
    if f.kind != "tasks":
        if f.category is not None:
            counts["observations"] = db.execute(
                """SELECT (SELECT coalesce(sum(observations), 0) FROM observation_totals
                           WHERE span = 'month' AND category = ?)
                        + (SELECT count(*) FROM observations
                           WHERE observed_at IS NULL AND +category = ?)""",
                [f.category, f.category],
            ).fetchone()[0]
        elif f.state == UNTASKED:
            tasked = link_total(db, "observations", TASKED)
            counts["observations"] = counted_rows(db)["observations"] - tasked
        elif f.state is not None:
            counts["observations"] = link_total(db, "observations", f.state)
        elif party is not None:
            counts["observations"] = link_total(db, "observations", f"{PARTY}{party}")
        else:  # an observation is overdue when its open task due first is
            counts["observations"] = due_before(db, "observations", today)
    if f.kind != "observations" and f.state != UNTASKED:
        if f.category is not None:
            counts["tasks"] = link_total(db, "tasks", f.category)
        elif f.overdue:
            counts["tasks"] = due_before(db, "tasks", today)
        else:
            states = OPEN_STATES if f.state == OPEN else (f.state,) if f.state else STATES
            marks = ", ".join("?" * len(states))
            where, params = f"state IN ({marks})", list(states)
            if party is not None:
                where, params = f"{where} AND party_id = ?", [*params, party]
            counts["tasks"] = db.execute(
                f"SELECT coalesce(sum(tasks), 0) FROM task_state_totals WHERE {where}",  # noqa: S608
                params,
            ).fetchone()[0]
    return counts


# A filtered page is read newest first, row by row, when what the filters keep is dense
# enough that the page fills within this many rows of a kind: a text search then reads the
# rows' texts (else its hits come from the text index), a filter on the other kind is then
# checked row by row through the links (else the linked rows it keeps are listed once).
DENSE_ROWS = 20_000


def _dense(db: Database, f: Filters, depth: int, counts: dict | None) -> dict[str, bool]:
    """Per kind, whether the list reads rows in order until its page is full (`depth`: the
    rows up to the page's end; `counts`: count_matches')."""
    if counts is None or f.unfiltered:
        return {"observations": False, "tasks": False}
    every = counted_rows(db)
    return {
        kind: counts[kind] > 0 and depth * every[kind] <= DENSE_ROWS * counts[kind]
        for kind in ("observations", "tasks")
    }


def list_page(
    db: Database,
    f: Filters,
    page: int,
    today: str,
    tz: ZoneInfo,
    size: int = PAGE_SIZE,
    counts: dict | None = None,
) -> list[dict]:
    """One page of the selected observations and tasks together, newest first (`counts`:
    what count_matches said, for a text search's way of reading).

    The page is picked on (kind, key, when: an observation's observed time, a task's
    opening) alone, merged from two index scans; then
    the 50 rows' details are read in one query per kind.
    """
    arms, params = [], []
    dense = _dense(db, f, page * size, counts)
    scans = {kind: bool(f.q) and dense[kind] for kind in dense}
    indexed = indexed_text(f, today, tz) or {}
    wheres = {
        "observations": observation_where(
            f, today, tz, ordered=True, narrow=dense["observations"], scan=scans["observations"]
        ),
        "tasks": task_where(f, today, tz, ordered=True, narrow=dense["tasks"], scan=scans["tasks"]),
    }
    for kind, letter, when in (("observations", "o", "observed_at"), ("tasks", "t", "created_at")):
        if wheres[kind] is None or (counts is not None and counts[kind] == 0):
            continue
        if kind == "observations" and overdue_alone(f):
            # Those whose open task due first is due before today, newest first off the
            # copy of when each was observed (mapcells.py), not every observation's links.
            arms.append(
                "SELECT 'o' AS kind, o.rowid AS key, d.observed AS at FROM observation_due d"
                " CROSS JOIN observations o ON o.id = d.observation_id WHERE d.due < ?"
            )
            params.append(today)
            continue
        if kind in indexed and not scans[kind]:
            # Few hits: picked from the index and what its keys hold (their time too).
            columns = f"'{letter}' AS kind, {letter}.row AS key, {letter}.{when} AS at"
            sql, where_params = textsearch.hits(kind, f.q, where=indexed[kind], columns=columns)
            arms.append(sql)
            params += where_params
            continue
        key = "o.rowid" if kind == "observations" else "t.id"
        arms.append(
            f"SELECT '{letter}' AS kind, {key} AS key, {letter}.{when} AS at"  # noqa: S608 - fixed fragments
            f" FROM {kind} {letter} WHERE {wheres[kind][0]}"
        )
        params += wheres[kind][1]
    if not arms:
        return []
    sql = " UNION ALL ".join(arms) + " ORDER BY at DESC, key DESC LIMIT ? OFFSET ?"
    picked = db.execute(sql, [*params, size, (page - 1) * size]).fetchall()
    details = {
        **{("o", row["key"]): row for row in observation_details(db, _keys(picked, "o"))},
        **{("t", row["key"]): row for row in task_details(db, _keys(picked, "t"), today)},
    }
    return [details[(row["kind"], row["key"])] for row in picked]


def _keys(rows, kind: str) -> list[int]:
    return [row["key"] for row in rows if row["kind"] == kind]


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def observation_details(db: Database, keys: list[int]) -> list[dict]:
    """What the list shows of these observations (by rowid), with the tasks that fix them."""
    if not keys:
        return []
    rows = [
        {**dict(row), "kind": "observation", "tasks": []}
        for row in db.execute(
            f"""SELECT o.rowid AS key, o.id, o.category, o.works_well, o.urgent, o.description,
                       o.observed_at, o.observed_at AS at, o.lat, o.lon, o.walk_id, o.place_id,
                       places.name AS place_name, walks.title AS walk_title
                FROM observations o LEFT JOIN places ON places.id = o.place_id
                LEFT JOIN walks ON walks.id = o.walk_id
                WHERE o.rowid IN ({_marks(len(keys))})""",  # noqa: S608
            keys,
        )
    ]
    by_id = {row["id"]: row for row in rows}
    for link in db.execute(
        f"""SELECT y.observation_id, t.id, t.state, t.case_year, t.case_seq
            FROM task_observations y
            JOIN tasks t ON t.id = y.task_id
            WHERE y.observation_id IN ({_marks(len(by_id))}) ORDER BY t.id""",  # noqa: S608
        list(by_id),
    ):
        by_id[link["observation_id"]]["tasks"].append(
            {"id": link["id"], "state": link["state"], "case": case_label(dict(link))}
        )
    return rows


def task_details(db: Database, keys: list[int], today: str) -> list[dict]:
    """What the list shows of these tasks (by id)."""
    if not keys:
        return []
    rows = db.execute(
        f"""SELECT t.id AS key, t.id, t.measure, t.state, t.priority, t.due_date, t.created_at AS at,
                   t.case_year, t.case_seq,
                   t.lat, t.lon, t.walk_id, t.place_id, parties.name AS party_name,
                   places.name AS place_name, walks.title AS walk_title,
                   (t.state IN ({OPEN_STATES_SQL}) AND t.due_date < ?) AS overdue
            FROM tasks t LEFT JOIN parties ON parties.id = t.party_id
            LEFT JOIN places ON places.id = t.place_id LEFT JOIN walks ON walks.id = t.walk_id
            WHERE t.id IN ({_marks(len(keys))})""",  # noqa: S608
        [today, *keys],
    )
    return [{**dict(row), "kind": "task"} for row in rows]


def filter_choices(db: Database) -> dict[str, list[dict]]:
    """What the filter form offers: places, walks (newest first) and parties."""
    return {
        "places": [dict(r) for r in db.execute("SELECT id, name FROM places ORDER BY name")],
        "walks": [
            dict(r)
            for r in db.execute(
                """SELECT walks.id, walks.title, walks.starts_at, places.name AS place_name
                   FROM walks JOIN places ON places.id = walks.place_id
                   ORDER BY walks.starts_at DESC, walks.id DESC"""
            )
        ],
        "parties": [dict(r) for r in db.execute("SELECT id, name FROM parties ORDER BY name")],
    }


def state_choice_label(state: str) -> str:
    """The filter's words for a task state, "open" and "no task yet"."""
    if state == OPEN:
        return _("Open (proposed, sent, accepted, in progress)")
    if state == UNTASKED:
        return _("No task yet")
    return str(STATE_LABELS.get(state, state))


def local_stamp(text: str, tz: ZoneInfo) -> str:
    """A stored UTC time as local "2026-11-24 18:05" (the Swedish way of writing it)."""
    return (
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        .astimezone(tz)
        .strftime("%Y-%m-%d %H:%M")
    )


def present(items: list[dict], tz: ZoneInfo) -> None:
    """Add the words and local times the list shows, looked up once per page.

    Translating and formatting inside the template's loop cost more than the page's queries.
    """
    categories = {code: str(label) for code, (label, _hint) in CATEGORIES.items()}
    states = {code: str(label) for code, label in STATE_LABELS.items()}
    priorities = {code: str(label) for code, label in PRIORITY_LABELS.items()}
    for item in items:
        item["when"] = local_stamp(item["at"], tz)
        if item["kind"] == "observation":
            item["category_name"] = categories.get(item["category"], item["category"])
            for task in item["tasks"]:
                task["state_name"] = states.get(task["state"], task["state"])
        else:
            item["case"] = case_label(item)
            item["state_name"] = states.get(item["state"], item["state"])
            item["priority_name"] = priorities.get(item["priority"], item["priority"])


def list_words() -> dict[str, str]:
    """The list's repeated words, translated once per page."""
    return {
        "observation": _("Observation"),
        "urgent": _("Urgent"),
        "works_well": _("Works well"),
        "no_place": _("No place"),
        "no_task": _("No task yet"),
        "no_party": _("No party yet"),
        "overdue": _("Overdue"),
        "due": _("Due %(date)s", date="{date}"),
        # Link prefixes, so the loop does not build each URL through the router.
        "observation_url": url_for("capture.show", observation_id="x")[:-1],
        "task_url": url_for("tasks.show", task_id=0)[:-1],
    }


def map_config() -> dict:
    """What dashboard.js needs to label the points: words, and where a point leads."""
    return {
        "categories": {code: category_label(code) for code in CATEGORIES},
        "states": {code: str(label) for code, label in STATE_LABELS.items()},
        "observationUrl": url_for("dashboard.observation", key=1)[:-1],
        "taskUrl": url_for("tasks.show", task_id=1)[:-1],
        "words": {
            "urgent": _("Urgent"),
            "overdue": _("Overdue"),
            "worksWell": _("Works well"),
            "task": _("Task #%(id)s", id="{id}"),
            "failed": _("The map could not be loaded. The list is complete."),
            "cluster": _("%(count)s observations and tasks here; zoom in", count="{count}"),
            "clusterOne": _("One observation or task here; zoom in"),
            "clusterUrgent": _("%(count)s urgent", count="{count}"),
        },
    }


@bp.get("/dashboard")
@role_required(*STAFF_ROLES)
def index():
    """The dashboard: filters, the map and a page of the list (the list alone for htmx)."""
    filters, errors = parse_filters(request.args)
    page = parse_page(request.args)
    if page is None:
        errors["page"], page = _("Choose a page number."), 1
    db = get_db()
    tz = local_zone()
    today = local_today(tz)
    counts = count_matches(db, filters, today, tz)
    total = counts["observations"] + counts["tasks"]
    items = list_page(db, filters, page, today, tz, counts=counts)
    add_duplicate_hints(db, [i for i in items if i["kind"] == "observation"])
    present(items, tz)
    return render(
        "dashboard/index.html",
        "dashboard/_results.html",
        status=400 if errors else 200,
        filters=filters,
        args=filters.args(),
        errors=errors,
        labels=field_labels(),
        counts=counts,
        total=total,
        items=items,
        page_number=page,
        pages=max(1, math.ceil(total / PAGE_SIZE)),
        categories=list(CATEGORIES),
        choices=lambda: filter_choices(db),
        map_config=map_config,
        state_choices=[(s, state_choice_label(s)) for s in STATE_CHOICES],
        may_link=g.user["role"] in MANAGER_ROLES,
        may_bulk=g.user["role"] in MANAGER_ROLES,
        parties=list_parties(db) if g.user["role"] in MANAGER_ROLES else [],
        case_example=case_label({"case_year": 2026, "case_seq": 42}),
        words=list_words(),
    )


@bp.get("/dashboard/map.json")
@role_required(*STAFF_ROLES)
def map_json():
    """The map's points or clusters for the same filters as the list, in the box asked about
    (see `fieldwalk.dashboard.mapdata`)."""
    filters, errors = parse_filters(request.args)
    view, view_errors = parse_view(request.args)
    errors.update(view_errors)
    if errors:
        return Response(
            json.dumps({"error": 400, "message": error_text(errors)}, ensure_ascii=False),
            400,
            mimetype="application/json",
        )
    tz = local_zone()
    limit = current_app.config["MAP_POINTS_AT_MOST"]
    body = map_answer(get_db(), filters, view, local_today(tz), tz, limit)
    response = Response(body, mimetype="application/json")
    response.cache_control.private = True
    response.cache_control.no_cache = True
    return response


@bp.get("/dashboard/observations/<int:key>")
@role_required(*STAFF_ROLES)
def observation(key: int):
    """The observation a map point names (by rowid): on to its page."""
    row = (
        get_db().execute("SELECT id FROM observations WHERE rowid = ?", [key]).fetchone()
        if 0 < key <= MAX_ROW_ID
        else None
    )
    if row is None:
        abort(404)
    return redirect(url_for("capture.show", observation_id=row["id"]))


def init_app(app: Flask) -> None:
    """Register the dashboard."""
    app.register_blueprint(bp)
