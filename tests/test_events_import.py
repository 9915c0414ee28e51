"""The CSV import of events: good files, each kind of bad row, Excel's files, a second import,
the dry run, the command line and the upload page."""

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import login, make_place, make_user
from flask_babel import force_locale

from fieldwalk.events.importer import import_events
from fieldwalk.events.model import SOURCES, TYPES
from fieldwalk.events.problems import problem_message

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
VALLINGBY = {
    "type": "Polygon",
    "coordinates": [
        [[17.866, 59.360], [17.877, 59.360], [17.877, 59.365], [17.866, 59.365], [17.866, 59.360]]
    ],
}
GOOD = """time,place,lat,lon,type,source,description
2026-11-20 18:30,Råcksta,,,drug_dealing,police,Försäljning vid trappan.
2026-07-01T21:15,racksta,,,drug_use,staff,Sprutor i buskaget.
2026-11-21T17:00:00Z,,59.362,17.871,disorder,guards,"Bråk vid entrén, två personer."
2026-11-22T08:00:00+01:00,Vällingby centrum,59.3625,17.872,littering,public,
"""


@pytest.fixture
def places(db) -> dict[str, int]:
    return {
        "racksta": make_place(db, "racksta", "Råcksta: gamla torget"),
        "vallingby": make_place(db, "vallingby", "Vällingby centrum", VALLINGBY),
    }


def run(db, text: str | bytes, **options):
    data = text.encode() if isinstance(text, str) else text
    return import_events(db, data, now=NOW, **options)


def stored(db) -> list[dict]:
    return [dict(r) for r in db.execute("SELECT * FROM events ORDER BY occurred_at")]


def test_a_good_file_is_imported_row_by_row(db, places):
    user = make_user(db, "partner")
    result = run(db, GOOD, created_by=user["id"])
    assert result.ok, result.problems
    assert (result.rows, result.new, result.already, result.without_place) == (4, 4, 0, 0)
    rows = {r["description"]: r for r in stored(db)}
    summer = rows["Sprutor i buskaget."]
    assert (summer["occurred_at"], summer["place_id"]) == (
        "2026-07-01T19:15:00Z",
        places["racksta"],
    )
    winter = rows["Försäljning vid trappan."]
    assert (winter["occurred_at"], winter["type"], winter["source"]) == (
        "2026-11-20T17:30:00Z",
        "drug_dealing",
        "police",
    )
    point = rows["Bråk vid entrén, två personer."]
    assert (point["place_id"], point["lat"], point["lon"]) == (places["vallingby"], 59.362, 17.871)
    assert rows[""]["occurred_at"] == "2026-11-22T07:00:00Z"
    assert all(
        r["created_by"] == user["id"] and r["import_key"].startswith("csv:") for r in rows.values()
    )


def test_excel_semicolons_bom_crlf_swedish_headers_labels_and_decimal_commas(db, places):
    text = (
        "Tid;Plats;Lat;Lon;Typ;Källa;Beskrivning\r\n"
        "2026-11-20 18:30;gamla torget;;;Narkotikaförsäljning;Polisen;Langning vid kiosken\r\n"
        "2026-11-20 19:30;;59,3621;17,8712;våld eller hot;Ordningsvakter;Hot mot vakt\r\n"
        "2026-11-20 20:30;Vällingby centrum;;;NEDSKRÄPNING;bevakningsbolag;\r\n"
        ";;;;;;\r\n"
        ";;;;;;\r\n"
    )
    result = run(db, text.encode("utf-8-sig"))
    assert result.ok, [problem_message(p) for p in result.problems]
    assert result.rows == 3
    got = [(r["type"], r["source"], r["place_id"]) for r in stored(db)]
    assert got == [
        ("drug_dealing", "police", places["racksta"]),
        ("violence", "guards", places["vallingby"]),
        ("littering", "guards", places["vallingby"]),
    ]


def test_every_label_the_pages_show_is_accepted_in_a_file(app, db, places):
    """The file's words and the catalogue's labels cannot drift apart."""
    lines = ["typ;källa;tid;plats"]
    with app.test_request_context():
        for lang in ("sv", "en"):
            with force_locale(lang):
                for i, label in enumerate(TYPES.values()):
                    source = list(SOURCES.values())[i % len(SOURCES)]
                    lines.append(f'"{label}";"{source}";2026-11-20 1{i}:00;racksta')
    result = run(db, "\n".join(lines))
    assert result.ok, result.problems
    assert result.new == 2 * len(TYPES)
    assert {r["type"] for r in stored(db)} == set(TYPES)


