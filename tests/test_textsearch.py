"""Text search from the trigram index (fieldwalk/textsearch.py): it finds a piece of text in
any case, keeps the rows it should after every kind of write (and equals a rebuild), its keys'
copies of the rows' filter columns follow every write too, the list reads the same rows from
the index or from the rows, and the map's clusters and the counts made from the index's keys
(with or without other filters) are those of the rows it keeps."""

import json
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import (
    add_observation_row,
    add_task_row,
    city_point,
    login,
    make_place,
    make_user,
    some_row,
)

from fieldwalk import textsearch
from fieldwalk.categories import CATEGORIES
from fieldwalk.dashboard import mapdata, views
from fieldwalk.dashboard.filters import Filters, local_today, parse_filters
from fieldwalk.db import transaction
from fieldwalk.parties.model import insert_party
from fieldwalk.tasks.states import OPEN_STATES, STATES

WORDS = ["Trasig gatlampa", "Buskar skymmer sikten", "Klotter på ÖVERGIVEN kiosk",
         "gångvägen är mörk", "Ingen belysning", "Lampa VID Åkermyntans centrum",
         'Skylt med "citat" och 50% rabatt_kod', ""]  # fmt: skip
QUERIES = ["lampa", "LAMPA", "övergiven", "ÖVERGIVEN", "gång", "GÅNG", "lampa vid",
           "åkermyntan", '"citat"', "50%", "t_k", "zzz", "å", "Å", "vi", "%"]  # fmt: skip
TEXT = {"observations": ("rowid", "description"), "tasks": ("id", "measure")}


def found(db, kind: str, query: str, scan: bool = False) -> set[int]:
    """The rows the search keeps, by its own condition."""
    key, _column = TEXT[kind]
    condition, params = textsearch.condition(kind, "r", query, scan=scan)
    sql = f"SELECT r.{key} FROM {kind} r WHERE {condition}"  # noqa: S608
    return {row[0] for row in db.execute(sql, params)}


def holding(db, kind: str, query: str) -> set[int]:
    """The rows whose text holds `query` in any case, by Python."""
    key, column = TEXT[kind]
    rows = db.execute(f"SELECT {key}, {column} FROM {kind}").fetchall()  # noqa: S608
    return {row for row, text in rows if query.lower() in text.lower()}


def keys(db, kind: str) -> dict[int, tuple]:
    """Per row, what its key says: (latitude step, longitude step, urgent, open, category
    code), or None for a row with no position."""
    said = {}
    for key, row in db.execute(f"SELECT key, row FROM {kind.rstrip('s')}_text_keys"):  # noqa: S608
        if key < 0:
            assert key in (-row, textsearch.OVERFLOW - row)
            said[row] = None if key == -row else "full"
        else:
            steps = (
                key >> 41, (key >> 19) & (2**22 - 1), (key >> 18) & 1, (key >> 17) & 1,
                (key >> 13) & 15,
            )  # fmt: skip
            said[row] = steps
    return said


def positions(db, kind: str) -> dict[int, tuple | None]:
    """Per row, what its key should say, worked out here from the rows and the links."""
    key, _column = TEXT[kind]
    urgent = "urgent != 0" if kind == "observations" else "priority = 'urgent'"
    category = "category" if kind == "observations" else "NULL"
    opened = {
        row[0]
        for row in db.execute(
            f"""SELECT {"x.rowid" if kind == "observations" else "z.id"} FROM task_observations y
                JOIN tasks z ON z.id = y.task_id JOIN observations x ON x.id = y.observation_id
                WHERE z.state IN ({", ".join("?" * len(OPEN_STATES))})""",  # noqa: S608
            OPEN_STATES,
        )
    }
    if kind == "tasks":  # a task is open by its own state, linked or not
        opened = {
            row[0] for row in db.execute("SELECT id, state FROM tasks") if row[1] in OPEN_STATES
        }
    sql = f"SELECT {key}, lat, lon, {urgent}, {category} FROM {kind}"  # noqa: S608
    codes = {name: 1 + i for i, name in enumerate(CATEGORIES)}  # a task's key has none
    return {
        row: None
        if lat is None or lon is None
        else (
            int((lat + 90) / 180 * 2**22),
            int((lon + 180) / 360 * 2**22),
            int(is_urgent),
            int(row in opened),
            codes.get(category, 0),
        )
        for row, lat, lon, is_urgent, category in db.execute(sql)
    }


