"""A photo's own place and time as the phone read them, for photos whose bytes no longer say.

The capture screen makes photos smaller on the phone before sending them, which drops their
EXIF. It reads the original's GPS position and DateTimeOriginal first and sends them beside the
bytes, as headers of the photo's PUT (kept in the outbox entry, so an offline replay sends them
too) and in an exported outbox's manifest. They count only where the bytes carry none, and are
checked as the pipeline checks EXIF (fieldwalk/photos/pipeline.py): a position out of range, not a
number, or at 0,0 (what a receiver without a fix writes) is dropped, and so is a time that is
not a date. (A void fix never arrives: the phone drops a position whose GPSStatus is V.)
"""

from datetime import datetime

from fieldwalk.photos.pipeline import plausible_gps

LAT_HEADER = "X-Photo-Lat"
LON_HEADER = "X-Photo-Lon"
TAKEN_AT_HEADER = "X-Photo-Taken-At"


def phone_position(lat: object, lon: object) -> tuple[float, float] | None:
    """Decimal degrees from the phone's reading, or None when missing or implausible."""
    try:
        return plausible_gps(float(lat), float(lon))
    except (TypeError, ValueError):
        return None


def listed_position(value: object) -> tuple[float, float] | None:
    """A position kept as [lat, lon] (an exported outbox's manifest), or None."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    return phone_position(*value)


def phone_taken_at(text: object) -> str | None:
    """ISO 8601 as the phone sent it ('2008-10-22T16:28:39', the camera's local time, or with
    an offset), normalised to whole seconds; None when it is not a date and time."""
    if not isinstance(text, str) or not 0 < len(text) <= 40:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.isoformat(timespec="seconds")


def read_headers(headers) -> tuple[tuple[float, float] | None, str | None]:
    """(gps, taken_at) from a photo upload's X-Photo-* headers."""
    return (
        phone_position(headers.get(LAT_HEADER), headers.get(LON_HEADER)),
        phone_taken_at(headers.get(TAKEN_AT_HEADER)),
    )
