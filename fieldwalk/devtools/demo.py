"""The demo district: Hässelby-Vällingby's places, staff, walks and observations.

`seed-demo` loads it through the same domain functions as real data (places, users, walks,
validated observations, ingested photos), idempotently: places by slug, users by email, walks
by place and title, observations and photos by fixed UUIDs. Demo staff get random passwords
that are printed, so the command refuses to run unless DEMO is on.
"""

import json
import os
import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlite_utils import Database
from werkzeug.security import check_password_hash, generate_password_hash

from fieldwalk.auth import create_user, find_user_by_email
from fieldwalk.clock import STOCKHOLM
from fieldwalk.db import connect, transaction
from fieldwalk.devtools.common import demo_uuid
from fieldwalk.devtools.demo_annual import seed_demo_annual
from fieldwalk.devtools.demo_events import seed_demo_events
from fieldwalk.devtools.demo_fixes import PARK, seed_parties, seed_tasks
from fieldwalk.devtools.demo_meeting import seed_demo_meetings
from fieldwalk.devtools.demo_photos import demo_photo
from fieldwalk.observations.model import Conflict, get_observation, validate
from fieldwalk.observations.moderation import APPROVED, review
from fieldwalk.observations.record import record_observation, record_photo
from fieldwalk.photos.attach import PhotoSettings
from fieldwalk.photos.model import get_photo
from fieldwalk.places.model import get_place, insert_place
from fieldwalk.security import ADMIN, COORDINATOR, ENGINEER, PARTNER, WALK_LEADER, hash_secret
from fieldwalk.tasks.model import tasks_for_observation
from fieldwalk.walks.model import get_walk, insert_walk, join_walk

LOGINS_FILE = "demo_logins.json"


TABLES = (
    "places", "users", "walks", "walk_participants", "observations", "photos", "parties",
    "zones", "tasks", "events", "assessments", "decisions",
)  # fmt: skip


REPORT = "Nämns i stadsdelsförvaltningens rapport om öppna drogscener 2024 (Dnr HV 2024/46)."


LOV3 = (
    "Område där polisen har beslutat att ordningsvakter får tjänstgöra enligt 3 § lagen om "
    "ordningsvakter (LOV 3-område)."
)


def _polygon(*ring: tuple[float, float]) -> dict:
    return {"type": "Polygon", "coordinates": [[list(p) for p in (*ring, ring[0])]]}