def copies(db, kind: str) -> dict[int, tuple]:
    """Per row, what its key's row holds of it and its linked rows (textsearch.COPIES and
    LINKED; the parties as a set)."""
    columns = ", ".join((*textsearch.COPIES[kind], *textsearch.LINKED[kind]))
    table = f"{kind.rstrip('s')}_text_keys"
    said = {}
    for row in db.execute(f"SELECT row, {columns} FROM {table}"):  # noqa: S608
        values = list(row[1:])
        if kind == "observations":
            values[-1] = None if values[-1] is None else frozenset(values[-1].strip(",").split(","))
        said[row[0]] = tuple(values)
    return said


def copies_of_rows(db, kind: str) -> dict[int, tuple]:
    """The same, worked out here from the rows and the links."""
    key = TEXT[kind][0]
    columns = ", ".join(textsearch.COPIES[kind])
    rows = db.execute(f"SELECT {key}, id, {columns} FROM {kind}").fetchall()  # noqa: S608
    links = db.execute(
        """SELECT y.observation_id, y.task_id, x.category, t.state, t.due_date, t.party_id
           FROM task_observations y JOIN tasks t ON t.id = y.task_id
           JOIN observations x ON x.id = y.observation_id"""
    ).fetchall()
    said = {}
    for row in rows:
        mine = [link for link in links if link[0 if kind == "observations" else 1] == row[1]]
        if kind == "tasks":
            categories = sum({1 << list(CATEGORIES).index(link[2]) for link in mine})
            said[row[0]] = (*row[2:], categories)
            continue
        states = sum({1 << STATES.index(link[3]) for link in mine})
        dues = [link[4] for link in mine if link[3] in OPEN_STATES and link[4] is not None]
        parties = frozenset(str(link[5] or 0) for link in mine) or None
        said[row[0]] = (*row[2:], states, min(dues, default=None), parties)
    return said


def assert_index_exact(db) -> None:
    """Every row has one key that says where it lies and copies what its filters ask, every
    search keeps the rows whose text holds it (from the index and from the rows alike), and
    a rebuild says the same."""
    for kind in TEXT:
        said = keys(db, kind)
        assert said == positions(db, kind)
        assert copies(db, kind) == copies_of_rows(db, kind)
        for query in QUERIES:
            assert found(db, kind, query) == found(db, kind, query, scan=True)
            assert found(db, kind, query) == holding(db, kind, query), query
    before = {(kind, q): found(db, kind, q) for kind in TEXT for q in QUERIES}
    db.execute("BEGIN")
    textsearch.rebuild(db)
    after = {(kind, q): found(db, kind, q) for kind in TEXT for q in QUERIES}
    rebuilt = {kind: (keys(db, kind), copies(db, kind)) for kind in TEXT}
    db.execute("ROLLBACK")
    assert after == before
    assert rebuilt == {kind: (keys(db, kind), copies(db, kind)) for kind in TEXT}
    for table in textsearch.FTS.values():
        db.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 0)")  # noqa: S608


STOCKHOLM = ZoneInfo("Europe/Stockholm")


