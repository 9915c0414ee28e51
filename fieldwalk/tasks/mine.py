"""The engineer's phone: "My tasks", their party's open tasks, nearest first or by due date.

The page does not know where the phone is until the phone says so: with JavaScript it asks
for the position once and reloads with `?lat=&lon=`; without it (or when the person says no)
the list is ordered by due date.
"""

import math
from datetime import UTC, date, datetime

from flask import Blueprint, Flask, g, request, url_for
from flask_babel import format_date, format_decimal, to_user_timezone
from flask_babel import gettext as _

from fieldwalk import geo
from fieldwalk.dashboard.filters import parse_page
from fieldwalk.db import get_db
from fieldwalk.render import render
from fieldwalk.security import ENGINEER, role_required
from fieldwalk.tasks.model import count_tasks, list_tasks
from fieldwalk.tasks.states import WITH_PARTY

bp = Blueprint("mytasks", __name__)


SORTS = ("near", "due")


# Tasks on a page of the list (the map shows those).
PAGE_SIZE = 25


def parse_position(lat: str | None, lon: str | None) -> tuple[float, float] | None:
    """A (lat, lon) from query parameters, or None when missing or out of range."""
    try:
        position = float(lat or ""), float(lon or "")
    except ValueError:
        return None
    if not all(math.isfinite(v) for v in position):
        return None
    if abs(position[0]) > 90 or abs(position[1]) > 180:
        return None
    return position


def with_distances(tasks: list[dict], position: tuple[float, float] | None) -> list[dict]:
    """Give each task its `distance_m` from `position` (None without one)."""
    for task in tasks:
        task["distance_m"] = (
            geo.haversine_m(position[0], position[1], task["lat"], task["lon"])
            if position and task["lat"] is not None
            else None
        )
    return tasks


def distance_label(metres: float | None) -> str:
    """A distance as people say it: "350 m", "1.2 km"."""
    if metres is None:
        return ""
    if metres < 1000:
        return _("%(m)s m", m=format_decimal(round(metres / 10) * 10))
    return _("%(km)s km", km=format_decimal(round(metres / 1000, 1)))


def due_label(due_date: str | None) -> str:
    """A due date in the person's language."""
    return format_date(date.fromisoformat(due_date), "medium") if due_date else ""


def today() -> str:
    """Today's date in Stockholm, as the ISO string due dates are compared with."""
    return to_user_timezone(datetime.now(UTC)).date().isoformat()


@bp.get("/tasks/mine")
@role_required(ENGINEER)
def mine():
    """My tasks: the party's open tasks with a small map."""
    sort = request.args.get("sort", "near")
    sort = sort if sort in SORTS else "near"
    position = parse_position(request.args.get("lat"), request.args.get("lon"))
    page = parse_page(request.args) or 1
    party_id = g.user["party_id"]
    db = get_db()
    # Nearest first when the position is known and asked for; else by due date (tasks
    # without one last). A party's open tasks in a city are thousands: a page at a time.
    near = position if sort == "near" else None
    filters = {"party_id": party_id, "states": WITH_PARTY}
    total = count_tasks(db, **filters) if party_id else 0
    tasks = (
        list_tasks(
            db,
            near=near,
            by_due=near is None,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
            **filters,
        )
        if party_id
        else []
    )
    tasks = with_distances(tasks, position)
    points = [
        {
            "id": t["id"],
            "lat": t["lat"],
            "lon": t["lon"],
            "label": t["measure"],
            "url": url_for("tasks.show", task_id=t["id"]),
        }
        for t in tasks
        if t["lat"] is not None
    ]
    return render(
        "tasks/mine.html",
        tasks=tasks,
        total=total,
        page_number=page,
        pages=max(1, math.ceil(total / PAGE_SIZE)),
        sort=sort,
        position=position,
        points=points,
        needs_position=sort == "near" and position is None,
    )


def init_app(app: Flask) -> None:
    """Register My tasks and the date and distance helpers the task templates share."""
    app.register_blueprint(bp)
    app.jinja_env.filters["distance"] = distance_label
    app.jinja_env.filters["duedate"] = due_label
    app.jinja_env.globals["today"] = today
