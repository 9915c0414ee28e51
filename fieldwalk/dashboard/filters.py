"""The review filters: read from a query string, turned into SQL for observations and tasks.

One set of filters drives the dashboard's list, its map and every export, so a view that is
bookmarked, shared or exported shows the same rows. A filter that belongs to one kind of row
reaches the other through the task-observation links: filtering on a task state keeps the
observations whose task is in that state, filtering on a category keeps the tasks that fix an
observation of that category.
"""

from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _

from fieldwalk import textsearch
from fieldwalk.categories import CATEGORIES
from fieldwalk.ids import parse_id
from fieldwalk.tasks.cases import parse_case
from fieldwalk.tasks.states import OPEN_STATES, STATES

KINDS = ("all", "observations", "tasks")


OPEN, UNTASKED, NO_PARTY = "open", "untasked", "none"


STATE_CHOICES = (OPEN, *STATES, UNTASKED)


MAX_TEXT = 200


MAX_PAGE = 100_000


NARROW_DAYS = 92


# The query-string name of each field (`from` and `to` are Python keywords).
PARAMS = {"date_from": "from", "date_to": "to"}


FLAG_ON, FLAG_OFF = ("1", "on", "true", "yes"), ("", "0", "off", "false", "no")


@dataclass(frozen=True)
class Filters:
    """What the person asked to see; every field empty means everything."""

    place: int | None = None
    walk: int | None = None
    category: str | None = None
    state: str | None = None  # a task state, "open", or "untasked" (observations with no task)
    party: int | str | None = None  # a party id, or "none" (tasks without a party)
    overdue: bool = False
    urgent: bool = False
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    kind: str = "all"

    def args(self) -> dict[str, str]:
        """The non-empty filters as query-string arguments, for links that keep the view."""
        args = {}
        for name, value in asdict(self).items():
            if value in (None, "", False) or (name == "kind" and value == "all"):
                continue
            args[PARAMS.get(name, name)] = "1" if value is True else str(value)
        return args

    @property
    def unfiltered(self) -> bool:
        """True when no filter but the kind is set: what the running counts can answer."""
        return replace(self, kind="all") == Filters()

    @property
    def narrow(self) -> bool:
        """True when place, walk or a season of dates cut the rows down to a few thousand.

        Then a cross-kind filter is cheapest as a correlated EXISTS on each remaining row;
        otherwise as an IN list worked out once.
        """
        season = (
            self.date_from is not None
            and self.date_to is not None
            and (self.date_to - self.date_from).days <= NARROW_DAYS
        )
        return bool(self.place or self.walk or season)


def parse_filters(args) -> tuple[Filters, dict[str, str]]:
    """Read filters from a query string; return them and, per bad field, a message.

    A bad value is left out of the filters (and named in the messages), never guessed at.
    Empty values mean "no filter", so a plain form with empty choices works as it is.
    """
    values: dict = {}
    errors: dict[str, str] = {}

    def text(name: str) -> str:
        return (args.get(PARAMS.get(name, name)) or "").strip()

    for name in ("place", "walk"):
        if text(name):
            number = parse_id(text(name))
            if number is None:
                errors[name] = _("Choose from the list.")
            else:
                values[name] = number
    if text("party"):
        party = text("party")
        values["party"] = NO_PARTY if party == NO_PARTY else parse_id(party)
        if values["party"] is None:
            del values["party"]
            errors["party"] = _("Choose from the list.")
    for name, choices in (("category", CATEGORIES), ("state", STATE_CHOICES), ("kind", KINDS)):
        if text(name):
            if text(name) in choices:
                values[name] = text(name)
            else:
                errors[name] = _("Choose from the list.")
    for name in ("overdue", "urgent"):
        if text(name).lower() in FLAG_ON:
            values[name] = True
        elif text(name).lower() not in FLAG_OFF:
            errors[name] = _("Must be yes or no.")
    for name in ("date_from", "date_to"):
        if text(name):
            day = parse_day(text(name))
            if day is None:
                errors[PARAMS[name]] = _("Give the date as YYYY-MM-DD.")
            else:
                values[name] = day
    if (
        values.get("date_from")
        and values.get("date_to")
        and values["date_from"] > values["date_to"]
    ):
        errors["to"] = _("The end date is before the start date.")
        del values["date_to"]
    if text("q"):
        if len(text("q")) > MAX_TEXT or "\x00" in text("q"):
            errors["q"] = _("At most %(n)d characters.", n=MAX_TEXT)
        elif not textsearch.searchable(text("q")):  # a letter or two finds nearly everything
            errors["q"] = _("At least %(n)d characters.", n=textsearch.SHORTEST)
        else:
            values["q"] = text("q")
    return Filters(**values), errors