# Drawn around the real places (approximate): [lon, lat], 8-9 vertices each.
PLACES = [
    {
        "slug": "hasselby-strand",
        "name": "Hässelby strand: Maltesholmstorget",
        "kind": "area",
        "description": "Torget vid tunnelbanans slutstation med butiker, busshållplatser och "
        f"gångvägar mot bostäderna runt omkring. {REPORT}",
        "geometry": _polygon(
            (17.82706, 59.36046), (17.82847, 59.35947), (17.83165, 59.35929),
            (17.83500, 59.35965), (17.83712, 59.36064), (17.83659, 59.36199),
            (17.83412, 59.36271), (17.83041, 59.36262), (17.82759, 59.36181),
        ),
    },
    {
        "slug": "hasselby-gard",
        "name": "Hässelby torg och Friherregatan",
        "kind": "area",
        "description": "Hässelby gårds torg vid tunnelbanan, med butiker och Friherregatan "
        f"norrut mot bostadsområdet. {REPORT}",
        "geometry": _polygon(
            (17.84135, 59.36520), (17.84435, 59.36493), (17.84682, 59.36574),
            (17.84718, 59.36754), (17.84612, 59.36934), (17.84329, 59.36970),
            (17.84100, 59.36835), (17.84065, 59.36664),
        ),
    },
    {
        "slug": "racksta",
        "name": "Råcksta: gamla torget och Ådalen",
        "kind": "area",
        "description": "Gamla Råcksta torg, tunnelbanestationen och grönstråket Ådalen. Lugnt "
        f"dagtid men ödsligt och mörkt på kvällen. {REPORT}",
        "geometry": _polygon(
            (17.87618, 59.35392), (17.87812, 59.35293), (17.88200, 59.35275),
            (17.88588, 59.35338), (17.88765, 59.35482), (17.88659, 59.35644),
            (17.88341, 59.35707), (17.87953, 59.35680), (17.87671, 59.35581),
        ),
    },
    {
        "slug": "vallingby-centrum",
        "name": "Vällingby centrum",
        "kind": "area",
        "description": "Stadsdelscentrum med torg, galleria, tunnelbana och bussterminal och "
        f"gångstråken runt omkring. Mycket folk dagtid. {REPORT}",
        "geometry": _polygon(
            (17.86671, 59.36228), (17.86794, 59.36111), (17.87129, 59.36084),
            (17.87535, 59.36120), (17.87729, 59.36246), (17.87694, 59.36408),
            (17.87429, 59.36507), (17.87059, 59.36516), (17.86759, 59.36417),
        ),
    },
    {
        "slug": "lov3-hasselby-gards-torg",
        "name": "LOV 3-område: Hässelby gårds torg",
        "kind": "lov3",
        "description": f"{LOV3} Torget och tunnelbanans uppgång.",
        "geometry": _polygon(
            (17.84188, 59.36628), (17.84347, 59.36592), (17.84559, 59.36615),
            (17.84629, 59.36700), (17.84576, 59.36785), (17.84382, 59.36817),
            (17.84206, 59.36781), (17.84153, 59.36709),
        ),
    },
    {
        "slug": "lov3-vallingby-centrum",
        "name": "LOV 3-område: Vällingby centrum",
        "kind": "lov3",
        "description": f"{LOV3} Torget, gallerian och tunnelbanan.",
        "geometry": _polygon(
            (17.86847, 59.36246), (17.86935, 59.36165), (17.87200, 59.36147),
            (17.87482, 59.36183), (17.87571, 59.36300), (17.87500, 59.36417),
            (17.87235, 59.36453), (17.86953, 59.36426), (17.86829, 59.36345),
        ),
    },
    {
        "slug": "lov3-akermyntans-centrum",
        "name": "LOV 3-område: Åkermyntans centrum",
        "kind": "lov3",
        "description": f"{LOV3} Centrumet med butiker, parkering och busshållplatser.",
        "geometry": _polygon(
            (17.80971, 59.37346), (17.81094, 59.37292), (17.81306, 59.37301),
            (17.81429, 59.37373), (17.81412, 59.37463), (17.81253, 59.37508),
            (17.81059, 59.37499), (17.80953, 59.37427),
        ),
    },
]  # fmt: skip


USERS = [
    {"email": "vandringsledare@demo.fieldwalk.se", "role": WALK_LEADER, "name": "Sara Lindqvist"},
    {"email": "samordnare@demo.fieldwalk.se", "role": COORDINATOR, "name": "Ahmed Hassan"},
    {"email": "admin@demo.fieldwalk.se", "role": ADMIN, "name": "Eva Bergström"},
    {"email": "parkingenjor@demo.fieldwalk.se", "role": ENGINEER, "name": "Johan Nyberg",
     "party": PARK},
    {"email": "polis@demo.fieldwalk.se", "role": PARTNER, "name": "Erik Ström, kommunpolis"},
]  # fmt: skip


# Both walks are the walk leader's, so logging in as one shows a walk to start and one to read.
PLANNED = {
    "place": "racksta",
    "title": "Trygghetsvandring i Råcksta",
    "days": 14,
    "meeting_point": "Vid entrén till Råcksta tunnelbanestation",
    "meeting": (59.35490, 17.88180),
    "route": [
        (17.88180, 59.35490), (17.88100, 59.35550), (17.88250, 59.35600), (17.88450, 59.35560),
        (17.88500, 59.35400), (17.88300, 59.35330), (17.88000, 59.35350), (17.87950, 59.35440),
        (17.88180, 59.35490),
    ],
    "invitation_text": "Välkommen på trygghetsvandring i Råcksta! Vi går tillsammans runt "
    "gamla torget, genom Ådalen och tillbaka till tunnelbanan och tittar på belysning, buskage, "
    "skymd sikt och annat som påverkar hur trygg platsen känns. Vandringen tar ungefär en och en "
    "halv timme. Alla som bor eller rör sig i området är välkomna. Ta gärna med mobilen, så kan "
    "du fotografera och rapportera direkt. Klä dig efter väder!",
}  # fmt: skip


