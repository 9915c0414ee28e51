"""The observed time and the received time: every report, count, date and export uses the
observed one (when the person was there), the received one stays for the audit."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import (
    PHOTO_SETTINGS,
    PHOTOS,
    csrf_token,
    join,
    login,
    make_place,
    make_staff,
    make_walk,
)

from fieldwalk import clock
from fieldwalk.observations.model import get_observation, validate
from fieldwalk.observations.record import record_observation, record_photo
from fieldwalk.reports.figures import period_figures, week_report
from fieldwalk.reports.periods import week_period

RECEIVED = "2026-12-04T09:00:00Z"  # Friday of week 49


@pytest.mark.parametrize(
    ("captured", "taken", "expected"),
    [
        # The phone's own time, with an offset or as UTC.
        ("2026-11-13T18:30:00+01:00", None, ("2026-11-13T17:30:00Z", clock.DEVICE)),
        ("2026-11-13T17:30:00Z", None, ("2026-11-13T17:30:00Z", clock.DEVICE)),
        # Without an offset: Stockholm's wall clock (winter +01:00, summer +02:00).
        ("2026-11-13T18:30", None, ("2026-11-13T17:30:00Z", clock.DEVICE)),
        ("2026-07-01T22:15", None, ("2026-07-01T20:15:00Z", clock.DEVICE)),
        # No phone time: the photo's (cameras write local time), else the receipt.
        (None, "2026-11-13T18:31:05", ("2026-11-13T17:31:05Z", clock.PHOTO)),
        (None, None, (RECEIVED, clock.RECEIVED)),
        # A clock that cannot be right falls back: after receipt, or from a reset phone.
        ("2026-12-05T09:00:00Z", None, (RECEIVED, clock.RECEIVED)),
        ("1970-01-01T00:00:00Z", "2026-11-13T18:31:05", ("2026-11-13T17:31:05Z", clock.PHOTO)),
        ("not a time", None, (RECEIVED, clock.RECEIVED)),
        # A few minutes fast is a phone's clock, not the future: it is clamped to receipt.
        ("2026-12-04T09:05:00Z", None, (RECEIVED, clock.DEVICE)),
    ],
)
def test_observed_time_takes_the_phone_then_the_photo_then_the_receipt(captured, taken, expected):
    assert clock.observed_time(RECEIVED, captured, taken) == expected


def test_the_hour_the_clocks_skip_and_the_hour_they_repeat_still_give_one_utc_time():
    # 29 March 2026 02:30 does not exist in Stockholm; 25 October 02:30 happens twice.
    spring, _ = clock.observed_time("2026-04-01T00:00:00Z", "2026-03-29T02:30")
    autumn, _ = clock.observed_time("2026-11-01T00:00:00Z", "2026-10-25T02:30")
    assert spring in ("2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z")
    assert autumn in ("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z")


@pytest.fixture
def walk(db):
    place = make_place(db)
    return make_walk(db, place, title="Kvällsvandring 13 november", starts_at="2026-11-13T18:00")


def put(client, token, walk, captured_at, **body):
    observation_id = str(uuid.uuid4())
    response = client.put(
        f"/api/v1/observations/{observation_id}",
        json={"category": "lighting", "walk_id": walk["id"], "captured_at": captured_at, **body},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_walk_synced_weeks_later_lands_in_its_own_week(app, client, db, walk):
    """Recorded offline on Friday 13 November (week 46), sent on 4 December (week 49)."""
    token = join(client, walk)
    stored = put(
        client, token, walk, "2026-11-13T18:40:00+01:00", urgent=True, description="Mörk trappa"
    )
    db.execute("UPDATE observations SET created_at = ? WHERE id = ?", [RECEIVED, stored["id"]])

    assert stored["observed_at"] == "2026-11-13T17:40:00Z"
    assert stored["observed_source"] == "device"
    place = walk["place_id"]
    assert period_figures(db, week_period(2026, 46))[place]["observations"] == 1
    assert period_figures(db, week_period(2026, 46))[place]["urgent_observations"] == 1
    assert place not in period_figures(db, week_period(2026, 49))
    report = week_report(db, 2026, 46)
    assert [o["id"] for o in report["urgent"][place]["observations"]] == [stored["id"]]

    # The coordinator's CSV says both times, and the observed one first.
    staff = app.test_client()
    login(staff, make_staff(db))
    # (In English: the comma dialect with the column codes; Swedish is in test_csv_dialects.)
    english = staff.get("/dashboard/observations.csv", headers={"Accept-Language": "en"}).text
    rows = list(csv.DictReader(io.StringIO(english[1:])))
    assert rows[0]["observed_at"] == "2026-11-13T17:40:00Z"
    assert rows[0]["received_at"] == RECEIVED
    # The dashboard's date filter and the week page go by the observed day.
    assert "Mörk trappa" in staff.get("/dashboard?from=2026-11-13&to=2026-11-13").text
    assert "Mörk trappa" not in staff.get("/dashboard?from=2026-12-04").text
    assert "13 nov. 2026 18:40" in staff.get("/reports/week?week=2026-W46").text


def test_iso_week_boundary_in_stockholm_time_uses_the_observed_time(client, db, walk):
    token = join(client, walk)
    sunday = put(client, token, walk, "2026-11-15T23:30")  # Sunday 23:30, week 46
    monday = put(client, token, walk, "2026-11-16T00:10")  # Monday 00:10, week 47
    assert sunday["observed_at"] == "2026-11-15T22:30:00Z"
    assert monday["observed_at"] == "2026-11-15T23:10:00Z"
    place = walk["place_id"]
    assert period_figures(db, week_period(2026, 46))[place]["observations"] == 1
    assert period_figures(db, week_period(2026, 47))[place]["observations"] == 1


def test_summer_time_week_boundary(client, db, walk):
    """In summer Stockholm is UTC+2: Sunday 23:30 local is 21:30 UTC, still the old week."""
    token = join(client, walk)
    with_clock = {"captured_at": "2026-06-28T23:30"}  # Sunday of week 26
    stored = put(client, token, walk, **with_clock)
    db.execute("UPDATE observations SET created_at = ? WHERE id = ?", [RECEIVED, stored["id"]])
    assert stored["observed_at"] == "2026-06-28T21:30:00Z"
    assert period_figures(db, week_period(2026, 26))[walk["place_id"]]["observations"] == 1


def test_an_observation_without_a_phone_time_takes_its_photos_time(app, db, walk):
    """The photo's EXIF time (DSCN0010: 2008-10-22 16:28:39) dates it, if plausible; this
    one is older than any outbox waits, so a photo from the walk itself is used instead."""
    photo_dir = Path(app.config["PHOTO_PATH"])
    clean = validate(
        {"category": "lighting", "walk_id": walk["id"], "photos": [str(uuid.uuid4())]}, 2000, 12
    )
    observation, _ = record_observation(
        db, photo_dir, str(uuid.uuid4()), clean, PHOTO_SETTINGS, walk=walk
    )
    assert observation["observed_source"] == clock.RECEIVED
    record_photo(
        db,
        photo_dir,
        observation,
        clean["photos"][0],
        (PHOTOS / "gps" / "DSCN0010.jpg").read_bytes(),
        PHOTO_SETTINGS,
    )
    after = get_observation(db, observation["id"])
    # 2008 is implausible for something received today: the receipt stays.
    assert after["observed_source"] == clock.RECEIVED
    assert after["observed_at"] == after["created_at"]


def test_a_plausible_photo_time_dates_an_observation_the_phone_gave_no_time(db, walk):
    received = datetime.now(UTC).replace(microsecond=0)
    local_photo_time = received.astimezone(clock.STOCKHOLM).replace(tzinfo=None)
    earlier = local_photo_time - timedelta(minutes=1)  # not minute 59 of the hour when it is :00
    observed, source = clock.observed_time(clock.stamp(received), None, earlier.isoformat())
    assert source == clock.PHOTO
    assert observed <= clock.stamp(received)


def test_the_demo_walk_is_observed_during_the_walk(app, runner, db):
    app.config["DEMO"] = True
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    finished = db.execute("SELECT * FROM walks WHERE state = 'finished'").fetchone()
    start = datetime.fromisoformat(finished["starts_at"]).replace(tzinfo=clock.STOCKHOLM)
    for row in db.execute(
        "SELECT observed_at, observed_source FROM observations WHERE walk_id = ?", [finished["id"]]
    ):
        observed = datetime.fromisoformat(row["observed_at"].replace("Z", "+00:00"))
        assert row["observed_source"] == clock.DEVICE
        assert 0 <= (observed - start).total_seconds() <= 3 * 3600


def test_form_without_javascript_keeps_both_times(app, client, db, walk):
    token = csrf_token(client, f"/j/{walk['invite_token']}")
    join(client, walk)
    token = csrf_token(client, f"/walks/{walk['id']}/capture")
    observation_id = str(uuid.uuid4())
    response = client.post(
        f"/walks/{walk['id']}/observations",
        data={
            "csrf_token": token,
            "id": observation_id,
            "category": "lighting",
            "captured_at": "2026-11-13T18:45",
        },
    )
    assert response.status_code == 303
    stored = get_observation(db, observation_id)
    assert stored["observed_at"] == "2026-11-13T17:45:00Z"
    assert stored["created_at"] > stored["observed_at"]
