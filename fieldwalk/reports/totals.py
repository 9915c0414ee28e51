"""Running totals the reports read instead of counting every row of the history.

Per local ISO week (keyed by its Monday, '2026-11-16') and per local month (its first day),
per place (`place_id` 0: outside every place), kept by SQLite triggers in the transaction of
every write (insert, an update of a counted column, delete):

- `observation_totals`: observations by category, with how many "work well" and are urgent,
  and how many gave a feeling score with the sum of their scores (the safety index's mean),
  counted when they were observed (`observed_at`);
- `event_totals`: events by type and source, when they occurred;
- `task_totals`: tasks `opened` (by `created_at`) and `done` (by `done_at`), with the urgent;
- `task_state_totals`: per place and party (0: none yet), the tasks in each state now;
- `overdue_deltas`: per place and local day, how the number of overdue tasks changes at
  that day's start. A task is overdue at midnight of day X when it was opened before, was
  due before X, and is open now or was done on X or later (the lägesbild's definition): so
  from its first such day (+1) to the day after it was done (-1), or for good while it is
  open. Overdue at a week's or month's end is the sum of the deltas up to that day: a few
  rows per place and day of history, never every task left open (`overdue_at`);
- `open_deltas`: the same for the tasks open at a day's start: opened before it, and done on
  it or later, or never done and open now (will not fix, duplicate and "not ours" without a
  done time never count): +1 the day after it was opened, -1 the day after it was done
  (`open_at`).

Buckets are Stockholm local time computed in plain SQL (`stockholm_local_sql`), so any
connection that writes keeps them right. The functions below are the API: they answer for
whole weeks or whole months (`spans_of` says whether a period is one), summed over the
buckets asked for; `recount` rebuilds every table from the raw rows (`flask --app app
recount`).

    >>> weeks = ["2026-11-09", "2026-11-16"]
    >>> observation_counts(db, "week", weeks)       # {place_id: {category: {...}}}
    >>> event_counts(db, "week", weeks)             # {(place_id, type, source): n}
    >>> task_counts(db, "month", ["2026-11-01"])    # {place_id: {"opened", "urgent", "done"}}
"""

from collections.abc import Sequence
from datetime import timedelta

from sqlite_utils import Database

from fieldwalk.reports.periods import Period, local_midnight, next_month
from fieldwalk.tasks.states import OPEN_STATES_SQL

WEEK, MONTH = "week", "month"
SPANS = (WEEK, MONTH)
OUTSIDE = 0  # the place key of rows outside every place

TABLES = (
    "observation_totals",
    "event_totals",
    "task_totals",
    "task_state_totals",
    "overdue_deltas",
    "open_deltas",
)
KEY_COLUMNS = {
    "observation_totals": 4,
    "event_totals": 5,
    "task_totals": 4,
    "task_state_totals": 3,
    "overdue_deltas": 2,
    "open_deltas": 2,
}


def stockholm_local_sql(column: str) -> str:
    """SQL for the Stockholm wall-clock time of a UTC `*_at` value: CET, and CEST from the
    last Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC (the EU rule,
    Sweden's since 1996). Plain SQL, so a trigger on any connection computes it."""
    year = f"substr({column}, 1, 4)"
    spring = f"datetime(date({year} || '-03-31', '-6 days', 'weekday 0'), '+1 hour')"
    autumn = f"datetime(date({year} || '-10-31', '-6 days', 'weekday 0'), '+1 hour')"
    return (
        f"datetime({column}, CASE WHEN datetime({column}) >= {spring} AND datetime({column})"
        f" < {autumn} THEN '+2 hours' ELSE '+1 hour' END)"
    )


def bucket_sql(span: str, column: str) -> str:
    """SQL for the local day that starts the week (its Monday) or month of a UTC value."""
    local = stockholm_local_sql(column)
    if span == WEEK:
        return f"date({local}, '-6 days', 'weekday 1')"
    return f"date({local}, 'start of month')"


