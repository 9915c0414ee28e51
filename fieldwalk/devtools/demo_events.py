"""Made-up events: a believable year at the demo district's open drug scenes, and the bulk rows
`seed-load` measures the review screens against. Fiction, never for a real server.

The demo's year follows what the district describes: most events in the evening, more at
weekends and in summer; the guards report most at the two LOV 3 squares, the field workers
at Råcksta; and when the police cleared Maltesholmstorget for two months in the spring, part
of the scene moved to Råcksta. Each day's events come from a random generator seeded with
the place and the date, under a fixed key, so seeding again adds only the days that are new.
"""

import json
import math
import random
from datetime import date, datetime, time, timedelta

from sqlite_utils import Database

from fieldwalk.clock import STOCKHOLM, stamp
from fieldwalk.db import transaction
from fieldwalk.devtools.common import demo_uuid, point_in
from fieldwalk.events.model import SOURCES, TYPES, link_event

DEMO_DAYS = 365
# Days before today that Maltesholmstorget's scene was cleared (and moved to Råcksta).
OPERATION = range(230, 170, -1)

DESCRIPTIONS = {
    "drug_dealing": (
        "Misstänkt narkotikaförsäljning vid tunnelbanans uppgång.",
        "Flera personer som langar vid bänkarna.",
        "Ungdomar tillfrågade om de ville köpa.",
        "Försäljning från bil på parkeringen.",
        "Överlämningar vid kiosken, köpare kom och gick.",
    ),
    "drug_use": (
        "Person påverkad av narkotika vid busshållplatsen.",
        "Injektion i trappuppgången.",
        "Rökning av cannabis vid lekplatsen.",
        "Personer som använder narkotika i gångtunneln.",
    ),
    "disorder": (
        "Högljudd grupp som störde förbipasserande.",
        "Bråk mellan två personer, löstes upp.",
        "Berusade personer vid entrén.",
        "Personer avvisade från gallerian.",
    ),
    "violence": (
        "Hot mot butikspersonal.",
        "Misshandel, en person till sjukhus.",
        "Knivhot, polis på plats.",
        "Hot mot ordningsvakt vid ingripande.",
    ),
    "vandalism": (
        "Krossad glasruta i busskuren.",
        "Sönderslagen belysning i gångtunneln.",
        "Nytt klotter på väggen vid uppgången.",
        "Brand i papperskorg.",
    ),
    "littering": (
        "Sprutor i buskaget, omhändertagna.",
        "Kanyler i sandlådan.",
        "Nedskräpning vid bänkarna efter kvällen.",
        "Sprutor och folie i trappan.",
    ),
    "other": (
        "Okänd person sov i trapphuset.",
        "Övergiven väska, polis tillkallad.",
        "Oro bland boende efter veckans händelser.",
    ),
}
# Per scene: events a day on average, and the weights of types and of sources.
SCENES = {
    "hasselby-strand": {
        "rate": 3.0,
        "types": {"drug_dealing": 35, "drug_use": 25, "littering": 15, "disorder": 12,
                  "violence": 5, "vandalism": 5, "other": 3},
        "sources": {"police": 35, "staff": 30, "public": 25, "guards": 10},
    },
    "hasselby-gard": {
        "rate": 2.2,
        "types": {"drug_dealing": 30, "disorder": 25, "drug_use": 15, "vandalism": 10,
                  "violence": 8, "littering": 8, "other": 4},
        "sources": {"guards": 35, "police": 30, "staff": 20, "public": 15},
    },
    "racksta": {
        "rate": 1.2,
        "types": {"drug_use": 30, "littering": 25, "drug_dealing": 20, "vandalism": 10,
                  "disorder": 8, "violence": 3, "other": 4},
        "sources": {"staff": 40, "public": 30, "police": 25, "guards": 5},
    },
    "vallingby-centrum": {
        "rate": 2.5,
        "types": {"disorder": 30, "drug_dealing": 25, "drug_use": 15, "violence": 10,
                  "vandalism": 10, "littering": 5, "other": 5},
        "sources": {"guards": 45, "police": 30, "staff": 15, "public": 10},
    },
}  # fmt: skip
WEEKDAY = (0.85, 0.85, 0.9, 0.95, 1.3, 1.45, 1.1)  # Monday first
# Who enters each source's events: the police themselves, the rest staff (the guards' weekly
# report arrives as a file the coordinator imports).
ENTERED_BY = {"police": "partner", "guards": "coordinator", "staff": "walk_leader"}
INSERT = """INSERT INTO events (occurred_at, place_id, lat, lon, type, source, description,
                created_by, created_at, import_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth's method; the means here are small)."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def evening(rng: random.Random, day: date) -> datetime:
    """A local moment on `day`: mostly the evening, some of the small hours."""
    late = rng.random() < 0.12
    hour = rng.randrange(0, 3) if late else min(23, max(8, round(rng.gauss(19, 3))))
    return datetime.combine(day, time(hour, rng.randrange(60)), STOCKHOLM)


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def day_rate(slug: str, day: date, today: date) -> float:
    """A scene's expected events on a day: season, weekday and the spring operation."""
    season = 1 + 0.35 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 196) / 365)
    rate = SCENES[slug]["rate"] * season * WEEKDAY[day.weekday()]
    if (today - day).days in OPERATION:
        rate *= {"hasselby-strand": 0.35, "racksta": 2.6}.get(slug, 1)
    return rate


