"""`seed-load`: a district's worth of made-up history, to measure the review screens against.

100,000 observations, 30,000 tasks, 200 walks and about 5 events per place and day over the
district's places and a stretch of days that grows with the observations (`history_days`:
a year for 10,000, three for 100,000, five for a million), written with executemany in a
few big transactions (rows are plain tuples, made by a
seeded random generator, so two runs with the same seed give the same database). It uses the
places already there (`seed-demo`'s) or, when there are none, inserts the demo district's
polygons itself. With `--photos N`, N of the observations get a made-up photo each, stored
as an upload is (fieldwalk/devtools/loadphotos.py). Not for a real server: the rows are
fiction.
"""

import json
import math
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlite_utils import Database

from fieldwalk.clock import STOCKHOLM
from fieldwalk.db import connect, transaction
from fieldwalk.devtools.common import point_in
from fieldwalk.devtools.demo import PLACES
from fieldwalk.devtools.demo_events import load_events
from fieldwalk.devtools.loadphotos import seed_photos
from fieldwalk.parties.model import insert_party
from fieldwalk.photos.attach import PhotoSettings
from fieldwalk.places.model import insert_place
from fieldwalk.tasks.cases import case_year
from fieldwalk.tasks.states import (
    ACCEPTED,
    DONE,
    DUPLICATE,
    IN_PROGRESS,
    NOT_OURS,
    PROPOSED,
    SENT,
    VERIFIED,
    WONT_FIX,
)

MIN_DAYS, MAX_DAYS = 365, 5 * 365


def history_days(observations: int) -> int:
    """How many days back the made-up history reaches: a year for up to 10,000 observations,
    two more for each tenfold, five years from a million (a bigger database is mostly an
    older one, as a district's grows). Never under a year: the annual follow-up's pages show
    one, and over 90 days (as it was) a small seed left three quarters of them empty, so from
    10k to 1M bench/review.py measured how much more they showed, not what the database
    held."""
    tenfolds = math.log10(max(observations, 10_000) / 10_000)
    return min(MAX_DAYS, round(MIN_DAYS * (1 + 2 * tenfolds)))


OBSERVATIONS_PER_WALK = 30


CATEGORY_WEIGHTS = {
    "lighting": 22,
    "upkeep": 18,
    "vegetation": 14,
    "graffiti": 12,
    "sightlines": 10,
    "paths": 8,
    "people": 7,
    "other": 5,
    "wayfinding": 4,
}


DESCRIPTIONS = {
    "lighting": [
        "Trasig gatlampa vid gångvägen, helt mörkt efter klockan fyra.",
        "Belysningen i gångtunneln blinkar och släcks ibland.",
        "Lampan vid busshållplatsen lyser inte.",
        "Bländande strålkastare vid parkeringen, man ser inte vem som kommer.",
    ],
    "upkeep": [
        "Överfulla papperskorgar och skräp runt bänkarna.",
        "Kanyler och glassplitter i sandlådan.",
        "Nedskräpning vid återvinningsstationen.",
        "Trasiga kartonger och sopsäckar bakom butikerna.",
    ],
    "vegetation": [
        "Buskaget skymmer sikten mot gångvägen och behöver klippas.",
        "Träd hänger ner över belysningen så att det blir mörkt.",
        "Igenvuxen slänt där man inte ser vem som står där.",
    ],
    "graffiti": [
        "Klotter på betongväggen vid tunnelbanans uppgång.",
        "Krossat glas i busskuren.",
        "Sönderslagen bänk och nedklottrat elskåp.",
    ],
    "sightlines": [
        "Skymd hörna vid garagenedfarten, man ser inte om någon står där.",
        "Nischen vid entrén används som gömställe.",
        "Ingen sikt genom gångtunneln, man ser inte utgången.",
    ],
    "paths": [
        "Ojämn gångväg med stora hål, svårt med rullator.",
        "Trasigt räcke vid trappan ner mot parkeringen.",
        "Smal passage utan alternativ väg ut.",
    ],
    "people": [
        "Torget töms helt när butikerna stänger.",
        "Grupper som samlas vid entrén på kvällen, flera känner sig otrygga.",
        "Ingen rör sig här efter mörkrets inbrott.",
    ],
    "other": [
        "Övergiven cykel och bråte vid cykelstället.",
        "Hundar lösa på lekplatsen.",
        "Ljud från byggarbetsplatsen sent på kvällen.",
    ],
    "wayfinding": [
        "Skylten mot tunnelbanan saknas.",
        "Svårt att hitta rätt uppgång, skyltarna är bortvända.",
    ],
}