BAD_ROWS = [
    ("2026-11-31 18:30,Råcksta,,,drug_use,police,", "time_format"),
    ("2026-03-29 02:30,Råcksta,,,drug_use,police,", "time_nonexistent"),
    ("2027-01-01 10:00,Råcksta,,,drug_use,police,", "time_future"),
    (",Råcksta,,,drug_use,police,", "time_missing"),
    ("2026-11-20 18:30,Blackeberg,,,drug_use,police,", "place_unknown"),
    ("2026-11-20 18:30,,95.1,17.88,drug_use,police,", "lat_range"),
    ("2026-11-20 18:30,,59.355,190,drug_use,police,", "lon_range"),
    ("2026-11-20 18:30,,59.355,öster,drug_use,police,", "lon_number"),
    ("2026-11-20 18:30,,59.355,,drug_use,police,", "point_half"),
    ("2026-11-20 18:30,,17.88,59.355,drug_use,police,", "point_outside"),  # swapped
    ("2026-11-20 18:30,Råcksta,59.86,17.64,drug_use,police,", "point_far"),
    ("2026-11-20 18:30,,,,drug_use,police,", "where_missing"),
    ("2026-11-20 18:30,Råcksta,,,robbery,police,", "type_unknown"),
    ("2026-11-20 18:30,Råcksta,,,,police,", "type_missing"),
    ("2026-11-20 18:30,Råcksta,,,drug_use,grannen,", "source_unknown"),
    ("2026-11-20 18:30,Råcksta,,,drug_use,police," + "x" * 501, "description_long"),
    ("2026-11-20 18:30,Råcksta,,,drug_use,police,Bråk, två personer", "columns"),
]


@pytest.mark.parametrize(("row", "code"), BAD_ROWS, ids=[code for _row, code in BAD_ROWS])
def test_one_bad_row_is_reported_with_its_line_and_nothing_is_imported(db, places, row, code):
    text = GOOD.splitlines()[0:3] + [row] + GOOD.splitlines()[3:]
    result = run(db, "\n".join(text) + "\n")
    assert [(p.line, p.code) for p in result.problems] == [(4, code)]
    assert stored(db) == []
    assert result.new == 0


def test_every_bad_row_is_reported_in_swedish(app, db, places):
    text = (
        "tid;plats;typ;källa;beskrivning\n"
        "2026-11-20 18:30;Råcksta;drug_use;police;Bra rad\n"
        "imorgon;Råcksta;drug_use;police;\n"
        '"2026-11-20 18:30";"Blackeberg";"rån";"polisen";"Flera\nrader"\n'
        "2026-11-20 18:30;Råcksta;drug_use;grannen;\n"
    )
    result = run(db, text)
    with app.test_request_context(headers={"Accept-Language": "sv"}):
        messages = [problem_message(p) for p in result.problems]
    assert messages == [
        "Rad 3: tiden ”imorgon” är inte ett datum och en tid (skriv som 2026-11-28 17:45).",
        "Rad 4: det finns ingen plats som heter ”Blackeberg”.",
        "Rad 4: okänd typ ”rån” (skriv någon av drug_dealing, drug_use, disorder, violence, "
        "vandalism, littering, other).",
        "Rad 6: okänd källa ”grannen” (skriv någon av police, guards, staff, public, other).",
    ]
    assert stored(db) == []


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (
            "tid;plats;typ;källa\n2026-11-20 18:30;Råcksta;drug_use;polis\n".encode("cp1252"),
            "encoding",
        ),
        (b"", "empty"),
        ("tid;plats;typ;källa\n".encode(), "empty"),
        ("tid;typ;källa\n2026-11-20 18:30;drug_use;police\n".encode(), "header_missing"),
        (
            "when;place;type;source\n2026-11-20 18:30;Råcksta;drug_use;police\n".encode(),
            "header_missing",
        ),
        ("tid;time;plats;typ;källa\n".encode(), "header_duplicate"),
    ],
)
def test_a_file_that_is_not_an_events_file_is_refused_whole(db, places, data, code):
    result = run(db, data)
    assert [p.code for p in result.problems][:1] == [code]
    assert stored(db) == []


