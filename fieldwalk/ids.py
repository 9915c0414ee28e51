"""Identifiers from clients: UUIDs and row ids, parsed once and the same way everywhere."""

import uuid

# SQLite's largest integer; a bigger id cannot name a row (and would not bind).
MAX_ROW_ID = 2**63 - 1


def parse_uuid(value: str) -> str | None:
    """The canonical lower-case form of a UUID string, or None when it is not one."""
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        return None


def parse_id(value: object) -> int | None:
    """A row id from a client (int or digit string) that SQLite can hold, or None."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    # isdecimal, not isdigit: "²" is a digit that int() refuses.
    if isinstance(value, str) and not (value.isascii() and value.isdecimal()):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ROW_ID else None
