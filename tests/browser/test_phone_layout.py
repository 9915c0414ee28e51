"""Every page fits a phone: nothing scrolls sideways at 360 px, the menu fits, targets are big.

The pages are the demo district's (seed-demo, the `district` fixture): real walks, tasks,
parties, zones and reports, with the long Swedish names that break layouts.
"""

import re

from playwright.sync_api import Page, expect

from .conftest import log_in, staff_pages


def sideways(page: Page) -> int:
    """How far the page scrolls sideways, in CSS pixels."""
    return page.evaluate("document.documentElement.scrollWidth") - 360


def test_no_staff_page_scrolls_sideways_on_a_360_px_phone(phone, district, db):
    page = phone()
    log_in(page, district["coordinator"])
    wide = {}
    for path in staff_pages(db):
        response = page.goto(path)
        assert response.ok, (path, response.status)
        page.wait_for_load_state("load")
        if sideways(page) > 0:
            wide[path] = sideways(page)
    assert wide == {}, f"pages wider than the phone (px too wide): {wide}"


# The page's tap targets smaller than 44x44 CSS px. Exempt, as WCAG 2.5.5 exempts them: a link
# inside running text (its block holds other text too). A checkbox, radio or file input counts
# with its label (a tap on either works); a link around a photo is as large as the photo.
SMALL_TARGETS = """() => {
  const small = [];
  const inText = (el) => {
    if (el.tagName !== 'A' || getComputedStyle(el).display !== 'inline') return false;
    return Array.from(el.parentElement.childNodes).some((n) => n !== el && n.textContent.trim());
  };
  const targets = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]';
  document.querySelectorAll(targets).forEach((el) => {
    if (el.closest('[hidden], .skip, details:not([open]) > :not(summary)') || el.querySelector('img')) return;
    let boxes = [el.getBoundingClientRect()];
    if (['checkbox', 'radio', 'file'].includes(el.type)) {
      boxes = boxes.concat(Array.from(el.labels || []).map((label) => label.getBoundingClientRect()));
    } else if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') {
      return;  // not shown
    }
    const box = boxes.sort((a, b) => b.width * b.height - a.width * a.height)[0];
    if (!inText(el) && (box.width < 44 || box.height < 44)) {
      const name = (el.getAttribute('aria-label') || el.textContent || el.name || '').trim();
      small.push(`${el.tagName.toLowerCase()} "${name.slice(0, 40)}" ${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  });
  return small;
}"""


def test_every_tap_target_on_every_staff_page_is_at_least_44_px(phone, district, db):
    page = phone()
    log_in(page, district["coordinator"])
    small = {}
    for path in staff_pages(db):
        page.goto(path)
        page.wait_for_load_state("load")
        if page.locator("#walk-map").count():  # the walk page's map and its zoom buttons
            expect(page.locator(".leaflet-control-zoom-in")).to_be_visible()
        found = page.evaluate(SMALL_TARGETS)
        if found:
            small[path] = found
    assert small == {}, f"tap targets under 44x44 px: {small}"


def test_the_staff_menu_fits_a_phone_and_opens_without_javascript(phone, district):
    for scripts in (True, False):
        page = phone(java_script_enabled=scripts)
        log_in(page, district["coordinator"])
        expect(page.locator(".nav-wide")).to_be_hidden()  # no row of links running off-screen
        menu = page.locator(".nav-menu > summary")
        expect(menu).to_be_visible()
        menu.click()
        links = page.locator(".nav-menu nav a, .nav-menu nav button")
        assert links.count() >= 8  # walks, tasks, dashboard, parties, zones, account, ...
        for i in range(links.count()):
            box = links.nth(i).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 360, links.nth(i).text_content()
            assert box["height"] >= 44
        page.locator(".nav-menu nav a", has_text=re.compile("^(Parter|Parties)$")).click()
        expect(page).to_have_url(re.compile(r"/parties$"))


def test_on_a_wide_screen_the_links_are_in_a_row(phone, district):
    page = phone(viewport={"width": 1280, "height": 800}, is_mobile=False, has_touch=False)
    log_in(page, district["coordinator"])
    expect(page.locator(".nav-menu")).to_be_hidden()
    expect(page.locator(".nav-wide a", has_text=re.compile("^(Parter|Parties)$"))).to_be_visible()
