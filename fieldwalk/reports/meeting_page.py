"""What the weekly meeting's page adds to the lägesbild, ready for its template: the events'
lines, the map's points, the assessments with who changed them when, the decisions and their
follow-up, each place's forms, and what a partner (police, guards) may not see.

A partner takes part in the meeting but never sees a resident's device, name, contact details
or words: an urgent observation is shown to them as its category, place and time only, with
no link to it, and no walk (its title could name the residents' street or association).
"""

import uuid
from datetime import UTC, date, datetime, timedelta

from flask import g
from flask_babel import format_date, format_time, to_user_timezone
from flask_babel import gettext as _
from sqlite_utils import Database
from wtforms import SelectChoice

from fieldwalk.categories import CATEGORIES, category_label
from fieldwalk.events.model import SOURCES, TYPES, event_points, source_label, type_label
from fieldwalk.parties.model import list_party_names
from fieldwalk.places.model import list_places, place_feature
from fieldwalk.reports.assessments import LEVELS, level_description, level_history, level_label
from fieldwalk.reports.decisions import count_done
from fieldwalk.reports.forms import AssessmentForm, DecisionForm, prefix
from fieldwalk.reports.periods import Period, shift_week, week_text
from fieldwalk.security import MANAGER_ROLES, PARTNER
from fieldwalk.tasks.suggest import suggest_for_place
from fieldwalk.tasks.words import STATE_LABELS, suggestion_text

HISTORY_WEEKS = 12  # the strip of earlier levels beside each place's assessment
MAP_LIMIT = 5000  # events drawn on the page's map; the tables count every one


def can_assess() -> bool:
    """Coordinators, admins and partners write the joint assessment."""
    return g.user["role"] in (*MANAGER_ROLES, PARTNER)


def can_decide() -> bool:
    """Coordinators and admins record the meeting's decisions (they become tasks)."""
    return g.user["role"] in MANAGER_ROLES


def is_partner() -> bool:
    """A partner: sees the meeting's page without residents' words or links to them."""
    return g.user["role"] == PARTNER


def moment_text(stored: str) -> str:
    """A stored UTC time as '25 nov. 2026 kl. 14:05' in the person's language and zone."""
    moment = to_user_timezone(datetime.fromisoformat(stored.replace("Z", "+00:00")))
    return _(
        "%(date)s at %(time)s",
        date=format_date(moment, "d MMM y"),
        time=format_time(moment, "HH:mm"),
    )


def event_labels() -> dict[str, dict[str, str]]:
    """Every event type's and source's name in the person's language, looked up once."""
    return {
        "types": {code: str(label) for code, label in TYPES.items()},
        "sources": {code: str(label) for code, label in SOURCES.items()},
        "events": _("Events"),
    }


def event_lines(events: list[dict], labels: dict) -> tuple[list[dict], list[dict]]:
    """One place's events as two tables' lines, a value per period each: the total and each
    type that occurs; the total and each source that occurs."""
    tables = []
    for key in ("types", "sources"):
        names = labels[key]
        used = {code for e in events for code, n in e[key].items() if n}
        ordered = [c for c in names if c in used] + sorted(used - set(names))
        lines = [{"label": labels["events"], "sub": False, "values": [e["total"] for e in events]}]
        lines += [
            {
                "label": names.get(code, code),
                "sub": True,
                "values": [e[key].get(code, 0) for e in events],
            }
            for code in ordered
        ]
        tables.append(lines)
    return tables[0], tables[1]


def event_csv_labels() -> list[tuple[str, str | None, str]]:
    """The CSV's event lines, looked up once: (label, "types" or "sources" or None, code)."""
    lines: list[tuple[str, str | None, str]] = [(_("Events"), None, "")]
    lines += [(_("Events: %(type)s", type=type_label(c)), "types", c) for c in TYPES]
    lines += [
        (_("Events reported by: %(source)s", source=source_label(c)), "sources", c) for c in SOURCES
    ]
    return lines


