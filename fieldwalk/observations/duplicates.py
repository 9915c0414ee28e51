"""The duplicate hint: was the same thing reported here lately?

For an observation, the nearest three earlier observations of the same category within
`DUPLICATE_RADIUS_METRES` (25 m) in the `DUPLICATE_DAYS` (90) days before it. SQLite reads
them from a grid of about 25 m cells (`nearby.py`, index `observations_nearby`): from each
cell the circle touches, at most the 12 newest and the 12 oldest reports in the look-back, so
one lookup touches a bounded number of index entries and a hotspot of thousands costs what a
quiet street does. It hands over only the dozen nearest of those; the exact great-circle
distance decides.

What the cap means for people: on every ordinary street (at most 24 reports of the category
per cell in 90 days) the hints are exactly the three nearest. At a hotspot with more, they are
the nearest among each cell's 12 newest and 12 oldest reports (the first reports there, which
a task was most likely made from, and the latest): at such a spot they are all the same
problem anyway.

The one-click answer links the observation to the earlier one's task
(`tasks.link_observation`): the problem was seen twice, so one task fixes both, and the party
gets one fix to do. Marking a task "duplicate" would not fit: the observation on triage has
no task yet, and making one only to close it would count an extra task opened in the
lägesbild.
"""

from datetime import datetime, timedelta

from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlite_utils import Database

from fieldwalk.categories import CATEGORIES
from fieldwalk.geo import haversine_m
from fieldwalk.observations import nearby
from fieldwalk.tasks.words import STATE_LABELS, case_label

DUPLICATE_RADIUS_METRES = 25


DUPLICATE_DAYS = 90


MAX_HINTS = 3


# How many of the nearest SQLite hands over to be measured exactly: enough that the flat-earth
# order can never push one of the MAX_HINTS nearest out.
CANDIDATES = 4 * MAX_HINTS


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def candidates_query(observation: dict, radius_m: float, days: float) -> tuple[str, list]:
    """The SQL and parameters of `nearest_candidates` (a positioned observation)."""
    observed = _utc(observation["observed_at"])
    since = (observed - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    near, params = nearby.candidate_query(
        observation["category"],
        bool(observation.get("works_well")),
        observation["lat"],
        observation["lon"],
        radius_m,
        since,
        observation["observed_at"],
        CANDIDATES,
    )
    sql = f"""SELECT d.id, d.category, d.description, d.observed_at, d.lat, d.lon,
                     places.name AS place_name
              FROM ({near}) AS near
              CROSS JOIN observations d ON d.rowid = near.key
              LEFT JOIN places ON places.id = d.place_id"""  # noqa: S608 - built from constants
    return sql, params


def nearest_candidates(db: Database, observation: dict, radius_m: float, days: float) -> list:
    """The CANDIDATES earlier observations nearest to this one (same category and kind, in a
    box around it and the look-back) among the few per grid cell that `nearby` reads, nearest
    first by flat-earth distance (exact to a millimetre at this range), ties to the oldest.
    An observation is never its own duplicate: only those observed strictly before count."""
    if observation.get("lat") is None or observation.get("lon") is None:
        return []
    return db.execute(*candidates_query(observation, radius_m, days)).fetchall()


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
    # Measure them all, but make the hint (a dict with its words) only for the nearest few.
    measured = []
    for row in rows:
        distance = haversine_m(lat, lon, row["lat"], row["lon"])
        if distance <= radius_m:
            measured.append((distance, _utc(row["observed_at"]), row))
    measured.sort(key=lambda m: m[:2])  # nearest first, ties to the oldest
    found = []
    for distance, at, row in measured[:MAX_HINTS]:
        days_before = (observed - at).total_seconds() / 86400
        found.append({**dict(row), "distance_m": distance, "days_before": days_before})
        found[-1].update(metres=round(distance), days=int(days_before))
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
