"""The demo district's parties, zones and proposed fixes (part of `seed-demo`).

Plausible, partly fictional: the district's park engineers, the city's traffic office, two
made-up property owners and the transit operator, with zones drawn around the finished
walk's place (Maltesholmstorget) so that every routing reason shows up: inside a zone, a
category default, and nothing (triage).
"""

from sqlite_utils import Database

from fieldwalk.db import transaction
from fieldwalk.parties.model import (
    add_contact,
    category_defaults,
    find_party_by_name,
    insert_party,
    list_contacts,
    set_category_default,
)
from fieldwalk.tasks.model import insert_task, tasks_for_observation
from fieldwalk.tasks.states import Actor
from fieldwalk.tasks.suggest import suggest_for_observation
from fieldwalk.zones.model import insert_zone, list_zones

PARK = "Parkingenjörerna Hässelby-Vällingby"


TRAFFIC = "Trafikkontoret"


STRANDGARDEN = "Bostadsbolaget Strandgården AB"


MALTESHOLM = "Fastighets AB Maltesholm"


TRANSIT = "Kollektivtrafiken, Region Stockholm"


# name: (kind, email, phone, contact name)
PARTIES = {
    PARK: ("park", "parkingenjorer@demo.fieldwalk.se", "08-508 00 000", "Johan Nyberg"),
    TRAFFIC: ("traffic", "trafikkontoret@demo.fieldwalk.se", "08-508 27 000", "Lena Ek"),
    STRANDGARDEN: ("property_owner", "forvaltning@strandgarden.demo", "08-123 45 60", "Maria Holm"),
    MALTESHOLM: ("property_owner", "fastighet@maltesholm.demo", "08-765 43 21", "Per Sjö"),
    TRANSIT: ("transit", "trygghet@kollektivtrafik.demo", "08-600 10 00", "Nadia Karim"),
}


def _box(west: float, south: float, east: float, north: float) -> dict:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


# (zone name, kind, party, polygon) around Maltesholmstorget, Hässelby strand.
ZONES = [
    ("Maltesholmsparken och lekplatsen", "park", PARK, _box(17.8320, 59.3610, 17.8372, 59.3627)),
    ("Slänten mot parkeringen", "park", PARK, _box(17.8338, 59.3594, 17.8360, 59.3606)),
    ("Maltesholmstorget och gångtunneln", "square", TRAFFIC, _box(17.8305, 59.3598, 17.8335, 59.3614)),
    ("Strandgårdens gård och garage", "property", STRANDGARDEN, _box(17.8295, 59.3612, 17.8315, 59.3620)),
    ("Maltesholms centrumhus och återvinningen", "property", MALTESHOLM, _box(17.8288, 59.3606, 17.8302, 59.3616)),
    ("Tunnelbanans uppgång", "transit", TRANSIT, _box(17.8318, 59.3605, 17.8324, 59.3609)),
]  # fmt: skip


# Outside every zone these go to a default party.
DEFAULTS = {"lighting": TRAFFIC, "upkeep": PARK}


# (observation key, what should be done, priority, days until due)
FIXES = [
    ("tunnel", "Byt de trasiga armaturerna i gångtunneln och se över tändningen.", "urgent", 7),
    ("bushes", "Klipp ner buskaget vid lekplatsen till knähöjd och städa ur gömmorna.", "high", 14),
    ("litter", "Töm papperskorgarna oftare och städa runt återvinningsstationen.", "normal", 21),
    ("graffiti", "Sanera klottret på betongväggen och elskåpet vid uppgången.", "normal", 14),
    ("corner", "Sätt upp en trafikspegel och bättre belysning vid garagenedfarten.", "normal", 30),
    ("stairs", "Laga räcket vid trappan och jämna till gångvägen mot parkeringen.", "high", 21),
]


def seed_parties(db: Database) -> dict[str, int]:
    """Create the demo parties, contacts, zones and category defaults; return ids by name."""
    ids: dict[str, int] = {}
    for name, (kind, email, phone, contact) in PARTIES.items():
        party = find_party_by_name(db, name)
        ids[name] = party["id"] if party else insert_party(db, name, kind, email, phone)
        if not list_contacts(db, ids[name]):
            add_contact(db, ids[name], contact, email, phone)
    existing = {z["name"] for z in list_zones(db)}
    for zone_name, kind, party, geometry in ZONES:
        if zone_name not in existing:
            insert_zone(db, ids[party], zone_name, geometry, kind)
    defaults = category_defaults(db)
    for category, party in DEFAULTS.items():
        if category not in defaults:
            set_category_default(db, category, ids[party])
    return ids


def seed_tasks(db: Database, observation_ids: dict[str, str], coordinator_id: int) -> None:
    """Propose the fixes of the finished walk, each routed by the rule (once)."""
    actor = Actor(kinds=("coordinator",), user_id=coordinator_id, label="seed-demo")
    with transaction(db):
        for key, measure, priority, due_in_days in FIXES:
            observation_id = observation_ids[key]
            if tasks_for_observation(db, observation_id):
                continue
            row = db.execute("SELECT * FROM observations WHERE id = ?", [observation_id]).fetchone()
            suggestion = suggest_for_observation(db, dict(row))
            insert_task(
                db,
                observation_ids=[observation_id],
                measure=measure,
                party_id=suggestion.party_id,
                suggestion=suggestion.as_dict(),
                priority=priority,
                due_date=_due(row["created_at"], due_in_days),
                actor=actor,
            )


def _due(created_at: str, days: int) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(created_at[:10]) + timedelta(days=days)).isoformat()
