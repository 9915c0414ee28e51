"""The demo's measures and annual follow-ups (part of `seed-demo`). Fiction.

What each scene has: all four are open drug scenes per the police's mapping, with police
cameras; LOV §3 orders at Hässelby gårds torg, Vällingby centrum and Åkermyntans centrum;
platssamverkan at Maltesholmstorget; guard patrols where the orders allow them. No city camera
is installed: one site at Maltesholmstorget was proposed and approved (so "decided"), one at
Vällingby centrum waits for the security office. This year's follow-up with the police is
finished for Maltesholmstorget (a measure already a task) and in progress for Vällingby
centrum. Seeding again adds nothing that is there.
"""

from datetime import date, datetime, time, timedelta

from sqlite_utils import Database

from fieldwalk.clock import STOCKHOLM, now
from fieldwalk.devtools.demo_fixes import MALTESHOLM, PARK, STRANDGARDEN
from fieldwalk.measures.cameras import get_proposal, list_proposals, propose_camera, record_answer
from fieldwalk.measures.model import place_facts, record_fact
from fieldwalk.parties.model import add_contact, find_party_by_name, insert_party
from fieldwalk.reports.annual_assessment import latest_annual, make_measure_task, save_annual
from fieldwalk.tasks.notices import settle_task_notices
from fieldwalk.tasks.states import COORDINATOR, Actor

OFFICE = "Stadens säkerhetsavdelning"
SCENES = ("hasselby-strand", "hasselby-gard", "racksta", "vallingby-centrum")
LOV3 = ("hasselby-gard", "vallingby-centrum", "lov3-akermyntans-centrum")
# (place, kind, from, note, parties)
FACTS = [
    *[(slug, "drug_scene", "2021-03-01", "Enligt polisens kartläggning av öppna drogscener.", ())
      for slug in SCENES],
    *[(slug, "police_cameras", "2022-09-01", "Polisens kamerabevakning av torget.", ())
      for slug in SCENES],
    *[(slug, "lov3", "2024-01-01", "Polisens förordnande enligt 3 § lagen om ordningsvakter.", ())
      for slug in LOV3],
    ("hasselby-strand", "place_partnership", "2025-02-01", "Möte varannan månad.",
     (MALTESHOLM, STRANDGARDEN)),
    ("hasselby-gard", "guard_patrols", "2024-03-01", "Ordningsvakter fredag och lördag kväll.", ()),
    ("vallingby-centrum", "guard_patrols", "2024-03-01", "Ordningsvakter varje kväll.", ()),
]  # fmt: skip
# (place, key, offset of the site from the centre, motivation, days ago, answer or None)
PROPOSALS = [
    ("hasselby-strand", "demo:camera:maltesholm", (0.0004, -0.0006),
     "Försäljningen har flyttat till gångtunneln mot Maltesholmsvägen, där polisens kameror "
     "inte ser.", 120,
     ("approved", "Säkerhetsavdelningen beviljar en kamera vid gångtunnelns norra mynning. "
      "Uppsättning planeras till våren.")),
    ("vallingby-centrum", "demo:camera:vallingby", (-0.0003, 0.0005),
     "Upprepat våld vid bussterminalens västra del kvällstid.", 12, None),
]  # fmt: skip
FINISHED = {
    "how_it_has_been": "Torget har varit en öppen drogscen hela året. Under våren flyttade "
    "försäljningen tillfälligt till Råcksta när polisen rensade torget, men kom tillbaka under "
    "sommaren. Boende och butiker beskriver otrygghet kvällstid, särskilt i gångtunneln.",
    "expected_development": "Med platssamverkan och bättre belysning väntas läget bli lugnare, "
    "men försäljningen flyttar lätt till närliggande platser om inte hela stråket följs upp.",
    "long_term_measures": "Ny belysning i gångtunneln under Maltesholmsvägen\n"
    "Platssamverkan med fastighetsägarna fortsätter med gemensam städning\n"
    "Kamera vid gångtunnelns norra mynning (beviljad)",
}
IN_PROGRESS = {
    "how_it_has_been": "Många händelser vid bussterminalen kvällstid, fler än året före.",
    "expected_development": "",
    "long_term_measures": "Mer fältarbete kvällstid\n",
}


