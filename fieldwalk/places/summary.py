"""What a place's page sums up: its walks, fixes per party, days to done, the monthly trend."""

import statistics
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from fieldwalk.parties.model import list_party_names
from fieldwalk.reports.figures import count_by_period
from fieldwalk.reports.periods import month_periods
from fieldwalk.reports.totals import task_states
from fieldwalk.tasks.states import DONE, DUPLICATE, NOT_OURS, OPEN_STATES, VERIFIED, WONT_FIX

DAY_SECONDS = 86400


CLOSED_STATES = (DONE, VERIFIED, WONT_FIX, DUPLICATE)  # answered "not ours" is neither


def list_place_summaries(db: Database) -> list[dict]:
    """Every place by name, with its number of walks and of open tasks."""
    rows = db.execute(
        """SELECT places.*,
                  (SELECT count(*) FROM walks WHERE walks.place_id = places.id) AS walk_count,
                  (SELECT count(*) FROM tasks WHERE tasks.place_id = places.id
                   AND state IN (?, ?, ?, ?)) AS open_tasks
           FROM places ORDER BY name""",
        OPEN_STATES,
    )
    return [dict(r) for r in rows]


def list_place_walks(db: Database, place_id: int) -> list[dict]:
    """The walks around a place, newest first, with their observation counts."""
    rows = db.execute(
        """SELECT walks.*,
                  (SELECT count(*) FROM observations WHERE walk_id = walks.id) AS observation_count
           FROM walks WHERE place_id = ? ORDER BY starts_at DESC, id DESC""",
        [place_id],
    )
    return [dict(r) for r in rows]


def days_to_done(db: Database, place_id: int) -> dict[int | None, list[float]]:
    """Per party id: for each done task of the place, the days from its first observation
    (the earliest `created_at` it fixes) to the task's `done_at`."""
    rows = db.execute(
        """SELECT tasks.party_id, tasks.done_at, min(o.created_at) AS observed_at
           FROM tasks JOIN task_observations t ON t.task_id = tasks.id
           JOIN observations o ON o.id = t.observation_id
           WHERE tasks.place_id = ? AND tasks.done_at IS NOT NULL GROUP BY tasks.id""",
        [place_id],
    )
    days: dict[int | None, list[float]] = {}
    for row in rows:
        seconds = (_instant(row["done_at"]) - _instant(row["observed_at"])).total_seconds()
        days.setdefault(row["party_id"], []).append(seconds / DAY_SECONDS)
    return days


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def party_task_summary(db: Database, place_id: int) -> list[dict]:
    """Per responsible party (None: no party yet), the place's tasks: open, answered "not
    ours", closed, and the median days from observation to done. The counts come from the
    running totals (fieldwalk/reports/totals.py)."""
    names = dict(list_party_names(db))
    days = days_to_done(db, place_id)
    summary = []
    for party_id, states in task_states(db, place_id).items():
        durations = days.get(party_id, [])
        summary.append(
            {
                "party_id": party_id,
                "party_name": names.get(party_id),
                "open": sum(states.get(s, 0) for s in OPEN_STATES),
                "not_ours": states.get(NOT_OURS, 0),
                "closed": sum(states.get(s, 0) for s in CLOSED_STATES),
                "done_count": len(durations),
                "median_days": statistics.median(durations) if durations else None,
            }
        )
    summary.sort(key=lambda e: (e["party_name"] is None, (e["party_name"] or "").lower()))
    return summary


def monthly_trend(db: Database, place_id: int, today: date, tz: ZoneInfo) -> dict:
    """The place's new observations and tasks done per local month, the last 12 months
    (this one included)."""
    first = date(today.year - (today.month < 12), today.month % 12 + 1, 1)
    periods = month_periods(first, 12, tz)
    observed = count_by_period(db, "observations", "observed_at", periods, place_id)
    done = count_by_period(db, "tasks", "done_at", periods, place_id)
    return {
        "months": [p.start.date() for p in periods],
        "observations": observed.get(place_id, [0] * 12),
        "done": done.get(place_id, [0] * 12),
    }
