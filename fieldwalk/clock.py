"""Time as fieldwalk keeps it: UTC stamps in every `*_at` column, Stockholm's clock for people.

An observation has two times. When it was *observed*: what the phone said when the person
saved it, else the time its photo was taken, else when the server received it. When it was
*received*: the server's clock, kept for the audit. A walk recorded offline on 13 November
and synced on 4 December belongs to 13 November: every report, count, date and export that
speaks of "when" uses the observed time.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")

# A phone's clock can be wrong (reset to 1970, a day off, set by hand). A time later than
# the server's receipt is impossible, and one from long before is a broken clock, not an
# outbox that waited: both fall back to the next source.
CLOCK_SKEW = timedelta(minutes=10)
OLDEST_PLAUSIBLE = timedelta(days=400)

DEVICE, PHOTO, RECEIVED = "device", "photo", "received"


def now(offset: timedelta = timedelta(0)) -> str:
    """The current UTC time (plus `offset`) as an ISO 8601 string, the form every `*_at`
    column holds, so such strings compare in time order."""
    return stamp(datetime.now(UTC) + offset)


def stamp(moment: datetime) -> str:
    """An aware datetime in the form every `*_at` column holds: '2026-11-28T05:45:00Z'."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_moment(text: str | None, zone: ZoneInfo = STOCKHOLM) -> datetime | None:
    """An ISO 8601 time from a phone or a camera as an aware datetime; a time without an
    offset is wall-clock time in `zone` (cameras write local time). None if unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment


def plausible(moment: datetime | None, received_at: str) -> bool:
    """Could something received at `received_at` have been observed at `moment`?"""
    if moment is None:
        return False
    received = datetime.fromisoformat(received_at.replace("Z", "+00:00"))
    return received - OLDEST_PLAUSIBLE <= moment <= received + CLOCK_SKEW


def observed_time(
    received_at: str,
    captured_at: str | None = None,
    photo_taken_at: str | None = None,
    zone: ZoneInfo = STOCKHOLM,
) -> tuple[str, str]:
    """(observed_at as a UTC stamp, where it came from: DEVICE, PHOTO or RECEIVED)."""
    for text, source in ((captured_at, DEVICE), (photo_taken_at, PHOTO)):
        moment = parse_moment(text, zone)
        if plausible(moment, received_at):
            return stamp(min(moment, _utc(received_at))), source
    return received_at, RECEIVED


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
