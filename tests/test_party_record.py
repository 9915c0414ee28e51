"""Each party's record (issue 14, item 8): over the last 12 months, the median days from sent
to accepted and to done, the share of tasks past their due date, open tasks by age."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import STAFF, login, make_observation, make_place, make_staff, make_task, make_walk

from fieldwalk.clock import stamp
from fieldwalk.parties.model import insert_party
from fieldwalk.tasks.model import transition
from fieldwalk.tasks.party_record import party_record, year_ago

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def at(days_ago: float) -> str:
    return stamp(NOW - timedelta(days=days_ago))


@pytest.fixture
def history(db):
    """Tasks sent to the park engineers at known times, as if over a year."""
    walk = make_walk(db, make_place(db))
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    other = insert_party(db, "Trafikkontoret", "traffic")

    def task(sent_days_ago, accepted_after=None, done_after=None, due=None, party=park):
        task_id = make_task(db, make_observation(db, walk), party, "Åtgärd", due_date=due)
        transition(db, task_id, "send", STAFF, version=1)
        sent = at(sent_days_ago)
        done = at(sent_days_ago - done_after) if done_after is not None else None
        db.execute(
            "UPDATE tasks SET sent_at = ?, done_at = ?, state = ? WHERE id = ?",
            [sent, done, "done" if done else "sent", task_id],
        )
        if accepted_after is not None:
            db.execute(
                """INSERT INTO audit_log (at, action, entity, entity_id, detail)
                   VALUES (?, 'accept', 'task', ?, ?)""",
                [at(sent_days_ago - accepted_after), str(task_id), json.dumps({})],
            )
            if done is None:
                db.execute("UPDATE tasks SET state = 'accepted' WHERE id = ?", [task_id])
        return task_id

    task(100, accepted_after=1, done_after=10, due="2026-03-01")  # done 2026-03-03: late
    task(60, accepted_after=3, done_after=4, due="2026-05-01")  # done in time
    task(40, accepted_after=2)  # open 40 days
    task(20, due="2026-05-20")  # open, past due
    task(5)  # open 5 days
    task(12, done_after=2)  # done straight from the link, never accepted
    task(400, accepted_after=1, done_after=1)  # more than a year ago: left out
    task(10, accepted_after=9, party=other)  # another party's
    return park


def test_the_record_counts_only_the_last_12_months_of_the_partys_tasks(db, history):
    record = party_record(db, history, year_ago(NOW), stamp(NOW), "2026-06-01")
    assert record["sent"] == 6
    assert record["accepted_days"] == 2.0 and record["accepted_count"] == 3  # 1, 3, 2
    assert record["done_days"] == 4.0 and record["done_count"] == 3  # 10, 4, 2
    assert (record["with_due"], record["overdue"]) == (3, 2)
    assert record["overdue_share"] == pytest.approx(2 / 3)
    assert record["open_by_age"] == {"0-7": 1, "8-30": 1, "31-90": 1, "90+": 0}


def test_a_party_with_nothing_sent_has_an_empty_record(db):
    party = insert_party(db, "Ny part", "other")
    record = party_record(db, party, year_ago(NOW), stamp(NOW), "2026-06-01")
    assert record["sent"] == 0 and record["accepted_days"] is None
    assert record["overdue_share"] is None


def test_the_party_page_shows_the_record_in_swedish_with_decimal_commas(app, db):
    walk = make_walk(db, make_place(db))
    park = insert_party(db, "Parkingenjörerna", "park")
    now = datetime.now(UTC)
    for sent_days, accepted_hours in ((3, 36), (2, 48)):
        task_id = make_task(db, make_observation(db, walk), park, "Åtgärd", due_date="2020-01-01")
        transition(db, task_id, "send", STAFF, version=1)
        sent = now - timedelta(days=sent_days)
        db.execute("UPDATE tasks SET sent_at = ? WHERE id = ?", [stamp(sent), task_id])
        db.execute(
            """INSERT INTO audit_log (at, action, entity, entity_id, detail)
               VALUES (?, 'accept', 'task', ?, '{}')""",
            [stamp(sent + timedelta(hours=accepted_hours)), str(task_id)],
        )
    client = app.test_client()
    login(client, make_staff(db, "coordinator"))
    html = client.get(f"/parties/{park}").get_data(as_text=True)
    record = html[html.index('id="party-record"') :]
    assert "Senaste 12 månaderna" in record or "senaste 12 månaderna" in record
    assert '<dd id="record-accepted">1,8 ' in record  # median of 1.5 and 2 days
    assert "100" in record[record.index('id="record-overdue"') :][:80]
    assert '<td data-band="0-7">2</td>' in record