# What each bucketed table counts: the source table, its time column, the key columns (as
# expressions of a row `{row}`) and the values a row adds; `watched` are the columns whose
# change moves a row between buckets or keys. A task is counted twice, as opened and done.
PLACE = "coalesce({row}.place_id, 0)"
COUNTED = (
    {
        "name": "observation_totals",
        "totals": "observation_totals",
        "table": "observations",
        "at": "observed_at",
        "keys": {"place_id": PLACE, "category": "{row}.category"},
        "values": {
            "observations": "1",
            "works_well": "({row}.works_well != 0)",
            "urgent": "({row}.urgent != 0)",
            "feelings": "({row}.feeling IS NOT NULL)",
            "feeling_sum": "coalesce({row}.feeling, 0)",
        },
        "watched": ("observed_at", "place_id", "category", "works_well", "urgent", "feeling"),
    },
    {
        "name": "event_totals",
        "totals": "event_totals",
        "table": "events",
        "at": "occurred_at",
        "keys": {"place_id": PLACE, "type": "{row}.type", "source": "{row}.source"},
        "values": {"events": "1"},
        "watched": ("occurred_at", "place_id", "type", "source"),
    },
    *(
        {
            "name": f"task_totals_{measure}",
            "totals": "task_totals",
            "table": "tasks",
            "at": at,
            "keys": {"place_id": PLACE, "measure": f"'{measure}'"},
            "values": {"tasks": "1", "urgent": "({row}.priority = 'urgent')"},
            "watched": (at, "place_id", "priority"),
        }
        for measure, at in (("opened", "created_at"), ("done", "done_at"))
    ),
)
STATE_KEYS = {
    "place_id": PLACE,
    "party_id": "coalesce({row}.party_id, 0)",
    "state": "{row}.state",
}

TABLES_DDL = """
CREATE TABLE observation_totals (
    span TEXT NOT NULL, starts TEXT NOT NULL, place_id INTEGER NOT NULL,
    category TEXT NOT NULL, observations INTEGER NOT NULL, works_well INTEGER NOT NULL,
    urgent INTEGER NOT NULL, feelings INTEGER NOT NULL, feeling_sum INTEGER NOT NULL,
    PRIMARY KEY (span, starts, place_id, category)
) WITHOUT ROWID;
CREATE TABLE event_totals (
    span TEXT NOT NULL, starts TEXT NOT NULL, place_id INTEGER NOT NULL,
    type TEXT NOT NULL, source TEXT NOT NULL, events INTEGER NOT NULL,
    PRIMARY KEY (span, starts, place_id, type, source)
) WITHOUT ROWID;
CREATE TABLE task_totals (
    span TEXT NOT NULL, starts TEXT NOT NULL, place_id INTEGER NOT NULL,
    measure TEXT NOT NULL, tasks INTEGER NOT NULL, urgent INTEGER NOT NULL,
    PRIMARY KEY (span, starts, place_id, measure)
) WITHOUT ROWID;
CREATE TABLE task_state_totals (
    place_id INTEGER NOT NULL, party_id INTEGER NOT NULL, state TEXT NOT NULL,
    tasks INTEGER NOT NULL,
    PRIMARY KEY (place_id, party_id, state)
) WITHOUT ROWID;
CREATE TABLE overdue_deltas (
    place_id INTEGER NOT NULL, day TEXT NOT NULL, delta INTEGER NOT NULL,
    PRIMARY KEY (place_id, day)
) WITHOUT ROWID;
CREATE TABLE open_deltas (
    place_id INTEGER NOT NULL, day TEXT NOT NULL, delta INTEGER NOT NULL,
    PRIMARY KEY (place_id, day)
) WITHOUT ROWID
"""


def _fill(row: str, keys: dict) -> str:
    return ", ".join(expr.format(row=row) for expr in keys.values())


def _add(part: dict, row: str) -> str:
    at = f"{row}.{part['at']}"
    keys, values = part["keys"], part["values"]
    names = ", ".join([*keys, *values])
    sums = ", ".join(f"{v} = {v} + excluded.{v}" for v in values)
    selects = " UNION ALL ".join(
        f"SELECT '{span}', {bucket_sql(span, at)}, {_fill(row, keys)}, {_fill(row, values)}"
        f" WHERE {at} IS NOT NULL"
        for span in SPANS
    )
    return f"""INSERT INTO {part["totals"]} (span, starts, {names}) {selects}
        ON CONFLICT (span, starts, {", ".join(keys)}) DO UPDATE SET {sums};"""


