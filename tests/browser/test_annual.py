"""The annual follow-up on a 360-pixel phone: a coordinator proposes a camera site by tapping
the map, then writes the drug scene's joint assessment with the police and makes one of its
long-term measures a task. Every page fits the screen and passes axe-core."""

import re

from conftest import make_event, make_place, make_user
from playwright.sync_api import expect

from fieldwalk.measures.cameras import list_proposals
from fieldwalk.measures.model import record_fact
from fieldwalk.parties.model import insert_party
from fieldwalk.reports.annual_assessment import latest_annual, measure_tasks

from .conftest import assert_accessible, fits_the_screen, log_in, too_small


def test_coordinator_proposes_a_camera_and_writes_the_annual_follow_up(phone, db):
    place = make_place(db, "racksta", "Råcksta")
    record_fact(db, place_id=place, kind="drug_scene", from_date="2024-01-01", recorded_by=None)
    make_event(db, place, occurred_at="2026-01-10T18:00:00Z")
    office = insert_party(db, "Stadens säkerhetsavdelning", "security")
    park = insert_party(db, "Parkingenjörerna", "park")
    coordinator = make_user(db, "coordinator", name="Ahmed Hassan")
    page = phone()
    log_in(page, coordinator, r"/")
    page.goto(f"/places/{place}")
    page.get_by_role("link", name="Föreslå kameraplats").click()
    expect(page.get_by_role("heading", name="Föreslå kameraplats")).to_be_visible()
    assert fits_the_screen(page)
    assert_accessible(page)
    # A tap in the middle of the map (the place is drawn to fill it) puts the site there.
    page.locator("#camera-map").click()
    expect(page.locator("#lat")).not_to_have_value("")
    page.get_by_label("Varför en kamera här").fill("Öppen försäljning vid trappan kvällstid.")
    controls, small = too_small(page)
    assert controls >= 4 and small == []
    page.get_by_role("button", name="Skicka förslaget").click()
    expect(page.get_by_role("heading", name="Förslag på kameraplats")).to_be_visible()
    (proposal,) = list_proposals(db, place)
    assert proposal["task"]["party_id"] == office and proposal["task"]["state"] == "sent"
    assert_accessible(page)

    page.goto(f"/places/{place}")
    page.get_by_role("link", name="Årsuppföljning").click()
    expect(page.locator("h1")).to_have_text("Råcksta")
    assert fits_the_screen(page)
    page.get_by_label("Hur det har varit").fill("Försäljning vid trappan hela våren.")
    page.get_by_label("Förväntad utveckling").fill("Lugnare med bättre belysning.")
    page.get_by_label("Långsiktiga åtgärder som behövs").fill("Bättre belysning vid trappan")
    page.get_by_text("Klar: polisen och förvaltningen").click()
    expect(page.locator("#finished")).to_be_checked()
    assert_accessible(page)
    page.get_by_role("button", name="Spara bedömningen").click()
    expect(page).to_have_url(re.compile(r"#joint-assessment$"))
    year = latest_annual(db, place, int(re.search(r"year=(\d{4})", page.url).group(1)))
    assert year["finished"] == 1

    item = page.locator(".measures-needed li").first
    item.locator("summary").click()
    item.get_by_label("Vilken part").select_option(str(park))
    item.get_by_role("button", name="Gör till uppdrag").click()
    expect(page.locator(".measures-needed li").first).to_contain_text("Parkingenjörerna")
    (task,) = measure_tasks(db, place, year["year"]).values()
    assert task["party_id"] == park and task["state"] == "sent"
    assert fits_the_screen(page)
    assert_accessible(page)