FINISHED = {
    "place": "hasselby-strand",
    "title": "Kvällsvandring vid Maltesholmstorget",
    "days": -21,
    "meeting_point": "Tunnelbanans uppgång vid Maltesholmstorget",
    "meeting": (59.36085, 17.83215),
    "route": [
        (17.83215, 59.36085), (17.83050, 59.36120), (17.83000, 59.36180), (17.83200, 59.36220),
        (17.83400, 59.36200), (17.83500, 59.36050), (17.83400, 59.35980), (17.83180, 59.36000),
        (17.83215, 59.36085),
    ],
    "invitation_text": "Följ med på en kvällsvandring runt Maltesholmstorget! Vi samlas vid "
    "tunnelbanans uppgång och går runt torget, lekplatsen och gångvägarna mot bostäderna. "
    "Polisen och fastighetsägarna går med.",
}  # fmt: skip


# key: (display name, participant_role); the walk leader takes part as herself.
PARTICIPANTS = {
    "leader": (None, "staff"),
    "amina": ("Amina", "resident"),
    "erik": ("Erik, kommunpolis", "police"),
    "maria": ("Maria, fastighetsvärd", "property_owner"),
}


# (key, participant, minutes after the start, category, works_well, urgent, feeling,
#  lat, lon, accuracy_m, description, photo scenes)
OBSERVATIONS = [
    ("tunnel", "amina", 6, "lighting", False, True, 1, 59.36010, 17.83180, 8.0,
     "Trasig belysning i gångtunneln under Maltesholmsvägen. Två av tre lampor är släckta och "
     "det är helt mörkt i mitten. Många går här mellan tunnelbanan och bostäderna.",
     ["tunnel"]),
    ("bushes", "erik", 14, "vegetation", False, True, 2, 59.36195, 17.83350, 6.0,
     "Buskage vid lekplatsen skymmer sikten och används för gömmor. Vi hittade en påse "
     "längst in. Buskarna behöver klippas ner till knähöjd.",
     ["bushes", "bushes"]),
    ("litter", "amina", 21, "upkeep", False, False, 2, 59.36110, 17.82950, 12.0,
     "Mycket nedskräpning vid återvinningsstationen bakom torget: överfulla papperskorgar och "
     "kartonger på marken.",
     ["litter"]),
    ("graffiti", "maria", 27, "graffiti", False, False, 3, 59.36060, 17.83270, 5.0,
     "Klotter på betongväggen vid tunnelbanans uppgång och på elskåpet bredvid. Har funnits i "
     "flera veckor enligt de boende.",
     ["graffiti", "graffiti"]),
    ("stairs", "leader", 35, "paths", False, False, 2, 59.35990, 17.83450, 9.0,
     "Gångvägen ner mot parkeringen är smal och ojämn, och räcket vid trappan är trasigt. Svårt "
     "att ta sig fram med barnvagn eller rollator.",
     ["path"]),
    ("corner", "erik", 42, "sightlines", False, False, 2, 59.36150, 17.83050, 7.0,
     "Skymd hörna vid garagenedfarten: man ser inte om någon står där förrän man är framme. En "
     "spegel och bättre belysning skulle hjälpa.",
     ["corner"]),
    ("empty", "amina", 48, "people", False, False, 3, 59.36100, 17.83150, 15.0,
     "Torget töms helt när butikerna stänger. Flera i gruppen säger att de undviker att gå här "
     "ensamma på kvällen.",
     []),
    ("new-lights", "leader", 55, "lighting", True, False, 5, 59.36120, 17.83230, 6.0,
     "Nya belysningen vid torget känns bra: jämnt ljus, inga bländande lampor och man ser "
     "ansikten på håll.",
     ["square", "square"]),
]  # fmt: skip


# Local time the sun is down by, month by month, in Stockholm.
DUSK = {1: 15, 2: 16, 3: 18, 4: 20, 5: 21, 6: 22, 7: 22, 8: 20, 9: 19, 10: 17, 11: 16, 12: 15}


class DemoError(Exception):
    """The demo district cannot be loaded here (the message says why)."""


