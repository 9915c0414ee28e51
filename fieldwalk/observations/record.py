"""Recording an observation and its photos: the one path every way in takes.

The JSON API (the capture screen and the offline outbox), the no-JavaScript form, the import
of an exported outbox and the demo all call `record_observation` and `record_photo`, so an
observation is validated, placed, stored once by UUID and given its photos the same way
whichever way it arrives.
"""

from collections.abc import Sequence
from pathlib import Path

from sqlite_utils import Database

from fieldwalk.db import transaction
from fieldwalk.observations.model import observation_place_geometry, put_observation
from fieldwalk.photos import public
from fieldwalk.photos.attach import PhotoSettings, files_of, store_photo
from fieldwalk.photos.files import remove_unreferenced, row_files
from fieldwalk.photos.pipeline import Ingested


def record_observation(
    db: Database,
    photo_dir: Path,
    observation_id: str,
    clean: dict,
    settings: PhotoSettings,
    *,
    walk: dict | None = None,
    user_id: int | None = None,
    participant_id: int | None = None,
    device_key_hash: str | None = None,
    photos: Sequence[tuple[str, bytes, Ingested | None]] = (),
) -> tuple[dict, bool]:
    """Store an observation once, with any photos that came with it; return (row, created).

    `clean` is what `observations.model.validate` returned. `photos` are (UUID, bytes,
    ingested or None) of photos sent together with the observation (the form): the
    observation and all of them are stored in one transaction or not at all. Photos sent
    later (the API, the outbox) go through `record_photo`. Raises observations.model.Conflict
    when the UUID holds other content, and what `store_photo` raises.
    """
    who = {"user_id": user_id, "participant_id": participant_id, "device_key_hash": device_key_hash}
    if not photos:
        return put_observation(db, observation_id, clean, walk=walk, **who)
    original = settings.keep_original
    written = [
        path
        for _id, data, done in photos
        if done
        for path in files_of(done, data if original else None)
    ]
    try:
        with transaction(db):
            observation, created = put_observation(db, observation_id, clean, walk=walk, **who)
            geometry = observation_place_geometry(db, observation)
            for photo_id, data, ingested in photos:
                row, _created = store_photo(
                    db,
                    photo_dir,
                    photo_id,
                    data,
                    settings,
                    observation=observation,
                    place_geometry=geometry,
                    ingested=ingested,
                )
                written += row_files(row)
    except BaseException:
        remove_unreferenced(db, photo_dir, [path for path in written if path])
        raise
    public.wake()  # now that the photos are committed, their public copies can be made
    return observation, created


def record_photo(
    db: Database,
    photo_dir: Path,
    observation: dict,
    photo_id: str,
    data: bytes,
    settings: PhotoSettings,
    *,
    phone_gps: tuple[float, float] | None = None,
    phone_taken_at: str | None = None,
) -> tuple[dict, bool]:
    """Store a photo an observation declared, once; return (row, created).

    A photo's position near the observation's place becomes the position of an observation
    that has none. Raises what `photos.attach.store_photo` raises.
    """
    return store_photo(
        db,
        photo_dir,
        photo_id,
        data,
        settings,
        observation=observation,
        place_geometry=observation_place_geometry(db, observation),
        phone_gps=phone_gps,
        phone_taken_at=phone_taken_at,
    )