def _take(part: dict, row: str) -> str:
    at = f"{row}.{part['at']}"
    buckets = ", ".join(f"('{span}', {bucket_sql(span, at)})" for span in SPANS)
    where = f"(span, starts) IN (VALUES {buckets}) AND " + " AND ".join(
        f"{k} = {expr.format(row=row)}" for k, expr in part["keys"].items()
    )
    first = next(iter(part["values"]))
    subtract = ", ".join(f"{v} = {v} - {e.format(row=row)}" for v, e in part["values"].items())
    return f"""UPDATE {part["totals"]} SET {subtract} WHERE {at} IS NOT NULL AND {where};
        DELETE FROM {part["totals"]} WHERE {first} = 0 AND {where};"""  # noqa: S608 - constants


def _state_add(row: str) -> str:
    return f"""INSERT INTO task_state_totals (place_id, party_id, state, tasks)
        VALUES ({_fill(row, STATE_KEYS)}, 1)
        ON CONFLICT (place_id, party_id, state) DO UPDATE SET tasks = tasks + 1;"""  # noqa: S608


def _state_take(row: str) -> str:
    where = " AND ".join(f"{k} = {e.format(row=row)}" for k, e in STATE_KEYS.items())
    return f"""UPDATE task_state_totals SET tasks = tasks - 1 WHERE {where};
        DELETE FROM task_state_totals WHERE tasks = 0 AND {where};"""  # noqa: S608


def _overdue_parts(row: str) -> list[tuple[str, str, int]]:
    """(day, condition, delta) of a task row's steps in `overdue_deltas`."""
    first = (
        f"max(date({row}.due_date, '+1 day'), date({stockholm_local_sql(f'{row}.created_at')},"
        " '+1 day'))"
    )
    done = f"date({stockholm_local_sql(f'{row}.done_at')})"
    is_open = f"{row}.state IN ({OPEN_STATES_SQL})"
    dated = f"date({row}.due_date) IS NOT NULL AND {row}.created_at IS NOT NULL"
    closed = f"NOT {is_open} AND {row}.done_at IS NOT NULL AND {first} <= {done}"
    return [
        (first, f"{dated} AND ({is_open} OR ({closed}))", 1),
        (f"date({done}, '+1 day')", f"{dated} AND {closed}", -1),
    ]


def _open_parts(row: str) -> list[tuple[str, str, int]]:
    """(day, condition, delta) of a task row's steps in `open_deltas`."""
    opened = f"date({stockholm_local_sql(f'{row}.created_at')})"
    done = f"date({stockholm_local_sql(f'{row}.done_at')})"
    dated = f"{row}.created_at IS NOT NULL AND {row}.done_at IS NOT NULL AND {opened} <= {done}"
    is_open = f"{row}.created_at IS NOT NULL AND {row}.done_at IS NULL AND {row}.state IN ({OPEN_STATES_SQL})"
    return [
        (f"date({opened}, '+1 day')", f"({dated}) OR ({is_open})", 1),
        (f"date({done}, '+1 day')", dated, -1),
    ]


# The tables of steps per place and day, and the steps a task row makes in each.
STEPS = {"overdue_deltas": _overdue_parts, "open_deltas": _open_parts}


def _steps_add(table: str, row: str) -> str:
    # A step may cancel another task's (one's -1 on the day of another's +1): no zero rows.
    return "".join(
        f"""INSERT INTO {table} (place_id, day, delta)
            SELECT {PLACE.format(row=row)}, {day}, {delta} WHERE ({condition})
            ON CONFLICT (place_id, day) DO UPDATE SET delta = delta + excluded.delta;
            DELETE FROM {table}
            WHERE delta = 0 AND place_id = {PLACE.format(row=row)} AND day = {day};"""  # noqa: S608
        for day, condition, delta in STEPS[table](row)
    )


def _steps_take(table: str, row: str) -> str:
    statements = []
    for day, condition, delta in STEPS[table](row):
        where = f"place_id = {PLACE.format(row=row)} AND day = {day}"
        statements.append(
            f"""UPDATE {table} SET delta = delta - ({delta}) WHERE ({condition}) AND {where};
            DELETE FROM {table} WHERE delta = 0 AND {where};"""  # noqa: S608
        )
    return "".join(statements)


