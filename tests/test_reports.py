"""The lägesbild and the annual follow-up: figures worked out by hand on a small data set.

Times are stored in UTC; weeks are Stockholm weeks. In November Stockholm is UTC+1, so week
2026-W47 (Monday 16 to Sunday 22 November) runs from 2026-11-15T23:00Z to 2026-11-22T23:00Z.
"""

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime

import pytest
from conftest import RACKSTA, join, login, make_place, make_staff, make_walk, table_row

from fieldwalk.reports.figures import FIGURES, period_figures, week_report, year_report
from fieldwalk.reports.periods import (
    last_complete_week,
    parse_week,
    same_week_last_year,
    week_period,
    year_periods,
)

EN = {"Accept-Language": "en"}

VALLINGBY = {
    "type": "Polygon",
    "coordinates": [
        [[17.866, 59.360], [17.877, 59.360], [17.877, 59.365], [17.866, 59.365], [17.866, 59.360]]
    ],
}
AKERMYNTAN = {
    "type": "Polygon",
    "coordinates": [
        [[17.809, 59.372], [17.815, 59.372], [17.815, 59.375], [17.809, 59.375], [17.809, 59.372]]
    ],
}


def add_observation(db, place_id, category, created_at, urgent=False, works_well=False) -> str:
    observation_id = str(uuid.uuid4())
    db.execute(
        """INSERT INTO observations (id, place_id, category, urgent, works_well, description,
               body_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'test', ?, ?)""",
        [observation_id, place_id, category, int(urgent), int(works_well), category, created_at,
         created_at],
    )  # fmt: skip
    return observation_id