def test_a_place_is_found_by_name_slug_or_the_part_after_a_colon_unless_two_share_it(db):
    make_place(db, "racksta", "Råcksta: gamla torget")
    make_place(db, "lov3-racksta", "LOV 3-område: Råcksta", VALLINGBY)
    make_place(db, "vallingby", "Vällingby: gamla torget", VALLINGBY)
    base = "tid;plats;typ;källa\n2026-11-20 18:30;{};drug_use;police\n"
    assert run(db, base.format("lov3-racksta"), dry_run=True).ok
    assert run(db, base.format("RÅCKSTA: Gamla torget"), dry_run=True).ok
    assert run(db, base.format("Racksta gamla torget"), dry_run=True).ok
    assert run(db, base.format("Råcksta"), dry_run=True).ok  # one place's part
    ambiguous = run(db, base.format("Gamla torget"), dry_run=True)
    assert [p.code for p in ambiguous.problems] == ["place_ambiguous"]


def test_importing_the_same_file_again_adds_nothing(db, places):
    first = run(db, GOOD)
    second = run(db, GOOD.encode("utf-8-sig"))
    assert (first.new, second.new, second.already) == (4, 0, 4)
    assert len(stored(db)) == 4


def test_identical_rows_are_events_of_their_own_and_an_overlapping_file_adds_only_the_new(
    db, places
):
    row = "2026-11-20 18:30,Råcksta,,,drug_use,police,Två sprutor"
    header = GOOD.splitlines()[0]
    twice = run(db, "\n".join([header, row, row]))
    assert twice.new == 2
    later = run(
        db, "\n".join([header, row, row, row, "2026-11-21 18:30,Råcksta,,,drug_use,police,"])
    )
    assert (later.new, later.already) == (2, 2)
    assert len(stored(db)) == 4


def test_the_dry_run_reports_and_stores_nothing(db, places):
    run(db, "\n".join(GOOD.splitlines()[:2]))  # one row in already
    result = run(db, GOOD, dry_run=True)
    assert result.ok and result.dry_run
    assert (result.rows, result.new, result.already) == (4, 3, 1)
    assert len(stored(db)) == 1
    assert [row["line"] for row in result.preview] == [2, 3, 4, 5]
    assert [row["new"] for row in result.preview] == [False, True, True, True]


def test_a_point_near_but_outside_every_place_is_kept_without_a_place(db, places):
    text = "tid;lat;lon;typ;källa\n2026-11-20 18:30;59.3585;17.8830;drug_use;police\n"
    result = run(db, text)
    assert result.ok and result.without_place == 1
    (row,) = stored(db)
    assert (row["place_id"], row["lat"]) == (None, 59.3585)


def test_other_columns_are_ignored_and_named(db, places):
    text = "id,tid,plats,typ,källa,ärende\n7,2026-11-20 18:30,Råcksta,drug_use,police,K123\n"
    result = run(db, text)
    assert result.ok and result.ignored_columns == ["id", "ärende"]


# --- the command line ----------------------------------------------------------------------------


def test_command_imports_a_file_and_a_second_run_adds_nothing(runner, db, places, tmp_path):
    path = tmp_path / "handelser.csv"
    path.write_bytes(GOOD.encode("utf-8-sig"))
    make_user(db, "partner", email="polis@example.se")
    first = runner.invoke(args=["import-events", str(path), "--user", "polis@example.se"])
    assert first.exit_code == 0, first.output
    assert "4 händelser importerades." in first.output
    again = runner.invoke(args=["import-events", str(path)])
    assert again.exit_code == 0
    assert "0 händelser importerades. 4 var redan importerade." in again.output
    assert len(stored(db)) == 4
    assert {r["created_by"] for r in stored(db)} == {
        db.execute("SELECT id FROM users WHERE email = 'polis@example.se'").fetchone()[0]
    }


