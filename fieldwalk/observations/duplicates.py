"""The duplicate hint: was the same thing reported here lately?

For an observation, the nearest three earlier observations of the same category within
`DUPLICATE_RADIUS_METRES` (25 m) in the `DUPLICATE_DAYS` (90) days before it. SQLite narrows
them to a bounding box on a covering index (`observations_duplicates`: category, works well,
lat, lon, observed time, id) and hands over only the dozen nearest, so a hotspot of thousands
costs about what a quiet street does; the exact great-circle distance decides.

The one-click answer links the observation to the earlier one's task
(`tasks.link_observation`): the problem was seen twice, so one task fixes both, and the party
gets one fix to do. Marking a task "duplicate" would not fit: the observation on triage has
no task yet, and making one only to close it would count an extra task opened in the
lägesbild.
"""

import math
from datetime import datetime, timedelta

from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlite_utils import Database

from fieldwalk.categories import CATEGORIES
from fieldwalk.geo import EARTH_RADIUS_M, haversine_m
from fieldwalk.tasks.words import STATE_LABELS, case_label

DUPLICATE_RADIUS_METRES = 25


DUPLICATE_DAYS = 90


MAX_HINTS = 3


# How many of the nearest SQLite hands over to be measured exactly: enough that the flat-earth
# order can never push one of the MAX_HINTS nearest out.
CANDIDATES = 4 * MAX_HINTS


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def nearest_candidates(db: Database, observation: dict, radius_m: float, days: float) -> list:
    """The CANDIDATES earlier observations nearest to this one (same category and kind, in a
    box around it and the look-back), nearest first by flat-earth distance (exact to a
    millimetre at this range), ties to the oldest: at a hotspot of thousands SQLite keeps a
    top-CANDIDATES heap over the covering index's range and Python measures only these."""
    if observation.get("lat") is None or observation.get("lon") is None:
        return []
    lat, lon = observation["lat"], observation["lon"]
    # Degrees spanned by the radius, a little wider so the box never cuts a true match.
    dlat = math.degrees(radius_m / EARTH_RADIUS_M) * 1.01
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    observed = _utc(observation["observed_at"])
    since = (observed - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    kx = math.cos(math.radians(lat))
    return db.execute(
        """SELECT d.id, d.category, d.description, d.observed_at, d.lat, d.lon,
                  places.name AS place_name
           FROM (SELECT n.rowid AS key FROM observations n INDEXED BY observations_duplicates
                 WHERE n.category = ? AND n.works_well = ? AND n.lat BETWEEN ? AND ?
                   AND n.lon BETWEEN ? AND ? AND n.observed_at >= ? AND n.observed_at < ?
                   AND n.id != ?
                 ORDER BY (n.lat - ?) * (n.lat - ?)
                          + (n.lon - ?) * (n.lon - ?) * ? * ?, n.observed_at
                 LIMIT ?) AS near
           CROSS JOIN observations d ON d.rowid = near.key
           LEFT JOIN places ON places.id = d.place_id""",
        [
            observation["category"],
            int(bool(observation.get("works_well"))),
            lat - dlat,
            lat + dlat,
            lon - dlon,
            lon + dlon,
            since,
            observation["observed_at"],
            observation["id"],
            *(lat, lat, lon, lon),
            *(kx, kx),
            CANDIDATES,
        ],
    ).fetchall()


def find_duplicates(
    db: Database,
    observation: dict,
    radius_m: float = DUPLICATE_RADIUS_METRES,
    days: float = DUPLICATE_DAYS,
) -> list[dict]:
    """Earlier observations of the same category near this one, nearest first.

    Each comes with `distance_m`, `days_before` and, when a task fixes it, `task_id` and
    `task_state` (a task closed as a duplicate names its original instead).
    """
    if observation.get("lat") is None or observation.get("lon") is None:
        return []
    lat, lon = observation["lat"], observation["lon"]
    observed = _utc(observation["observed_at"])
    rows = nearest_candidates(db, observation, radius_m, days)
    found = []
    for row in rows:
        distance = haversine_m(lat, lon, row["lat"], row["lon"])
        if distance <= radius_m:
            days_before = (observed - _utc(row["observed_at"])).total_seconds() / 86400
            found.append({**dict(row), "distance_m": distance, "days_before": days_before})
            found[-1].update(metres=round(distance), days=int(days_before))
    found.sort(key=lambda d: (d["distance_m"], -d["days_before"]))
    found = found[:MAX_HINTS]
    _add_tasks(db, found)
    return found


def _add_tasks(db: Database, found: list[dict]) -> None:
    """Give each hint the task that fixes it (the original, for a task closed as duplicate)."""
    for hint in found:
        hint["task_id"] = hint["task_state"] = None
    if not found:
        return
    by_id = {hint["id"]: hint for hint in found}
    marks = ", ".join("?" * len(by_id))
    rows = db.execute(
        f"""SELECT y.observation_id,
                   CASE WHEN t.state = 'duplicate' AND o.id IS NOT NULL THEN o.id ELSE t.id END
                       AS task_id,
                   CASE WHEN t.state = 'duplicate' AND o.id IS NOT NULL THEN o.state
                       ELSE t.state END AS task_state,
                   CASE WHEN t.state = 'duplicate' AND o.id IS NOT NULL THEN o.case_year
                       ELSE t.case_year END AS case_year,
                   CASE WHEN t.state = 'duplicate' AND o.id IS NOT NULL THEN o.case_seq
                       ELSE t.case_seq END AS case_seq
            FROM task_observations y JOIN tasks t ON t.id = y.task_id
            LEFT JOIN tasks o ON o.id = t.duplicate_of
            WHERE y.observation_id IN ({marks}) ORDER BY t.id""",  # noqa: S608 - placeholders
        list(by_id),
    )
    for row in rows:
        hint = by_id[row["observation_id"]]
        if hint["task_id"] is None:
            hint["task_id"], hint["task_state"] = row["task_id"], row["task_state"]
            hint["case_year"], hint["case_seq"] = row["case_year"], row["case_seq"]


def settings() -> tuple[float, float]:
    """The configured radius (metres) and look-back (days)."""
    config = current_app.config
    return config["DUPLICATE_RADIUS_METRES"], config["DUPLICATE_DAYS"]


def add_duplicate_hints(db: Database, observations: list[dict]) -> None:
    """Set `duplicates` on each observation that is a problem with no task yet, each hint
    with the words and links the list shows (translated once for the whole list)."""
    radius, days = settings()
    words = HintWords()
    for observation in observations:
        if observation.get("tasks") or observation.get("works_well"):
            observation["duplicates"] = []
        else:
            observation["duplicates"] = find_duplicates(db, observation, radius, days)
            for hint in observation["duplicates"]:
                words.describe(hint)


class HintWords:
    """The hint's words in the person's language, looked up once per page, not per hint."""

    def __init__(self):
        self.categories = {code: str(label) for code, (label, _hint) in CATEGORIES.items()}
        self.states = {code: str(label) for code, label in STATE_LABELS.items()}
        self.metres = _("%(metres)d m away")
        self.button = _("The same as %(case)s", case="{case}")
        self.observation_url = url_for("capture.show", observation_id="x")[:-1]
        self.task_url = url_for("tasks.show", task_id=0)[:-1]
        self.ages: dict[int, str] = {}

    def describe(self, hint: dict) -> None:
        """Put the words and links on one hint."""
        if hint["days"] not in self.ages:
            self.ages[hint["days"]] = ngettext(
                "%(num)d day earlier", "%(num)d days earlier", hint["days"]
            )
        hint["category_name"] = self.categories.get(hint["category"], hint["category"])
        hint["distance_text"] = self.metres % {"metres": hint["metres"]}
        hint["age_text"] = self.ages[hint["days"]]
        hint["url"] = self.observation_url + hint["id"]
        if hint["task_id"] is not None:
            hint["case"] = hint["task_name"] = case_label(hint)
            hint["task_url"] = self.task_url + str(hint["task_id"])
            hint["state_name"] = self.states.get(hint["task_state"], hint["task_state"])
            hint["button"] = self.button.replace("{case}", hint["case"])