def trigger_statements() -> list[str]:
    """The CREATE TRIGGER statements that keep every totals table (a migration runs them)."""
    statements = []

    def triggers(name, table, watched, add, take):
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in watched)
        statements.extend(
            [
                f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN {add('NEW')} END",
                f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {take('OLD')} END",
                f"""CREATE TRIGGER {name}_update AFTER UPDATE OF {", ".join(watched)} ON {table}
                    WHEN {changed} BEGIN {take("OLD")} {add("NEW")} END""",
            ]
        )

    for part in COUNTED:
        triggers(
            part["name"],
            part["table"],
            part["watched"],
            lambda row, part=part: _add(part, row),
            lambda row, part=part: _take(part, row),
        )
    triggers(
        "task_state_totals", "tasks", ("place_id", "party_id", "state"), _state_add, _state_take
    )
    for table, watched in (
        ("overdue_deltas", ("place_id", "state", "due_date", "created_at", "done_at")),
        ("open_deltas", ("place_id", "state", "created_at", "done_at")),
    ):
        triggers(
            table,
            "tasks",
            watched,
            lambda row, table=table: _steps_add(table, row),
            lambda row, table=table: _steps_take(table, row),
        )
    return statements


def drop_statements(db: Database) -> list[str]:
    """DROP statements for every totals table and trigger the database holds: a migration
    that changes what is counted drops them and builds them again as this module says."""
    triggers = [
        name
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        if any(name.startswith(f"{part['name']}_") for part in COUNTED)
        or name.startswith(("task_state_totals_", *(f"{t}_" for t in STEPS), "open_task_dues_"))
    ]
    tables = [
        name
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if name in (*TABLES, "open_task_dues")
    ]
    return [f"DROP TRIGGER {name}" for name in triggers] + [f"DROP TABLE {t}" for t in tables]


def recount(db: Database) -> dict[str, int]:
    """Rebuild every totals table from the raw rows (in the caller's transaction); return
    the number of rows each now holds."""
    for table in TABLES:
        db.execute(f"DELETE FROM {table}")  # noqa: S608 - constant names
    for part in COUNTED:
        at = f"r.{part['at']}"
        keys, values = part["keys"], part["values"]
        for span in SPANS:
            key_exprs = _fill("r", keys)
            sums = ", ".join(f"sum({e.format(row='r')})" for e in values.values())
            db.execute(
                f"""INSERT INTO {part["totals"]} (span, starts, {", ".join([*keys, *values])})
                    SELECT '{span}', {bucket_sql(span, at)} AS b, {key_exprs}, {sums}
                    FROM {part["table"]} r WHERE {at} IS NOT NULL
                    GROUP BY b, {key_exprs}"""  # noqa: S608 - built from constants
            )
    db.execute(
        f"""INSERT INTO task_state_totals (place_id, party_id, state, tasks)
            SELECT {_fill("r", STATE_KEYS)}, count(*) FROM tasks r
            GROUP BY {_fill("r", STATE_KEYS)}"""  # noqa: S608 - built from constants
    )
    for table, parts in STEPS.items():
        for day, condition, delta in parts("r"):
            db.execute(
                f"""INSERT INTO {table} (place_id, day, delta)
                    SELECT {PLACE.format(row="r")} AS p, {day} AS d, {delta} * count(*)
                    FROM tasks r WHERE ({condition}) GROUP BY p, d
                    ON CONFLICT (place_id, day) DO UPDATE SET delta = delta + excluded.delta"""  # noqa: S608
            )
        db.execute(f"DELETE FROM {table} WHERE delta = 0")  # noqa: S608 - constant names
    return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # noqa: S608


# --- reading ---------------------------------------------------------------------------------