def add_task(db, place_id, state, created_at, *, done_at=None, due=None, priority="normal"):
    return db.execute(
        """INSERT INTO tasks (place_id, measure, state, priority, due_date, created_at,
               updated_at, done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        [place_id, f"Åtgärd {state}", state, priority, due, created_at, created_at, done_at],
    ).lastrowid


@pytest.fixture
def district(db):
    """Two busy places (Råcksta, Vällingby) and a quiet one, across three weeks.

    Each row says which week it belongs to in Stockholm time.
    """
    a = make_place(db, "racksta", "Råcksta", RACKSTA)
    b = make_place(db, "vallingby", "Vällingby", VALLINGBY)
    make_place(db, "akermyntan", "Åkermyntan", AKERMYNTAN)
    # Week 47 of 2026 (this week).
    add_observation(db, a, "lighting", "2026-11-16T08:00:00Z", urgent=True)  # Mon 09:00
    add_observation(db, a, "lighting", "2026-11-18T17:00:00Z")
    add_observation(db, a, "graffiti", "2026-11-22T22:30:00Z")  # Sunday 23:30: still W47
    add_observation(db, a, "vegetation", "2026-11-20T12:00:00Z", works_well=True)
    add_observation(db, b, "upkeep", "2026-11-17T10:00:00Z", urgent=True)
    add_observation(db, a, "lighting", "2026-11-22T23:10:00Z")  # Monday 00:10: W48
    # Week 46 of 2026 (the week before).
    add_observation(db, a, "paths", "2026-11-15T22:59:59Z")  # Sunday 23:59:59: W46
    add_observation(db, a, "lighting", "2026-11-10T09:00:00Z")
    add_observation(db, b, "graffiti", "2026-11-12T09:00:00Z")
    add_observation(db, b, "graffiti", "2026-11-13T09:00:00Z")
    # Week 47 of 2025 (the same week last year: Monday 17 to Sunday 23 November 2025).
    add_observation(db, a, "lighting", "2025-11-18T09:00:00Z")
    add_observation(db, a, "lighting", "2025-11-20T09:00:00Z", urgent=True)
    add_observation(db, a, "people", "2025-11-16T22:30:00Z")  # Sunday 23:30: 2025-W46
    tasks = {
        # opened W47, done W47, urgent
        "t1": add_task(db, a, "done", "2026-11-16T09:00:00Z", done_at="2026-11-19T10:00:00Z",
                       due="2026-11-20", priority="urgent"),
        # opened W46, still with the party, due on Friday of W47
        "t2": add_task(db, a, "sent", "2026-11-10T09:00:00Z", due="2026-11-20"),
        # opened W45, due Sunday of W46, done only in W48
        "t3": add_task(db, a, "done", "2026-11-02T09:00:00Z", done_at="2026-11-24T09:00:00Z",
                       due="2026-11-15"),
        # opened W47, due Sunday of W47 (the week's last day), in progress
        "t4": add_task(db, b, "in_progress", "2026-11-18T09:00:00Z", due="2026-11-22",
                       priority="high"),
        # opened W47, due the Monday after
        "t5": add_task(db, b, "accepted", "2026-11-18T09:00:00Z", due="2026-11-23"),
        # closed without a date: never overdue
        "t6": add_task(db, b, "wont_fix", "2026-11-01T09:00:00Z", due="2026-11-05"),
        # opened in 2025-W47, urgent, due that Friday, still open a year later
        "t7": add_task(db, a, "proposed", "2025-11-19T09:00:00Z", due="2025-11-21",
                       priority="urgent"),
        # opened and done in 2025-W47
        "t8": add_task(db, a, "done", "2025-11-17T09:00:00Z", done_at="2025-11-21T09:00:00Z",
                       due="2025-11-30"),
    }  # fmt: skip
    return {"a": a, "b": b, "tasks": tasks}


def zeros(**figures) -> dict:
    return {**dict.fromkeys(FIGURES, 0), "categories": {}, **figures}


def plain(figures: dict) -> dict:
    return {key: figures[key] for key in FIGURES} | {"categories": figures["categories"]}


# --- weeks -------------------------------------------------------------------------------------


def test_week_runs_monday_to_monday_stockholm_time_in_utc_bounds():
    period = week_period(2026, 47)
    assert (period.start_utc, period.end_utc) == ("2026-11-15T23:00:00Z", "2026-11-22T23:00:00Z")
    assert period.end_date == "2026-11-23"  # a task due on Sunday 22nd is overdue at the end
    summer = week_period(2026, 27)  # UTC+2 in summer
    assert summer.start_utc == "2026-06-28T22:00:00Z"


def test_week_1_of_2026_starts_on_monday_29_december_2025():
    period = week_period(2026, 1)
    assert period.start.date() == date(2025, 12, 29)
    assert period.start_utc == "2025-12-28T23:00:00Z"
    assert period.end_utc == "2026-01-04T23:00:00Z"


def test_year_boundary_week_counts_by_stockholm_time(db):
    place = make_place(db)
    add_observation(db, place, "lighting", "2025-12-28T22:59:00Z")  # Sunday 23:59: 2025-W52
    add_observation(db, place, "lighting", "2025-12-28T23:00:00Z")  # Monday 00:00: 2026-W01
    add_observation(db, place, "paths", "2026-01-04T22:30:00Z")  # Sunday 23:30: 2026-W01
    assert period_figures(db, week_period(2026, 1))[place]["observations"] == 2
    assert period_figures(db, week_period(2025, 52))[place]["observations"] == 1


def test_last_complete_week_is_the_one_that_ended_before_now_in_stockholm():
    monday_0030 = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)  # Monday 23 Nov 00:30 Stockholm
    sunday_2330 = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)  # Sunday 22 Nov 23:30 Stockholm
    assert last_complete_week(monday_0030) == (2026, 47)
    assert last_complete_week(sunday_2330) == (2026, 46)
    assert last_complete_week(datetime(2026, 1, 2, 12, tzinfo=UTC)) == (2025, 52)
    assert last_complete_week(datetime(2026, 1, 5, 12, tzinfo=UTC)) == (2026, 1)


def test_parse_week_takes_what_input_type_week_sends_and_refuses_the_rest():
    assert parse_week("2026-W47") == (2026, 47)
    assert parse_week("2026-W53") == (2026, 53)  # 2026 has 53 ISO weeks
    for bad in ("2025-W53", "2026-W00", "2026-W54", "2026-47", "W47", "", "1999-W10", "x-Wy"):
        with pytest.raises(ValueError):
            parse_week(bad)


def test_same_week_last_year_falls_back_to_week_52_when_last_year_had_no_week_53():
    assert same_week_last_year(2026, 47) == (2025, 47)
    assert same_week_last_year(2026, 53) == (2025, 52)
    assert same_week_last_year(2021, 53 - 1) == (2020, 52)


# --- the figures -----------------------------------------------------------------------------


def test_week_figures_per_place_match_the_hand_count(db, district):
    a, b = district["a"], district["b"]
    this_week = period_figures(db, week_period(2026, 47))
    # Råcksta: 4 observations (Monday 09:00, Wednesday, Sunday 23:30, Friday; not Monday 00:10
    # of the next week): lighting 2, graffiti 1, vegetation 1; one feels safe, one urgent.
    # Tasks: t1 opened (urgent) and done. Overdue at the end: t2 (open, due Friday), t3 (due
    # in W46, done only after the week), t7 (still open since 2025) = 3.
    assert plain(this_week[a]) == zeros(
        observations=4,
        works_well=1,
        urgent_observations=1,
        tasks_opened=1,
        urgent_tasks=1,
        tasks_done=1,
        overdue=3,
        categories={"lighting": 2, "graffiti": 1, "vegetation": 1},
    )
    # Vällingby: 1 urgent upkeep observation; t4 and t5 opened; t4 (due Sunday) overdue, t5
    # (due Monday after) not, t6 (will not fix) never.
    assert plain(this_week[b]) == zeros(
        observations=1,
        urgent_observations=1,
        tasks_opened=2,
        overdue=1,
        categories={"upkeep": 1},
    )


def test_week_before_and_same_week_last_year_match_the_hand_count(db, district):
    a, b = district["a"], district["b"]
    before = period_figures(db, week_period(2026, 46))
    # Råcksta W46: paths (Sunday 23:59:59) and lighting; t2 opened; overdue at Sunday's end:
    # t3 (due 15 Nov, done later) and t7 = 2 (t2 is due only on the 20th).
    assert plain(before[a]) == zeros(
        observations=2, tasks_opened=1, overdue=2, categories={"paths": 1, "lighting": 1}
    )
    assert plain(before[b]) == zeros(observations=2, categories={"graffiti": 2})
    last_year = period_figures(db, week_period(2025, 47))
    # Råcksta 2025-W47: two lighting (one urgent); the Sunday 23:30 of 16 Nov is W46. t7
    # (urgent) and t8 opened, t8 done, t7 overdue at the end (due the 21st).
    assert plain(last_year[a]) == zeros(
        observations=2,
        urgent_observations=1,
        tasks_opened=2,
        urgent_tasks=1,
        tasks_done=1,
        overdue=1,
        categories={"lighting": 2},
    )
    assert b not in last_year


def test_week_report_sums_the_district_and_lists_quiet_places(db, district):
    report = week_report(db, 2026, 47)
    assert report["weeks"] == [(2026, 47), (2026, 46), (2025, 47)]
    district_row, *places = report["rows"]
    assert [r["name"] for r in places] == ["Råcksta", "Vällingby"]
    # Observations: 4 + 1 this week, 2 + 2 the week before, 2 + 0 last year.
    assert [f["observations"] for f in district_row["figures"]] == [5, 4, 2]
    # Overdue: 3 + 1, 2 + 0, 1 + 0.
    assert [f["overdue"] for f in district_row["figures"]] == [4, 2, 1]
    assert report["quiet"] == ["Åkermyntan"]
    urgent = report["urgent"]
    assert [o["category"] for o in urgent[district["a"]]["observations"]] == ["lighting"]
    assert [t["id"] for t in urgent[district["a"]]["tasks"]] == [district["tasks"]["t1"]]
    assert [o["category"] for o in urgent[district["b"]]["observations"]] == ["upkeep"]


def test_week_page_shows_each_place_with_changes_in_text_and_arrows(client, db, district):
    login(client, make_staff(db, "coordinator"))
    response = client.get("/reports/week?week=2026-W47", headers=EN)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    # Råcksta: 4 now, 2 the week before (▲ +2), 2 last year (▲ +2).
    assert table_row(html, district["a"], "New observations") == ["4", "2", "▲ +2", "2", "▲ +2"]
    # Vällingby: 1 now, 2 before (▼ −1), 0 last year (▲ +1).
    assert table_row(html, district["b"], "New observations") == ["1", "2", "▼ −1", "0", "▲ +1"]
    assert table_row(html, district["a"], "Overdue tasks at the end of the period") == [
        "3",
        "2",
        "▲ +1",
        "1",
        "▲ +2",
    ]
    assert table_row(html, "district", "Tasks opened") == ["3", "1", "▲ +2", "2", "▲ +1"]
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') >= 3
    assert "<title" in html and "<desc" in html
    assert 'href="/reports/week?week=2026-W46"' in html
    assert 'href="/reports/week?week=2026-W48"' in html
    assert 'type="week"' in html and 'value="2026-W47"' in html
    assert re.search(
        r'<link rel="stylesheet" href="/static/(build/)?css/print\.css\?v=\w+" media="print">', html
    )


def test_week_page_defaults_to_the_last_complete_week(client, db):
    login(client, make_staff(db, "coordinator"))
    before = last_complete_week(datetime.now(UTC))
    html = client.get("/reports/week", headers=EN).get_data(as_text=True)
    after = last_complete_week(datetime.now(UTC))  # the same, unless Monday 00:00 fell between
    titles = {f"<h1>Week {w}, {y}</h1>" for y, w in (before, after)}
    assert any(title in html for title in titles)


def test_unreadable_week_is_refused_with_a_message(client, db):
    login(client, make_staff(db, "coordinator"))
    for bad in ("2025-W53", "next", "2026-W99"):
        response = client.get(f"/reports/week?week={bad}", headers=EN)
        assert response.status_code == 400
        assert "Choose a week, such as 2026-W47." in response.get_data(as_text=True)


def test_week_csv_has_a_bom_and_opens_with_the_csv_module(client, db, district):
    login(client, make_staff(db, "coordinator"))
    response = client.get("/reports/week.csv?week=2026-W47", headers=EN)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="lagesbild-2026-W47.csv"' in response.headers["Content-Disposition"]
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0] == [
        "Week",
        "Place",
        "Figure",
        "This week",
        "Week before",
        "Change",
        "Same week last year",
        "Change",
    ]
    by_key = {(r[1], r[2]): r[3:] for r in rows[1:]}
    assert all(r[0] == "2026-W47" for r in rows[1:])
    assert by_key[("Råcksta", "New observations")] == ["4", "2", "2", "2", "2"]
    assert by_key[("Råcksta", "Lighting")] == ["2", "1", "1", "2", "0"]
    assert by_key[("Vällingby", "New observations")] == ["1", "2", "-1", "0", "1"]
    assert by_key[("Whole district", "Overdue tasks at the end of the period")] == [
        "4",
        "2",
        "2",
        "1",
        "3",
    ]
    assert not any(place == "Åkermyntan" for place, _figure in by_key)


# --- the annual follow-up ----------------------------------------------------------------------


def test_year_figures_against_the_year_before_match_the_hand_count(db, district):
    a, b = district["a"], district["b"]
    report = year_report(db, 2026, datetime(2027, 1, 10, tzinfo=UTC))
    rows = {r["place_id"]: r["figures"] for r in report["rows"]}
    this_year, last_year = rows[a]
    # Råcksta 2026: the 4 of W47, Monday 00:10 of W48 and the 2 of W46 = 7 (lighting 4,
    # graffiti, vegetation, paths). t1, t2, t3 opened; t1 and t3 done; overdue at the year's
    # end: t2 and t7 (t3 was done in November).
    assert plain(this_year) == zeros(
        observations=7,
        works_well=1,
        urgent_observations=1,
        tasks_opened=3,
        urgent_tasks=1,
        tasks_done=2,
        overdue=2,
        categories={"lighting": 4, "graffiti": 1, "vegetation": 1, "paths": 1},
    )
    # Råcksta 2025: two lighting and the Sunday-evening "people"; t7, t8 opened, t8 done,
    # t7 overdue at the end of 2025.
    assert plain(last_year) == zeros(
        observations=3,
        urgent_observations=1,
        tasks_opened=2,
        urgent_tasks=1,
        tasks_done=1,
        overdue=1,
        categories={"lighting": 2, "people": 1},
    )
    # Vällingby 2026: upkeep and two graffiti; t4, t5, t6 opened; t4 and t5 overdue by New
    # Year (t6 will not be fixed); nothing in 2025.
    assert plain(rows[b][0]) == zeros(
        observations=3,
        urgent_observations=1,
        tasks_opened=3,
        overdue=2,
        categories={"upkeep": 1, "graffiti": 2},
    )
    assert plain(rows[b][1]) == zeros()
    # Monthly counts for the chart: November 2026 is index 10, November 2025 index 22.
    assert report["monthly"][a][10] == 7 and report["monthly"][a][22] == 3


def test_year_not_over_is_compared_with_the_same_stretch_of_the_year_before():
    moment = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)  # 12:00 in Stockholm
    this_year, before = year_periods(2026, moment)
    assert this_year.start_utc == "2025-12-31T23:00:00Z"
    assert this_year.end_utc == "2026-03-01T11:00:00Z"
    assert before.start_utc == "2024-12-31T23:00:00Z"
    assert before.end_utc == "2025-03-01T11:00:00Z"
    leap_day = datetime(2028, 2, 29, 11, 0, tzinfo=UTC)
    assert year_periods(2028, leap_day)[1].end.date() == date(2027, 2, 28)


def test_year_page_and_csv_show_2026_against_2025(client, db, district):
    # Every 2026 row lies before 25 November 2026, so whether 2026 is over or not when the
    # test runs, the figures are the same as for the whole year.
    login(client, make_staff(db, "admin"))
    html = client.get("/reports/year?year=2026", headers=EN).get_data(as_text=True)
    assert table_row(html, district["a"], "New observations") == ["7", "3", "▲ +4"]
    assert table_row(html, district["b"], "Tasks opened") == ["3", "0", "▲ +3"]
    response = client.get("/reports/year.csv?year=2026", headers=EN)
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0] == ["Year", "Place", "Figure", "2026", "2025", "Change"]
    by_key = {(r[1], r[2]): r[3:] for r in rows[1:]}
    assert by_key[("Råcksta", "Tasks done")] == ["2", "1", "1"]
    assert by_key[("Whole district", "New observations")] == ["10", "3", "7"]


def test_unreadable_year_is_refused(client, db):
    login(client, make_staff(db, "coordinator"))
    assert client.get("/reports/year?year=20x6").status_code == 400
    assert client.get("/reports/year?year=1850").status_code == 400


# --- who may see them -----------------------------------------------------------------------


REPORT_URLS = [
    "/reports/week?week=2026-W47",
    "/reports/week.csv?week=2026-W47",
    "/reports/year?year=2026",
    "/reports/year.csv?year=2026",
]


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_coordinators_and_admins_read_the_reports(client, db, role):
    login(client, make_staff(db, role))
    for url in REPORT_URLS:
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("role", ["walk_leader", "engineer"])
def test_walk_leaders_and_engineers_are_refused_the_reports(client, db, role):
    login(client, make_staff(db, role))
    for url in REPORT_URLS:
        assert client.get(url).status_code == 403, url


def test_anonymous_visitors_and_residents_are_sent_to_the_login(client, db):
    for url in REPORT_URLS:
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    walk = make_walk(db, make_place(db, "p2", "P2"))
    join(client, walk)  # a resident on a walk is still not staff
    for url in REPORT_URLS:
        assert client.get(url).status_code == 302, url