WORKS_WELL = [
    "Nya belysningen känns bra, jämnt ljus.",
    "Klippta buskar, nu ser man hela vägen fram.",
    "Trevligt och välstädat torg med folk i rörelse.",
]


PARTIES = [
    ("Trafikkontoret", "traffic"),
    ("Park- och naturenheten, Hässelby-Vällingby", "park"),
    ("Svenska Bostäder", "property_owner"),
    ("Familjebostäder", "property_owner"),
    ("Region Stockholm, trafikförvaltningen", "transit"),
    ("Trygghetsenheten, stadsdelsförvaltningen", "security"),
    ("Polisen, lokalpolisområde Västerort", "police"),
]


# How tasks stand, by share: most old ones are closed, some still open.
STATE_WEIGHTS = {
    PROPOSED: 8,
    SENT: 12,
    ACCEPTED: 8,
    IN_PROGRESS: 9,
    DONE: 26,
    VERIFIED: 18,
    NOT_OURS: 6,
    WONT_FIX: 7,
    DUPLICATE: 6,
}


def iso(moment: datetime) -> str:
    """A UTC instant as the `*_at` columns store it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def later(moment: datetime, delay: timedelta, now: datetime) -> datetime:
    """`delay` after `moment`, or halfway to `now` when that would be in the future."""
    return moment + min(delay, (now - moment) / 2)


def evening(rng: random.Random, day: date) -> datetime:
    """A moment on `day`, mostly in the afternoon and evening, local time."""
    hour = min(23, max(6, int(rng.gauss(17.5, 3.5))))
    return datetime(
        day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60)
    ).replace(tzinfo=STOCKHOLM)


def ensure_places(db: Database) -> list[dict]:
    """The district's places; the demo district's polygons are inserted when there are none."""
    if not db.execute("SELECT 1 FROM places LIMIT 1").fetchone():
        for spec in PLACES:
            insert_place(
                db, spec["slug"], spec["name"], spec["geometry"], spec["description"], spec["kind"]
            )
    return [
        {
            "id": row["id"],
            "name": row["name"],
            "geometry": json.loads(row["geometry"]),
            "box": (row["min_lat"], row["min_lon"], row["max_lat"], row["max_lon"]),
        }
        for row in db.execute("SELECT * FROM places ORDER BY id")
    ]


def ensure_parties(db: Database) -> list[int]:
    """The parties tasks go to; a plausible set is added when there are none."""
    if not db.execute("SELECT 1 FROM parties LIMIT 1").fetchone():
        for name, kind in PARTIES:
            insert_party(db, name, kind)
    return [row[0] for row in db.execute("SELECT id FROM parties ORDER BY id")]


def seed_load(
    db: Database,
    *,
    observations: int = 100_000,
    tasks: int = 30_000,
    walks: int = 200,
    seed: int = 1,
    now: datetime | None = None,
    events_per_day: float = 5,
    days: int | None = None,
) -> dict[str, int]:
    """Fill the database with made-up walks, observations, tasks and events (about
    `events_per_day` per place and day) over the last `days` (default: `history_days`);
    return the counts added."""
    rng = random.Random(seed)
    days = days or history_days(observations)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    today = now.astimezone(STOCKHOLM).date()
    places = ensure_places(db)
    parties = ensure_parties(db)
    categories = list(CATEGORY_WEIGHTS)
    weights = list(CATEGORY_WEIGHTS.values())
    stamp = iso(now)

    first_walk = (db.execute("SELECT max(id) FROM walks").fetchone()[0] or 0) + 1
    walk_rows, walk_specs = [], []
    for n in range(walks):
        place = rng.choice(places)
        start = evening(rng, today - timedelta(days=rng.randrange(days)))
        walk_id = first_walk + n
        state = "finished" if start < now else "planned"
        title = f"Trygghetsvandring: {place['name'].split(':')[-1].strip()}"
        walk_rows.append(
            (
                walk_id,
                place["id"],
                title,
                start.strftime("%Y-%m-%dT%H:%M"),
                state,
                f"load-{seed}-{uuid.UUID(int=rng.getrandbits(128)).hex}",
                iso(start - timedelta(days=14)),
                stamp,
            )
        )
        if start < now:
            walk_specs.append((walk_id, place, start))

    observation_rows = []
    for n in range(observations):
        on_walk = n < len(walk_specs) * OBSERVATIONS_PER_WALK
        if on_walk:
            walk_id, place, start = walk_specs[n % len(walk_specs)]
            created = start + timedelta(seconds=rng.randrange(2 * 3600))
        else:
            walk_id, place = None, rng.choice(places)
            created = evening(rng, today - timedelta(days=rng.randrange(days)))
        if created > now:
            created = now - timedelta(seconds=rng.randrange(86400))
        category = rng.choices(categories, weights)[0]
        works_well = rng.random() < 0.08
        text = rng.choice(WORKS_WELL if works_well else DESCRIPTIONS[category])
        lat, lon = point_in(rng, place["geometry"], place["box"])
        created_at = iso(created)
        observation_rows.append(
            (
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                walk_id,
                place["id"],
                category,
                int(works_well),
                text,
                5 if works_well else rng.choice((1, 2, 2, 3, 3, 4)),
                int(not works_well and rng.random() < 0.05),
                lat,
                lon,
                round(rng.uniform(3, 30), 1),
                created_at,
                f"{rng.getrandbits(256):064x}",
                created_at,
                created_at,
                created_at,  # observed: the phone's time, here the same as receipt
            )
        )

    # Rows reach a real database in the order they happen; so they do here.
    observation_rows.sort(key=lambda row: row[11])
    problems = [row for row in observation_rows if not row[4]]
    chosen = rng.sample(problems, min(tasks, len(problems)))
    chosen.sort(key=lambda row: row[11])  # by time, so ids grow with created_at
    first_task = (db.execute("SELECT max(id) FROM tasks").fetchone()[0] or 0) + 1
    states, state_weights = list(STATE_WEIGHTS), list(STATE_WEIGHTS.values())
    task_rows, links = [], []
    for n, obs in enumerate(chosen):
        task_id = first_task + n
        observed = datetime.fromisoformat(obs[11].replace("Z", "+00:00"))
        created = later(observed, timedelta(hours=rng.uniform(1, 240)), now)
        age_days = (now - created).days
        state = rng.choices(states, state_weights)[0]
        if age_days < 14 and state in (DONE, VERIFIED) and rng.random() < 0.6:
            state = rng.choice((SENT, ACCEPTED))
        party = None if state == PROPOSED and rng.random() < 0.4 else rng.choice(parties)
        due = (created + timedelta(days=rng.choice((14, 30, 30, 60)))).date().isoformat()
        sent_at = done_at = verified_at = None
        if state != PROPOSED:
            sent_at = later(created, timedelta(hours=rng.uniform(1, 72)), now)
        if state in (DONE, VERIFIED):
            done_at = later(sent_at, timedelta(days=rng.expovariate(1 / 20)), now)
        if state == VERIFIED:
            verified_at = later(done_at, timedelta(days=rng.uniform(1, 14)), now)
        duplicate_of = rng.randrange(first_task, task_id) if state == DUPLICATE and n else None
        if state == DUPLICATE and duplicate_of is None:
            state = WONT_FIX
        priority = "urgent" if obs[7] else rng.choices(("low", "normal", "high"), (2, 7, 1))[0]
        updated = max(x for x in (created, sent_at, done_at, verified_at) if x is not None)
        task_rows.append(
            (
                task_id,
                obs[1],
                obs[2],
                f"Åtgärda: {obs[5]}",
                party,
                priority,
                due,
                state,
                duplicate_of,
                "Inte vår mark." if state == NOT_OURS else None,
                obs[8],
                obs[9],
                iso(created),
                iso(updated),
                iso(sent_at) if sent_at else None,
                iso(done_at) if done_at else None,
                iso(verified_at) if verified_at else None,
            )
        )
        links.append((task_id, obs[0]))

    task_rows = with_case_numbers(db, task_rows)
    with transaction(db):
        db.conn.executemany(
            """INSERT INTO walks (id, place_id, title, starts_at, state, invite_token,
                   created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            walk_rows,
        )
    with transaction(db):
        db.conn.executemany(
            """INSERT INTO observations (id, walk_id, place_id, category, works_well,
                   description, feeling, urgent, lat, lon, accuracy_m, location_source,
                   captured_at, body_hash, created_at, updated_at, observed_at, observed_source)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'device', ?, ?, ?, ?, ?, 'device')""",
            observation_rows,
        )
    with transaction(db):
        db.conn.executemany(
            """INSERT INTO tasks (id, walk_id, place_id, measure, party_id, priority, due_date,
                   state, duplicate_of, state_note, lat, lon, created_at, updated_at, sent_at,
                   done_at, verified_at, case_year, case_seq)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            task_rows,
        )
        db.conn.executemany(
            "INSERT INTO task_observations (task_id, observation_id) VALUES (?, ?)", links
        )
    events = load_events(db, places, days=days, per_day=events_per_day, seed=seed, now=now)
    return {
        "walks": len(walk_rows),
        "observations": len(observation_rows),
        "tasks": len(task_rows),
        "events": events,
    }


def with_case_numbers(db: Database, task_rows: list[tuple]) -> list[tuple]:
    """Each task row with its case number (year, number), numbered per Stockholm year in
    the order the tasks were created, after the numbers the database already holds."""
    counters = dict(
        db.execute("SELECT case_year, max(case_seq) FROM tasks GROUP BY case_year").fetchall()
    )
    numbered = {}
    for row in sorted(task_rows, key=lambda r: (r[12], r[0])):  # created_at, id
        year = case_year(row[12])
        counters[year] = (counters.get(year) or 0) + 1
        numbered[row[0]] = (*row, year, counters[year])
    return [numbered[row[0]] for row in task_rows]


@click.command("seed-load")
@click.option("--observations", default=100_000, show_default=True, help="How many.")
@click.option("--tasks", default=None, type=int, help="How many (default: 30% of observations).")
@click.option("--walks", default=200, show_default=True, help="How many.")
@click.option("--events-per-day", default=5.0, show_default=True, help="Per place, on average.")
@click.option("--seed", default=1, show_default=True, help="Random seed: same seed, same rows.")
@click.option("--append", is_flag=True, help="Add to a database that has observations already.")
@click.option("--days", default=None, type=int, help="How far back (default: grows with N).")
@click.option(
    "--photos",
    default=0,
    show_default=True,
    help="How many observations get a made-up photo (about 45 ms each).",
)
@with_appcontext
def seed_load_command(
    observations: int,
    tasks: int | None,
    walks: int,
    events_per_day: float,
    seed: int,
    append: bool,
    days: int | None,
    photos: int,
) -> None:
    """Fill the database with made-up observations, tasks and walks, for benchmarks.

    Example: flask --app app seed-load --observations 100000
    """
    import time

    db = connect(current_app.config["DATABASE_PATH"])
    try:
        if not append and db.execute("SELECT 1 FROM observations LIMIT 1").fetchone():
            raise click.ClickException(
                "The database has observations already; seed-load is for an empty one "
                "(--append to add made-up rows anyway)."
            )
        started = time.perf_counter()
        counts = seed_load(
            db,
            observations=observations,
            tasks=math.floor(observations * 0.3) if tasks is None else tasks,
            walks=walks,
            seed=seed,
            events_per_day=events_per_day,
            days=days,
        )
        counts["photos"] = seed_photos(
            db,
            Path(current_app.config["PHOTO_PATH"]),
            PhotoSettings.from_config(current_app.config),
            photos,
            seed,
            progress=lambda n: click.echo(f"{n} photos stored..."),
        )
    finally:
        db.close()
    took = time.perf_counter() - started
    click.echo(
        f"Added {counts['observations']} observations, {counts['tasks']} tasks, "
        f"{counts['walks']} walks, {counts['events']} events and {counts['photos']} photos "
        f"in {took:.1f} s."
    )


def init_app(app: Flask) -> None:
    """Register `seed-load`."""
    app.cli.add_command(seed_load_command)
