"""The observations no task fixes yet (and that note a problem, not what works well): what
triage works through, oldest first.

`observation_untasked` holds them (id and observed time, in that order in an index), kept by
triggers in the writer's transaction: an observation added, deleted or changed (what works
well, its time); a link to a task added, deleted or moved. `observation_untasked_count`
keeps how many (triggers on the table itself). Triage then reads a page and the count from
them, not from every observation and its links. `rebuild` fills it from the rows (a
migration, `flask --app app recount`).
"""

from sqlite_utils import Database

# The rows triage lists, as a condition on observations `o`.
UNTASKED = """o.works_well = 0
    AND NOT EXISTS (SELECT 1 FROM task_observations t WHERE t.observation_id = o.id)"""

TRIGGERS = (
    "observation_untasked_count_up",
    "observation_untasked_count_down",
    "observation_untasked_insert",
    "observation_untasked_delete",
    "observation_untasked_update",
    "observation_untasked_link",
    "observation_untasked_unlink",
    "observation_untasked_relink",
)


def _add(observation_id: str) -> str:
    """Put the observation among the untasked if it is one."""
    return f"""INSERT OR IGNORE INTO observation_untasked (observation_id, observed_at)
        SELECT o.id, o.observed_at FROM observations o
        WHERE o.id = {observation_id} AND {UNTASKED};"""  # noqa: S608 - fixed fragments


def _take(observation_id: str) -> str:
    return f"DELETE FROM observation_untasked WHERE observation_id = {observation_id};"  # noqa: S608


def statements() -> list[str]:
    """The table, its order and the triggers that keep it (its count: `count_statements`)."""
    return [
        """CREATE TABLE observation_untasked (
            observation_id TEXT PRIMARY KEY, observed_at TEXT
        ) WITHOUT ROWID""",
        "CREATE INDEX observation_untasked_order ON observation_untasked(observed_at, observation_id)",
        f"""CREATE TRIGGER observation_untasked_insert AFTER INSERT ON observations
            BEGIN {_add("NEW.id")} END""",
        f"""CREATE TRIGGER observation_untasked_delete AFTER DELETE ON observations
            BEGIN {_take("OLD.id")} END""",
        f"""CREATE TRIGGER observation_untasked_update
            AFTER UPDATE OF id, works_well, observed_at ON observations
            BEGIN {_take("OLD.id")} {_add("NEW.id")} END""",
        f"""CREATE TRIGGER observation_untasked_link AFTER INSERT ON task_observations
            BEGIN {_take("NEW.observation_id")} END""",
        f"""CREATE TRIGGER observation_untasked_unlink AFTER DELETE ON task_observations
            BEGIN {_add("OLD.observation_id")} END""",
        f"""CREATE TRIGGER observation_untasked_relink
            AFTER UPDATE OF observation_id ON task_observations
            BEGIN {_take("NEW.observation_id")} {_add("OLD.observation_id")} END""",
    ]


def count_statements() -> list[str]:
    """The count, from the rows there are, and the triggers that keep it: one row while
    there are any (an empty instance holds no row, as for every running total)."""
    return [
        "CREATE TABLE observation_untasked_count (one INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
        """INSERT INTO observation_untasked_count (one, n)
           SELECT 1, count(*) FROM observation_untasked HAVING count(*) > 0""",
        """CREATE TRIGGER observation_untasked_count_up AFTER INSERT ON observation_untasked
           BEGIN INSERT INTO observation_untasked_count (one, n) VALUES (1, 1)
               ON CONFLICT (one) DO UPDATE SET n = n + 1; END""",
        """CREATE TRIGGER observation_untasked_count_down AFTER DELETE ON observation_untasked
           BEGIN UPDATE observation_untasked_count SET n = n - 1;
               DELETE FROM observation_untasked_count WHERE n = 0; END""",
    ]


def rebuild(db: Database) -> int:
    """Drop the table, its count and their triggers and build them again from the rows (in
    the caller's transaction); return how many observations wait for a task."""
    for name in TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    db.execute("DROP TABLE IF EXISTS observation_untasked")
    db.execute("DROP TABLE IF EXISTS observation_untasked_count")
    for statement in statements():
        db.execute(statement)
    db.execute(
        f"""INSERT INTO observation_untasked (observation_id, observed_at)
            SELECT o.id, o.observed_at FROM observations o WHERE {UNTASKED}"""  # noqa: S608
    )
    for statement in count_statements():
        db.execute(statement)
    return count(db)


def count(db: Database) -> int:
    """How many observations wait for a task."""
    return db.execute("SELECT coalesce(sum(n), 0) FROM observation_untasked_count").fetchone()[0]