def test_a_search_finds_a_piece_of_text_in_any_case(db):
    rows = [add_observation_row(db, None, "2026-11-02T10:00:00Z", description=w) for w in WORDS]
    rowid = {
        db.execute("SELECT rowid FROM observations WHERE id = ?", [r]).fetchone()[0]: w
        for r, w in zip(rows, WORDS, strict=True)
    }

    def texts(query):
        return {rowid[row] for row in found(db, "observations", query)}

    assert texts("gatlampa") == {"Trasig gatlampa"}
    assert texts("LAMPA vid") == {"Lampa VID Åkermyntans centrum"}
    assert texts("åkermyntans") == texts("ÅKERMYNTANS") == {"Lampa VID Åkermyntans centrum"}
    assert texts("övergiven") == {"Klotter på ÖVERGIVEN kiosk"}
    assert texts('"citat"') == texts("50%") == texts("t_k") == {WORDS[6]}
    assert texts("rabatt%") == texts("t_x") == set()  # no wildcards
    # Shorter than a trigram: from the rows, in any case all the same.
    assert texts("Å") == texts("å") == {WORDS[2], WORDS[3], WORDS[5]}
    assert texts("%") == {WORDS[6]}
    assert_index_exact(db)


def test_the_index_follows_every_write(db):
    """Rows are added, written over, moved (to no position and back), made urgent, given
    another category, place, time, state, party or due date, linked and unlinked, and
    deleted at random; after each round the index keeps what the rows say."""
    rng = random.Random(51)
    place = make_place(db)
    other_place = make_place(db, slug="vallingby", name="Vällingby")
    parties = [insert_party(db, "Parkingenjörerna"), insert_party(db, "Trafikkontoret")]

    def some(kind: str):
        key = TEXT[kind][0]
        rows = [r[0] for r in db.execute(f"SELECT {key} FROM {kind} ORDER BY {key}")]  # noqa: S608
        return rng.choice(rows) if rows else None

    for _round in range(8):
        for _i in range(60):
            lat, lon = city_point(rng) if rng.random() < 0.8 else (None, None)
            if rng.random() < 0.2:  # many at one spot
                lat, lon = 59.3601, 17.8702
            word = rng.choice(WORDS)
            action = rng.choice(
                ["o+", "o+", "o+", "t+", "t+", "text", "move", "urgent", "o-", "t-", "link", "link", "link", "link",
                 "unlink", "state", "state", "party", "due", "category", "facts"]
            )  # fmt: skip
            observation, task = some("observations"), some("tasks")
            if action == "o+":
                add_observation_row(
                    db, place, "2026-11-02T10:00:00Z", description=word, lat=lat, lon=lon,
                    urgent=rng.random() < 0.3,
                )  # fmt: skip
            elif action == "t+":
                add_task_row(
                    db, place, "proposed", "2026-11-02T10:00:00Z", measure=word, lat=lat,
                    lon=lon, priority=rng.choice(["normal", "urgent"]),
                )  # fmt: skip
            elif action == "text" and observation and task:
                db.execute(
                    "UPDATE observations SET description = ? WHERE rowid = ?", [word, observation]
                )
                db.execute("UPDATE tasks SET measure = ? WHERE id = ?", [word, task])
            elif action == "move" and observation and task:
                db.execute(
                    "UPDATE observations SET lat = ?, lon = ? WHERE rowid = ?",
                    [lat, lon, observation],
                )
                db.execute("UPDATE tasks SET lat = ?, lon = ? WHERE id = ?", [lat, lon, task])
            elif action == "urgent" and observation and task:
                db.execute(
                    "UPDATE observations SET urgent = 1 - urgent WHERE rowid = ?", [observation]
                )
                db.execute(
                    """UPDATE tasks SET priority = CASE priority WHEN 'urgent' THEN 'normal'
                       ELSE 'urgent' END WHERE id = ?""", [task],
                )  # fmt: skip
            elif action == "link" and observation and task:
                db.execute(
                    """INSERT OR IGNORE INTO task_observations (task_id, observation_id)
                       SELECT ?, id FROM observations WHERE rowid = ?""",
                    [task, observation],
                )
            elif action == "unlink":
                link = some_row(db, rng, "task_observations")
                db.execute("DELETE FROM task_observations WHERE rowid = ?", [link])
            elif action == "state" and task:
                db.execute("UPDATE tasks SET state = ? WHERE id = ?", [rng.choice(STATES), task])
            elif action == "party" and task:
                party = rng.choice([None, *parties])
                db.execute("UPDATE tasks SET party_id = ? WHERE id = ?", [party, task])
            elif action == "due" and task:
                due = rng.choice([None, "2026-11-20", "2026-12-24"])
                db.execute("UPDATE tasks SET due_date = ? WHERE id = ?", [due, task])
            elif action == "category" and observation:
                category = rng.choice(["lighting", "graffiti", "vegetation"])
                db.execute(
                    "UPDATE observations SET category = ? WHERE rowid = ?", [category, observation]
                )
            elif action == "facts" and observation and task:
                db.execute(
                    """UPDATE observations SET category = ?, place_id = ?, observed_at = ?
                       WHERE rowid = ?""",
                    [rng.choice(["lighting", "graffiti"]), rng.choice([place, other_place]),
                     rng.choice(["2026-10-01T08:00:00Z", "2026-11-03T19:30:00Z"]), observation],
                )  # fmt: skip
                db.execute(
                    "UPDATE tasks SET place_id = ?, created_at = ? WHERE id = ?",
                    [rng.choice([place, other_place, None]), "2026-11-04T07:00:00Z", task],
                )
            elif action == "o-" and observation:
                db.execute("DELETE FROM observations WHERE rowid = ?", [observation])
            elif action == "t-" and task:
                db.execute("DELETE FROM tasks WHERE id = ?", [task])
            for kind in TEXT:  # what the keys hold, after every write
                assert copies(db, kind) == copies_of_rows(db, kind), action
        assert_index_exact(db)
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] > 20
    linked = "SELECT count(*), count(DISTINCT states) FROM observation_text_keys WHERE states"
    assert tuple(db.execute(linked).fetchone()) >= (5, 3)


