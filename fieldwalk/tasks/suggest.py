"""Which party should get a fix: zones, then the category's default party, then triage."""

from sqlite_utils import Database

from fieldwalk.parties.model import category_defaults
from fieldwalk.routing import suggest_party
from fieldwalk.zones.model import zones_at


def suggest_for_observation(db: Database, observation: dict):
    """The routing rule's suggestion for an observation, from the zones and defaults stored."""
    zones = (
        zones_at(db, observation["lat"], observation["lon"])
        if observation["lat"] is not None
        else []
    )
    return suggest_party(
        observation["lat"],
        observation["lon"],
        observation["category"],
        zones,
        category_defaults(db),
    )


def suggest_for_place(db: Database, place: dict):
    """The routing rule's suggestion for a measure at a place as a whole (a weekly meeting's
    decision): the zone around the place's centre, else triage (no category, so no default)."""
    lat, lon = place["center_lat"], place["center_lon"]
    return suggest_party(lat, lon, "", zones_at(db, lat, lon), category_defaults(db))
