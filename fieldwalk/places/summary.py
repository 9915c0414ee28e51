"""What a place's page sums up: its walks, fixes per party, days to done, the monthly trend."""

from datetime import date
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from fieldwalk.parties.model import list_party_names
from fieldwalk.reports.figures import count_by_period
from fieldwalk.reports.periods import month_periods
from fieldwalk.reports.totals import task_states
from fieldwalk.tasks.durations import median_days_by_party
from fieldwalk.tasks.states import DONE, DUPLICATE, NOT_OURS, OPEN_STATES, VERIFIED, WONT_FIX

CLOSED_STATES = (DONE, VERIFIED, WONT_FIX, DUPLICATE)  # answered "not ours" is neither


def list_place_summaries(db: Database) -> list[dict]:
    """Every place by name, with its number of walks and of open tasks (from the running
    totals per place, party and state)."""
    rows = db.execute(
        """SELECT places.*,
                  (SELECT count(*) FROM walks WHERE walks.place_id = places.id) AS walk_count,
                  (SELECT coalesce(sum(tasks), 0) FROM task_state_totals
                   WHERE place_id = places.id AND state IN (?, ?, ?, ?)) AS open_tasks
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


def party_task_summary(db: Database, place_id: int) -> list[dict]:
    """Per responsible party (None: no party yet), the place's tasks: open, answered "not
    ours", closed, and the median days from the first observation to done. The counts come
    from the running totals (fieldwalk/reports/totals.py), the medians from an index of the
    days (fieldwalk/tasks/durations.py)."""
    names = dict(list_party_names(db))
    medians = median_days_by_party(db, place_id)
    summary = []
    for party_id, states in task_states(db, place_id).items():
        done_count, median = medians.get(party_id, (0, None))
        summary.append(
            {
                "party_id": party_id,
                "party_name": names.get(party_id),
                "open": sum(states.get(s, 0) for s in OPEN_STATES),
                "not_ours": states.get(NOT_OURS, 0),
                "closed": sum(states.get(s, 0) for s in CLOSED_STATES),
                "done_count": done_count,
                "median_days": median,
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
