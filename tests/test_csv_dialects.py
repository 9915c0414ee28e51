"""CSV in the reader's dialect: a Swedish reader gets semicolons, decimal commas and Swedish
headers (what Excel in a Swedish locale splits right on a double click), an English reader
commas and points; one Content-Type with one charset; full-width formula starts neutralised."""

import csv
import io
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from conftest import login, make_place, make_staff, make_walk

from fieldwalk.observations.model import put_observation, validate
from fieldwalk.parties.model import insert_party
from fieldwalk.spreadsheet import COMMA, SWEDISH, csv_chunks, dialect_for, neutralise
from fieldwalk.tasks.model import insert_task
from fieldwalk.tasks.states import COORDINATOR, Actor

FULL_WIDTH = ["＝1+1", "＋46 8 508 000 00", "－1", "＠SUM(A1:A2)"]


@pytest.fixture
def scene(db):
    place = make_place(db, name="＋Råcksta")
    walk = make_walk(db, place, title="Kvällsvandring")
    observations = []
    for text in ["Mörk gångväg", *FULL_WIDTH]:
        body = {"category": "lighting", "description": text, "lat": 59.35512, "lon": 17.88234}
        row, _created = put_observation(
            db, str(uuid.uuid4()), validate(dict(body, walk_id=walk["id"]), 2000, 12), walk=walk
        )
        observations.append(row)
    party = insert_party(db, "Parkförvaltningen", "park")
    insert_task(
        db,
        observation_ids=[observations[0]["id"]],
        measure='＝HYPERLINK("http://evil.example")',
        party_id=party,
        suggestion={"party_id": party},
        actor=Actor((COORDINATOR,), None, "test"),
    )
    return observations


def staff_client(app, db, language: str | None):
    client = app.test_client()
    if language:
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    login(client, make_staff(db, "coordinator", f"csv-{language}@example.se"))
    return client


def read(response, delimiter: str) -> list[list[str]]:
    assert response.status_code == 200
    assert response.headers.getlist("Content-Type") == ["text/csv; charset=utf-8"]
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf") and b"\r\n" in body
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def week_path() -> str:
    year, week, _day = datetime.now(ZoneInfo("Europe/Stockholm")).isocalendar()
    return f"/reports/week.csv?week={year}-W{week:02d}"


def test_a_swedish_reader_gets_semicolons_decimal_commas_and_swedish_headers(app, db, scene):
    client = staff_client(app, db, None)  # Swedish is the default
    rows = read(client.get("/dashboard/observations.csv"), ";")
    header = rows[0]
    assert header[:4] == ["ID", "Observerad (UTC)", "Tid från", "Mottagen (UTC)"]
    assert {"Plats", "Kategori", "Beskrivning", "Latitud", "Longitud", "Åtgärds-ID"} <= set(header)
    lamp = dict(zip(header, next(r for r in rows if "Mörk gångväg" in r), strict=True))
    assert lamp["Latitud"] == "59,35512" and lamp["Longitud"] == "17,88234"
    assert lamp["Kategori"] == "Belysning"
    assert lamp["Observerad (UTC)"].endswith("Z")  # times stay ISO 8601 UTC
    # Excel in a Swedish locale splits on ';': no cell spills over because of a comma.
    assert all(len(row) == len(header) for row in rows)
    tasks = read(client.get("/dashboard/tasks.csv"), ";")
    assert tasks[0][:7] == [
        "ID",
        "Diarienummer",
        "Skapad (UTC)",
        "Ändrad (UTC)",
        "Statuskod",
        "Status",
        "Prioritet",
    ]
    assert dict(zip(tasks[0], tasks[1], strict=True))["Part"] == "Parkförvaltningen"


def test_an_english_reader_gets_commas_points_and_the_column_codes(app, db, scene):
    client = staff_client(app, db, "en")
    rows = read(client.get("/dashboard/observations.csv"), ",")
    header = rows[0]
    assert header[:4] == ["id", "observed_at", "observed_source", "received_at"]
    lamp = dict(zip(header, next(r for r in rows if "Mörk gångväg" in r), strict=True))
    assert lamp["lat"] == "59.35512" and lamp["lon"] == "17.88234"
    assert read(client.get("/dashboard/tasks.csv"), ",")[0][0] == "id"


def test_the_chosen_language_decides_not_only_the_browser(app, db, scene):
    client = staff_client(app, db, "en")
    token = client.get("/api/v1/session").get_json()["csrf_token"]
    client.post("/lang", data={"lang": "sv", "next": "/", "csrf_token": token})
    assert read(client.get("/dashboard/observations.csv"), ";")[0][0] == "ID"


@pytest.mark.parametrize(("language", "delimiter"), [(None, ";"), ("en", ",")])
def test_the_reports_csv_follow_the_reader(app, db, scene, language, delimiter):
    client = staff_client(app, db, language)
    week = read(client.get(week_path()), delimiter)
    assert week[0][0] == ("Vecka" if language is None else "Week")
    assert all(len(row) == len(week[0]) for row in week)
    year = read(client.get(f"/reports/year.csv?year={datetime.now(UTC).year}"), delimiter)
    assert year[0][0] == ("År" if language is None else "Year")
    assert "'＋Råcksta" in {cell for row in week for cell in row}


@pytest.mark.parametrize(("language", "delimiter"), [(None, ";"), ("en", ",")])
def test_full_width_formula_starts_are_neutralised_in_every_csv(
    app, db, scene, language, delimiter
):
    client = staff_client(app, db, language)
    cells = {c for row in read(client.get("/dashboard/observations.csv"), delimiter) for c in row}
    for text in FULL_WIDTH:
        assert "'" + text in cells and text not in cells
    assert "'＋Råcksta" in cells
    cells = {c for row in read(client.get("/dashboard/tasks.csv"), delimiter) for c in row}
    assert '\'＝HYPERLINK("http://evil.example")' in cells


def test_every_csv_download_names_one_charset(app, db, scene):
    client = staff_client(app, db, "en")
    for path in ("/dashboard/observations.csv", "/dashboard/tasks.csv", week_path(), "/events.csv"):
        response = client.get(path, buffered=True)
        assert response.headers.getlist("Content-Type") == ["text/csv; charset=utf-8"], path


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠"])
def test_neutralise_covers_every_formula_start(start):
    assert neutralise(start + "1") == "'" + start + "1"
    assert neutralise("a" + start) == "a" + start
    assert neutralise(-1) == -1 and neutralise(1.5) == 1.5


def test_the_writer_writes_each_dialect():
    rows = [[1, 59.5, "a;b", "x,y", None]]
    swedish = "".join(csv_chunks(["n", "lat", "t1", "t2", "empty"], [rows], SWEDISH))
    assert swedish == '\ufeffn;lat;t1;t2;empty\r\n1;59,5;"a;b";x,y;\r\n'
    comma = "".join(csv_chunks(["n", "lat", "t1", "t2", "empty"], [rows], COMMA))
    assert comma == '\ufeffn,lat,t1,t2,empty\r\n1,59.5,a;b,"x,y",\r\n'
    assert (
        dialect_for("sv") == SWEDISH and dialect_for("en") == COMMA and dialect_for(None) == COMMA
    )