def test_a_full_step_gives_its_next_rows_to_the_rows(app, db, monkeypatch):
    """A step holds so many rows of one urgency (here 3) before the next go past it; the map
    counts them from the rows, and a rebuild gives them the same keys."""
    monkeypatch.setattr(textsearch, "NUMBERS", 3)
    textsearch.rebuild(db)
    for _i in range(5):
        add_observation_row(
            db, None, "2026-11-02T10:00:00Z", description="Trasig lampa", lat=59.36, lon=17.87
        )
    assert sorted(keys(db, "observations").values(), key=str).count("full") == 2
    for box in (None, (17.8, 59.3, 17.9, 59.4)):
        view = mapdata.View(box=box, zoom=None if box is None else 14)
        with app.app_context():
            answer = mapdata.map_answer(
                db, Filters(q="lampa"), view, "2026-11-02", ZoneInfo("Europe/Stockholm"), 0
            )
        assert json.loads(answer)["clusters"]["count"] == [5]
    before = keys(db, "observations")
    textsearch.rebuild(db)
    assert keys(db, "observations") == before


@pytest.fixture
def worded_city(db):
    """300 observations and 150 tasks over the city, a third of them about a lamp."""
    with transaction(db):  # one commit, not one per row (the triggers run the same)
        rng = random.Random(8)
        place = make_place(db)
        for i in range(300):
            lat, lon = city_point(rng)
            add_observation_row(
                db, place, "2026-11-02T10:00:00Z", description=rng.choice(WORDS), lat=lat, lon=lon,
                urgent=i % 5 == 0,
            )  # fmt: skip
        for i in range(150):
            lat, lon = city_point(rng)
            add_task_row(
                db, place, "proposed", "2026-11-02T10:00:00Z", measure=rng.choice(WORDS), lat=lat,
                lon=lon, priority="urgent" if i % 4 == 0 else "normal",
            )  # fmt: skip
    return place


