"""Importing events from a CSV file: checked whole, then stored all at once, or not at all.

The file: a header row, then one event per row. Columns `time`, `place`, `lat`, `lon`, `type`,
`source`, `description`, or in Swedish `tid`, `plats`, `lat`, `lon`, `typ`, `källa`,
`beskrivning` (any order, any case; other columns are ignored). Comma, semicolon or tab
separated, UTF-8 with or without a byte order mark: what Excel's "CSV UTF-8" writes.

- `time`: ISO 8601 ('2026-11-28T17:45:00+01:00', '...Z') or '2026-11-28 17:45' in Stockholm
  time, summer time included.
- `place`: a place's name or slug (case, accents and punctuation aside; the part after a colon
  does too, when only one place has it), and/or `lat`, `lon` in WGS84 decimal degrees (a
  decimal comma is fine). With only a point, the place is the one whose polygon holds it.
- `type`, `source`: a code (`drug_dealing`, `police`) or its Swedish or English label.

Importing the same file again adds nothing: each row is stored under a hash of its content
(and of how many identical rows came before it in the file, so two identical rows are two
events the first time and none the second).
"""

import csv
import hashlib
import io
import json
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask_babel import force_locale
from sqlite_utils import Database

from fieldwalk import geo
from fieldwalk.db import transaction
from fieldwalk.events.model import (
    MAX_DESCRIPTION,
    SOURCES,
    STOCKHOLM,
    TYPES,
    NonexistentTime,
    insert_event,
    parse_time,
    utc_text,
)
from fieldwalk.events.problems import ImportProblem
from fieldwalk.places.model import place_for_point, slugify

COLUMNS = {
    "time": ("time", "tid", "tidpunkt", "datum och tid"),
    "place": ("place", "plats"),
    "lat": ("lat", "latitude", "latitud"),
    "lon": ("lon", "lng", "long", "longitude", "longitud"),
    "type": ("type", "typ", "händelsetyp"),
    "source": ("source", "källa", "kalla"),
    "description": ("description", "beskrivning"),
}
# The file's own vocabulary, besides the codes and the labels of both languages: the words of
# the district's description of its lägesbild, each part of a two-part label on its own.
WORDS = {
    "type": {
        "drug_dealing": ("narkotikaförsäljning", "langning"),
        "drug_use": ("narkotikabruk", "narkotikaanvändning"),
        "disorder": ("ordningsstörning", "ordningsstörningar"),
        "violence": ("våld eller hot", "våld", "hot", "violence", "threats"),
        "vandalism": ("skadegörelse",),
        "littering": ("nedskräpning, sprutor", "nedskräpning", "sprutor", "littering", "needles"),
        "other": ("övrigt", "annat"),
    },
    "source": {
        "police": ("polisen", "polis", "police"),
        "guards": ("ordningsvakter, bevakningsbolag", "ordningsvakter", "ordningsvakt",
                   "bevakningsbolag", "bevakningsbolaget", "väktare", "guards"),
        "staff": ("förvaltningens personal, fältassistenter", "förvaltningens personal",
                  "fältassistenter", "fältassistent", "personal", "staff"),
        "public": ("allmänheten", "public"),
        "other": ("övrigt", "annat"),
    },
}  # fmt: skip
FUTURE_SLACK = timedelta(minutes=5)
PREVIEW_ROWS = 50


@dataclass
class ImportResult:
    """What an import found and did."""

    rows: int = 0  # event rows in the file (blank rows aside)
    new: int = 0  # added, or to be added in a dry run
    already: int = 0  # stored by an earlier import of the same rows
    without_place: int = 0  # rows with a point inside no place
    ignored_columns: list[str] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    preview: list[dict] = field(default_factory=list)  # the first rows, as they will be stored
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


# --- reading the file ------------------------------------------------------------------------


