"""Residents who hear back: follows (an email address for an observation, or for everything
a participant reports on a walk), what each has been told, and the "does the place feel
safer now?" answers, counted per place.

The address is used for nothing else: two emails per observation (a fix decided, a fix
done), each once, and never shown on any page; only the resident's own extract hands it
back (fieldwalk/privacy/export.py). `purge` deletes a follow 90 days after what it follows
is closed, and an erasure deletes the person's follows and unlinks their answers from their
phone (fieldwalk/privacy/retention.py, export.py).
"""

import re
import secrets

from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction
from fieldwalk.observations.model import participants_observation_ids
from fieldwalk.tasks.model import fix_states

ANSWERS = ("yes", "no", "same")


# Loose on purpose (as for parties): an @ with a dot after it, no spaces, no line breaks.
EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")


MAX_EMAIL = 254


# A fix is decided once a task for the observation is with a party or was refused; done once
# it is done (a duplicate counts as the task it duplicates).
DECIDED_STATES = ("sent", "accepted", "in_progress", "wont_fix", "done", "verified")


DONE_STATES = ("done", "verified")


def clean_email(value: str | None) -> str | None:
    """The address, trimmed, when it looks like one (else None)."""
    text = (value or "").strip()
    if not text or len(text) > MAX_EMAIL or EMAIL.fullmatch(text) is None:
        return None
    return text


def follow_observation(db: Database, observation_id: str, email: str) -> None:
    """Follow one observation (again: a new follow revives an unsubscribed one)."""
    with transaction(db):
        db.execute(
            """INSERT INTO resident_follows (email, observation_id, created_at)
               VALUES (?, ?, ?) ON CONFLICT (observation_id, email)
               WHERE observation_id IS NOT NULL DO UPDATE SET unsubscribed_at = NULL""",
            [email, observation_id, now()],
        )


def follow_participant(db: Database, walk_id: int, participant_id: int, email: str) -> None:
    """Follow everything a participant reports on a walk."""
    with transaction(db):
        db.execute(
            """INSERT INTO resident_follows (email, walk_id, participant_id, created_at)
               VALUES (?, ?, ?, ?) ON CONFLICT (participant_id, email)
               WHERE participant_id IS NOT NULL DO UPDATE SET unsubscribed_at = NULL""",
            [email, walk_id, participant_id, now()],
        )


def participant_follows(db: Database, participant_id: int | None) -> bool:
    """True when a participant asked (when joining) to hear back about what they report."""
    if participant_id is None:
        return False
    return (
        db.execute(
            """SELECT 1 FROM resident_follows WHERE participant_id = ?
               AND unsubscribed_at IS NULL""",
            [participant_id],
        ).fetchone()
        is not None
    )


def unsubscribe(db: Database, email: str) -> int:
    """Stop every follow of an address; return how many were active."""
    with transaction(db):
        cursor = db.execute(
            """UPDATE resident_follows SET unsubscribed_at = ?
               WHERE email = ? AND unsubscribed_at IS NULL""",
            [now(), email],
        )
    return cursor.rowcount


def is_following(db: Database, email: str) -> bool:
    """True while an address follows anything."""
    row = db.execute(
        "SELECT 1 FROM resident_follows WHERE email = ? AND unsubscribed_at IS NULL", [email]
    ).fetchone()
    return row is not None


def followed_news(db: Database) -> list[dict]:
    """Per followed observation and address: whether a fix is decided and whether one is done.

    Only observations where something is decided are listed, ordered by observation and
    address; each row has `email`, `observation_id`, `decided` and `done` (booleans).
    """
    follows = [
        dict(r)
        for r in db.execute(
            """SELECT email, observation_id, participant_id FROM resident_follows
               WHERE unsubscribed_at IS NULL"""
        )
    ]
    participants = sorted({f["participant_id"] for f in follows if f["participant_id"]})
    made = participants_observation_ids(db, participants)
    followed: set[tuple[str, str]] = set()
    for follow in follows:
        if follow["observation_id"] is not None:
            followed.add((follow["email"], follow["observation_id"]))
        else:
            followed.update((follow["email"], o) for o in made[follow["participant_id"]])
    states = fix_states(db, sorted({observation_id for _email, observation_id in followed}))
    news = []
    for email, observation_id in sorted(followed, key=lambda pair: (pair[1], pair[0])):
        found = states.get(observation_id, set())
        if found & set(DECIDED_STATES):
            done = bool(found & set(DONE_STATES))
            news.append(
                {"email": email, "observation_id": observation_id, "decided": True, "done": done}
            )
    return news


def answer_followup(
    db: Database, observation_id: str, place_id: int | None, voter_hash: str, answer: str
) -> None:
    """Keep (or change) one phone's answer to "does the place feel safer now?"."""
    if answer not in ANSWERS:
        raise ValueError(f"unknown answer {answer!r}")
    stamp = now()
    with transaction(db):
        db.execute(
            """INSERT INTO place_followups (place_id, observation_id, answer, voter_hash,
                   created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (observation_id, voter_hash)
               DO UPDATE SET answer = excluded.answer, updated_at = excluded.updated_at""",
            [place_id, observation_id, answer, voter_hash, stamp, stamp],
        )


