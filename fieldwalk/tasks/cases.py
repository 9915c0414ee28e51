"""Case numbers: a readable number per task and year, for the administration's own records.

A task's number is its year (Stockholm time, when it was created) and its place in that
year, given in the same transaction that inserts the task, so two tasks created at once
never share a number and no number is skipped. It reads `HV-2026-0042` with the district's
prefix (CASE_PREFIX; empty: `2026-0042`). Pure functions: no database, no request.
"""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")


CASE_PATTERN = re.compile(r"^(?:([A-Za-zÅÄÖåäö]{1,10})[-\s])?(\d{4})[-\s]0*(\d{1,6})$")


def case_year(stamp: str) -> int:
    """The Stockholm year of a stored UTC time ('2026-12-31T23:30:00Z' is 2027)."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment.astimezone(STOCKHOLM).year


def format_case(prefix: str, year: int | None, seq: int | None) -> str:
    """`HV-2026-0042` (or `2026-0042` without a prefix); "" for a task without a number."""
    if year is None or seq is None:
        return ""
    number = f"{year}-{seq:04d}"
    return f"{prefix}-{number}" if prefix else number


def parse_case(text: str, prefix: str) -> tuple[int, int] | None:
    """(year, number) when `text` is a case number (any case, with or without the prefix,
    with or without leading zeros), else None."""
    match = CASE_PATTERN.match((text or "").strip())
    if match is None:
        return None
    given, year, seq = match.groups()
    if given and given.upper() != (prefix or "").upper():
        return None
    return int(year), int(seq)


def case_sql(alias: str) -> str:
    """An SQL expression for a task's case number; its one `?` is the prefix."""
    return (
        f"CASE WHEN {alias}.case_year IS NULL THEN NULL ELSE"
        f" coalesce(nullif(?, '') || '-', '') || {alias}.case_year || '-'"
        f" || printf('%04d', {alias}.case_seq) END"
    )
