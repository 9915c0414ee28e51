"""`seed-load --photos N`: a made-up photo on N of the observations, stored as an upload is.

Each is one of the demo's painted dusk scenes (fieldwalk/devtools/demo_photos.py) for the
observation's category, its own bytes (the grain is seeded by the photo's UUID), with the
observation's position and time in its EXIF as a phone writes them. It goes through the
pipeline and `store_photo`: the row, display, thumbnail and list squares are an upload's.
The face-blurred public copies are left to `blur-pending` (the blur service), as after a
walk's burst of uploads. Painting and ingesting take about 45 ms a photo.
"""

import json
import random
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlite_utils import Database

from fieldwalk.clock import STOCKHOLM
from fieldwalk.db import transaction
from fieldwalk.devtools.demo_photos import demo_photo
from fieldwalk.observations.model import get_observation, observation_place_geometry
from fieldwalk.photos.attach import PhotoSettings, files_of, ingest, store_photo
from fieldwalk.photos.files import remove_unreferenced

# What each category's photo shows (demo_photos.PAINTERS).
SCENES = {
    "lighting": "path",
    "upkeep": "litter",
    "vegetation": "bushes",
    "graffiti": "graffiti",
    "sightlines": "corner",
    "paths": "path",
    "people": "square",
    "wayfinding": "square",
    "other": "tunnel",
}


def seed_photos(
    db: Database,
    photo_dir: Path,
    settings: PhotoSettings,
    count: int,
    seed: int = 1,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Give `count` observations without photos one photo each, chosen at random over the
    whole history; return how many were given one. `progress(n)` hears of every 1,000th."""
    rng = random.Random(f"photos-{seed}")
    without = [
        row[0]
        for row in db.execute("SELECT id FROM observations WHERE photo_ids = '[]' ORDER BY id")
    ]
    chosen = rng.sample(without, min(count, len(without)))
    for n, observation_id in enumerate(chosen, 1):
        photo_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        observation = get_observation(db, observation_id)
        taken = datetime.fromisoformat(observation["observed_at"].replace("Z", "+00:00"))
        # A step aside, as a phone's GPS would put it.
        spot = (
            observation["lat"] + rng.gauss(0, 0.00003),
            observation["lon"] + rng.gauss(0, 0.00005),
        )
        data = demo_photo(
            SCENES.get(observation["category"], "square"),
            photo_id,
            spot,
            taken.astimezone(STOCKHOLM),
        )
        ingested = ingest(data, settings)
        try:
            # Declared and stored in one write, as an observation sent with its photo; no
            # blur thread is woken (store_photo leaves that to the outer write's caller).
            with transaction(db):
                db.execute(
                    "UPDATE observations SET photo_ids = ? WHERE id = ?",
                    [json.dumps([photo_id]), observation_id],
                )
                declared = {**observation, "photo_ids": json.dumps([photo_id])}
                store_photo(
                    db,
                    photo_dir,
                    photo_id,
                    data,
                    settings,
                    observation=declared,
                    place_geometry=observation_place_geometry(db, declared),
                    ingested=ingested,
                )
        except BaseException:
            original = data if settings.keep_original else None
            remove_unreferenced(db, photo_dir, list(files_of(ingested, original)))
            raise
        if progress and n % 1000 == 0:
            progress(n)
    return len(chosen)