def field_labels() -> dict[str, str]:
    """The filter form's field names, for messages about a bad value."""
    return {
        "place": _("Place"),
        "walk": _("Walk"),
        "category": _("Category"),
        "state": _("Task state"),
        "party": _("Responsible party"),
        "overdue": _("Overdue"),
        "urgent": _("Urgent"),
        "from": _("From"),
        "to": _("To"),
        "q": _("Text"),
        "kind": _("Show"),
        "page": _("Page"),
        "bbox": _("Map area"),
        "zoom": _("Zoom level"),
    }


def error_text(errors: dict[str, str]) -> str:
    """The messages about bad filters as one line: "Place: Choose from the list."."""
    labels = field_labels()
    return " ".join(f"{labels.get(name, name)}: {message}" for name, message in errors.items())


def local_zone() -> ZoneInfo:
    """The district's time zone: what dates in filters and due dates mean."""
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Europe/Stockholm"))


def local_today(tz: ZoneInfo) -> str:
    """Today's date in the district, as due dates are written."""
    return datetime.now(UTC).astimezone(tz).date().isoformat()


def parse_day(text: str) -> date | None:
    """A calendar date written YYYY-MM-DD between 2000 and 2100, or None."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if len(text) == 10 and 2000 <= day.year <= 2100 else None


def parse_page(args) -> int | None:
    """The page number asked for (1 when none), or None when it is not one."""
    text = (args.get("page") or "1").strip()
    if not (text.isascii() and text.isdecimal()) or not 1 <= int(text) <= MAX_PAGE:
        return None
    return int(text)


def filter_names() -> tuple[str, ...]:
    """Every query-string name a filter uses."""
    return tuple(PARAMS.get(f.name, f.name) for f in fields(Filters))


def utc_bound(day: date, tz: ZoneInfo) -> str:
    """Local midnight at the start of `day`, as the UTC text `*_at` columns hold."""
    moment = datetime.combine(day, time(), tz).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def case_named(f: Filters) -> tuple[int, int] | None:
    """The (year, number) of the case number the text search names, if it names one."""
    return parse_case(f.q, current_app.config.get("CASE_PREFIX", "")) if f.q else None


def overdue_alone(f: Filters) -> bool:
    """Whether `f` asks for what is overdue and nothing else but the kind."""
    return f.overdue and replace(f, kind="all", overdue=False) == Filters()


def text_alone(f: Filters) -> bool:
    """Whether `f` is a text search (no case number, long enough for the text index) and no
    other filter but the kind."""
    return (
        bool(f.q)
        and replace(f, kind="all", q="") == Filters()
        and textsearch.searchable(f.q)
        and case_named(f) is None
    )


def copied_where(f: Filters, kind: str, today: str, tz: ZoneInfo) -> tuple[str, list] | None:
    """For a text search with other filters: the conditions of all but the text on what the
    text index's keys hold of each row (textsearch.COPIES, under the row's own alias, and
    textsearch.LINKED), so the search reads the index, not its hits' rows; None when one
    needs the rows (a case number; for observations, two conditions on their tasks at once,
    which one task must meet together)."""
    if case_named(f) is not None:
        return None
    if kind == "observations":
        on_tasks = [f.state not in (None, UNTASKED), f.party is not None, f.overdue]
        if sum(on_tasks) > 1:
            return None
        where, params = _shared_conditions(f, "o", tz)
        if f.category:
            where.append("o.category = ?")
            params.append(f.category)
        if f.urgent:
            where.append("o.urgent = 1")
        if f.state == UNTASKED:
            where.append("o.states = 0")
        elif f.state:
            bits = textsearch.OPEN_BITS if f.state == OPEN else textsearch.state_bit(f.state)
            where.append(f"o.states & {bits} != 0")
        if f.party is not None:
            where.append("instr(o.parties, ?) > 0")
            params.append(f",{0 if f.party == NO_PARTY else f.party},")
        if f.overdue:
            where.append("o.due < ?")
            params.append(today)
        return " AND ".join(where) or "1", params
    where, params = _shared_conditions(f, "t", tz)
    if f.urgent:
        where.append("t.priority = 'urgent'")
    task_conditions, task_params = _task_conditions(f, "t", today)
    where += task_conditions
    params += task_params
    if f.category:
        where.append(f"t.categories & {textsearch.category_bit(f.category)} != 0")
    return " AND ".join(where) or "1", params


def indexed_with_bits(
    f: Filters, today: str, tz: ZoneInfo
) -> dict[str, tuple[tuple | None, textsearch.Bits]] | None:
    """`indexed_text` per kind with what its keys' bits answer (textsearch.Bits): the open
    ones (a task in an open state, an observation with such a task) and an observation's
    category are asked of the keys, so the condition on the keys' rows leaves them out (a
    task's categories are its observations': on its key's row)."""
    indexed = indexed_text(f, today, tz)
    if indexed is None:
        return None
    found = {}
    for kind, where in indexed.items():
        bits = textsearch.Bits(
            category=f.category if kind == "observations" else None, open=f.state == OPEN
        )
        keyed = (
            indexed_text(
                replace(
                    f,
                    category=None if bits.category else f.category,
                    state=None if bits.open else f.state,
                ),
                today,
                tz,
            )
            if bits != textsearch.Bits()
            else None
        )
        found[kind] = (where, textsearch.Bits()) if keyed is None else (keyed[kind], bits)
    return found