def test_command_dry_run_stores_nothing(runner, db, places, tmp_path):
    path = tmp_path / "handelser.csv"
    path.write_text(GOOD)
    result = runner.invoke(args=["import-events", str(path), "--dry-run", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "Would import 4 events." in result.output
    assert stored(db) == []


def test_command_exits_1_and_lists_every_bad_row(runner, db, places, tmp_path):
    path = tmp_path / "handelser.csv"
    path.write_text(GOOD + "2026-11-20 18:30,Blackeberg,,,drug_use,police,\n,Råcksta,,,x,police,\n")
    result = runner.invoke(args=["import-events", str(path)])
    assert result.exit_code == 1
    assert "Ingenting importerades." in result.output
    assert "Rad 6: det finns ingen plats som heter ”Blackeberg”." in result.output
    assert "Rad 7: ingen tid." in result.output
    assert "Rad 7: okänd typ ”x”" in result.output
    assert stored(db) == []


def test_command_refuses_an_unknown_user(runner, db, places, tmp_path):
    path = tmp_path / "handelser.csv"
    path.write_text(GOOD)
    result = runner.invoke(args=["import-events", str(path), "--user", "nobody@example.se"])
    assert result.exit_code == 1
    assert "No user with the email nobody@example.se." in result.output
    assert stored(db) == []


# --- the upload page -----------------------------------------------------------------------------


def upload(client, token: str, data: bytes, path="/events/import"):
    return client.post(
        path, data={"csrf_token": token, "file": (io.BytesIO(data), "handelser.csv")}
    )


def confirm_token(html: str) -> str:
    return re.search(r'name="token" type="hidden" value="([^"]+)"', html).group(1)


def test_upload_checks_then_imports_on_confirmation(client, db, places):
    token = login(client, make_user(db, "partner"))
    checked = upload(client, token, GOOD.encode("utf-8-sig"))
    html = checked.get_data(as_text=True)
    assert checked.status_code == 200
    assert "4 händelser att importera." in html and "Importera 4 händelser" in html
    assert "Rad 2" in html and "Försäljning vid trappan." in html
    assert stored(db) == []
    done = client.post(
        "/events/import/confirm", data={"csrf_token": token, "token": confirm_token(html)}
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("/events")
    assert len(stored(db)) == 4
    assert "4 händelser importerades." in client.get("/events").get_data(as_text=True)
    # The file is gone once imported: confirming twice imports nothing more.
    again = client.post(
        "/events/import/confirm", data={"csrf_token": token, "token": confirm_token(html)}
    )
    assert again.status_code == 400
    assert "Den kontrollerade filen finns inte kvar." in again.get_data(as_text=True)
    assert len(stored(db)) == 4


def test_upload_of_a_bad_file_lists_every_bad_row_and_keeps_nothing(client, db, places, app):
    token = login(client, make_user(db, "coordinator"))
    bad = (
        GOOD
        + "2026-11-20 18:30,Blackeberg,,,drug_use,police,\n2026-03-29 02:30,Råcksta,,,drug_use,police,\n"
    )
    response = upload(client, token, bad.encode())
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Ingenting importerades. Rätta de här raderna i filen och försök igen:" in html
    assert "Rad 6: det finns ingen plats som heter ”Blackeberg”." in html
    assert "Rad 7: 2026-03-29 02:30 finns inte i svensk tid (klockan ställdes fram)." in html
    assert 'name="token"' not in html
    assert stored(db) == []
    assert not list((Path(app.instance_path) / "event_imports").glob("*"))


def test_a_checked_file_is_only_its_senders(app, client, db, places):
    token = login(client, make_user(db, "partner"))
    checked = confirm_token(upload(client, token, GOOD.encode()).get_data(as_text=True))
    other = app.test_client()
    other_token = login(other, make_user(db, "coordinator", email="anna@example.se"))
    response = other.post(
        "/events/import/confirm", data={"csrf_token": other_token, "token": checked}
    )
    assert response.status_code == 400
    assert stored(db) == []
    for forged in ("../../secret_key", "x" * 10, ""):
        response = client.post(
            "/events/import/confirm", data={"csrf_token": token, "token": forged}
        )
        assert response.status_code == 400
    assert stored(db) == []


def test_upload_without_csrf_is_refused(client, db, places):
    login(client, make_user(db, "partner"))
    response = client.post(
        "/events/import", data={"file": (io.BytesIO(GOOD.encode()), "handelser.csv")}
    )
    assert response.status_code == 400
    assert 'name="token"' not in response.get_data(as_text=True)


def test_upload_larger_than_the_limit_is_refused(app, client, db, places):
    app.config["MAX_EVENT_IMPORT_BYTES"] = 1024
    token = login(client, make_user(db, "partner"))
    big = GOOD + "2026-11-20 18:30,Råcksta,,,drug_use,police,Rad\n" * 40
    response = upload(client, token, big.encode())
    assert response.status_code == 413
    assert "Filen är större än 1 kB." in response.get_data(as_text=True)
    assert stored(db) == []