def followup_answer(db: Database, observation_id: str, voter_hash: str | None) -> str | None:
    """This phone's answer about an observation's place, if it gave one."""
    if voter_hash is None:
        return None
    row = db.execute(
        "SELECT answer FROM place_followups WHERE observation_id = ? AND voter_hash = ?",
        [observation_id, voter_hash],
    ).fetchone()
    return row["answer"] if row else None


def place_followup(db: Database, place_id: int, since: str | None = None) -> dict[str, int]:
    """How many answered yes, no and unchanged about a place (since a time), and in all."""
    sql = "SELECT answer, count(*) FROM place_followups WHERE place_id = ?"
    params: list = [place_id]
    if since is not None:
        sql += " AND updated_at >= ?"
        params.append(since)
    counts = dict.fromkeys(ANSWERS, 0)
    for answer, count in db.execute(sql + " GROUP BY answer", params):
        counts[answer] = count
    counts["total"] = sum(counts[a] for a in ANSWERS)
    return counts


# Personal data: what privacy/ (retention, extracts, erasure) needs of these tables.

# An answer whose phone was forgotten keeps its count but no link to the phone.
FORGOTTEN_VOTER = "forgotten:"


def list_follows(db: Database) -> list[dict]:
    """Every follow (active or unsubscribed), oldest first."""
    rows = db.execute("SELECT * FROM resident_follows ORDER BY id")
    return [dict(r) for r in rows]


def subject_follows(
    db: Database, observation_ids: list[str], participant_ids: list[int]
) -> list[dict]:
    """The follows of these observations and of these walk participants, oldest first."""
    found: dict[int, dict] = {}
    for column, values in (
        ("observation_id", observation_ids),
        ("participant_id", participant_ids),
    ):
        for start in range(0, len(values), 500):
            chunk = list(values[start : start + 500])
            rows = db.execute(
                f"""SELECT * FROM resident_follows
                    WHERE {column} IN ({",".join("?" * len(chunk))})""",  # noqa: S608 - constants
                chunk,
            )
            found.update((r["id"], dict(r)) for r in rows)
    return sorted(found.values(), key=lambda f: f["id"])


def delete_follows(db: Database, follow_ids: list[int]) -> int:
    """Delete these follows, address and all (inside a write); return how many went."""
    deleted = 0
    for follow_id in follow_ids:
        deleted += db.execute("DELETE FROM resident_follows WHERE id = ?", [follow_id]).rowcount
    return deleted


def device_followups(db: Database, voter_hash: str) -> list[dict]:
    """One phone's answers to "does the place feel safer now?", oldest first."""
    rows = db.execute(
        """SELECT observation_id, place_id, answer, created_at, updated_at FROM place_followups
           WHERE voter_hash = ? ORDER BY created_at, id""",
        [voter_hash],
    )
    return [dict(r) for r in rows]


def followup_last_answers(db: Database) -> dict[str, str]:
    """Each phone's latest answer, by its key hash (the voter hash is the device key hash)."""
    rows = db.execute(
        """SELECT voter_hash, max(updated_at) FROM place_followups
           WHERE voter_hash NOT LIKE ? GROUP BY voter_hash""",
        [FORGOTTEN_VOTER + "%"],
    )
    return {r[0]: r[1] for r in rows}


def forget_followup_voters(db: Database, voter_hashes: list[str]) -> int:
    """Unlink these phones from their answers (inside a write): each answer keeps its place
    in the counts under a random voter that links to nothing. Returns how many answers."""
    forgotten = 0
    for voter_hash in voter_hashes:
        ids = [
            r[0]
            for r in db.execute("SELECT id FROM place_followups WHERE voter_hash = ?", [voter_hash])
        ]
        for answer_id in ids:
            db.execute(
                "UPDATE place_followups SET voter_hash = ? WHERE id = ?",
                [FORGOTTEN_VOTER + secrets.token_hex(16), answer_id],
            )
        forgotten += len(ids)
    return forgotten


def sent_keys(observation_id: str, email: str) -> dict[str, str]:
    """The keys under which the "decided" and "done" emails to an address about an
    observation are recorded as sent (the log of sent emails, fieldwalk/mail.py)."""
    return {
        kind: f"resident:{observation_id}:{kind}:{email.lower()}" for kind in ("decided", "done")
    }


def _followed_pairs(db: Database, follows: list[dict]) -> set[tuple[str, str]]:
    participants = sorted({f["participant_id"] for f in follows if f["participant_id"]})
    made = participants_observation_ids(db, participants)
    pairs: set[tuple[str, str]] = set()
    for follow in follows:
        email = follow["email"].lower()
        if follow["observation_id"] is not None:
            pairs.add((follow["observation_id"], email))
        else:
            pairs.update((o, email) for o in made[follow["participant_id"]])
    return pairs


def follows_sent_keys(db: Database, follow_ids: list[int]) -> list[str]:
    """The sent-email keys that name these follows' addresses, once the follows are gone:
    those of an observation and address that no other follow still covers."""
    gone = set(follow_ids)
    follows = list_follows(db)
    leaving = _followed_pairs(db, [f for f in follows if f["id"] in gone])
    staying = _followed_pairs(db, [f for f in follows if f["id"] not in gone])
    return sorted(key for pair in leaving - staying for key in sent_keys(*pair).values())
