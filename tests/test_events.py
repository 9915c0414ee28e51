"""Events: the domain functions, the phone form, the list and what a partner can reach."""

import csv
import io
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import pytest
from conftest import csrf_token, join, login, make_event, make_place, make_user, make_walk

from fieldwalk.events.model import (
    EXPORT_COLUMNS,
    NonexistentTime,
    count_events,
    count_events_by,
    count_events_by_period,
    events_for,
    export_rows,
    get_event,
    insert_event,
    link_event,
    list_events,
    local_to_utc,
    parse_time,
    unlink_event,
)
from fieldwalk.observations.model import put_observation, validate
from fieldwalk.parties.model import insert_party
from fieldwalk.reports.periods import (
    last_complete_week,
    same_week_last_year,
    shift_week,
    week_period,
    week_text,
)
from fieldwalk.tasks.model import insert_task
from fieldwalk.tasks.states import COORDINATOR, Actor

STOCKHOLM = ZoneInfo("Europe/Stockholm")
# Vällingby centrum, about 1.5 km north-west of conftest's Råcksta.
VALLINGBY = {
    "type": "Polygon",
    "coordinates": [
        [[17.866, 59.360], [17.877, 59.360], [17.877, 59.365], [17.866, 59.365], [17.866, 59.360]]
    ],
}
IN_RACKSTA = (59.355, 17.882)
IN_VALLINGBY = (59.362, 17.871)


@pytest.fixture
def places(db) -> dict[str, int]:
    return {
        "racksta": make_place(db),
        "vallingby": make_place(db, "vallingby", "Vällingby centrum", VALLINGBY),
    }


def event_rows(db) -> list[dict]:
    return [dict(r) for r in db.execute("SELECT * FROM events ORDER BY id")]


# --- time --------------------------------------------------------------------------------------


def test_local_times_become_utc_in_winter_and_in_summer():
    assert local_to_utc(datetime(2026, 1, 15, 18, 30)) == datetime(2026, 1, 15, 17, 30, tzinfo=UTC)
    assert local_to_utc(datetime(2026, 7, 1, 18, 30)) == datetime(2026, 7, 1, 16, 30, tzinfo=UTC)


def test_a_time_the_clocks_skipped_is_refused_and_a_doubled_one_is_the_first():
    with pytest.raises(NonexistentTime):
        local_to_utc(datetime(2026, 3, 29, 2, 30))  # 02:00 became 03:00
    # 02:30 happened twice on 25 October 2026: first in summer time (+02:00).
    assert local_to_utc(datetime(2026, 10, 25, 2, 30)) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-11-28 17:45", "2026-11-28T16:45:00+00:00"),
        ("2026-11-28T17:45", "2026-11-28T16:45:00+00:00"),
        ("2026-11-28T17:45:30", "2026-11-28T16:45:30+00:00"),
        ("2026-11-28T17:45:00+01:00", "2026-11-28T16:45:00+00:00"),
        ("2026-11-28T16:45:00Z", "2026-11-28T16:45:00+00:00"),
        ("2026-06-28 17:45", "2026-06-28T15:45:00+00:00"),
    ],
)
def test_parse_time_reads_iso_and_the_spreadsheet_form(text, utc):
    assert parse_time(text).isoformat() == utc


@pytest.mark.parametrize(
    "text", ["2026-11-28", "28/11/2026 17:45", "2026-13-01 10:00", "1999-12-31 23:00", "igår", ""]
)
def test_parse_time_refuses_what_is_not_a_date_and_time(text):
    with pytest.raises(ValueError):
        parse_time(text)


# --- storing and reading -----------------------------------------------------------------------