def spans_of(period: Period) -> tuple[str, list[str]] | None:
    """The whole weeks, else whole months, that make up `period` exactly, as (span, their
    first days); None when it is neither (a year still running to now)."""
    start, end = period.start.date(), period.end.date()
    if period.start != local_midnight(start, period.start.tzinfo) or period.end != (
        local_midnight(end, period.end.tzinfo)
    ):
        return None
    if start.weekday() == 0 and end.weekday() == 0 and start < end:
        return WEEK, [
            (start + timedelta(weeks=i)).isoformat() for i in range((end - start).days // 7)
        ]
    if start.day == 1 and end.day == 1 and start < end:
        months, day = [], start
        while day < end:
            months.append(day.isoformat())
            day = next_month(day)
        return MONTH, months
    return None


def _place(value: int) -> int | None:
    return None if value == OUTSIDE else value


def _buckets(span: str, starts: Sequence[str], place_id: int | None) -> tuple[str, list]:
    if span not in SPANS:
        raise ValueError(f"unknown span {span!r}")
    where = f"span = ? AND starts IN ({', '.join('?' * len(starts))})"
    params: list = [span, *starts]
    if place_id is not None:
        where, params = where + " AND place_id = ?", [*params, place_id]
    return where, params


def observation_counts(
    db: Database, span: str, starts: Sequence[str], place_id: int | None = None
) -> dict[int | None, dict[str, dict]]:
    """Per place id (None: outside every place) and category, the observations observed in
    the given weeks or months: {"observations", "works_well", "urgent"}."""
    where, params = _buckets(span, starts, place_id)
    counts: dict[int | None, dict[str, dict]] = {}
    for row in db.execute(
        f"""SELECT place_id, category, sum(observations), sum(works_well), sum(urgent)
            FROM observation_totals WHERE {where} GROUP BY place_id, category""",  # noqa: S608
        params,
    ):
        counts.setdefault(_place(row[0]), {})[row[1]] = {
            "observations": row[2],
            "works_well": row[3],
            "urgent": row[4],
        }
    return counts


def event_counts(
    db: Database, span: str, starts: Sequence[str], place_id: int | None = None
) -> dict[tuple, int]:
    """Per (place id, type, source), the events that occurred in the given weeks or months."""
    where, params = _buckets(span, starts, place_id)
    rows = db.execute(
        f"""SELECT place_id, type, source, sum(events) FROM event_totals WHERE {where}
            GROUP BY place_id, type, source""",  # noqa: S608
        params,
    )
    return {(_place(r[0]), r[1], r[2]): r[3] for r in rows}


def task_counts(
    db: Database, span: str, starts: Sequence[str], place_id: int | None = None
) -> dict[int | None, dict[str, int]]:
    """Per place id, the tasks opened (`urgent`: of those, urgent) and done in the given
    weeks or months."""
    where, params = _buckets(span, starts, place_id)
    counts: dict[int | None, dict[str, int]] = {}
    for row in db.execute(
        f"""SELECT place_id, measure, sum(tasks), sum(urgent) FROM task_totals WHERE {where}
            GROUP BY place_id, measure""",  # noqa: S608
        params,
    ):
        entry = counts.setdefault(_place(row[0]), {"opened": 0, "urgent": 0, "done": 0})
        entry[row[1]] = row[2]
        if row[1] == "opened":
            entry["urgent"] = row[3]
    return counts


def counts_per_bucket(
    db: Database, what: str, span: str, starts: Sequence[str], place_id: int | None = None
) -> dict[int | None, list[int]]:
    """Per place id, one count per bucket in `starts` (in that order) of `what`:
    "observations", "events", "opened" or "done" tasks."""
    table, column, extra = {
        "observations": ("observation_totals", "observations", ""),
        "events": ("event_totals", "events", ""),
        "opened": ("task_totals", "tasks", " AND measure = 'opened'"),
        "done": ("task_totals", "tasks", " AND measure = 'done'"),
    }[what]
    where, params = _buckets(span, starts, place_id)
    index = {start: i for i, start in enumerate(starts)}
    counts: dict[int | None, list[int]] = {}
    for row in db.execute(
        f"""SELECT place_id, starts, sum({column}) FROM {table} WHERE {where}{extra}
            GROUP BY place_id, starts""",  # noqa: S608 - from the constant map above
        params,
    ):
        counts.setdefault(_place(row[0]), [0] * len(starts))[index[row[1]]] = row[2]
    return counts


def event_type_counts(
    db: Database, span: str, starts: Sequence[str], place_id: int
) -> dict[str, list[int]]:
    """Per event type, one count per bucket in `starts` (in that order) of a place's events,
    whatever their source."""
    where, params = _buckets(span, starts, place_id)
    index = {start: i for i, start in enumerate(starts)}
    counts: dict[str, list[int]] = {}
    for row in db.execute(
        f"""SELECT type, starts, sum(events) FROM event_totals WHERE {where}
            GROUP BY type, starts""",  # noqa: S608
        params,
    ):
        counts.setdefault(row[0], [0] * len(starts))[index[row[1]]] = row[2]
    return {kind: values for kind, values in counts.items() if any(values)}


def feeling_counts(
    db: Database, span: str, starts: Sequence[str], place_ids: Sequence[int]
) -> dict[int, list[tuple[int, int]]]:
    """Per place of `place_ids`, for each bucket in `starts` (in that order): how many
    observations gave a feeling score and the sum of their scores."""
    found = {place_id: [(0, 0)] * len(starts) for place_id in place_ids}
    index = {start: i for i, start in enumerate(starts)}
    for place_id in place_ids:
        where, params = _buckets(span, starts, place_id)
        for row in db.execute(
            f"""SELECT starts, sum(feelings), sum(feeling_sum) FROM observation_totals
                WHERE {where} GROUP BY starts""",  # noqa: S608
            params,
        ):
            found[place_id][index[row[0]]] = (row[1], row[2])
    return found


def open_at(db: Database, place_ids: Sequence[int], day: str) -> dict[int, int]:
    """Per place id, the tasks open at the start of local `day` (ISO): opened before it, and
    done on it or later or open now."""
    rows = db.execute(
        f"""SELECT place_id, sum(delta) FROM open_deltas
            WHERE place_id IN ({",".join("?" * len(place_ids))}) AND day <= ?
            GROUP BY place_id""",  # noqa: S608 - placeholders
        [*place_ids, day],
    )
    return dict(rows.fetchall())


def overdue_at(db: Database, day: str) -> dict[int | None, int]:
    """Per place id, the tasks overdue at the start of local `day` (ISO): opened before it,
    due before it, and open now or done on it or later."""
    rows = db.execute(
        "SELECT place_id, sum(delta) FROM overdue_deltas WHERE day <= ? GROUP BY place_id",
        [day],
    )
    return {_place(place_id): n for place_id, n in rows if n}


def counted_rows(db: Database) -> dict[str, int]:
    """How many observations and tasks there are, from the totals (what an unfiltered list
    counts, without reading every row): the observations without an observed time, which no
    bucket holds, are counted from the edge of their index."""
    observations = db.execute(
        """SELECT (SELECT coalesce(sum(observations), 0) FROM observation_totals
                   WHERE span = 'month')
                + (SELECT count(*) FROM observations WHERE observed_at IS NULL)"""
    ).fetchone()[0]
    tasks = db.execute("SELECT coalesce(sum(tasks), 0) FROM task_state_totals").fetchone()[0]
    return {"observations": observations, "tasks": tasks}


def tasks_in_states(db: Database, states: Sequence[str]) -> dict[int, int]:
    """Per party id (parties only), its tasks in any of `states` now, every place summed."""
    rows = db.execute(
        f"""SELECT party_id, sum(tasks) FROM task_state_totals
            WHERE party_id != 0 AND state IN ({", ".join("?" * len(states))})
            GROUP BY party_id""",  # noqa: S608 - placeholders
        list(states),
    )
    return dict(rows.fetchall())


def task_states(db: Database, place_id: int) -> dict[int | None, dict[str, int]]:
    """Per party id (None: no party yet), the place's tasks in each state now."""
    states: dict[int | None, dict[str, int]] = {}
    for row in db.execute(
        "SELECT party_id, state, tasks FROM task_state_totals WHERE place_id = ?", [place_id]
    ):
        states.setdefault(_place(row[0]), {})[row[1]] = row[2]
    return states


def differences(kept: dict[str, set[tuple]], counted: dict[str, set[tuple]]) -> dict[str, int]:
    """Per table, how many keys (bucket, place, ...) two snapshots disagree on."""
    return {
        table: len({row[: KEY_COLUMNS[table]] for row in kept[table] ^ counted[table]})
        for table in TABLES
        if kept[table] != counted[table]
    }


def snapshot(db: Database) -> dict[str, set[tuple]]:
    """Every totals table's rows, to compare with a recount (tests, `recount --check`)."""
    return {t: {tuple(r) for r in db.execute(f"SELECT * FROM {t}")} for t in TABLES}  # noqa: S608