def seed_demo(db: Database, instance: Path, settings: dict, today: date) -> dict:
    """Load the demo district (idempotent); return the logins and how many rows were new.

    `settings` holds the app's limits: `max_description`, `max_photos`, `photo_dir` and the
    photos' `PhotoSettings` under `photos`. Callers check that demo mode is on.
    """
    before = count_rows(db)
    logins = load_logins(instance / LOGINS_FILE)
    parties = seed_parties(db)
    with transaction(db):  # all or none, if one of the emails is a real user's
        users = {
            u["role"]: ensure_user(db, u, logins[u["email"]], parties.get(u.get("party")))
            for u in USERS
        }
    places = {p["slug"]: ensure_place(db, p) for p in PLACES}
    leader = users[WALK_LEADER]
    ensure_walk(db, PLANNED, places[PLANNED["place"]], leader, today)
    walk = ensure_walk(db, FINISHED, places[FINISHED["place"]], leader, today)
    participants = {
        key: join_walk(
            db,
            walk["id"],
            device_hash=_device(key),
            user_id=leader["id"] if key == "leader" else None,
            display_name=name or leader["name"],
            participant_role=role,
        )
        for key, (name, role) in PARTICIPANTS.items()
    }
    start = datetime.fromisoformat(walk["starts_at"]).replace(tzinfo=STOCKHOLM)
    photo_dir = Path(settings["photo_dir"])
    for key, who, minutes, *fields, scenes in OBSERVATIONS:
        category, works_well, urgent, feeling, lat, lon, accuracy, description = fields
        observation_id = demo_uuid(f"observation:{key}")
        photo_ids = [demo_uuid(f"photo:{key}:{i}") for i in range(len(scenes))]
        taken = start + timedelta(minutes=minutes)
        body = {
            "category": category,
            "works_well": works_well,
            "urgent": urgent,
            "feeling": feeling,
            "description": description,
            "walk_id": walk["id"],
            "lat": lat,
            "lon": lon,
            "accuracy_m": accuracy,
            "location_source": "device",
            "captured_at": taken.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "photos": photo_ids,
        }
        clean = validate(body, settings["max_description"], settings["max_photos"])
        try:
            observation, _created = record_observation(
                db,
                photo_dir,
                observation_id,
                clean,
                settings["photos"],
                walk=walk,
                user_id=leader["id"] if who == "leader" else None,
                participant_id=participants[who],
                device_key_hash=_device(who),
            )
        except Conflict as error:
            raise DemoError(
                f"The demo observation {observation_id} was changed; not overwriting it."
            ) from error
        for i, (photo_id, scene) in enumerate(zip(photo_ids, scenes, strict=True)):
            if get_photo(db, photo_id) is None:  # painting is the slow part: only when missing
                # A step or two aside, as a phone's GPS would put it.
                spot = (lat + (i - 0.5) * 0.00003, lon + (0.5 - i) * 0.00005)
                when = taken + timedelta(seconds=20 + 35 * i)
                data = demo_photo(scene, photo_id, spot, when)
                record_photo(db, photo_dir, observation, photo_id, data, settings["photos"])
    seed_tasks(
        db,
        {key: demo_uuid(f"observation:{key}") for key, *_ in OBSERVATIONS},
        users[COORDINATOR]["id"],
    )
    seed_demo_events(db, places, users, today, walk)
    seed_demo_meetings(db, places, users, parties, today)
    # The fixes' observations reviewed for the public pages; the others wait in triage's
    # review list. Their photos' faces are blurred by the server's thread once it runs.
    for key, *_ in OBSERVATIONS:
        observation = get_observation(db, demo_uuid(f"observation:{key}"))
        if (
            observation
            and observation["public_review"] is None
            and tasks_for_observation(db, observation["id"])
        ):
            review(db, observation["id"], APPROVED, user_id=users[COORDINATOR]["id"], actor="demo")
    seed_demo_annual(db, places, users, parties, today)
    after = count_rows(db)
    return {
        "logins": [{**u, "password": logins[u["email"]]} for u in USERS],
        "counts": after,
        "created": sum(after.values()) - sum(before.values()),
    }


def _device(participant: str) -> str | None:
    """The device key hash a demo resident's phone would have; the walk leader has an account."""
    return None if participant == "leader" else hash_secret(demo_uuid(f"device:{participant}"))


def count_rows(db: Database) -> dict[str, int]:
    """Rows per demo-relevant table."""
    return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # noqa: S608