def test_an_event_is_stored_with_utc_time_place_and_who_entered_it(db, places):
    user = make_user(db, "partner", name="Erik Ström")
    occurred = datetime(2026, 11, 20, 18, 30, tzinfo=STOCKHOLM)
    event_id, created = insert_event(
        db,
        occurred_at=occurred,
        type="drug_use",
        source="police",
        place_id=places["racksta"],
        description="  Två personer injicerade i trappan.  ",
        created_by=user["id"],
    )
    event = get_event(db, event_id)
    assert created
    assert event["occurred_at"] == "2026-11-20T17:30:00Z"
    assert event["created_at"].endswith("Z")
    assert (event["type"], event["source"]) == ("drug_use", "police")
    assert event["place_name"] == "Råcksta"
    assert event["description"] == "Två personer injicerade i trappan."
    assert event["created_by_name"] == "Erik Ström"
    assert (event["observation_ids"], event["task_ids"]) == ([], [])


def test_a_point_alone_finds_its_place_or_none(db, places):
    inside = make_event(db, lat=IN_VALLINGBY[0], lon=IN_VALLINGBY[1])
    outside = make_event(db, lat=59.30, lon=18.10)
    assert get_event(db, inside)["place_id"] == places["vallingby"]
    assert get_event(db, outside)["place_id"] is None


@pytest.mark.parametrize(
    "change",
    [
        {"type": "robbery"},
        {"source": "neighbour"},
        {"place_id": None},
        {"place_id": None, "lat": 59.3},
        {"place_id": None, "lat": 91.0, "lon": 17.9},
        {"description": "x" * 501},
        {"occurred_at": datetime(2026, 11, 20, 18, 30)},  # no zone: which 18:30?
    ],
)
def test_values_that_cannot_make_an_event_are_refused_and_nothing_is_stored(db, places, change):
    values = {
        "occurred_at": "2026-11-20T17:30:00Z",
        "type": "drug_dealing",
        "source": "police",
        "place_id": places["racksta"],
        **change,
    }
    with pytest.raises(ValueError):
        insert_event(db, **values)
    assert event_rows(db) == []


def test_the_same_import_key_stores_one_event(db, places):
    first = insert_event(
        db,
        occurred_at="2026-11-20T17:30:00Z",
        type="disorder",
        source="guards",
        place_id=places["racksta"],
        import_key="form:abc",
    )
    second = insert_event(
        db,
        occurred_at="2026-11-20T17:30:00Z",
        type="disorder",
        source="guards",
        place_id=places["racksta"],
        import_key="form:abc",
    )
    assert first == (first[0], True)
    assert second == (first[0], False)
    assert len(event_rows(db)) == 1


def test_events_link_to_observations_and_tasks(app, db, places):
    walk = make_walk(db, places["racksta"])
    observation_id = str(uuid.uuid4())
    clean = validate({"category": "upkeep", "walk_id": walk["id"]}, 2000, 12)
    put_observation(db, observation_id, clean, walk=walk)
    party = insert_party(db, "Parkförvaltningen", "park")
    user = make_user(db)
    task_id = insert_task(
        db,
        observation_ids=[observation_id],
        measure="Plocka sprutor vid trappan.",
        party_id=party,
        suggestion={"party_id": party},
        actor=Actor((COORDINATOR,), user["id"], "Samordnare"),
    )
    event_id = make_event(db, places["racksta"], type="littering", observation_ids=[observation_id])
    assert link_event(db, event_id, task_id=task_id)
    assert not link_event(db, event_id, task_id=task_id)  # once is enough
    event = get_event(db, event_id)
    assert (event["observation_ids"], event["task_ids"]) == ([observation_id], [task_id])
    assert [e["id"] for e in events_for(db, task_id=task_id)] == [event_id]
    assert [e["id"] for e in events_for(db, observation_id=observation_id)] == [event_id]
    assert unlink_event(db, event_id, observation_id=observation_id)
    assert events_for(db, observation_id=observation_id) == []
    with pytest.raises(ValueError):
        link_event(db, event_id)


