"""What Open311 publishes of an observation: decided in ONE function, `public_request`.

Open311's GET answers are public (no key is asked for, as the spec has it), and a list of
requests reaches every observation, not only the one whose unguessable link someone holds.
So they show no more than the public status page does (`fieldwalk.status`): its category,
text, date, place, photos and each fix's measure, party, state and after-photos; never a
name, an email, a device key, a staff note or a walk. The position, which the status page
does not show, is rounded to `POSITION_DECIMALS` (about 10 m), enough to find the spot.

Public only after review (fieldwalk/observations/moderation.py): an observation is published
over Open311 only once staff approved it for the public pages ("Visa publikt"). Until then
(and for good when staff kept it private) it is in no public answer at all: not in
`requests`, not found as `requests/<id>`, no update of its fixes. Its photos are published
as their face-blurred public copies (no metadata inside), and only those staff approved.

A reader that gives a staff account's `api_key` (an integration staff set up, such as a
party's system following the requests it posted, or another fieldwalk reading back what it
sent) is not the public either: it also sees requests not approved yet, with their state
and each fix's measure, but still without their text and photos until approved.

A party reached over Open311 is not the public: like a party's email, `party_request` gives
it the whole text and the blurred copies of the photos without waiting for approval.
"""

from sqlite_utils import Database

from fieldwalk.observations.moderation import is_approved
from fieldwalk.photos.model import list_photos
from fieldwalk.status import public_fixes, public_observation
from fieldwalk.tasks.model import tasks_for_observation

POSITION_DECIMALS = 4


def public_request(db: Database, observation: dict, *, key_holder: bool = False) -> dict | None:
    """The public parts of an observation: description, photo files (the blurred public
    copies), place name, rounded position, and its fixes (measure, party_name, state,
    state_label, finished, after_photos, task_id); None while it is not approved for the
    public pages, unless the reader is a `key_holder` (then without text and photos)."""
    approved = is_approved(observation)
    if not approved and not key_holder:
        return None
    shown = public_observation(db, observation)
    # A key holder follows the fixes of what is not approved yet, measures included.
    shown_fixes = shown["fixes"] if approved else public_fixes(db, observation["id"])
    # status.public_fixes walks tasks_for_observation in the same order: pair them up.
    tasks = tasks_for_observation(db, observation["id"])
    fixes = [dict(fix, task_id=task["id"]) for fix, task in zip(shown_fixes, tasks, strict=True)]
    lat, lon = observation["lat"], observation["lon"]
    return {
        "description": shown["description"],
        "photos": [photo["file"] for photo in shown["photos"]],
        "place_name": shown["place_name"],
        "lat": round(lat, POSITION_DECIMALS) if lat is not None else None,
        "lon": round(lon, POSITION_DECIMALS) if lon is not None else None,
        "fixes": fixes,
    }


def party_request(db: Database, observation: dict) -> dict:
    """What a party that must act on a fix gets of an observation over Open311: its text, the
    face-blurred public copies of its photos (hidden ones left out) and `pending`, how many
    of them are still having their faces blurred."""
    shown = [photo for photo in list_photos(db, observation["id"]) if not photo["hidden_at"]]
    return {
        "description": observation["description"] or "",
        "photos": [photo["public_file"] for photo in shown if photo["public_file"]],
        "pending": sum(1 for photo in shown if not photo["public_file"]),
    }