def seed_demo_annual(
    db: Database, places: dict[str, dict], users: dict[str, dict], parties: dict[str, int],
    today: date,
) -> dict[str, int]:  # fmt: skip
    """The security office, the facts, the proposals and this year's follow-ups (idempotent);
    return how many of each were new."""
    new = {"facts": 0, "proposals": 0, "assessments": 0}
    office = find_party_by_name(db, OFFICE)
    office_id = office["id"] if office else insert_party(
        db, OFFICE, "security", "sakerhet@demo.fieldwalk.se", "08-508 00 100"
    )  # fmt: skip
    if office is None:
        add_contact(db, office_id, "Karin Ljung", "sakerhet@demo.fieldwalk.se", "08-508 00 100")
    coordinator, police = users.get("coordinator"), users.get("partner")
    if coordinator is None:
        return new
    actor = Actor((COORDINATOR,), coordinator["id"], coordinator["name"])
    for slug, kind, start, note, names in FACTS:
        place = places.get(slug)
        if place is None or any(f["kind"] == kind for f in place_facts(db, place["id"])):
            continue
        record_fact(
            db, place_id=place["id"], kind=kind, from_date=start, note=note,
            party_ids=[parties[n] for n in names if n in parties], recorded_by=coordinator["id"],
        )  # fmt: skip
        new["facts"] += 1
    known = {p["key"] for p in list_proposals(db)}
    for slug, key, (dlat, dlon), motivation, days, answer in PROPOSALS:
        place = places.get(slug)
        if place is None or key in known:
            continue
        proposed = datetime.combine(today - timedelta(days=days), time(10), STOCKHOLM)
        proposal_id, _created = propose_camera(
            db, place_id=place["id"], lat=place["center_lat"] + dlat,
            lon=place["center_lon"] + dlon, motivation=motivation, party_id=office_id,
            measure=f"Förslag på kameraplats: {place['name']}. {motivation}",
            reason="Stadens säkerhetsavdelning beslutar om trygghetskameror.",
            due_date=(proposed.date() + timedelta(days=30)).isoformat(), actor=actor,
            moment=proposed, key=key,
        )  # fmt: skip
        new["proposals"] += 1
        # The office heard of it back then: the demo's first sending round is not its history.
        settle_task_notices(db, get_proposal(db, proposal_id)["task_id"], "demo", now())
        if answer:
            record_answer(
                db, proposal_id, decision=answer[0], answer=answer[1], actor=actor,
                fact_note=f"Beslutad av säkerhetsavdelningen (förslag {proposal_id}).",
            )  # fmt: skip
    year = today.year
    malte, valle = places.get("hasselby-strand"), places.get("vallingby-centrum")
    if malte and latest_annual(db, malte["id"], year) is None:
        save_annual(
            db, place_id=malte["id"], year=year, texts=FINISHED, finished=False,
            written_by=coordinator["id"], based_on=0,
        )  # fmt: skip
        save_annual(
            db, place_id=malte["id"], year=year, texts=FINISHED, finished=True,
            written_by=(police or coordinator)["id"], based_on=1,
        )  # fmt: skip
        measure_task_id, _created = make_measure_task(
            db, place_id=malte["id"], year=year,
            measure="Ny belysning i gångtunneln under Maltesholmsvägen",
            party_id=parties.get(PARK), due_date=(today + timedelta(days=120)).isoformat(),
            actor=actor, reason=f"Beslutat vid årsuppföljningen {year}",
        )  # fmt: skip
        settle_task_notices(db, measure_task_id, "demo", now())
        new["assessments"] += 2
    if valle and latest_annual(db, valle["id"], year) is None:
        save_annual(
            db, place_id=valle["id"], year=year, texts=IN_PROGRESS, finished=False,
            written_by=coordinator["id"], based_on=0,
        )  # fmt: skip
        new["assessments"] += 1
    return new
