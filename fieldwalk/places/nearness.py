"""The far-from-the-place rule, in one place: how far a position is from a walk's place, and
whether that is far enough to warn about.

A position is far from the place when its distance to the place's polygon (0 inside; the
same equirectangular measure the capture screen's script uses offline) is more than
`FAR_FROM_PLACE_METRES`. Everything that warns or decides on it asks here: the stored
observation's `distance_m`, the API's warnings for an observation and for a photo, whether a
photo's position may become its observation's, the walk's lists, the protocol's map, and the
capture screen, which gets the same setting as `farMetres`. Pure functions: no Flask.
"""

from __future__ import annotations

from fieldwalk import geo


def distance_from_place(geometry: dict | None, lat: float | None, lon: float | None):
    """Metres (to 0.1 m) from a position to the place's polygon; None without either."""
    if geometry is None or lat is None or lon is None:
        return None
    return round(geo.distance_to_polygon_m(geometry, lat, lon), 1)


def is_far(distance_m: float | None, far_metres: float | None) -> bool:
    """True when a known distance is more than the setting (no distance is never far)."""
    return distance_m is not None and far_metres is not None and distance_m > far_metres


def near_place(geometry: dict | None, lat: float, lon: float, far_metres: float | None) -> bool:
    """True when there is a place and the position is within the setting of it: only then may
    a photo's position stand in for its observation's."""
    distance = distance_from_place(geometry, lat, lon)
    return distance is not None and far_metres is not None and not is_far(distance, far_metres)