def across_links(f: Filters, kind: str) -> bool:
    """Whether `f` filters rows of `kind` by the other kind's rows linked to them (an
    observation by its tasks' state, party or being overdue, or having none; a task by its
    observations' category)."""
    if kind == "observations":
        return f.state is not None or f.party is not None or f.overdue
    return f.category is not None


def selected_kinds(f: Filters) -> tuple[str, ...]:
    """The kinds of row the filters can select: not the other kind's when one is asked,
    no task among the observations with no task."""
    return tuple(
        kind
        for kind in ("observations", "tasks")
        if f.kind in ("all", kind) and not (kind == "tasks" and f.state == UNTASKED)
    )


def indexed_text(f: Filters, today: str, tz: ZoneInfo) -> dict[str, tuple | None] | None:
    """For a text search the text index answers whole: per kind the filters select, the
    condition on its keys' copies (`copied_where`; None for a text alone). None when it is
    no such search (no text, a text too short for the index, a case number, a filter that
    needs the rows)."""
    if not f.q or not textsearch.searchable(f.q) or case_named(f) is not None:
        return None
    alone = text_alone(f)
    found = {}
    for kind in selected_kinds(f):
        found[kind] = None if alone else copied_where(f, kind, today, tz)
        if not alone and found[kind] is None:
            return None
    return found


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join("?" * len(values)) + ")"


def _task_conditions(f: Filters, a: str, today: str) -> tuple[list[str], list]:
    """The conditions only a task can meet: state, party, overdue (`a`: alias, maybe "+")."""
    where, params = [], []
    if f.state == OPEN:
        where.append(f"{a}.state IN {_in(OPEN_STATES)}")
        params += OPEN_STATES
    elif f.state and f.state != UNTASKED:
        where.append(f"{a}.state = ?")
        params.append(f.state)
    if f.party == NO_PARTY:
        where.append(f"{a}.party_id IS NULL")
    elif f.party is not None:
        where.append(f"{a}.party_id = ?")
        params.append(f.party)
    if f.overdue:
        where.append(f"{a}.state IN {_in(OPEN_STATES)} AND {a}.due_date < ?")
        params += [*OPEN_STATES, today]
    return where, params


# When each kind happened: an observation when it was observed, a task when it was opened.
WHEN = {"o": "observed_at", "t": "created_at"}


def _shared_conditions(f: Filters, alias: str, tz: ZoneInfo) -> tuple[list[str], list]:
    """Place, walk and date range: columns both kinds have (the range on WHEN)."""
    where, params = [], []
    for name in ("place", "walk"):
        if getattr(f, name) is not None:
            where.append(f"{alias}.{name}_id = ?")
            params.append(getattr(f, name))
    if f.date_from:
        where.append(f"{alias}.{WHEN[alias]} >= ?")
        params.append(utc_bound(f.date_from, tz))
    if f.date_to:
        where.append(f"{alias}.{WHEN[alias]} < ?")
        params.append(utc_bound(f.date_to + timedelta(days=1), tz))
    return where, params


