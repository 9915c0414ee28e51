"""Observations and their photos as the JSON API and GeoJSON show them: no device keys, no hashes."""

import json

from fieldwalk.photos.model import missing_photo_ids


def observation_feature(
    observation: dict, photos: list[dict], photo_url, *, recorder: bool = False
) -> dict:
    """An observation as a GeoJSON Feature (geometry null when it has no position)."""
    geometry = None
    if observation["lat"] is not None:
        geometry = {"type": "Point", "coordinates": [observation["lon"], observation["lat"]]}
    return {
        "type": "Feature",
        "id": observation["id"],
        "geometry": geometry,
        "properties": observation_json(observation, photos, photo_url, recorder=recorder),
    }


def observation_json(
    observation: dict, photos: list[dict], photo_url, *, recorder: bool = False
) -> dict:
    """The API's view of an observation: no device keys, no hashes.

    Which photo UUIDs were declared and are still missing is told only to the `recorder`
    (the phone or user that recorded it, and staff): they are what its outbox still sends,
    and anyone else knowing them could only try to fill those slots.
    """
    shown = {
        "id": observation["id"],
        "walk_id": observation["walk_id"],
        "place_id": observation["place_id"],
        "category": observation["category"],
        "works_well": bool(observation["works_well"]),
        "description": observation["description"],
        "feeling": observation["feeling"],
        "urgent": bool(observation["urgent"]),
        "lat": observation["lat"],
        "lon": observation["lon"],
        "accuracy_m": observation["accuracy_m"],
        "location_source": observation["location_source"],
        "distance_from_place_m": observation["distance_m"],
        "captured_at": observation["captured_at"],
        "observed_at": observation["observed_at"],
        "observed_source": observation["observed_source"],
        "created_at": observation["created_at"],
        "photos": [photo_json(p, photo_url) for p in photos],
    }
    if recorder:
        shown["photos_declared"] = json.loads(observation["photo_ids"])
        shown["photos_missing"] = missing_photo_ids(observation, photos)
    return shown


def photo_json(photo: dict, photo_url) -> dict:
    """The API's view of a stored photo."""
    gps = None
    if photo["gps_lat"] is not None:
        gps = {"lat": photo["gps_lat"], "lon": photo["gps_lon"]}
    return {
        "id": photo["id"],
        "observation_id": photo["observation_id"],
        "width": photo["width"],
        "height": photo["height"],
        "gps": gps,
        "taken_at": photo["taken_at"],
        "url": photo_url(photo["file"]),
        "thumb_url": photo_url(photo["thumb_file"]),
    }