def assert_clusters_alike(fast: dict, exact: dict) -> None:
    """The same clusters (count and urgent), each mean within a step of the index (about
    5 m) of the points' own."""
    a, b = fast["clusters"], exact["clusters"]
    left = sorted(zip(a["count"], a["urgent"], a["lat"], a["lon"], strict=True))
    right = sorted(zip(b["count"], b["urgent"], b["lat"], b["lon"], strict=True))
    assert len(left) == len(right)
    for cluster in left:
        match = next(
            c for c in right
            if c[:2] == cluster[:2] and abs(c[2] - cluster[2]) <= 3 and abs(c[3] - cluster[3]) <= 5
        )  # fmt: skip
        right.remove(match)


@pytest.mark.parametrize("kind", ["all", "observations", "tasks"])
@pytest.mark.parametrize("zoom", [None, 11, 14])
def test_a_map_searched_by_text_is_the_clusters_of_the_rows_it_keeps(
    app, client, db, worded_city, kind, zoom
):
    """The same search with a filter that keeps every row besides is answered from the rows:
    the index's keys give the same clusters, in a box and without one."""
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 10
    box = "" if zoom is None else f"&bbox=17.7,59.2,18.2,59.5&zoom={zoom}"
    fast = client.get(f"/dashboard/map.json?q=LAMPA&kind={kind}{box}").get_json()
    exact = client.get(f"/dashboard/map.json?q=LAMPA&kind={kind}{box}&to=2100-12-31").get_json()
    assert fast["mode"] == exact["mode"] == "clusters"
    assert fast["count"] == exact["count"] > 10
    assert_clusters_alike(fast, exact)
    if zoom is None:  # the extent: the cells' means, within a cell of the points' own
        height, width = exact["cell"]
        for i, (mine, theirs) in enumerate(zip(fast["extent"], exact["extent"], strict=True)):
            assert abs(mine - theirs) <= (width if i % 2 == 0 else height)


def test_a_map_searched_by_text_reads_the_index(app, client, db, worded_city):
    """With the rows' texts changed behind the index's back, the map still says what the
    index holds: it did not read the rows."""
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 10
    before = client.get("/dashboard/map.json?q=lampa").get_json()["count"]
    db.execute("DROP TRIGGER observation_text_update")
    db.execute("UPDATE observations SET description = ''")
    assert client.get("/dashboard/map.json?q=lampa").get_json()["count"] == before
    assert holding(db, "observations", "lampa") == set()
    assert before > len(holding(db, "tasks", "lampa"))