def word(text: str) -> str:
    """A cell as compared: case folded, NFC, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def vocabulary(kind: str) -> dict[str, str]:
    """Every word the file may use for a type or a source, and its code."""
    labels = TYPES if kind == "type" else SOURCES
    words: dict[str, str] = {}
    for code, extra in WORDS[kind].items():
        for text in (code, code.replace("_", " "), *extra):
            words.setdefault(word(text), code)
    for lang in ("sv", "en"):
        with force_locale(lang):
            for code, label in labels.items():
                words.setdefault(word(str(label)), code)
    return words


def decode(data: bytes) -> str | None:
    """The file's text (a UTF-8 byte order mark dropped), or None when it is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def delimiter(header_line: str) -> str:
    """The separator the header row uses most: semicolon (Swedish Excel), comma or tab."""
    counts = {d: header_line.count(d) for d in (";", ",", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def read_rows(text: str) -> tuple[str, list[str], list[tuple[int, list[str]]]]:
    """The separator, the header's cells and each row with its first line in the file."""
    first = text.split("\n", 1)[0]
    sep = delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    header = next(reader, [])
    rows, line = [], reader.line_num + 1
    for cells in reader:
        rows.append((line, cells))
        line = reader.line_num + 1
    return sep, header, rows


def map_header(header: list[str]) -> tuple[dict[str, int], list[ImportProblem], list[str]]:
    """Column name -> position; the header's problems; the names of the ignored columns."""
    names = {word(alias): name for name, aliases in COLUMNS.items() for alias in aliases}
    positions: dict[str, int] = {}
    problems, ignored = [], []
    for i, cell in enumerate(header):
        name = names.get(word(cell))
        if name is None:
            if cell.strip():
                ignored.append(cell.strip())
        elif name in positions:
            problems.append(ImportProblem("header_duplicate", 1, cell.strip()))
        else:
            positions[name] = i
    missing = [n for n in ("time", "type", "source") if n not in positions]
    if "place" not in positions and not {"lat", "lon"} <= set(positions):
        missing.append("place")
    if missing:
        problems.append(ImportProblem("header_missing", 1, ", ".join(missing)))
    return positions, problems, ignored


# --- checking a row --------------------------------------------------------------------------


class PlaceIndex:
    """The district's places, found by name, slug or the part of a name after a colon."""

    def __init__(self, db: Database):
        self.db = db
        self.places = {
            r["id"]: {**dict(r), "shape": json.loads(r["geometry"])}
            for r in db.execute("SELECT * FROM places ORDER BY id")
        }
        self.full: dict[str, set[int]] = {}
        self.parts: dict[str, set[int]] = {}
        for place in self.places.values():
            for key in (place["slug"], slugify(place["name"])):
                self.full.setdefault(key, set()).add(place["id"])
            for part in place["name"].split(":")[1:]:
                self.parts.setdefault(slugify(part), set()).add(place["id"])

    def find(self, text: str) -> tuple[dict | None, str | None]:
        """(the place, None), or (None, "place_unknown" or "place_ambiguous")."""
        key = slugify(text)
        for index in (self.full, self.parts):
            ids = index.get(key, set())
            if len(ids) == 1:
                return self.places[next(iter(ids))], None
            if ids:
                return None, "place_ambiguous"
        return None, "place_unknown"

    def nearest_m(self, lat: float, lon: float) -> float | None:
        """Metres from the point to the nearest place (0 inside one); None with no places."""
        distances = [geo.distance_to_polygon_m(p["shape"], lat, lon) for p in self.places.values()]
        return min(distances, default=None)


def coordinate(text: str) -> float | None:
    """A decimal number, with a point or a decimal comma; None when it is not one."""
    text = text.strip().replace("\u2212", "-")
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    try:
        return float(text)
    except ValueError:
        return None


def check_point(
    places: PlaceIndex, lat: float, lon: float, place: dict | None, far_metres: float
) -> ImportProblem | None:
    """A point far from its named place, or far from every place (lat and lon swapped?)."""
    if place is not None:
        distance = geo.distance_to_polygon_m(place["shape"], lat, lon)
        if distance > far_metres:
            km = f"{distance / 1000:.1f}"
            return ImportProblem("point_far", value=place["name"], detail={"km": km})
        return None
    distance = places.nearest_m(lat, lon)
    if distance is not None and distance > far_metres:
        return ImportProblem("point_outside", detail={"km": f"{far_metres / 1000:g}"})
    return None


def check_row(
    cells: dict[str, str],
    *,
    places: PlaceIndex,
    words: dict[str, dict[str, str]],
    now: datetime,
    far_metres: float,
) -> tuple[dict | None, list[ImportProblem]]:
    """One row's event values (for `insert_event`) or its problems (without line numbers)."""
    problems: list[ImportProblem] = []
    values: dict = {}

    when = cells.get("time", "").strip()
    if not when:
        problems.append(ImportProblem("time_missing"))
    else:
        try:
            moment = parse_time(when, STOCKHOLM)
        except NonexistentTime:
            problems.append(ImportProblem("time_nonexistent", value=when))
        except ValueError:
            problems.append(ImportProblem("time_format", value=when))
        else:
            if moment > now + FUTURE_SLACK:
                problems.append(ImportProblem("time_future", value=when))
            values["occurred_at"] = utc_text(moment)

    place = None
    name = cells.get("place", "").strip()
    if name:
        place, code = places.find(name)
        if code:
            problems.append(ImportProblem(code, value=name))
    point = {}
    for axis, limit in (("lat", 90), ("lon", 180)):
        text = cells.get(axis, "").strip()
        if text:
            number = coordinate(text)
            if number is None:
                problems.append(ImportProblem(f"{axis}_number", value=text))
            elif not -limit <= number <= limit:  # "not <=" refuses NaN too
                problems.append(ImportProblem(f"{axis}_range", value=text))
            else:
                point[axis] = round(number, 7)
    given = [axis for axis in ("lat", "lon") if cells.get(axis, "").strip()]
    if len(given) == 1:
        problems.append(ImportProblem("point_half"))
    if not name and not given:
        problems.append(ImportProblem("where_missing"))
    if len(point) == 2 and (place or not name):
        problem = check_point(places, point["lat"], point["lon"], place, far_metres)
        if problem:
            problems.append(problem)
    if place:
        values["place_id"] = place["id"]
        values["place_name"] = place["name"]
    if len(point) == 2:
        values.update(point)

    for kind in ("type", "source"):
        text = cells.get(kind, "").strip()
        code = words[kind].get(word(text))
        if not text:
            problems.append(ImportProblem(f"{kind}_missing"))
        elif code is None:
            problems.append(ImportProblem(f"{kind}_unknown", value=text))
        else:
            values[kind] = code

    description = " ".join(cells.get("description", "").split())
    if len(description) > MAX_DESCRIPTION:
        problems.append(ImportProblem("description_long", detail={"n": len(description)}))
    values["description"] = description
    return (None if problems else values), problems


def row_key(values: dict, repeat: int) -> str:
    """The import key of a checked row: its content's hash, and how many identical rows came
    before it in the same file."""
    content = [
        values["occurred_at"],
        values.get("place_id"),
        values.get("lat"),
        values.get("lon"),
        values["type"],
        values["source"],
        values["description"],
        repeat,
    ]
    return "csv:" + hashlib.sha256(json.dumps(content).encode()).hexdigest()


# --- the import --------------------------------------------------------------------------


def import_events(
    db: Database,
    data: bytes,
    *,
    created_by: int | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    far_metres: float = 2000,
) -> ImportResult:
    """Check a whole CSV file of events; unless it has problems or this is a dry run, store
    its new rows in one transaction. Rows stored by an earlier import are counted, not added."""
    result = ImportResult(dry_run=dry_run)
    now = now or datetime.now(UTC)
    text = decode(data)
    if text is None:
        result.problems.append(ImportProblem("encoding"))
        return result
    if not text.strip():
        result.problems.append(ImportProblem("empty"))
        return result
    sep, header, rows = read_rows(text)
    positions, result.problems, result.ignored_columns = map_header(header)
    if result.problems:
        return result
    places = PlaceIndex(db)
    words = {"type": vocabulary("type"), "source": vocabulary("source")}
    planned: list[tuple[int, dict]] = []
    for line, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue  # Excel's empty rows (";;;;;;") at the end
        result.rows += 1
        if len(cells) > len(header):
            result.problems.append(
                ImportProblem(
                    "columns", line, detail={"n": len(cells), "m": len(header), "sep": sep}
                )
            )
            continue
        named = {name: cells[i] if i < len(cells) else "" for name, i in positions.items()}
        values, problems = check_row(
            named, places=places, words=words, now=now, far_metres=far_metres
        )
        result.problems += [ImportProblem(p.code, line, p.value, p.detail) for p in problems]
        if values is not None:
            planned.append((line, values))
    if not result.rows and not result.problems:
        result.problems.append(ImportProblem("empty"))
    if result.problems:
        return result

    seen: Counter = Counter()
    keyed = []
    for line, values in planned:
        content = row_key(values, 0)
        keyed.append((line, values, row_key(values, seen[content])))
        seen[content] += 1
    with transaction(db):
        stored = stored_keys(db, [key for _line, _values, key in keyed])
        for line, values, key in keyed:
            is_new = key not in stored
            result.new += is_new
            result.already += not is_new
            if "place_id" not in values and "lat" in values:
                found = place_for_point(db, values["lat"], values["lon"])
                values["place_id"] = found["id"] if found else None
                values["place_name"] = found["name"] if found else None
            result.without_place += values.get("place_id") is None
            if len(result.preview) < PREVIEW_ROWS:
                result.preview.append({**values, "line": line, "new": is_new})
            if is_new and not dry_run:
                event = {k: v for k, v in values.items() if k != "place_name"}
                insert_event(db, **event, created_by=created_by, import_key=key)
    return result


def stored_keys(db: Database, keys: list[str]) -> set[str]:
    """Which of these import keys are stored already."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows = db.execute(
            f"SELECT import_key FROM events WHERE import_key IN ({','.join('?' * len(chunk))})",  # noqa: S608
            chunk,
        )
        found.update(r[0] for r in rows)
    return found
