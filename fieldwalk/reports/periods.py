"""Weeks, months and years in Stockholm time, as UTC bounds to count stored rows by."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fieldwalk.clock import STOCKHOLM

FIRST_YEAR, LAST_YEAR = 2000, 2100  # years a report may ask for


@dataclass(frozen=True)
class Period:
    """A span of local time: `start` inclusive, `end` exclusive (both aware datetimes)."""

    start: datetime
    end: datetime

    @property
    def start_utc(self) -> str:
        return utc_text(self.start)

    @property
    def end_utc(self) -> str:
        return utc_text(self.end)

    @property
    def end_date(self) -> str:
        """The first local day after the period: a task due before it is due within it."""
        return self.end.date().isoformat()


def utc_text(moment: datetime) -> str:
    """An aware datetime in the form the `*_at` columns hold ('2026-11-16T00:00:00Z')."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_midnight(day: date, tz: ZoneInfo = STOCKHOLM) -> datetime:
    """The start of a local calendar day."""
    return datetime.combine(day, time(), tzinfo=tz)


def parse_week(text: str) -> tuple[int, int]:
    """'2026-W47' (what `<input type="week">` sends) as (2026, 47); ValueError otherwise."""
    year_text, sep, week_text = text.strip().upper().partition("-W")
    if not (sep and year_text.isdigit() and week_text.isdigit() and len(year_text) == 4):
        raise ValueError(f"not an ISO week: {text!r}")
    year, week = int(year_text), int(week_text)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"year out of range: {year}")
    date.fromisocalendar(year, week, 1)  # raises ValueError for week 0, 54, or 53 when none
    return year, week


def week_text(year: int, week: int) -> str:
    """(2026, 47) as '2026-W47'."""
    return f"{year}-W{week:02d}"


def week_period(year: int, week: int, tz: ZoneInfo = STOCKHOLM) -> Period:
    """Monday 00:00 to the next Monday 00:00, local time."""
    monday = date.fromisocalendar(year, week, 1)
    return Period(local_midnight(monday, tz), local_midnight(monday + timedelta(days=7), tz))


def shift_week(year: int, week: int, weeks: int) -> tuple[int, int]:
    """The ISO week `weeks` weeks later (earlier when negative)."""
    iso = (date.fromisocalendar(year, week, 1) + timedelta(weeks=weeks)).isocalendar()
    return iso.year, iso.week


def weeks_in_year(year: int) -> int:
    """52 or 53: 28 December is always in the year's last ISO week."""
    return date(year, 12, 28).isocalendar().week


def same_week_last_year(year: int, week: int) -> tuple[int, int]:
    """The same ISO week number a year earlier (week 52 when that year has no week 53)."""
    return year - 1, min(week, weeks_in_year(year - 1))


def last_complete_week(moment: datetime, tz: ZoneInfo = STOCKHOLM) -> tuple[int, int]:
    """The last ISO week (Monday to Sunday, local time) that had ended at `moment`."""
    today = moment.astimezone(tz).date()
    iso = (today - timedelta(days=today.weekday() + 7)).isocalendar()
    return iso.year, iso.week


def year_periods(year: int, moment: datetime, tz: ZoneInfo = STOCKHOLM) -> tuple[Period, Period]:
    """The year and the year before; a year not yet over runs to `moment`, compared with the
    same stretch of the year before (1 January to the same day and time)."""
    start, end = local_midnight(date(year, 1, 1), tz), local_midnight(date(year + 1, 1, 1), tz)
    local_now = moment.astimezone(tz)
    if start <= local_now < end:
        end = local_now
    before_end = end.replace(year=year, day=28) if (end.month, end.day) == (2, 29) else end
    before_end = before_end.replace(year=before_end.year - 1)
    return Period(start, end), Period(start.replace(year=year - 1), before_end)


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def month_starts(first: date, count: int) -> list[date]:
    """The first days of `count` months from `first`'s month on."""
    months, year, month = [], first.year, first.month
    for _i in range(count):
        months.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def month_periods(first: date, count: int, tz: ZoneInfo = STOCKHOLM) -> list[Period]:
    """`count` local calendar months from `first`'s month on."""
    starts = month_starts(first, count + 1)
    return [
        Period(local_midnight(a, tz), local_midnight(b, tz))
        for a, b in zip(starts, starts[1:], strict=False)
    ]