def observation_where(
    f: Filters,
    today: str,
    tz: ZoneInfo,
    ordered: bool = False,
    narrow: bool = False,
    box=None,
    scan: bool = False,
) -> tuple[str, list] | None:
    """The WHERE clause (table alias `o`) for the observations the filters select (`narrow`:
    the caller cuts the rows down to a few thousand besides, as `Filters.narrow` does; `box`:
    the caller keeps to a map's box, where the text search then looks first; `scan`: the
    text search reads the rows, as `textsearch.condition` says)."""
    if "observations" not in selected_kinds(f):
        return None
    o = "+o" if ordered else "o"
    where, params = _shared_conditions(f, "o", tz)
    if f.category:
        where.append(f"{o}.category = ?")
        params.append(f.category)
    if f.urgent:
        where.append(f"{o}.urgent = 1")
    case = case_named(f)
    if case:
        # A case number finds the observations its task fixes, besides any text match.
        text, text_params = textsearch.condition("observations", "o", f.q, box, scan)
        where.append(
            f"({text} OR o.id IN (SELECT y.observation_id"  # noqa: S608 - fixed fragments
            " FROM task_observations y JOIN tasks z ON z.id = y.task_id"
            " WHERE z.case_year = ? AND z.case_seq = ?))"
        )
        params += [*text_params, *case]
    elif f.q:
        text, text_params = textsearch.condition("observations", "o", f.q, box, scan)
        where.append(text)
        params += text_params
    task_where, task_params = _task_conditions(f, "z", today)
    if f.state == UNTASKED:
        where.append("NOT EXISTS (SELECT 1 FROM task_observations y WHERE y.observation_id = o.id)")
    if task_where:
        joined = " AND ".join(task_where)
        if narrow or f.narrow:
            where.append(
                "EXISTS (SELECT 1 FROM task_observations y CROSS JOIN tasks z ON z.id = y.task_id"  # noqa: S608 - fixed fragments
                f" WHERE y.observation_id = o.id AND {joined})"
            )
        else:
            where.append(
                f"{o}.id IN (SELECT y.observation_id FROM task_observations y"  # noqa: S608 - fixed fragments
                f" JOIN tasks z ON z.id = y.task_id WHERE {joined})"
            )
        params += task_params
    return " AND ".join(where) or "1", params


def task_where(
    f: Filters,
    today: str,
    tz: ZoneInfo,
    ordered: bool = False,
    narrow: bool = False,
    box=None,
    scan: bool = False,
) -> tuple[str, list] | None:
    """The WHERE clause (table alias `t`) for the tasks the filters select (`narrow`, `box`
    and `scan` as for observation_where)."""
    if "tasks" not in selected_kinds(f):
        return None
    t = "+t" if ordered else "t"
    where, params = _shared_conditions(f, "t", tz)
    if f.urgent:
        where.append(f"{t}.priority = 'urgent'")
    case = case_named(f)
    if case:
        text, text_params = textsearch.condition("tasks", "t", f.q, box, scan)
        where.append(f"((t.case_year = ? AND t.case_seq = ?) OR {text})")
        params += [*case, *text_params]
    elif f.q:
        text, text_params = textsearch.condition("tasks", "t", f.q, box, scan)
        where.append(text)
        params += text_params
    task_conditions, task_params = _task_conditions(f, t, today)
    where += task_conditions
    params += task_params
    if f.category:
        if narrow or f.narrow:
            # CROSS JOIN fixes the order: this task's links first, never every observation
            # of the category for each task.
            where.append(
                "EXISTS (SELECT 1 FROM task_observations y CROSS JOIN observations x"
                " ON x.id = y.observation_id WHERE y.task_id = t.id AND x.category = ?)"
            )
        else:
            where.append(
                f"{t}.id IN (SELECT y.task_id FROM observations x JOIN task_observations y"  # noqa: S608 - fixed fragments
                " ON y.observation_id = x.id WHERE x.category = ?)"
            )
        params.append(f.category)
    return " AND ".join(where) or "1", params