def event_csv_lines(events: list[dict], labels: list) -> list[tuple[str, list[int]]]:
    """One place's events as CSV lines: the total, then every type (zeros too, so each place
    has the same rows), then every source."""
    return [
        (label, [e[key].get(code, 0) if key else e["total"] for e in events])
        for label, key, code in labels
    ]


def map_data(report: dict, places: list[dict], db: Database, period: Period, labels: dict) -> dict:
    """The week's events with a point, and the outlines of the places on the page. Each
    event's label: type, source, local time (as '2026-11-20 18:30') and place."""
    names = {}
    features = []
    shown = {row["place_id"] for row in report["rows"]}
    for place in places:
        names[place["id"]] = place["name"]
        if place["id"] in shown:
            feature = place_feature(place)
            feature["properties"] = {"name": place["name"]}
            features.append(feature)
    outside = _("Outside every place")
    zone = period.start.tzinfo
    points = []
    for e in event_points(db, since=period.start, until=period.end, limit=MAP_LIMIT):
        moment = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")).astimezone(zone)
        label = " · ".join(
            (
                labels["types"].get(e["type"], e["type"]),
                labels["sources"].get(e["source"], e["source"]),
                f"{moment:%Y-%m-%d %H:%M}",
                names.get(e["place_id"]) or outside,
            )
        )
        points.append({"lat": e["lat"], "lon": e["lon"], "type": e["type"], "label": label})
    return {"places": features, "events": points, "limit": MAP_LIMIT}


def assessment_view(versions: list[dict]) -> dict | None:
    """The latest version of an assessment with its level's words and who wrote or changed it
    when; the earlier versions under `earlier`. None when there is none."""
    if not versions:
        return None
    latest, *earlier = versions
    return {**described(latest), "earlier": [described(v) for v in earlier]}


def described(version: dict) -> dict:
    name = version["written_by_name"] or _("someone no longer here")
    when = moment_text(version["written_at"])
    if version["version"] == 1:
        byline = _("Written by %(name)s, %(when)s", name=name, when=when)
    else:
        byline = _("Changed by %(name)s, %(when)s", name=name, when=when)
    return {
        **version,
        "label": level_label(version["level"]),
        "description": level_description(version["level"]),
        "byline": byline,
    }


def decision_view(decision: dict, today: date) -> dict:
    """A decision with its task's state in words, and whether it is late."""
    late = not decision["done"] and (decision["due_date"] or "9999") < today.isoformat()
    return {**decision, "state_label": str(STATE_LABELS.get(decision["state"], "")), "late": late}


def follow_up_text(decisions: list[dict]) -> str:
    """'Last week's decisions: 3 of 4 done'."""
    done, total = count_done(decisions)
    return _("Last week's decisions: %(done)d of %(total)d done", done=done, total=total)


def party_choices(db: Database) -> list[SelectChoice]:
    """The decision form's parties: none (triage) first, then every party by name."""
    return [SelectChoice("", _("No party yet (triage)"))] + [
        SelectChoice(str(party_id), name) for party_id, name in list_party_names(db)
    ]


def place_forms(
    db: Database,
    place: dict,
    latest: dict | None,
    parties: list,
    today: date,
    posted: dict | None = None,
) -> dict:
    """One place's assessment and decision forms: the ones just posted (with their errors)
    when they are this place's, else fresh ones (the assessment pre-filled with the latest,
    the decision's party with the routing rule's suggestion for the place)."""
    place_id = place["id"]
    posted = posted or {}
    forms = {}
    if can_assess():
        form = posted.get(("assessment", place_id))
        if form is None:
            form = AssessmentForm(formdata=None, prefix=prefix(place_id))
            form.based_on.data = str(latest["version"]) if latest else "0"
            if latest:
                form.level.data, form.text.data = latest["level"], latest["text"]
        forms["assessment"] = form
    if can_decide():
        suggestion = suggest_for_place(db, place).as_dict()
        form = posted.get(("decision", place_id))
        if form is None:
            form = DecisionForm(formdata=None, prefix=prefix(place_id))
            form.key.data = str(uuid.uuid4())
            form.due_date.data = today + timedelta(days=7)
            form.party_id.data = str(suggestion["party_id"] or "")
        form.party_id.choices = parties
        forms["decision"] = form
        forms["suggestion"] = suggestion_text(suggestion)
    return forms