def demo_event_rows(places: dict[str, dict], users: dict[str, dict], today: date) -> list[tuple]:
    """Rows for the last DEMO_DAYS days (today not included) at the scenes."""
    rows = []
    for slug, scene in SCENES.items():
        place = places.get(slug)
        if place is None:
            continue
        shape = json.loads(place["geometry"])
        box = (place["min_lat"], place["min_lon"], place["max_lat"], place["max_lon"])
        for back in range(DEMO_DAYS, 0, -1):
            day = today - timedelta(days=back)
            rng = random.Random(f"demo-events:{slug}:{day.isoformat()}")
            for n in range(poisson(rng, day_rate(slug, day, today))):
                kind = _pick(rng, scene["types"])
                source = _pick(rng, scene["sources"])
                moment = evening(rng, day)
                lat, lon = point_in(rng, shape, box) if rng.random() < 0.6 else (None, None)
                user = users.get(ENTERED_BY.get(source, "coordinator"))
                received = moment + timedelta(hours=rng.uniform(0.2, 30))
                rows.append(
                    (
                        stamp(moment),
                        place["id"],
                        lat,
                        lon,
                        kind,
                        source,
                        rng.choice(DESCRIPTIONS[kind]),
                        user["id"] if user else None,
                        stamp(min(received, datetime.combine(today, time(), STOCKHOLM))),
                        f"demo:{slug}:{day.isoformat()}:{n}",
                    )
                )
    return rows


def seed_demo_events(
    db: Database, places: dict[str, dict], users: dict[str, dict], today: date, walk: dict
) -> int:
    """The demo's year of events at the open drug scenes, and two events the finished walk's
    observations point at (idempotent); return how many events were new."""
    rows = demo_event_rows(places, users, today)
    start = datetime.fromisoformat(walk["starts_at"]).replace(tzinfo=STOCKHOLM)
    linked = [
        ("bushes", 14, "littering", "police", "Påse med sprutor i buskaget vid lekplatsen."),
        ("litter", 21, "littering", "staff", "Kanyler vid återvinningsstationen bakom torget."),
    ]
    with transaction(db):
        before = db.execute("SELECT count(*) FROM events").fetchone()[0]
        db.conn.executemany(f"{INSERT} ON CONFLICT (import_key) DO NOTHING", rows)
        for key, minutes, kind, source, text in linked:
            moment = start + timedelta(minutes=minutes + 5)
            user = users.get(ENTERED_BY[source])
            db.execute(
                f"{INSERT} ON CONFLICT (import_key) DO NOTHING",
                [
                    stamp(moment),
                    walk["place_id"],
                    None,
                    None,
                    kind,
                    source,
                    text,
                    user["id"] if user else None,
                    stamp(moment + timedelta(hours=1)),
                    f"demo:walk:{key}",
                ],
            )
            event_id = db.execute(
                "SELECT id FROM events WHERE import_key = ?", [f"demo:walk:{key}"]
            ).fetchone()[0]
            link_event(db, event_id, observation_id=demo_uuid(f"observation:{key}"))
        after = db.execute("SELECT count(*) FROM events").fetchone()[0]
    return after - before


# --- seed-load -----------------------------------------------------------------------------


def load_event_rows(
    places: list[dict], *, days: int, per_day: float, seed: int, now: datetime
) -> list[tuple]:
    """About `per_day` events per place and day over the `days` before `now`, for `seed-load`:
    places as `fieldwalk.loadgen.ensure_places` gives them. Half have a point."""
    rng = random.Random(f"load-events:{seed}")
    types, sources = list(TYPES), list(SOURCES)
    type_weights, source_weights = (30, 20, 18, 8, 10, 10, 4), (35, 25, 20, 15, 5)
    today = now.astimezone(STOCKHOLM).date()
    rows = []
    for place in places:
        for back in range(days):
            day = today - timedelta(days=back)
            for _n in range(poisson(rng, per_day)):
                moment = evening(rng, day)
                if moment > now:
                    moment = now - timedelta(minutes=rng.randrange(1, 600))
                lat, lon = (
                    point_in(rng, place["geometry"], place["box"])
                    if rng.random() < 0.5
                    else (None, None)
                )
                kind = rng.choices(types, type_weights)[0]
                rows.append(
                    (
                        stamp(moment),
                        place["id"],
                        lat,
                        lon,
                        kind,
                        rng.choices(sources, source_weights)[0],
                        rng.choice(DESCRIPTIONS[kind]),
                        None,
                        stamp(moment + timedelta(hours=rng.uniform(0.5, 48))),
                        None,
                    )
                )
    rows.sort(key=lambda row: row[0])  # stored in the order they happen, as real ones are
    return rows


def load_events(db: Database, places: list[dict], **options) -> int:
    """Insert `load_event_rows` in one transaction; return how many."""
    rows = load_event_rows(places, **options)
    with transaction(db):
        db.conn.executemany(INSERT, rows)
    return len(rows)