def load_logins(path: Path) -> dict[str, str]:
    """The demo passwords by email: kept in `path` (mode 0600), made on first use."""
    stored: dict[str, str] = {}
    if path.exists():
        try:
            stored = {e["email"]: e["password"] for e in json.loads(path.read_text())}
        except (ValueError, TypeError, KeyError) as error:
            raise DemoError(
                f"{path} is not readable ({error}); delete it to start over."
            ) from error
    logins = {u["email"]: stored.get(u["email"]) or secrets.token_urlsafe(9) for u in USERS}
    if logins != stored:
        entries = [{**u, "password": logins[u["email"]]} for u in USERS]
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(entries, f, indent=2, ensure_ascii=False)
        os.replace(temp, path)
    os.chmod(path, 0o600)
    return logins


def ensure_user(db: Database, spec: dict, password: str, party_id: int | None = None) -> dict:
    """The demo user with this email, created (is_demo = 1) or brought back to `password`."""
    with transaction(db):
        user = find_user_by_email(db, spec["email"])
        if user is None:
            user_id = create_user(db, spec["email"], spec["role"], spec["name"], password, party_id)
            db.execute("UPDATE users SET is_demo = 1 WHERE id = ?", [user_id])
        elif not user["is_demo"]:
            raise DemoError(f"{spec['email']} belongs to a real user; not touching it.")
        elif not (user["password_hash"] and check_password_hash(user["password_hash"], password)):
            # The logins file was lost: make the printed password true again.
            db.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?",
                [generate_password_hash(password), user["id"]],
            )
        return find_user_by_email(db, spec["email"])


def ensure_place(db: Database, spec: dict) -> dict:
    """The place with this slug, inserted when missing (an existing one is left as it is)."""
    row = db.execute("SELECT id FROM places WHERE slug = ?", [spec["slug"]]).fetchone()
    place_id = row["id"] if row else insert_place(db, **spec)
    return get_place(db, place_id)


def ensure_walk(db: Database, spec: dict, place: dict, leader: dict, today: date) -> dict:
    """The demo walk with this title at this place, planned relative to `today` if missing."""
    row = db.execute(
        "SELECT id FROM walks WHERE place_id = ? AND title = ?", [place["id"], spec["title"]]
    ).fetchone()
    if row is None:
        day = today + timedelta(days=spec["days"])
        # Upcoming walks at half past four; the finished one set off as it grew dark.
        hour, minute = (16, 30) if spec["days"] > 0 else (DUSK[day.month], 0)
        values = {
            "place_id": place["id"],
            "title": spec["title"],
            "starts_at": f"{day.isoformat()}T{hour:02d}:{minute:02d}",
            "meeting_point": spec["meeting_point"],
            "meeting_lat": spec["meeting"][0],
            "meeting_lon": spec["meeting"][1],
            "route": json.dumps({"type": "LineString", "coordinates": spec["route"]}),
            "invitation_text": spec["invitation_text"],
            "state": "planned" if spec["days"] > 0 else "finished",
        }
        return get_walk(db, insert_walk(db, values, leader["id"]))
    return get_walk(db, row["id"])


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Load the Hässelby-Vällingby demo district and print its logins (only with DEMO on).

    Example: FIELDWALK_DEMO=true flask --app app seed-demo
    """
    config = current_app.config
    if config.get("DEMO") is not True:
        raise click.ClickException(
            "seed-demo only runs in demo mode: its users have printed passwords. "
            "Set FIELDWALK_DEMO=true on a machine that is not a real server."
        )
    instance = Path(current_app.instance_path)
    settings = {
        "max_description": config["MAX_DESCRIPTION_LENGTH"],
        "max_photos": config["MAX_PHOTOS_PER_OBSERVATION"],
        "photo_dir": config["PHOTO_PATH"],
        "photos": PhotoSettings.from_config(config),
    }
    db = connect(config["DATABASE_PATH"])
    try:
        result = seed_demo(db, instance, settings, datetime.now(STOCKHOLM).date())
    except DemoError as error:
        raise click.ClickException(str(error)) from error
    finally:
        db.close()
    counts = ", ".join(f"{n} {table}" for table, n in result["counts"].items())
    click.echo(f"Demo district: {counts} ({result['created']} new rows).")
    click.echo(f"Demo logins (kept in {instance / LOGINS_FILE}):")
    for login in result["logins"]:
        click.echo(f"  {login['email']:<36} {login['role']:<12} {login['password']}")
    port = os.environ.get("PORT", "5000")
    click.echo(f"Log in at http://127.0.0.1:{port}/login")


def init_app(app: Flask) -> None:
    """Register the demo commands."""
    app.cli.add_command(seed_demo_command)