def redact_for_partner(urgent: dict) -> dict:
    """The urgent items a partner may see: observations as category and time only."""
    return {
        place_id: {
            "observations": [
                {"id": None, "category": o["category"], "observed_at": o["observed_at"]}
                for o in items["observations"]
            ],
            "tasks": items["tasks"],
        }
        for place_id, items in urgent.items()
    }


def meeting_context(
    db: Database, report: dict, *, pdf: bool = False, posted: dict | None = None
) -> dict:
    """What the meeting's page (or its PDF) needs beyond the lägesbild's figures."""
    today = datetime.now(UTC).astimezone(report["periods"][0].start.tzinfo).date()
    this, before = report["week_texts"][:2]
    first = week_text(*shift_week(report["year"], report["week"], 1 - HISTORY_WEEKS))
    history = level_history(db, first, this)
    history_weeks = [
        (week_text(y, w), _("w. %(n)d", n=w))
        for y, w in (
            shift_week(report["year"], report["week"], -n) for n in range(HISTORY_WEEKS - 1, -1, -1)
        )
    ]
    level_names = {code: str(label) for code, (label, _text) in LEVELS.items()}
    parties = party_choices(db) if can_decide() and not pdf else []
    stored = {p["id"]: p for p in list_places(db)}
    labels = event_labels()
    places = {}
    for row in report["rows"][1:]:
        place_id = row["place_id"]
        assessed = report["assessments"].get(place_id, {})
        decided = report["decisions"].get(place_id, {})
        this_one = assessment_view(assessed.get("this", []))
        types, sources = event_lines(row["events"], labels)
        place = {
            "types": types,
            "sources": sources,
            "assessment": this_one,
            "last_assessment": assessment_view(assessed.get("before", [])),
            "decisions": [decision_view(d, today) for d in decided.get("this", [])],
            "last_decisions": [decision_view(d, today) for d in decided.get("before", [])],
            "history": [
                (short, level, level_names.get(level, "–"))
                for week, short in history_weeks
                for level in [history.get(place_id, {}).get(week)]
            ],
        }
        if place["last_decisions"]:
            place["follow_up"] = follow_up_text(place["last_decisions"])
        if place_id in stored and not pdf:
            place["forms"] = place_forms(db, stored[place_id], this_one, parties, today, posted)
        places[place_id] = place
    last_decisions = [d for p in places.values() for d in p["last_decisions"]]
    types, sources = event_lines(report["rows"][0]["events"], labels)
    partner = is_partner()
    return {
        "meeting": places,
        "district_types": types,
        "district_sources": sources,
        "district_follow_up": follow_up_text(last_decisions) if last_decisions else "",
        "urgent": redact_for_partner(report["urgent"]) if partner else report["urgent"],
        "partner": partner,
        "can_assess": can_assess(),
        "can_decide": can_decide(),
        "levels": {code: (str(label), str(text)) for code, (label, text) in LEVELS.items()},
        "level_label": level_label,
        # Looked up once for the page, not once per urgent item.
        "category_names": {code: category_label(code) for code in CATEGORIES},
        "state_names": {code: str(label) for code, label in STATE_LABELS.items()},
        "this_week": this,
        "week_before": before,
        "map": None
        if pdf
        else map_data(report, list(stored.values()), db, report["periods"][0], labels),
        "moment_text": moment_text,
        "event_types": list(TYPES),
    }
