"""Dusk mode: a dark theme that follows the phone, a switch the phone remembers, no white flash."""

import pytest
from conftest import make_place, make_user, make_walk
from playwright.sync_api import Page, expect

from .conftest import join

# the person sees first. An init script runs before any of the page's own scripts.
FIRST_FRAME = """
requestAnimationFrame(() => {
  const root = document.documentElement;
  window.__firstFrame = {
    background: getComputedStyle(root).backgroundColor,
    theme: root.getAttribute('data-theme'),
  };
});
"""


def luminance(css_colour: str) -> float:
    """Relative luminance (WCAG) of an 'rgb(r, g, b)' colour."""
    channels = [int(c) / 255 for c in css_colour[css_colour.index("(") + 1 : -1].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def first_frame(page: Page) -> dict:
    # A function, not an expression: a string expression is eval()ed on later polls, which
    # the CSP (no unsafe-eval) refuses when the first poll finds nothing yet.
    page.wait_for_function("() => window.__firstFrame !== undefined")
    return page.evaluate("window.__firstFrame")


@pytest.fixture
def walk(db):
    coordinator = make_user(db, "coordinator")
    return make_walk(db, make_place(db), coordinator["id"], state="ongoing")


def test_the_theme_follows_the_phone_until_the_person_chooses(phone, walk):
    page = phone(color_scheme="dark")
    page.context.add_init_script(FIRST_FRAME)
    join(page, walk, "Kim")
    assert luminance(first_frame(page)["background"]) < 0.05
    switch = page.locator("#theme-switch")
    expect(switch).to_have_attribute("aria-pressed", "true")
    expect(page.locator("html")).not_to_have_attribute("data-theme", "light")

    light = phone(color_scheme="light")
    light.context.add_init_script(FIRST_FRAME)
    light.goto("/")
    assert luminance(first_frame(light)["background"]) > 0.9
    expect(light.locator("#theme-switch")).to_have_attribute("aria-pressed", "false")


def test_the_switch_is_remembered_and_nothing_white_flashes_on_the_next_pages(phone, walk):
    page = phone(color_scheme="light")
    page.context.add_init_script(FIRST_FRAME)
    join(page, walk, "Kim")
    page.locator("#theme-switch").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.locator("#theme-switch")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("localStorage.getItem('fieldwalk-theme')") == "dark"

    for path in (f"/walks/{walk['id']}", "/", f"/walks/{walk['id']}/capture"):
        page.goto(path)
        frame = first_frame(page)
        assert frame["theme"] == "dark", path
        assert luminance(frame["background"]) < 0.05, (path, frame)

    page.locator("#theme-switch").click()  # and back
    page.goto("/")
    assert luminance(first_frame(page)["background"]) > 0.9
    assert page.evaluate("localStorage.getItem('fieldwalk-theme')") == "light"


def test_map_tiles_are_dimmed_in_the_dark_theme_only(phone, walk):
    page = phone(color_scheme="dark")
    join(page, walk, "Kim")
    page.goto(f"/walks/{walk['id']}")
    panes = page.locator("#walk-map .leaflet-tile-pane")
    expect(panes).to_have_count(1)
    assert "brightness" in panes.evaluate("el => getComputedStyle(el).filter")
    page.locator("#theme-switch").click()
    assert panes.evaluate("el => getComputedStyle(el).filter") == "none"


def test_without_javascript_the_phone_setting_still_applies(phone, walk):
    page = phone(color_scheme="dark", java_script_enabled=False)
    page.goto(f"/j/{walk['invite_token']}")
    # Playwright's own evaluate works with the page's scripts off.
    colour = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert luminance(colour) < 0.05
    expect(page.locator("#theme-switch")).to_be_hidden()  # it needs JavaScript to work