def test_list_events_filters_and_orders_latest_first(db, places):
    r, v = places["racksta"], places["vallingby"]
    a = make_event(db, r, occurred_at="2026-11-16T10:00:00Z", type="drug_use")
    b = make_event(db, v, occurred_at="2026-11-17T10:00:00Z", source="guards")
    c = make_event(db, r, occurred_at="2026-11-18T10:00:00Z", type="violence")
    d = make_event(db, r, occurred_at="2026-11-23T00:00:00Z")

    def ids(**selection):
        return [e["id"] for e in list_events(db, **selection)]

    assert ids() == [d, c, b, a]
    assert ids(place_id=r) == [d, c, a]
    assert ids(types=["drug_use", "violence"]) == [c, a]
    assert ids(sources=["guards"]) == [b]
    assert ids(types=[]) == []
    # since is inclusive, until exclusive; datetimes or UTC text alike.
    assert ids(since="2026-11-17T10:00:00Z", until="2026-11-23T00:00:00Z") == [c, b]
    assert ids(since=datetime(2026, 11, 18, 11, 0, tzinfo=STOCKHOLM)) == [d, c]
    assert ids(limit=2) == [d, c]
    assert ids(limit=2, offset=2) == [b, a]
    assert count_events(db, place_id=r) == 3


def test_count_events_by_place_type_and_source(db, places):
    r, v = places["racksta"], places["vallingby"]
    make_event(db, r, type="drug_use", source="police")
    make_event(db, r, type="drug_use", source="staff")
    make_event(db, r, type="disorder", source="police")
    make_event(db, v, type="drug_use", source="police")
    make_event(db, r, type="drug_use", occurred_at="2025-01-01T10:00:00Z")
    since = "2026-01-01T00:00:00Z"
    assert count_events_by(db, since=since) == {
        (r, "drug_use"): 2,
        (r, "disorder"): 1,
        (v, "drug_use"): 1,
    }
    assert count_events_by(db, ("source",), since=since, place_id=r) == {
        ("police",): 2,
        ("staff",): 1,
    }
    assert count_events_by(db, ("place_id", "type", "source"), types=["disorder"]) == {
        (r, "disorder", "police"): 1
    }
    with pytest.raises(ValueError):
        count_events_by(db, ("description",))


def test_counts_for_this_week_last_week_and_a_year_ago_follow_stockholm_weeks(db, places):
    """What the weekly page asks: per place and type, week 47 of 2026, week 46, week 47 of
    2025. A Sunday 23:30 in Stockholm is still that week; Monday 00:10 is the next."""
    r = places["racksta"]
    weeks = [(2026, 47), shift_week(2026, 47, -1), same_week_last_year(2026, 47)]
    periods = [week_period(*w) for w in weeks]
    local = [
        datetime(2026, 11, 22, 23, 30),  # Sunday of week 47
        datetime(2026, 11, 16, 0, 10),  # Monday of week 47
        datetime(2026, 11, 23, 0, 10),  # Monday of week 48: not counted
        datetime(2026, 11, 15, 23, 59),  # Sunday of week 46
        datetime(2025, 11, 20, 12, 0),  # week 47 of 2025
    ]
    for moment in local:
        make_event(db, r, occurred_at=local_to_utc(moment), type="drug_dealing")
    make_event(db, r, occurred_at=local_to_utc(datetime(2026, 11, 18, 12, 0)), type="violence")
    spans = [(p.start, p.end) for p in periods]
    assert count_events_by_period(db, spans) == {
        (r, "drug_dealing"): [2, 1, 1],
        (r, "violence"): [1, 0, 0],
    }
    assert count_events_by_period(db, spans, ("source",), place_id=r) == {("police",): [3, 1, 1]}
    assert count_events_by_period(db, []) == {}


def test_export_rows_name_types_and_sources_and_list_links(app, db, places):
    event_id = make_event(
        db, places["racksta"], type="vandalism", source="public", description="Krossad ruta."
    )
    with app.test_request_context(headers={"Accept-Language": "sv"}):
        rows = list(export_rows(db, place_id=places["racksta"]))
    assert len(rows) == 1
    row = dict(zip(EXPORT_COLUMNS, rows[0], strict=True))
    assert row["id"] == event_id
    assert (row["type"], row["type_label"]) == ("vandalism", "Skadegörelse")
    assert (row["source"], row["source_label"]) == ("public", "Allmänheten")
    assert (row["place"], row["observation_ids"], row["task_ids"]) == ("Råcksta", "", "")


