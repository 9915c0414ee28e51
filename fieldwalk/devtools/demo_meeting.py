"""The demo's weekly meetings (part of `seed-demo`): twelve weeks of joint assessments at the
four open drug scenes, and the decisions those meetings made, followed up. Fiction.

Each week's level follows the demo's own events: a scene's week against its usual week (the
year's average), so the spring operation at Maltesholmstorget shows as Råcksta getting
worse. The meeting is on the Tuesday after the week it assesses, at 09:30; the coordinator
writes, and sometimes the police officer changes it a little later (a second version). Each
meeting decides a measure or two per scene; older ones are mostly done, last week's partly.

Rows are made by the domain functions (an assessment, a decision and its routed task), then the
task's times are moved back to the meeting days they stand for: the demo is a history, and the
lägesbild counts tasks by when they were opened and done. Seeding again adds only new weeks.
"""

import random
from datetime import date, datetime, time, timedelta

from sqlite_utils import Database

from fieldwalk.clock import STOCKHOLM, stamp
from fieldwalk.db import transaction
from fieldwalk.devtools.demo_fixes import MALTESHOLM, PARK, STRANDGARDEN, TRAFFIC, TRANSIT
from fieldwalk.events.model import count_events_by_period
from fieldwalk.reports.assessments import latest_version, save_assessment
from fieldwalk.reports.decisions import record_decision
from fieldwalk.reports.periods import last_complete_week, shift_week, week_period, week_text
from fieldwalk.tasks.model import get_task, transition
from fieldwalk.tasks.notices import settle_task_notices
from fieldwalk.tasks.states import COORDINATOR, Actor

WEEKS = 12
SCENES = ("hasselby-strand", "hasselby-gard", "racksta", "vallingby-centrum")

# What the meeting says at each level: chosen by the week's most common event type.
TEXTS = {
    "calm": (
        "Lugnare vecka. Enstaka händelser, inga tecken på öppen försäljning.",
        "Få händelser. Fältassistenterna möter samma grupp som vanligt, ingen oro.",
        "Lugnt på torget. Fortsätt med ordinarie städning och kvällsvandringar.",
    ),
    "uneasy": (
        "Fler rapporter om {type} än vanligt, mest kvällstid. Håll uppsikt över helgen.",
        "Oro bland boende efter veckans händelser. Polisen ökar närvaron kvällstid.",
        "Några nya ansikten vid uppgången; {type} nämns i flera rapporter.",
    ),
    "serious": (
        "Tydlig ökning av {type}. Gruppen har flyttat in mot gångtunneln.",
        "Upprepade händelser med {type} trots åtgärderna. Samordnad insats behövs.",
        "Allvarligt läge kvällstid. Butikspersonal och boende hör av sig.",
    ),
    "acute": (
        "Akut: {type} öppet på torget och hot mot personal. Daglig uppföljning.",
        "Akut läge efter veckans våld. Polisen och ordningsvakterna på plats varje kväll.",
    ),
}
TYPE_WORDS = {
    "drug_dealing": "narkotikaförsäljning",
    "drug_use": "narkotikabruk",
    "disorder": "ordningsstörningar",
    "violence": "våld och hot",
    "vandalism": "skadegörelse",
    "littering": "sprutor och nedskräpning",
    "other": "övriga händelser",
}
# (what is to be done, which party, days to do it)
MEASURES = (
    ("Klipp ner buskaget vid gångvägen så att sikten blir fri.", PARK, 14),
    ("Byt den trasiga belysningen i gångtunneln.", TRAFFIC, 7),
    ("Plocka sprutor och skräp två gånger om dagen under helgen.", PARK, 5),
    ("Sanera klottret vid tunnelbanans uppgång inom ett dygn.", TRANSIT, 3),
    ("Lås porten till cykelrummet nattetid.", STRANDGARDEN, 7),
    ("Sätt upp extra belysning vid torgets södra del.", TRAFFIC, 21),
    ("Ordningsvakter på torget fredag och lördag kväll.", MALTESHOLM, 5),
    ("Se över kamerabevakningen vid entrén.", MALTESHOLM, 14),
    ("Töm papperskorgarna oftare runt återvinningsstationen.", PARK, 7),
)


def level_for(count: int, usual: float) -> str:
    """A week's level from its events against the scene's usual week."""
    ratio = count / usual if usual else 0
    if ratio < 0.8:
        return "calm"
    if ratio < 1.1:
        return "uneasy"
    if ratio < 1.45:
        return "serious"
    return "acute"


def meeting_time(year: int, week: int, today: date, minutes: int = 0) -> str:
    """The Tuesday 09:30 after the week (Stockholm), never later than the start of today."""
    tuesday = week_period(year, week).end.date() + timedelta(days=1)
    moment = datetime.combine(tuesday, time(9, 30), STOCKHOLM) + timedelta(minutes=minutes)
    start_of_today = datetime.combine(today, time(), STOCKHOLM)
    return stamp(min(moment, start_of_today - timedelta(hours=1) + timedelta(minutes=minutes)))


