"""A police officer (a partner) on a 360-pixel phone: reports an event from the form, uses the
phone's position, imports a file; every event page passes axe-core with big tap targets."""

import re

import pytest
from conftest import make_place, make_user
from playwright.sync_api import expect

from .conftest import POSITION, assert_accessible, fits_the_screen, log_in, too_small

CSV = (
    "\ufefftid;plats;typ;källa;beskrivning\n"
    "2026-11-20 18:30;Råcksta;narkotikaförsäljning;polisen;Försäljning vid trappan\n"
)
BAD_CSV = "tid;plats;typ;källa\n2026-11-20 18:30;Blackeberg;rån;polisen\n"


@pytest.fixture
def partner(db):
    make_place(db)
    return make_user(db, "partner", name="Erik Ström")


def test_partner_reports_an_event_with_the_phones_position(phone, partner):
    page = phone()
    log_in(page, partner, r"/events$")  # a partner's home
    assert_accessible(page)
    page.get_by_role("link", name="Rapportera en händelse").click()
    expect(page.get_by_role("heading", name="Rapportera en händelse")).to_be_visible()
    assert fits_the_screen(page)
    page.get_by_text("Exakt position (frivilligt)").click()
    controls, small = too_small(page)
    assert controls > 15 and small == []
    assert_accessible(page)

    page.get_by_role("button", name="Använd min position").click()
    expect(page.locator("#lat")).to_have_value(f"{POSITION['latitude']:.6f}")
    expect(page.locator("#lon")).to_have_value(f"{POSITION['longitude']:.6f}")
    page.get_by_label("Narkotikabruk").check()
    page.get_by_label("Rapporterad av").select_option(label="Polisen")
    page.locator("#description").fill("Två personer injicerade i trappan.")
    page.get_by_role("button", name="Spara händelsen").click()

    expect(page).to_have_url(re.compile(r"/events$"))
    expect(page.locator(".notice")).to_have_text("Händelsen är sparad.")
    item = page.locator("li.event").first
    expect(item).to_contain_text("Narkotikabruk")
    expect(item).to_contain_text("Råcksta")  # found from the phone's position
    expect(item).to_contain_text("inlagd av Erik Ström")
    assert fits_the_screen(page)
    assert_accessible(page)


def test_event_form_errors_are_named_and_accessible(phone, partner):
    phone.expect_console_error(r"status of 400 \(BAD REQUEST\)")  # the form sent back
    page = phone()
    log_in(page, partner, r"/events$")  # a partner's home
    page.goto("/events/new")
    page.locator("#time").fill("")
    page.get_by_role("button", name="Spara händelsen").click()
    expect(page.locator(".alert")).to_have_text("Rätta till de markerade fälten.")
    expect(page.locator("#type-error")).to_have_text("Välj vad som hände.")
    expect(page.locator("#source-error")).to_have_text("Välj vem som rapporterade.")
    expect(page.locator("#time-error")).to_have_text("Ange tid.")
    expect(page.locator("#place_id-error")).to_have_text("Välj en plats eller ange en position.")
    assert fits_the_screen(page)
    assert_accessible(page)


def test_partner_imports_a_file_after_checking_it(phone, partner, tmp_path):
    phone.expect_console_error(r"status of 400 \(BAD REQUEST\)")  # the refused file
    bad, good = tmp_path / "fel.csv", tmp_path / "handelser.csv"
    bad.write_text(BAD_CSV, encoding="utf-8")
    good.write_text(CSV, encoding="utf-8")
    page = phone()
    log_in(page, partner, r"/events$")  # a partner's home
    page.get_by_role("link", name="Importera en CSV-fil").click()
    # The import page, loaded: axe-core run during the navigation finds no document.
    expect(page.locator("#file")).to_be_attached()
    assert_accessible(page)

    page.locator("#file").set_input_files(bad)
    page.get_by_role("button", name="Kontrollera filen").click()
    problems = page.locator("#import-problems li")
    expect(problems).to_have_text(
        [
            "Rad 2: det finns ingen plats som heter ”Blackeberg”.",
            re.compile(r"^Rad 2: okänd typ ”rån”"),
        ]
    )
    assert fits_the_screen(page)
    assert_accessible(page)

    page.locator("#file").set_input_files(good)
    page.get_by_role("button", name="Kontrollera filen").click()
    expect(page.locator("#import-preview")).to_contain_text("1 händelse att importera.")
    assert_accessible(page)
    page.get_by_role("button", name="Importera 1 händelse").click()
    expect(page).to_have_url(re.compile(r"/events$"))
    expect(page.locator(".notice")).to_have_text("1 händelse importerades.")
    expect(page.locator("li.event")).to_have_count(1)