@pytest.mark.parametrize("scan_rows", [0, 10**9])
def test_the_list_pages_through_a_search_from_the_index_or_the_rows_alike(
    app, client, db, monkeypatch, scan_rows
):
    """Newest first, page by page, with the count from the index: the same whether the list
    reads the index's hits (never scanning) or the rows in order (always)."""
    monkeypatch.setattr(views, "DENSE_ROWS", scan_rows)
    place = make_place(db)
    start = datetime(2026, 3, 1, 18, tzinfo=UTC)
    expected = []
    for i in range(130):
        word = "Trasig GATLAMPA" if i % 3 else "Buskar skymmer"
        when = (start + timedelta(hours=7 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        add_observation_row(db, place, when, description=f"{word} nr {i:03d}")
        if i % 3:
            expected.append(f"{word} nr {i:03d}")
    add_task_row(db, place, "proposed", "2026-01-02T10:00:00Z", measure="Byt gatlampan")
    login(client, make_user(db, "coordinator"))
    pages = [
        client.get(f"/dashboard?q=gatlampa&kind=observations&page={page}").get_data(as_text=True)
        for page in (1, 2)
    ]
    assert [sum(text in html for html in pages) for text in expected] == [1] * 86
    assert all(text in pages[0] for text in expected[-50:])
    tz, f = ZoneInfo("UTC"), Filters(q="gatlampa")
    with app.app_context():
        counts = views.count_matches(db, f, "2026-12-05", tz)
        first = views.list_page(db, f, 1, "2026-12-05", tz, counts=counts)
        last = views.list_page(db, f, 2, "2026-12-05", tz, counts=counts)
    assert counts == {"observations": 86, "tasks": 1}
    assert [item["description"] for item in first] == expected[::-1][:50]
    assert [item["description"] for item in last[:-1]] == expected[::-1][50:]
    assert last[-1]["kind"] == "task"


def test_the_task_list_searches_measures_in_any_case(client, db):
    add_task_row(db, None, "sent", "2026-11-02T10:00:00Z", measure="Beskär buskarna vid Åbacken")
    add_task_row(db, None, "sent", "2026-11-02T10:00:00Z", measure="Byt lampan")
    login(client, make_user(db, "coordinator"))
    html = client.get("/tasks?q=ÅBACKEN&list=all").get_data(as_text=True)
    assert "Beskär buskarna vid Åbacken" in html and "Byt lampan" not in html


def segments(db, fts: str) -> int:
    return db.execute(f"SELECT count(DISTINCT segid) FROM {fts}_idx").fetchone()[0]  # noqa: S608


def test_recount_rebuilds_the_text_index(db, runner, worded_city):
    for text in WORDS[:3]:  # a commit each: a segment each
        with transaction(db):
            add_observation_row(db, worded_city, "2026-11-03T10:00:00Z", description=text)
    assert segments(db, "observation_text") > 1
    db.execute("DELETE FROM observation_text_keys")
    db.execute("INSERT INTO task_text (task_text) VALUES ('delete-all')")
    result = runner.invoke(args=["recount"])
    assert result.exit_code == 0, result.output
    assert "text index: rebuilt, 453 row(s)" in result.output
    assert_index_exact(db)
    # Built in one segment per index, as a search reads fastest.
    assert segments(db, "observation_text") == segments(db, "task_text") == 1


@pytest.fixture
def linked_city(db):
    """400 observations of several categories, places and months (a tenth with no
    position) and 200 tasks in every state, some with a party and a due date, each fixing one
    or two of them; about a third of each about a lamp. Returns the places and the
    parties."""
    with transaction(db):  # one commit, not one per row (the triggers run the same)
        rng = random.Random(56)
        places = [make_place(db), make_place(db, slug="vallingby", name="Vällingby")]
        parties = [insert_party(db, "Parkingenjörerna"), insert_party(db, "Trafikkontoret")]
        observations = []
        for i in range(400):
            lat, lon = city_point(rng)
            if i % 10 == 3:  # a tenth with no position: a key of their own
                lat = lon = None
            when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(24 * 330))
            observations.append(
                add_observation_row(
                    db, rng.choice(places), when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    category=rng.choice(["lighting", "graffiti", "vegetation"]),
                    description=rng.choice(WORDS), lat=lat, lon=lon, urgent=i % 5 == 0,
                )
            )  # fmt: skip
        for i in range(200):
            lat, lon = city_point(rng)
            when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(24 * 330))
            task = add_task_row(
                db, rng.choice(places), rng.choice(STATES), when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                measure=rng.choice(WORDS), lat=lat, lon=lon, party_id=rng.choice([None, *parties]),
                observation_ids=rng.sample(observations, rng.choice([1, 1, 2])),
                priority="urgent" if i % 4 == 0 else "normal",
            )  # fmt: skip
            due = rng.choice([None, "2026-10-01", local_today(STOCKHOLM), "2099-12-20"])
            db.execute("UPDATE tasks SET due_date = ? WHERE id = ?", [due, task])
    return places, parties


def filtered_searches(places, parties) -> list[str]:
    return [
        "category=graffiti", "category=lighting&kind=tasks", "state=open", "state=done",
        "state=untasked", f"place={places[1]}", "from=2026-04-01&to=2026-06-30", "urgent=1",
        f"category=vegetation&state=open&place={places[0]}", f"party={parties[0]}&kind=tasks",
        "overdue=1&kind=tasks", f"party={parties[1]}", "overdue=1", "party=none",
        f"state=open&party={parties[0]}",
    ]  # fmt: skip