def seed_demo_meetings(
    db: Database, places: dict[str, dict], users: dict[str, dict], parties: dict[str, int],
    today: date,
) -> dict[str, int]:  # fmt: skip
    """Twelve weeks of assessments and decisions at the scenes (idempotent); return how many
    of each were new."""
    moment = datetime.combine(today, time(12), STOCKHOLM)
    last = last_complete_week(moment)
    weeks = [shift_week(*last, -n) for n in range(WEEKS - 1, -1, -1)]
    spans = [week_period(y, w) for y, w in weeks]
    scenes = [places[slug] for slug in SCENES if slug in places]
    counts = count_events_by_period(db, [(p.start, p.end) for p in spans], by=("place_id", "type"))
    year_total = count_events_by_period(
        db, [(moment - timedelta(days=365), moment)], by=("place_id",)
    )
    coordinator, police = users.get("coordinator"), users.get("partner")
    actor = Actor((COORDINATOR,), coordinator["id"], coordinator["name"]) if coordinator else None
    new = {"assessments": 0, "decisions": 0}
    for place in scenes:
        usual = year_total.get((place["id"],), [0])[0] / 52
        for i, (year, number) in enumerate(weeks):
            week = week_text(year, number)
            rng = random.Random(f"demo-meeting:{place['slug']}:{week}")
            by_type = {k[1]: v[i] for k, v in counts.items() if k[0] == place["id"] and v[i]}
            total = sum(by_type.values())
            level = level_for(total, usual)
            common = max(by_type, key=by_type.get) if by_type else "other"
            if latest_version(db, place["id"], week) is None and coordinator:
                text = rng.choice(TEXTS[level]).format(type=TYPE_WORDS[common])
                save_assessment(
                    db, place_id=place["id"], week=week, level=level, text=text,
                    written_by=coordinator["id"], based_on=0,
                    written_at=meeting_time(year, number, today, 10),
                )  # fmt: skip
                new["assessments"] += 1
                if police and level in ("serious", "acute") and rng.random() < 0.5:
                    # The police see it one step worse, and say why.
                    worse = "acute" if level == "serious" else level
                    save_assessment(
                        db, place_id=place["id"], week=week, level=worse,
                        text=f"{text} Polisen: fler ingripanden än rapporterna visar.",
                        written_by=police["id"], based_on=1,
                        written_at=meeting_time(year, number, today, 25),
                    )  # fmt: skip
                    new["assessments"] += 1
            if actor is None:
                continue
            wanted = {"calm": 0, "uneasy": 1, "serious": 2, "acute": 2}[level]
            for n, (measure, party, days) in enumerate(rng.sample(MEASURES, wanted)):
                new["decisions"] += _decide(
                    db, actor, place, week, (year, number), today, rng, measure,
                    parties.get(party), days, f"demo:decision:{place['slug']}:{week}:{n}",
                )  # fmt: skip
    return new


def _decide(db, actor, place, week, yw, today, rng, measure, party_id, days, key) -> int:
    """One decision and its task, followed up as far as its age allows; 1 when new."""
    decided = meeting_time(*yw, today, 40)
    decided_day = datetime.fromisoformat(decided.replace("Z", "+00:00")).astimezone(STOCKHOLM)
    due = (decided_day.date() + timedelta(days=days)).isoformat()
    with transaction(db):
        task_id, created = record_decision(
            db, place_id=place["id"], week=week, measure=measure, party_id=party_id,
            due_date=due, actor=actor, key=key, decided_at=decided,
            reason=f"Beslutat på veckomötet vecka {yw[1]}",
        )  # fmt: skip
        if not created:
            return 0
        age = (today - decided_day.date()).days
        # Older decisions are mostly done; last week's about half; none on the day itself.
        chance = 0.0 if age < 2 else 0.5 if age < 9 else 0.85
        done_at = None
        if party_id is not None and rng.random() < chance:
            took = min(age - 1, max(1, round(rng.uniform(0.3, 1.3) * days)))
            done_at = stamp(decided_day + timedelta(days=took, hours=rng.uniform(1, 6)))
            task = get_task(db, task_id)
            transition(db, task_id, "done", actor, version=task["version"], note="Utfört.")
        _move_back(db, task_id, decided, done_at)
        # The party heard of it back then: the demo's first sending round is not its history.
        settle_task_notices(db, task_id, "demo", decided)
    return 1


def _move_back(db: Database, task_id: int, decided: str, done_at: str | None) -> None:
    """Put a demo task's times (and its history's) on the meeting day and the day it was done."""
    db.execute(
        """UPDATE tasks SET created_at = ?, sent_at = CASE WHEN sent_at IS NULL THEN NULL
               ELSE ? END, done_at = ?, updated_at = ? WHERE id = ?""",
        [decided, decided, done_at, done_at or decided, task_id],
    )
    db.execute(
        """UPDATE audit_log SET at = CASE WHEN action = 'done' THEN ? ELSE ? END
           WHERE entity = 'task' AND entity_id = ?""",
        [done_at or decided, decided, str(task_id)],
    )
