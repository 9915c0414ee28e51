"""Notices: what a party is still to be told about the tasks handed to it.

Whatever hands a task to a party (sent, sent after a re-route, reopened back to it) queues a
notice for that party in the same transaction as the change, so no way of handing a task
over can forget to tell anyone. A sending round (`fieldwalk.tasks.notify.send_notices`)
emails each party one message with all its waiting notices and settles them; a failed email
leaves them waiting for the next round. A notice whose task has left that party (re-routed
again, closed) before its email went out is settled as "moved" and never sent.
"""

from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.tasks.states import WITH_PARTY

# Why a party hears about a task: it was sent to them, or came back to them reopened.
SENT_REASON, REOPENED_REASON = "sent", "reopened"


# A task is "with its party" in these states (placeholders for WITH_PARTY's values).
WITH_PARTY_MARKS = ",".join("?" * len(WITH_PARTY))


def queue_notice(
    db: Database, task_id: int, party_id: int, reason: str, note: str | None = None
) -> int:
    """Queue a notice for a party about a task; return its id. Call inside the change's
    transaction."""
    cursor = db.execute(
        """INSERT INTO task_notices (task_id, party_id, reason, note, created_at)
           VALUES (?, ?, ?, ?, ?)""",
        [task_id, party_id, reason, note, now()],
    )
    return cursor.lastrowid


def waiting_notices(
    db: Database, party_ids: list[int] | None = None, walk_id: int | None = None
) -> list[dict]:
    """Unsettled notices whose task is still with their party, oldest first.

    Limited to some parties, or to the tasks of one walk, when asked.
    """
    sql = f"""SELECT n.*, tasks.walk_id FROM task_notices n JOIN tasks ON tasks.id = n.task_id
              WHERE n.settled_at IS NULL AND tasks.party_id = n.party_id
              AND tasks.state IN ({WITH_PARTY_MARKS})"""  # noqa: S608 (placeholders only)
    params: list = list(WITH_PARTY)
    if party_ids is not None:
        sql += f" AND n.party_id IN ({','.join('?' * len(party_ids))})"
        params += party_ids
    if walk_id is not None:
        sql += " AND tasks.walk_id = ?"
        params.append(walk_id)
    return [dict(r) for r in db.execute(sql + " ORDER BY n.id", params)]


def count_waiting_tasks(db: Database, walk_id: int) -> int:
    """How many of a walk's tasks are with a party that has not been emailed about them yet."""
    return len({n["task_id"] for n in waiting_notices(db, walk_id=walk_id)})


def settle_moved(db: Database) -> int:
    """Settle the notices whose task is no longer with their party; return how many."""
    with transaction(db):
        cursor = db.execute(
            f"""UPDATE task_notices SET settled_at = ?, outcome = 'moved'
                WHERE settled_at IS NULL AND NOT EXISTS (
                    SELECT 1 FROM tasks WHERE tasks.id = task_notices.task_id
                    AND tasks.party_id = task_notices.party_id
                    AND tasks.state IN ({WITH_PARTY_MARKS}))""",  # noqa: S608 (placeholders only)
            [now(), *WITH_PARTY],
        )
    return cursor.rowcount


def settle_notices(db: Database, notice_ids: list[int], outcome: str) -> None:
    """Mark notices as told (outcome: how the email left)."""
    if not notice_ids:
        return
    marks = ",".join("?" * len(notice_ids))
    with transaction(db):
        db.execute(
            f"""UPDATE task_notices SET settled_at = ?, outcome = ?
                WHERE id IN ({marks}) AND settled_at IS NULL""",  # noqa: S608
            [now(), outcome, *notice_ids],
        )


def settle_task_notices(db: Database, task_id: int, outcome: str, at: str | None = None) -> None:
    """Settle every waiting notice of a task (say, a demo's history, told long ago)."""
    with transaction(db):
        db.execute(
            """UPDATE task_notices SET settled_at = ?, outcome = ?
               WHERE task_id = ? AND settled_at IS NULL""",
            [at or now(), outcome, task_id],
        )
