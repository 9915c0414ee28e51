"""The invitation reaches people: the QR code on the walk page and on the A4 poster scans."""

import io
import re

import pytest
import zxingcpp
from conftest import make_place, make_user, make_walk
from PIL import Image
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from .conftest import log_in


@pytest.fixture
def coordinator(db):
    return make_user(db, "coordinator")


@pytest.fixture
def walk(db, coordinator):
    return make_walk(
        db,
        make_place(db),
        coordinator["id"],
        state="planned",
        meeting_point="Vid tunnelbanans entré",
        title="Kvällsvandring i Råcksta",
    )


def scanned(page: Page) -> list[str]:
    """What a QR reader finds in a screenshot of what the page shows now."""
    shot = Image.open(io.BytesIO(page.screenshot()))
    return [result.text for result in zxingcpp.read_barcodes(shot)]


def shown(page: Page, image) -> None:
    """Wait until the image has loaded and decoded (a broken SVG never does)."""
    image.scroll_into_view_if_needed()
    expect(image).to_be_visible()
    assert image.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0


def test_qr_code_on_the_walk_page_scans_as_the_invitation_link(phone, walk, coordinator):
    page = phone()
    log_in(page, coordinator)
    page.goto(f"/walks/{walk['id']}")
    invite_url = page.locator("input.copy").input_value()
    assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/j/{re.escape(walk['invite_token'])}", invite_url)
    page.locator(".qr-box summary").click()
    shown(page, page.locator("img.qr"))
    assert scanned(page) == [invite_url]


def test_poster_prints_on_one_a4_page_with_a_code_that_scans(phone, walk, coordinator):
    page = phone()
    log_in(page, coordinator)
    page.goto(f"/walks/{walk['id']}")
    invite_url = page.locator("input.copy").input_value()
    page.locator(".qr-box summary").click()
    page.locator(f"a[href='/walks/{walk['id']}/poster']").click()
    expect(page.locator(".poster h1")).to_have_text("Kvällsvandring i Råcksta")
    expect(page.locator(".poster-link")).to_have_text(invite_url)
    shown(page, page.locator(".poster-qr"))
    assert scanned(page) == [invite_url]

    pdf = PdfReader(io.BytesIO(page.pdf(format="A4", print_background=True)))
    assert len(pdf.pages) == 1, [p.extract_text() for p in pdf.pages]
    text = pdf.pages[0].extract_text()
    assert "Kvällsvandring i Råcksta" in text and "Vid tunnelbanans entré" in text
    assert "Meny" not in text and "Tillbaka" not in text  # on paper only the poster


def test_a_stranger_cannot_open_the_poster(phone, walk):
    """The poster carries the invitation: like the walk page, only for those who may see it
    (anyone else gets the walk's one answer: join it first)."""
    phone.expect_console_error(r"status of 403")
    page = phone()
    response = page.goto(f"/walks/{walk['id']}/poster")
    assert response.status == 403
    assert walk["invite_token"] not in page.content()
