"""The annual follow-up of a place with the police: the year's figures against the year
before, the weekly assessments as a timeline, the measures in force and the safety index.

Every figure comes from a function of its own here (events by month and type, walks held,
observations by month, fixes done per party, ...), each taking the places and the periods,
so a figure can later be read from running totals instead of counted from the rows without
the pages changing. Events count by when they happened, observations by when they were
observed, fixes by when they were done; months and years are Stockholm time.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from fieldwalk.measures.model import facts_in_span
from fieldwalk.places.model import get_place
from fieldwalk.reports import figures as report_figures
from fieldwalk.reports.assessments import level_history
from fieldwalk.reports.figures import count_by_period
from fieldwalk.reports.periods import STOCKHOLM, Period, month_periods, week_text, year_periods
from fieldwalk.reports.safety_index import monthly_index
from fieldwalk.tasks.durations import done_by_party
from fieldwalk.walks.model import count_walks_held


def year_months(year: int, tz: ZoneInfo = STOCKHOLM) -> list[Period]:
    """The twelve local months of a year."""
    return month_periods(date(year, 1, 1), 12, tz)


def events_by_month_and_type(
    db: Database, place_ids: list[int], months: list[Period]
) -> dict[int, dict[str, list[int]]]:
    """Per place and event type, the events of each month (types with none left out)."""
    return {p: report_figures.events_by_type(db, p, months) for p in place_ids}


def events_by_type(
    db: Database, place_ids: list[int], periods: list[Period]
) -> dict[int, dict[str, list[int]]]:
    """Per place and event type, the events in each period (types with none left out)."""
    return events_by_month_and_type(db, place_ids, periods)


def observations_in(
    db: Database, place_ids: list[int], periods: list[Period]
) -> dict[int, list[int]]:
    """Per place, the observations observed in each period."""
    return observations_by_month(db, place_ids, periods)


def observations_by_month(
    db: Database, place_ids: list[int], months: list[Period]
) -> dict[int, list[int]]:
    """Per place, the observations observed in each month."""
    found = {}
    for place_id in place_ids:  # one place at a time: read from the place's index range
        counts = count_by_period(db, "observations", "observed_at", months, place_id)
        found[place_id] = counts.get(place_id, [0] * len(months))
    return found


def walks_held(db: Database, place_ids: list[int], periods: list[Period]) -> dict[int, list[int]]:
    """Per place, the walks held in each period (by their local start)."""
    spans = [
        (p.start.strftime("%Y-%m-%dT%H:%M"), p.end.strftime("%Y-%m-%dT%H:%M")) for p in periods
    ]
    return count_walks_held(db, place_ids, spans)


def fixes_done_by_party(
    db: Database, place_ids: list[int], periods: list[Period]
) -> dict[int, list[dict]]:
    """Per place, a line per party with fixes done in any period: `done` and `median_days`
    (None when none) for each period, by party name (no party last)."""
    per_period = [done_by_party(db, place_ids, p) for p in periods]
    found: dict[int, list[dict]] = {}
    for place_id in place_ids:
        parties: dict = {}
        for i, found_in in enumerate(per_period):
            for party_id, entry in found_in.get(place_id, {}).items():
                line = parties.setdefault(
                    party_id,
                    {
                        "party_id": party_id,
                        "name": entry["name"],
                        "done": [0] * len(periods),
                        "median_days": [None] * len(periods),
                    },
                )
                line["done"][i] = entry["done"]
                line["median_days"][i] = round(entry["median_days"], 1)
        found[place_id] = sorted(
            parties.values(), key=lambda p: (p["party_id"] is None, (p["name"] or "").lower())
        )
    return found


def assessment_timeline(db: Database, place_id: int, year: int) -> list[dict]:
    """The weekly meeting's latest level of each ISO week of the year that was assessed, in
    order, each with `changed` (the level differs from the week assessed before)."""
    weeks = level_history(db, week_text(year, 1), week_text(year, 53)).get(place_id, {})
    timeline, before = [], None
    for week, level in sorted(weeks.items()):
        timeline.append({"week": week, "level": level, "changed": level != before})
        before = level
    return timeline


def level_counts(timeline: list[dict]) -> dict[str, int]:
    """How many weeks were assessed at each level."""
    counts = {"calm": 0, "uneasy": 0, "serious": 0, "acute": 0}
    for entry in timeline:
        counts[entry["level"]] = counts.get(entry["level"], 0) + 1
    return counts


def measures_in_year(db: Database, place_ids: list[int], year: int) -> dict[int, list[dict]]:
    """Per place, the facts in force some day of the year."""
    found: dict[int, list[dict]] = {p: [] for p in place_ids}
    for fact in facts_in_span(db, f"{year}-01-01", f"{year}-12-31", place_ids=place_ids):
        found[fact["place_id"]].append(fact)
    return found


def drug_scenes(db: Database, year: int) -> list[dict]:
    """The places that were an open drug scene per the police's mapping some day of the
    year, by name."""
    ids = {
        f["place_id"]
        for f in facts_in_span(db, f"{year}-01-01", f"{year}-12-31", kind="drug_scene")
    }
    places = [get_place(db, place_id) for place_id in ids]
    return sorted((p for p in places if p), key=lambda p: p["name"].lower())


def annual_figures(
    db: Database, place_ids: list[int], year: int, moment: datetime, tz: ZoneInfo = STOCKHOLM
) -> dict:
    """The year's figures for the places, against the year before (a year not yet over
    against the same stretch of the year before): `periods`, and per place `events` (type ->
    24 months: this year's 12, then last year's), `event_totals`, `observations` (24 months),
    `observation_totals`, `walks`, `fixes` (per party) and `index` (this year's months up to
    now)."""
    periods = list(year_periods(year, moment, tz))
    months = year_months(year, tz) + year_months(year - 1, tz)
    events = events_by_month_and_type(db, place_ids, months)
    observed = observations_by_month(db, place_ids, months)
    begun = [m for m in year_months(year, tz) if m.start < moment]
    figures = {
        "periods": periods,
        "months": [m.start.date() for m in months[:12]],
        "walks": walks_held(db, place_ids, periods),
        "fixes": fixes_done_by_party(db, place_ids, periods),
        "events": events,
        "event_types": {},
        "event_totals": {},
        "observations": observed,
        "observation_totals": {},
        "index": monthly_index(db, place_ids, begun),
    }
    by_type = events_by_type(db, place_ids, periods)
    observation_totals = observations_in(db, place_ids, periods)
    for place_id in place_ids:
        figures["event_types"][place_id] = by_type[place_id]
        figures["event_totals"][place_id] = [
            sum(v[i] for v in by_type[place_id].values()) for i in range(len(periods))
        ]
        figures["observation_totals"][place_id] = observation_totals[place_id]
    return figures


def follow_up_days(year: int) -> tuple[str, str]:
    """The first and last day of a year, as stored dates."""
    return date(year, 1, 1).isoformat(), (date(year + 1, 1, 1) - timedelta(days=1)).isoformat()
