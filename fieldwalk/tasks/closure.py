"""When fixes were closed: what the retention rules of fieldwalk/privacy/retention.py ask."""

from sqlite_utils import Database

from fieldwalk.tasks.states import DONE, DUPLICATE, VERIFIED, WONT_FIX

# A fix is closed when it is done (checked or not), will not be done, or is handled by
# another task. "Not ours" is not closed: the task is on its way to the right party.
CLOSED_STATES = (DONE, VERIFIED, WONT_FIX, DUPLICATE)


def observation_fixes(db: Database) -> dict[str, tuple[int, str | None]]:
    """For each observation with at least one task: (how many of its tasks are still open,
    when the last of its closed ones was closed)."""
    closed = ",".join(f"'{s}'" for s in CLOSED_STATES)
    rows = db.execute(
        f"""SELECT t.observation_id,
                   sum(CASE WHEN tasks.state IN ({closed}) THEN 0 ELSE 1 END),
                   max(CASE WHEN tasks.state IN ({closed}) THEN tasks.updated_at END)
            FROM task_observations t JOIN tasks ON tasks.id = t.task_id
            GROUP BY t.observation_id"""  # noqa: S608 (constants)
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def tasks_closed_before(db: Database, cutoff: str) -> list[int]:
    """Tasks closed before `cutoff` (the last change of a closed task is its closing)."""
    closed = ",".join("?" * len(CLOSED_STATES))
    return [
        r[0]
        for r in db.execute(
            f"SELECT id FROM tasks WHERE state IN ({closed}) AND updated_at < ?",  # noqa: S608
            [*CLOSED_STATES, cutoff],
        )
    ]
