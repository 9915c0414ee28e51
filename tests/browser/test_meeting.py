"""The weekly meeting on a 360-pixel phone: a police officer (a partner) reads the lägesbild and
writes the joint assessment; a coordinator records a decision. The page fits the screen (its
tables too), passes axe-core, and draws the week's events on the map."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from conftest import make_event, make_place, make_user
from playwright.sync_api import Page, expect

from fieldwalk.parties.model import insert_party
from fieldwalk.reports.periods import last_complete_week, week_period

from .conftest import assert_accessible, fits_the_screen, log_in, too_small


@pytest.fixture
def place(db):
    """Råcksta with a week of events (the last complete one), three of them with a point."""
    place_id = make_place(db)
    start = week_period(*last_complete_week(datetime.now(UTC))).start
    for day, kind, source, point in [
        (0, "drug_dealing", "police", (59.3551, 17.8823)),
        (2, "drug_use", "staff", (59.3540, 17.8810)),
        (4, "violence", "guards", (59.3560, 17.8840)),
        (5, "littering", "public", None),
        (6, "disorder", "police", None),
    ]:
        lat, lon = point or (None, None)
        moment = (start + timedelta(days=day, hours=19)).astimezone(UTC)
        make_event(db, place_id, occurred_at=moment, type=kind, source=source, lat=lat, lon=lon)
    return place_id


def tables_fit(page: Page) -> list[str]:
    """The tables that need to scroll sideways in their box (none should, at this size)."""
    return page.evaluate(
        """[...document.querySelectorAll('.table-scroll')]
             .filter(box => box.scrollWidth > box.clientWidth)
             .map(box => box.getAttribute('aria-labelledby'))"""
    )


def test_police_officer_reads_the_lagesbild_and_writes_the_assessment(phone, db, place):
    partner = make_user(db, "partner", name="Erik Ström")
    page = phone()
    log_in(page, partner, r"/events$")
    page.get_by_text("Meny").click()  # on a phone the links are behind the menu button
    page.locator(".nav-menu").get_by_role("link", name="Lägesbild").click()
    expect(page.locator("h1")).to_have_text(re.compile(r"^Vecka \d+, \d{4}$"))
    assert fits_the_screen(page) and tables_fit(page) == []
    # Every event with a point is a dot on the map, over the place's outline.
    expect(page.locator("#week-map path.leaflet-interactive")).to_have_count(3 + 1)
    assert_accessible(page)

    section = page.locator(f"section[data-place='{place}']")
    section.get_by_text("Skriv veckans bedömning").click()
    controls, small = too_small(page)
    assert controls > 5 and small == []
    section.locator(f"#p{place}-level-serious").check()
    section.get_by_label("Bedömning").fill("Öppen försäljning vid trappan varje kväll.")
    assert_accessible(page)
    section.get_by_role("button", name="Spara bedömningen").click()

    expect(page).to_have_url(re.compile(rf"/reports/week\?week=\d{{4}}-W\d\d#place-{place}$"))
    card = page.locator(f"section[data-place='{place}'] .card.assessment").first
    expect(card).to_contain_text("Allvarligt")
    expect(card).to_contain_text("Öppen försäljning vid trappan varje kväll.")
    expect(card).to_contain_text("Skriven av Erik Ström")
    expect(page.locator(f"section[data-place='{place}'] summary").first).to_have_text(
        "Ändra veckans bedömning"
    )
    assert fits_the_screen(page)


def test_coordinator_records_a_decision_that_becomes_a_sent_task(phone, db, place):
    insert_party(db, "Parkingenjörerna", "park")
    coordinator = make_user(db, "coordinator", name="Ahmed Hassan")
    page = phone()
    log_in(page, coordinator, r"/$")
    page.goto("/reports/week")
    section = page.locator(f"section[data-place='{place}']")
    section.get_by_text("Lägg till ett beslut").click()
    section.get_by_label("Vad ska göras").fill("Klipp buskarna vid trappan.")
    section.get_by_label("Vilken part").select_option(label="Parkingenjörerna")
    expect(section.get_by_label("Klart senast")).not_to_have_value("")  # a week from today
    assert fits_the_screen(page)
    assert_accessible(page)
    section.get_by_role("button", name="Lägg till beslutet").click()

    decision = page.locator(f"section[data-place='{place}'] li.decision")
    expect(decision).to_have_count(1)
    expect(decision).to_contain_text("Skickad")
    expect(decision).to_contain_text("Klipp buskarna vid trappan.")
    expect(decision).to_contain_text("Parkingenjörerna")
    decision.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Klipp buskarna vid trappan.")
