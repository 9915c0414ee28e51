"""The safety index of a place and month: a small score, always shown with its parts.

The higher the score, the less safe the place was that month. It adds three parts, each
readable on its own (docs/safety-index.md has the definition and a worked example):

- events: each event of the month weighted by its type (violence 3, drug dealing 2, drug use,
  disorder and vandalism 1, littering and other 0.5);
- feeling: how unsafe the month's observations felt, 2.5 points per step below 5 on the
  walks' 1-5 scale (5 very safe: 0 points; 1 very unsafe: 10 points; no score: 0);
- open fixes: half a point per task at the place still open at the month's end.
"""

from collections.abc import Sequence

from sqlite_utils import Database

from fieldwalk.reports.figures import events_by_type, feeling_means, open_tasks_at
from fieldwalk.reports.periods import Period

EVENT_WEIGHTS = {
    "violence": 3.0,
    "drug_dealing": 2.0,
    "drug_use": 1.0,
    "disorder": 1.0,
    "vandalism": 1.0,
    "littering": 0.5,
    "other": 0.5,
}
FEELING_POINTS_PER_STEP = 2.5
OPEN_FIX_POINTS = 0.5
PARTS = ("events", "feeling", "open_fixes")


def index_parts(events: dict[str, int], feeling: float | None, open_fixes: int) -> dict:
    """The index of one place and month from its figures: events by type, the mean feeling
    score (None: no score given) and the fixes open at the month's end. Each part and the
    total, rounded to one decimal."""
    parts = {
        "events": sum(
            EVENT_WEIGHTS.get(kind, EVENT_WEIGHTS["other"]) * n for kind, n in events.items()
        ),
        "feeling": 0.0 if feeling is None else FEELING_POINTS_PER_STEP * (5 - feeling),
        "open_fixes": OPEN_FIX_POINTS * open_fixes,
    }
    parts = {key: round(value, 1) for key, value in parts.items()}
    return {**parts, "total": round(sum(parts.values()), 1)}


def monthly_index(
    db: Database, place_ids: Sequence[int], months: Sequence[Period]
) -> dict[int, list[dict]]:
    """Per place, the index of each month with its parts and the figures behind them
    (`event_counts` by type, `feelings` the number of scores, `feeling_mean`, `open_count`)."""
    if not place_ids or not months:
        return {}
    events = {
        (place_id, kind): values
        for place_id in place_ids
        for kind, values in events_by_type(db, place_id, list(months)).items()
    }
    feelings = feeling_means(db, place_ids, list(months))
    open_counts = open_tasks_at(db, place_ids, [m.end for m in months])
    found: dict[int, list[dict]] = {}
    for place_id in place_ids:
        rows = []
        for i, month in enumerate(months):
            counts = {k[1]: v[i] for k, v in events.items() if k[0] == place_id and v[i]}
            n, mean = feelings[place_id][i]
            entry = index_parts(counts, mean, open_counts[place_id][i])
            entry.update(
                month=month.start.date(),
                event_counts=counts,
                feelings=n,
                feeling_mean=None if mean is None else round(mean, 2),
                open_count=open_counts[place_id][i],
            )
            rows.append(entry)
        found[place_id] = rows
    return found
