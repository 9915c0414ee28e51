"""The weekly meeting's joint assessment (gemensam bedömning) of a place: a level in four steps
and a short text, per place and ISO week, written by staff or partners during the meeting.

An assessment is never changed in place: each save is a new version, so the page shows the
latest ("changed by ... at ...") and the earlier ones stay. A save names the version it was
written over (`based_on`); when someone else saved in between it is refused with the newer one
(two people at the meeting never overwrite each other silently), unless it is the very same
assessment sent twice by the same person, which is taken as already saved.
"""

from flask_babel import lazy_gettext as _l
from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.reports.periods import parse_week, week_text

# Codes are stored; the labels and one-line descriptions are what the form shows.
LEVELS = {
    "calm": (_l("Calm"), _l("Nothing beyond the usual; the ordinary follow-up is enough.")),
    "uneasy": (
        _l("Uneasy"),
        _l("Signs of unrest or more events than usual; keep a closer eye on the place."),
    ),
    "serious": (
        _l("Serious"),
        _l("Repeated or grave events; the place needs measures this week."),
    ),
    "acute": (
        _l("Acute"),
        _l("Violence, open dealing or danger right now; act at once and follow up daily."),
    ),
}
MAX_TEXT = 1000  # a short text: what the meeting agreed on, read aloud in a minute


def level_label(code: str) -> str:
    """A level's name in the person's language (the code itself when unknown)."""
    return str(LEVELS[code][0]) if code in LEVELS else code


def level_description(code: str) -> str:
    """A level's one-line description in the person's language."""
    return str(LEVELS[code][1]) if code in LEVELS else ""


class AssessmentConflict(Exception):
    """Someone saved a newer version of this assessment since the form was loaded."""

    def __init__(self, current: dict):
        super().__init__("conflict")
        self.current = current


def check_assessment(*, week: str, level: str, text: str) -> None:
    """Raise ValueError when the values cannot make an assessment (callers check first and
    say why in the person's language; this is the last line)."""
    if week_text(*parse_week(week)) != week:
        raise ValueError(f"not a week as stored: {week!r}")
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    if len(text) > MAX_TEXT:
        raise ValueError(f"text longer than {MAX_TEXT} characters")


SELECT = """
    SELECT assessments.*, coalesce(nullif(users.name, ''), users.email) AS written_by_name
    FROM assessments LEFT JOIN users ON users.id = assessments.written_by"""


def latest_version(db: Database, place_id: int, week: str) -> dict | None:
    """The newest version of a place's assessment for a week, or None."""
    row = db.execute(
        f"{SELECT} WHERE place_id = ? AND week = ? ORDER BY version DESC LIMIT 1",  # noqa: S608
        [place_id, week],
    ).fetchone()
    return dict(row) if row else None


def save_assessment(
    db: Database,
    *,
    place_id: int,
    week: str,
    level: str,
    text: str,
    written_by: int | None,
    based_on: int,
    written_at: str | None = None,
) -> tuple[dict, bool]:
    """Store a new version of a place's assessment for a week ('2026-W47'); return it and
    whether it is new.

    `based_on` is the version the writer saw (0: none yet). A newer one raises
    AssessmentConflict, except the same level and text from the same person (a form sent
    twice), which returns the stored version and False. `written_at` (UTC text) is now unless
    given (the demo's history).
    """
    text = text.strip()
    check_assessment(week=week, level=level, text=text)
    with transaction(db):
        latest = latest_version(db, place_id, week)
        current = latest["version"] if latest else 0
        if based_on != current:
            same = latest and (latest["level"], latest["text"], latest["written_by"]) == (
                level,
                text,
                written_by,
            )
            if same:
                return latest, False
            raise AssessmentConflict(latest)
        db.execute(
            """INSERT INTO assessments (place_id, week, version, level, text, written_by,
                   written_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [place_id, week, current + 1, level, text, written_by, written_at or now()],
        )
        return latest_version(db, place_id, week), True


def assessments_for_weeks(db: Database, weeks: list[str]) -> dict[tuple[int, str], list[dict]]:
    """Every version of every place's assessment in the given weeks, newest first:
    {(place_id, week): [latest, ..., first]}."""
    if not weeks:
        return {}
    rows = db.execute(
        f"""{SELECT} WHERE week IN ({",".join("?" * len(weeks))})
            ORDER BY place_id, week, version DESC""",  # noqa: S608 - placeholders only
        list(weeks),
    )
    found: dict[tuple[int, str], list[dict]] = {}
    for row in rows:
        found.setdefault((row["place_id"], row["week"]), []).append(dict(row))
    return found


def level_history(db: Database, since: str, until: str) -> dict[int, dict[str, str]]:
    """Per place, the latest level of each week from `since` to `until` ('2026-W36' to
    '2026-W47', both included): {place_id: {week: level}}."""
    rows = db.execute(
        """SELECT place_id, week, level FROM assessments
           WHERE week >= ? AND week <= ?
             AND version = (SELECT max(version) FROM assessments a
                            WHERE a.place_id = assessments.place_id AND a.week = assessments.week)
           ORDER BY place_id, week""",
        [since, until],
    )
    history: dict[int, dict[str, str]] = {}
    for row in rows:
        history.setdefault(row["place_id"], {})[row["week"]] = row["level"]
    return history
