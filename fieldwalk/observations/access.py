"""Who may see or add to an observation: decided from the request's user or phone."""

from fieldwalk.db import get_db
from fieldwalk.security import device_key_hash, is_staff
from fieldwalk.walks.access import current_participant
from fieldwalk.walks.model import get_walk


def may_report_without_walk() -> bool:
    """Staff, and residents whose phone has joined a walk, may report outside a walk."""
    return is_staff() or device_key_hash() is not None


def can_view_observation(observation: dict) -> bool:
    """Staff, the phone that reported it, and the participants of its walk."""
    if is_staff():
        return True
    device = device_key_hash()
    if device and observation["device_key_hash"] == device:
        return True
    if observation["walk_id"] is not None:
        walk = get_walk(get_db(), observation["walk_id"])
        return walk is not None and current_participant(walk) is not None
    return False