# --- the phone form ------------------------------------------------------------------------------


def form_data(token: str, **values) -> dict:
    return {
        "csrf_token": token,
        "key": str(uuid.uuid4()),
        "date": "2026-07-01",
        "time": "18:30",
        "type": "drug_dealing",
        "source": "police",
        "place_id": "",
        "lat": "",
        "lon": "",
        "description": "Försäljning vid trappan.",
        **values,
    }


def test_form_opens_in_swedish_at_now_in_stockholm(client, db, places):
    token = login(client, make_user(db, "partner"))
    assert token
    before = datetime.now(UTC).astimezone(STOCKHOLM)
    html = client.get("/events/new").get_data(as_text=True)
    after = datetime.now(UTC).astimezone(STOCKHOLM)
    assert "Vad hände?" in html and "Rapporterad av" in html and "Narkotikaförsäljning" in html
    day = re.search(r'name="date"[^>]*value="([^"]+)"', html).group(1)
    clock = re.search(r'name="time"[^>]*value="([^"]+)"', html).group(1)
    shown = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=STOCKHOLM)
    assert before.replace(second=0, microsecond=0) <= shown <= after
    assert re.search(r'name="key" type="hidden" value="[0-9a-f-]{36}"', html)


def test_form_stores_the_event_in_utc_and_remembers_the_source(client, db, places):
    user = make_user(db, "partner")
    token = login(client, user)
    response = client.post(
        "/events/new",
        data=form_data(token, place_id=places["racksta"], source="guards"),
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/events")
    (event,) = event_rows(db)
    assert event["occurred_at"] == "2026-07-01T16:30:00Z"  # summer time
    assert (event["place_id"], event["source"], event["created_by"]) == (
        places["racksta"],
        "guards",
        user["id"],
    )
    page = client.get("/events").get_data(as_text=True)
    assert "Händelsen är sparad." in page and "Försäljning vid trappan." in page
    # The next form starts with the source this person reported last.
    html = client.get("/events/new").get_data(as_text=True)
    assert '<option selected value="guards">' in html


def test_sending_the_form_twice_stores_one_event(client, db, places):
    token = login(client, make_user(db, "coordinator"))
    data = form_data(token, place_id=places["racksta"])
    assert client.post("/events/new", data=data).status_code == 303
    assert client.post("/events/new", data=data).status_code == 303
    assert len(event_rows(db)) == 1
    assert "Den här händelsen var redan sparad." in client.get("/events").get_data(as_text=True)


def test_form_without_csrf_token_is_refused(client, db, places):
    login(client, make_user(db, "partner"))
    data = form_data("", place_id=places["racksta"])
    del data["csrf_token"]
    response = client.post("/events/new", data=data)
    assert response.status_code == 400
    assert event_rows(db) == []


@pytest.mark.parametrize(
    ("values", "messages"),
    [
        (
            {"type": "", "source": "", "place_id": ""},
            [
                "Välj vad som hände.",
                "Välj vem som rapporterade.",
                "Välj en plats eller ange en position.",
            ],
        ),
        ({"type": "robbery", "place_id": "1"}, ["Välj vad som hände."]),
        ({"date": "", "time": ""}, ["Ange datum.", "Ange tid."]),
        ({"date": "2026-02-30", "place_id": "1"}, ["Skriv datumet som ÅÅÅÅ-MM-DD."]),
        ({"time": "25:61", "place_id": "1"}, ["Skriv tiden som TT:MM."]),
        ({"date": "2026-03-29", "time": "02:30", "place_id": "1"}, ["Den tiden finns inte"]),
        ({"date": "2099-01-01", "place_id": "1"}, ["Den tiden har inte kommit än."]),
        ({"place_id": "99"}, ["Välj en plats i listan."]),
        ({"place_id": "99999999999999999999"}, ["Välj en plats i listan."]),
        ({"lat": "59,355"}, ["Ange både latitud och longitud, eller ingen av dem."]),
        ({"lat": "95", "lon": "17.88"}, ["Ange ett tal från -90 till 90."]),
        ({"lat": "59.355", "lon": "öster"}, ["Ange ett tal från -180 till 180."]),
        ({"place_id": "1", "description": "x" * 501}, ["Högst 500 tecken."]),
        # A point in Uppsala, 60 km away, is not at Råcksta (lat and lon mixed up, say).
        ({"place_id": "1", "lat": "59.86", "lon": "17.64"}, ["km från Råcksta"]),
    ],
)
def test_form_says_what_is_wrong_in_swedish_and_stores_nothing(
    client, db, places, values, messages
):
    token = login(client, make_user(db, "partner"))
    response = client.post("/events/new", data=form_data(token, **values))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Rätta till de markerade fälten." in html
    for message in messages:
        assert message in html
    assert event_rows(db) == []


def test_a_point_alone_finds_the_place_and_takes_a_decimal_comma(client, db, places):
    token = login(client, make_user(db, "walk_leader"))
    data = form_data(token, lat="59,362", lon="17,871")
    assert client.post("/events/new", data=data).status_code == 303
    (event,) = event_rows(db)
    assert (event["place_id"], event["lat"], event["lon"]) == (places["vallingby"], 59.362, 17.871)


def test_engineers_and_residents_cannot_reach_events(app, client, db, places):
    party = insert_party(db, "Parkförvaltningen", "park")
    from fieldwalk.auth import create_user

    create_user(db, "eva@example.se", "engineer", "Eva", "correct horse battery", party_id=party)
    engineer = app.test_client()
    login(engineer, {"email": "eva@example.se", "password": "correct horse battery"})
    resident = app.test_client()
    join(resident, make_walk(db, places["racksta"]))
    for path in ("/events", "/events/new", "/events/import", "/events.csv"):
        assert engineer.get(path).status_code == 403
        assert resident.get(path).status_code == 302  # to the login page


# --- the list ----------------------------------------------------------------------------------


def test_list_filters_by_place_type_source_and_dates(client, db, places):
    r, v = places["racksta"], places["vallingby"]
    make_event(db, r, occurred_at="2026-11-16T10:00:00Z", description="Ett")
    make_event(db, v, occurred_at="2026-11-17T10:00:00Z", type="violence", description="Två")
    make_event(db, r, occurred_at="2026-11-18T23:30:00Z", source="staff", description="Tre")
    login(client, make_user(db, "partner"))

    def shown(query: str) -> list[str]:
        html = client.get(f"/events?{query}").get_data(as_text=True)
        return re.findall(r"<p>(Ett|Två|Tre)</p>", html)

    assert shown("") == ["Tre", "Två", "Ett"]
    assert shown(f"place={r}") == ["Tre", "Ett"]
    assert shown("type=violence") == ["Två"]
    assert shown("source=staff") == ["Tre"]
    # Dates are Stockholm days: 23:30Z on the 18th is 00:30 on the 19th in Stockholm.
    assert shown("from=2026-11-17&to=2026-11-18") == ["Två"]
    assert shown("from=2026-11-19") == ["Tre"]


def test_a_bad_filter_is_named_in_swedish(client, db, places):
    login(client, make_user(db, "partner"))
    response = client.get("/events?type=robbery&from=igår&place=x")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Typ: Välj i listan." in html
    assert "Från: Skriv datumet som ÅÅÅÅ-MM-DD." in html
    download = client.get("/events.csv?type=robbery")
    assert download.status_code == 400
    assert "Typ: Välj i listan." in download.get_data(as_text=True)


def test_the_list_pages_fifty_at_a_time(client, db, places):
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    for n in range(51):
        make_event(
            db, places["racksta"], occurred_at=start + timedelta(hours=n), description=f"n{n}"
        )
    login(client, make_user(db, "partner"))
    first = client.get("/events").get_data(as_text=True)
    second = client.get("/events?page=2").get_data(as_text=True)
    assert "51 händelser" in first and "Sida 1 av 2" in first
    assert "<p>n50</p>" in first and "<p>n0</p>" not in first
    assert re.findall(r"<p>n\d+</p>", second) == ["<p>n0</p>"]


def test_csv_export_follows_the_filters_and_neutralises_formulas(client, db, places):
    make_event(db, places["racksta"], description='=HYPERLINK("http://x")')
    make_event(db, places["vallingby"], description="Annat")
    login(client, make_user(db, "partner"))
    response = client.get(f"/events.csv?place={places['racksta']}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert len(rows) == 2
    row = dict(zip(EXPORT_COLUMNS, rows[1], strict=True))
    assert row["description"] == '\'=HYPERLINK("http://x")'
    assert (row["type_label"], row["source_label"]) == ("Narkotikaförsäljning", "Polisen")


# --- the partner ---------------------------------------------------------------------------------


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)


def test_a_partner_reaches_events_and_never_a_residents_name_or_device(app, client, db, places):
    """Everything a partner can open by following links from their home page, and every
    resident-facing address they might type, shows nothing of the resident."""
    walk = make_walk(db, places["racksta"])
    resident = app.test_client()
    join(resident, walk, name="Amina Yusuf")
    token = csrf_token(resident, f"/walks/{walk['id']}/capture")
    observation_id = str(uuid.uuid4())
    reported = resident.post(
        f"/walks/{walk['id']}/observations",
        data={
            "csrf_token": token,
            "id": observation_id,
            "category": "lighting",
            "urgent": "1",  # so the lägesbild lists it among the week's urgent items
            "description": "Mörkt vid trappan, ring mig på 070-123 45 67",
        },
    )
    assert reported.status_code == 303
    device = db.execute(
        "SELECT device_key_hash FROM observations WHERE id = ?", [observation_id]
    ).fetchone()[0]
    make_event(db, places["racksta"], description="Försäljning vid trappan.")

    login(client, make_user(db, "partner"))
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/events")
    # Every page, and a few of each page's variants (the lägesbild links each week to the
    # one before: all of them would be five years of the same page).
    seen, queue, pages, variants = set(), ["/events"], [], Counter()
    while queue:
        path = queue.pop(0)
        route = urlsplit(path).path
        if path in seen or route in ("/logout", "/lang") or variants[route] >= 4:
            continue
        seen.add(path)
        variants[route] += 1
        response = client.get(path)
        if response.status_code != 200 or "html" not in response.mimetype:
            continue
        html = response.get_data(as_text=True)
        pages.append(path)
        parser = Links()
        parser.feed(html)
        for href in parser.links:
            target = urljoin(path, href)
            if not urlsplit(target).netloc and not target.startswith("/static/"):
                queue.append(target)
    assert {"/events", "/events/new", "/events/import"} <= {urlsplit(p).path for p in pages}
    # The weekly meeting's lägesbild too, this week's (with the urgent observation) included.
    running = week_text(*shift_week(*last_complete_week(datetime.now(UTC)), 1))
    assert f"/reports/week?week={running}" in pages
    for path in pages:
        html = client.get(path).get_data(as_text=True)
        assert "Amina" not in html and "070-123" not in html and device not in html, path
    # Typed addresses of the resident's walk and observation are closed too.
    for path in (
        f"/walks/{walk['id']}",
        f"/walks/{walk['id']}/observations",
        f"/observations/{observation_id}",
        f"/api/v1/observations/{observation_id}",
        f"/api/v1/observations?walk_id={walk['id']}",
        "/api/v1/observations",
        "/dashboard",
        "/dashboard/observations.csv",
        "/reports/year",
        "/places",
    ):
        response = client.get(path)
        body = response.get_data(as_text=True)
        assert response.status_code in (401, 403, 404), path
        assert "Amina" not in body and "070-123" not in body, path


def test_create_user_makes_a_partner(runner, db):
    result = runner.invoke(
        args=[
            "create-user",
            "polis@example.se",
            "--role",
            "partner",
            "--name",
            "Erik Ström",
            "--password",
            "correct horse battery",
        ]
    )
    assert result.exit_code == 0, result.output
    row = db.execute("SELECT role, party_id FROM users WHERE email = 'polis@example.se'").fetchone()
    assert tuple(row) == ("partner", None)
