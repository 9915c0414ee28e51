"""Why an events file cannot be imported, said in the person's language."""

from dataclasses import dataclass, field

from flask_babel import gettext as _

from fieldwalk.events.model import MAX_DESCRIPTION, SOURCES, TYPES


@dataclass(frozen=True)
class ImportProblem:
    """Why the file, or one row of it (`line`: its line in the file, the header is line 1),
    cannot be imported. `problem_message()` says it in the person's language."""

    code: str
    line: int | None = None
    value: str = ""
    detail: dict = field(default_factory=dict, compare=False)


# --- messages --------------------------------------------------------------------------------


def problem_message(problem: ImportProblem) -> str:
    """An import problem in the person's language, with its line number."""
    v, d = problem.value, problem.detail
    reasons = {
        "encoding": lambda: _(
            "The file is not UTF-8 text. In Excel, save it as “CSV UTF-8 (comma delimited)”."
        ),
        "empty": lambda: _("The file has no events under its header row."),
        "header_missing": lambda: _(
            "The header row lacks the columns %(columns)s (or their Swedish names).", columns=v
        ),
        "header_duplicate": lambda: _("The column “%(column)s” appears twice.", column=v),
        "columns": lambda: _(
            "%(n)d fields where the header has %(m)d; put text that holds “%(sep)s” in quotes.",
            n=d["n"],
            m=d["m"],
            sep=d["sep"],
        ),
        "time_missing": lambda: _("no time."),
        "time_format": lambda: _(
            "the time “%(value)s” is not a date and time (write it as 2026-11-28 17:45).", value=v
        ),
        "time_nonexistent": lambda: _(
            "%(value)s does not exist in Swedish time (the clocks were put forward).", value=v
        ),
        "time_future": lambda: _("the time %(value)s is in the future.", value=v),
        "place_unknown": lambda: _("there is no place called “%(value)s”.", value=v),
        "place_ambiguous": lambda: _(
            "“%(value)s” fits more than one place; write the place's full name.", value=v
        ),
        "lat_number": lambda: _("lat “%(value)s” is not a number.", value=v),
        "lon_number": lambda: _("lon “%(value)s” is not a number.", value=v),
        "lat_range": lambda: _("lat %(value)s is outside -90 to 90.", value=v),
        "lon_range": lambda: _("lon %(value)s is outside -180 to 180.", value=v),
        "point_half": lambda: _("give both lat and lon, or neither."),
        "point_far": lambda: _(
            "the point is %(km)s km from %(place)s; check lat and lon.", km=d["km"], place=v
        ),
        "point_outside": lambda: _(
            "the point is more than %(km)s km from every place; check lat and lon "
            "(are they swapped?).",
            km=d["km"],
        ),
        "where_missing": lambda: _("no place and no lat, lon."),
        "type_missing": lambda: _("no type."),
        "type_unknown": lambda: _(
            "unknown type “%(value)s” (write one of %(codes)s).", value=v, codes=", ".join(TYPES)
        ),
        "source_missing": lambda: _("no source."),
        "source_unknown": lambda: _(
            "unknown source “%(value)s” (write one of %(codes)s).",
            value=v,
            codes=", ".join(SOURCES),
        ),
        "description_long": lambda: _(
            "the description has %(n)d characters; at most %(max)d.", n=d["n"], max=MAX_DESCRIPTION
        ),
    }
    reason = reasons[problem.code]() if problem.code in reasons else problem.code
    if problem.line is None or problem.code in ("header_missing", "header_duplicate"):
        return reason
    return _("Line %(line)d: %(reason)s", line=problem.line, reason=reason)
