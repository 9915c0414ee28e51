"""Kept only as long as needed: `purge` on a hand-built timeline.

Everything is recorded now, through the real routes and domain functions; the purge is then
run as of chosen days later (`at`), on either side of each limit.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import (
    PHOTOS,
    STAFF,
    join,
    make_place,
    make_staff,
    make_task,
    make_walk,
    record_on_form,
)

from fieldwalk.db import connect
from fieldwalk.parties.model import insert_party
from fieldwalk.privacy.retention import Retention, purge
from fieldwalk.residents.model import place_followup
from fieldwalk.tasks.model import get_task, send_walk_tasks, transition

RULES = Retention()
PHOTO = (PHOTOS / "camera" / "Canon_40D.jpg").read_bytes()


@pytest.fixture
def timeline(app, db):
    """Two residents on a walk: Rut's fix is closed today, Sam's is still open. Rut asked
    (when joining) to hear back about everything she reports; Sam about his one report."""
    coordinator = make_staff(db, "coordinator", email="samordnare@example.se", name="Sara")
    walk = make_walk(db, make_place(db), created_by=coordinator["id"])
    rut, sam = app.test_client(), app.test_client()
    rut_csrf = join(rut, walk, name="Rut Resident", follow="1", follow_email="rut@example.se")
    sam_csrf = join(sam, walk, name="Sam Resident")
    closed_obs = record_on_form(rut, walk, rut_csrf, "Lampan är trasig", photo=PHOTO)
    open_obs = record_on_form(
        sam,
        walk,
        sam_csrf,
        "Buskarna är höga",
        photo=PHOTO,
        follow="1",
        follow_email="sam@example.se",
    )
    party = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    closed_task = make_task(db, closed_obs, party, "Byt lampan")
    open_task = make_task(db, open_obs, party, "Klipp buskarna")
    send_walk_tasks(db, walk["id"], STAFF)
    done = transition(db, closed_task, "done", STAFF, version=2, note="Bytt")
    assert done["state"] == "done"
    return {
        "walk": walk,
        "closed_obs": closed_obs,
        "open_obs": open_obs,
        "closed_task": closed_task,
        "open_task": open_task,
        "coordinator": coordinator,
        "photo_dir": Path(app.config["PHOTO_PATH"]),
        "party": party,
        "rut": rut,
        "rut_csrf": rut_csrf,
    }


def later(days: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def names(db) -> dict[str, str]:
    return {
        r["display_name"] or "(removed)": r["id"]
        for r in db.execute("SELECT id, display_name FROM walk_participants")
    }


def test_names_go_90_days_after_the_fixes_close_and_not_while_one_is_open(app, db, timeline):
    photo_dir = timeline["photo_dir"]
    assert purge(db, photo_dir, RULES, at=later(89))["names"] == []
    report = purge(db, photo_dir, RULES, at=later(91))
    rows = {r["id"]: r["display_name"] for r in db.execute("SELECT * FROM walk_participants")}
    assert sorted(rows.values()) == ["", "Sam Resident"], "Sam's fix is still open"
    assert len(report["names"]) == 1
    # Years later, while Sam's task stays open, Sam's name stays too.
    purge(db, photo_dir, RULES, at=later(1000))
    assert "Sam Resident" in {
        r[0] for r in db.execute("SELECT display_name FROM walk_participants")
    }


def test_device_keys_are_forgotten_a_year_after_the_phone_was_last_used(app, db, timeline):
    photo_dir = timeline["photo_dir"]
    devices = {r[0] for r in db.execute("SELECT device_key_hash FROM observations")}
    assert len(devices) == 2
    assert purge(db, photo_dir, RULES, at=later(364))["devices"] == []
    report = purge(db, photo_dir, RULES, at=later(366))
    assert set(report["devices"]) == devices
    assert (
        db.execute(
            "SELECT count(*) FROM observations WHERE device_key_hash IS NOT NULL"
        ).fetchone()[0]
        == 0
    )
    assert (
        db.execute(
            "SELECT count(*) FROM walk_participants WHERE device_key_hash IS NOT NULL"
        ).fetchone()[0]
        == 0
    )
    assert db.execute("SELECT count(*) FROM devices").fetchone()[0] == 0


def test_a_phone_in_use_keeps_its_key(app, db, timeline):
    """Using the app again moves the year on: the last use counts, not the first."""
    phone = app.test_client()
    join(phone, timeline["walk"], name="")
    (key,) = db.execute("SELECT key_hash FROM devices ORDER BY last_seen_at DESC").fetchone()
    db.execute(
        "UPDATE devices SET last_seen_at = ? WHERE key_hash = ?", [later(300).isoformat(), key]
    )
    report = purge(db, timeline["photo_dir"], RULES, at=later(366))
    assert key not in report["devices"]


def test_photos_of_closed_fixes_go_after_three_years_and_the_figures_stay(app, db, timeline):
    photo_dir = timeline["photo_dir"]
    before_files = {p.name for p in photo_dir.rglob("*.jpg")}
    counts = db.execute("SELECT count(*) FROM observations").fetchone()[0]
    assert purge(db, photo_dir, RULES, at=later(3 * 365 - 1))["photos"] == []
    report = purge(db, photo_dir, RULES, at=later(3 * 365 + 1))
    remaining = [dict(r) for r in db.execute("SELECT observation_id FROM photos")]
    assert remaining == [{"observation_id": timeline["open_obs"]}], "the open fix keeps its photo"
    assert len(report["photos"]) == 1
    closed = db.execute(
        "SELECT photo_ids FROM observations WHERE id = ?", [timeline["closed_obs"]]
    ).fetchone()
    assert json.loads(closed[0]) == [], "no photo is waited for any more"
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == counts
    assert get_task(db, timeline["closed_task"])["state"] == "done"
    # The closed fix's files are gone from the disk unless the open one shares them.
    after_files = {p.name for p in photo_dir.rglob("*.jpg")}
    assert after_files <= before_files
    status = app.test_client().get(f"/status/{timeline['closed_obs']}")
    assert status.status_code == 200


def test_history_keeps_the_role_not_the_person_after_three_years(app, db, timeline):
    staff_entries = db.execute(
        "SELECT count(*) FROM audit_log WHERE user_id IS NOT NULL OR participant_id IS NOT NULL"
    ).fetchone()[0]
    assert staff_entries > 0
    purge(db, timeline["photo_dir"], RULES, at=later(3 * 365 + 1))
    assert (
        db.execute(
            "SELECT count(*) FROM audit_log WHERE user_id IS NOT NULL OR participant_id IS NOT NULL"
        ).fetchone()[0]
        == 0
    )
    joins = {r[0] for r in db.execute("SELECT actor FROM audit_log WHERE action = 'join'")}
    assert joins == {"resident"}


def test_dry_run_changes_nothing_and_a_second_purge_finds_nothing(app, db, runner, timeline):
    tables = (
        "walk_participants",
        "observations",
        "photos",
        "audit_log",
        "devices",
        "resident_follows",
        "place_followups",
    )

    def snapshot():
        query = "SELECT * FROM {} ORDER BY rowid"
        return {t: [tuple(r) for r in db.execute(query.format(t))] for t in tables}

    before = snapshot()
    dry = purge(db, timeline["photo_dir"], RULES, at=later(4 * 365), dry_run=True)
    assert snapshot() == before
    assert dry["names"] and dry["devices"] and dry["photos"] and dry["audit_entries"]
    assert dry["follows"], "Rut's address is due (Sam's fix is still open)"
    assert dry["search_index"] == ["observation_text", "task_text"], "written since built"
    done = purge(db, timeline["photo_dir"], RULES, at=later(4 * 365))
    assert done.pop("log_emptied") is True
    assert done == dry
    again = purge(db, timeline["photo_dir"], RULES, at=later(4 * 365))
    assert again == {
        "names": [],
        "follows": [],
        "devices": [],
        "photos": [],
        "audit_entries": 0,
        "search_index": [],
        "log_emptied": True,
    }


def test_the_purge_command_prints_what_it_removes(runner, timeline):
    result = runner.invoke(args=["purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "0 resident name(s) would be removed" in result.output
    assert "0 resident email address(es) would be removed" in result.output
    assert "0 photo(s) would be deleted" in result.output
    assert "2 search index(es) would be merged" in result.output
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0 and "0 device key(s) were forgotten" in result.output
    assert "2 search index(es) were merged" in result.output
    assert "not emptied" not in result.output


def test_a_reader_on_an_old_snapshot_keeps_the_log_until_the_next_purge(app, db, runner):
    """A long export reads the database as it was when it began: the log it reads from
    cannot be truncated meanwhile. The purge waits a moment, says so, and does not hang."""
    make_place(db)
    reader = connect(app.config["DATABASE_PATH"])
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM places").fetchone()[0] == 1
    make_place(db, slug="vallingby", name="Vällingby")
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "The write-ahead log was not emptied" in result.output
    reader.execute("COMMIT")
    reader.close()
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0 and "not emptied" not in result.output
    assert Path(app.config["DATABASE_PATH"] + "-wal").stat().st_size == 0


def follows(db) -> dict[str, dict]:
    return {r["email"]: dict(r) for r in db.execute("SELECT * FROM resident_follows")}


def test_email_addresses_go_90_days_after_what_they_follow_is_closed(app, db, timeline):
    """Rut's participant follow and her fix closed today; Sam's observation follow and his
    fix open. Pia (a report followed, no task yet) and Ola (joined, reports one fix that is
    closed and one still open) come on the same walk."""
    photo_dir, walk = timeline["photo_dir"], timeline["walk"]
    pia, ola = app.test_client(), app.test_client()
    pia_csrf = join(pia, walk, name="")
    no_task = record_on_form(
        pia, walk, pia_csrf, "Klotter", follow="1", follow_email="pia@example.se"
    )
    ola_csrf = join(ola, walk, name="", follow="1", follow_email="ola@example.se")
    ola_closed = record_on_form(ola, walk, ola_csrf, "Trasig bänk")
    ola_open = record_on_form(ola, walk, ola_csrf, "Mörk gång")
    done_task = make_task(db, ola_closed, timeline["party"], "Laga bänken")
    open_task = make_task(db, ola_open, timeline["party"], "Sätt upp en lampa")
    send_walk_tasks(db, walk["id"], STAFF)
    transition(db, done_task, "done", STAFF, version=2, note="Lagad")
    assert set(follows(db)) == {
        "rut@example.se",
        "sam@example.se",
        "pia@example.se",
        "ola@example.se",
    }
    assert follows(db)["pia@example.se"]["observation_id"] == no_task

    assert purge(db, photo_dir, RULES, at=later(89))["follows"] == []
    assert len(follows(db)) == 4, "day 89: every address stays"
    report = purge(db, photo_dir, RULES, at=later(91))
    assert set(follows(db)) == {"sam@example.se", "ola@example.se"}, (
        "day 91: Rut's (all closed) and Pia's (no task) go; Sam's and Ola's fixes are open"
    )
    assert len(report["follows"]) == 2
    assert purge(db, photo_dir, RULES, at=later(1000))["follows"] == []
    assert set(follows(db)) == {"sam@example.se", "ola@example.se"}, "open fixes keep them"

    # Ola's last fix is closed now: the 90 days count from this closing, not the first.
    transition(
        db, open_task, "done", STAFF, version=get_task(db, open_task)["version"], note="Klart"
    )
    assert purge(db, photo_dir, RULES, at=later(89))["follows"] == []
    purge(db, photo_dir, RULES, at=later(91))
    assert set(follows(db)) == {"sam@example.se"}
    assert "ola@example.se" not in json.dumps(
        [dict(r) for r in db.execute("SELECT * FROM resident_follows")]
    )


def test_a_participant_follow_waits_for_its_walk(app, db, timeline):
    """Nothing reported yet: the address stays until 90 days after the walk."""
    starts = (datetime.now(UTC) + timedelta(days=200)).strftime("%Y-%m-%dT%H:%M")
    walk = make_walk(
        db, make_place(db, slug="vallby", name="Vällby"), title="Vårvandring", starts_at=starts
    )
    join(app.test_client(), walk, name="", follow="1", follow_email="tidig@example.se")
    assert "tidig@example.se" in follows(db)
    purge(db, timeline["photo_dir"], RULES, at=later(200 + 89))
    assert "tidig@example.se" in follows(db), "the walk is not 90 days past yet"
    purge(db, timeline["photo_dir"], RULES, at=later(200 + 91))
    assert "tidig@example.se" not in follows(db)


def test_a_forgotten_phone_s_answers_still_count_but_link_to_nothing(app, db, timeline):
    rut, observation_id = timeline["rut"], timeline["closed_obs"]
    answered = rut.post(
        f"/status/{observation_id}/followup",
        data={"csrf_token": timeline["rut_csrf"], "answer": "yes"},
    )
    assert answered.status_code == 303
    (voter,) = db.execute("SELECT voter_hash FROM place_followups").fetchone()
    assert voter in {r[0] for r in db.execute("SELECT device_key_hash FROM observations")}
    place_id = timeline["walk"]["place_id"]
    assert place_followup(db, place_id)["yes"] == 1
    purge(db, timeline["photo_dir"], RULES, at=later(366))
    (after,) = db.execute("SELECT voter_hash FROM place_followups").fetchone()
    assert after != voter and after.startswith("forgotten:")
    assert place_followup(db, place_id)["yes"] == 1, "the answer is still counted"


def test_the_log_of_sent_emails_loses_the_address_with_the_follow(db, runner, smtp, timeline):
    """Rut was told her fix is done and Sam that his is decided; when Rut's follow goes, so
    does her address in the record of that email (the record stays)."""
    assert runner.invoke(args=["send-reminders"]).exit_code == 0
    assert smtp.to("rut@example.se") and smtp.to("sam@example.se")

    def resident_log():
        return [
            dict(r)
            for r in db.execute(
                "SELECT kind, key, recipients FROM notifications WHERE kind LIKE 'resident_%'"
            )
        ]

    sent = resident_log()
    assert any("rut@example.se" in r["recipients"] for r in sent)
    purge(db, timeline["photo_dir"], RULES, at=later(91))
    after = resident_log()
    assert len(after) == len(sent), "the emails stay recorded"
    assert "rut@example.se" not in json.dumps(after)
    assert any("sam@example.se" in r["key"] for r in after), "Sam still follows his fix"
    assert runner.invoke(args=["send-reminders"]).exit_code == 0
    assert len(smtp.to("rut@example.se")) == 1, "nothing is sent twice"
