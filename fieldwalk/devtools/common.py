"""What the demo and the load generator share: stable demo UUIDs, random points in a polygon."""

import random
import uuid

from fieldwalk import geo

NAMESPACE = uuid.UUID("6f0b7e2a-3c1d-5e8f-9a4b-2d7c1e0f5a93")


def demo_uuid(name: str) -> str:
    """The fixed UUID of a demo row, so seeding twice finds what the first run made."""
    return str(uuid.uuid5(NAMESPACE, name))


def point_in(rng: random.Random, geometry: dict, box: tuple) -> tuple[float, float]:
    """A random point inside a polygon: drawn in its bounding box until one lands inside."""
    min_lat, min_lon, max_lat, max_lon = box
    while True:
        lat, lon = rng.uniform(min_lat, max_lat), rng.uniform(min_lon, max_lon)
        if geo.contains(geometry, lat, lon):
            return round(lat, 6), round(lon, 6)