def searched(search: str) -> Filters:
    """The filters of a query string, with the text "lampa"."""
    f, errors = parse_filters({"q": "lampa", **dict(p.split("=") for p in search.split("&"))})
    assert not errors
    return f


def test_a_search_with_filters_counts_from_the_index_what_the_rows_say(
    app, client, db, linked_city, monkeypatch
):
    """A text search with any filter besides: the map's clusters and the dashboard's count
    from the index's keys and what they hold of the rows are those read from the rows (the
    same answers with the index's way turned off); filters they cannot answer (on an
    observation's
    tasks that one task must meet together) are read from the rows."""
    login(client, make_user(db, "coordinator"))
    app.config["MAP_POINTS_AT_MOST"] = 5
    searches = filtered_searches(*linked_city)
    tz = ZoneInfo("Europe/Stockholm")
    fast, fast_counts, indexed = {}, {}, set()
    for search in searches:
        fast[search] = client.get(f"/dashboard/map.json?q=lampa&{search}").get_json()
    with app.test_request_context():
        for search in searches:
            f = searched(search)
            fast_counts[search] = views.count_matches(db, f, local_today(tz), tz)
            if views.indexed_text(f, local_today(tz), tz) is not None:
                indexed.add(search)
    monkeypatch.setattr(mapdata, "indexed_with_bits", lambda *_args: None)
    monkeypatch.setattr(views, "indexed_with_bits", lambda *_args: None)
    monkeypatch.setattr(views, "indexed_text", lambda *_args: None)
    for search in searches:
        exact = client.get(f"/dashboard/map.json?q=lampa&{search}").get_json()
        assert fast[search]["count"] == exact["count"] > 0, search
        if exact["mode"] == "clusters":
            assert_clusters_alike(fast[search], exact)
    with app.test_request_context():
        for search in searches:
            counts = views.count_matches(db, searched(search), local_today(tz), tz)
            assert fast_counts[search] == counts, search
    # All but the one with two conditions on an observation's tasks came from the index.
    assert set(searches) - indexed == {searches[-1]}


@pytest.mark.parametrize("dense_rows", [0, 10**9])
def test_a_filter_across_the_links_counts_and_lists_from_the_keys_what_the_rows_say(
    app, db, linked_city, monkeypatch, dense_rows
):
    """Without a text: a filter on the other kind of row (an observation's tasks' state,
    party or being overdue, a task's observations' category) is counted from the running
    totals when asked alone, else from what the text index's keys hold, and the list reads
    its page row by row (dense) or from the linked rows listed once (sparse): the counts and
    pages are those of the rows."""
    tz = STOCKHOLM
    today = local_today(tz)
    searches = [s for s in filtered_searches(*linked_city) if "q=" not in s]

    def answers():
        found = {}
        with app.test_request_context():
            for search in searches:
                f, errors = parse_filters(dict(p.split("=") for p in search.split("&")))
                assert not errors
                counts = views.count_matches(db, f, today, tz)
                pages = [
                    [(item["kind"], item["key"]) for item in views.list_page(
                        db, f, page, today, tz, size=20, counts=counts
                    )]
                    for page in (1, 2)
                ]  # fmt: skip
                found[search] = (counts, pages)
        return found

    monkeypatch.setattr(views, "DENSE_ROWS", dense_rows)
    fast = answers()
    monkeypatch.setattr(views, "_counted", lambda *_args: None)
    assert answers() == fast  # from the keys, where the running totals answered above
    monkeypatch.setattr(views, "copied_where", lambda *_args: None)
    monkeypatch.setattr(views, "overdue_alone", lambda _f: False)  # no observation_due list
    monkeypatch.setattr(views, "DENSE_ROWS", 0)
    exact = answers()
    for search in searches:
        assert fast[search] == exact[search], search
        assert sum(fast[search][0].values()) > 0 and fast[search][1][0], search
