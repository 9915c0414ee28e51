"""What Open311 publishes of an observation: decided in ONE function, `public_request`.

Open311's GET answers are public (no key is asked for, as the spec has it), and a list of
requests reaches every observation, not only the one whose unguessable link someone holds.
So they show no more than the public status page does (`fieldwalk.status`): its category,
text, date, place, photos and each fix's measure, party, state and after-photos; never a
name, an email, a device key, a staff note or a walk. The position, which the status page
does not show, is rounded to `POSITION_DECIMALS` (about 10 m), enough to find the spot.

When text and photos become public only after staff have approved them, this function is
the one to change: every Open311 answer (requests, updates, media_url) is built from it.
"""

from sqlite_utils import Database

from fieldwalk.status import public_observation
from fieldwalk.tasks.model import tasks_for_observation

POSITION_DECIMALS = 4


def public_request(db: Database, observation: dict) -> dict:
    """The public parts of an observation: description, photo files, place name, rounded
    position, and its fixes (measure, party_name, state, state_label, finished,
    after_photos, task_id)."""
    shown = public_observation(db, observation)
    # status.public_fixes walks tasks_for_observation in the same order: pair them up.
    tasks = tasks_for_observation(db, observation["id"])
    fixes = [dict(fix, task_id=task["id"]) for fix, task in zip(shown["fixes"], tasks, strict=True)]
    lat, lon = observation["lat"], observation["lon"]
    return {
        "description": shown["description"],
        "photos": [photo["file"] for photo in shown["photos"]],
        "place_name": shown["place_name"],
        "lat": round(lat, POSITION_DECIMALS) if lat is not None else None,
        "lon": round(lon, POSITION_DECIMALS) if lon is not None else None,
        "fixes": fixes,
    }
