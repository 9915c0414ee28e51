"""Every page a person meets passes axe-core, and the capture form works from the keyboard."""

import re

import pytest
from axe_playwright_python.base import AxeResults
from conftest import make_place, make_user, make_walk
from playwright.sync_api import Page, expect

from .conftest import assert_accessible, axe, choose_category, join, log_in, staff_pages
from .test_capture import CANON


@pytest.fixture
def coordinator(db):
    return make_user(db, "coordinator")


@pytest.fixture
def walk(db, coordinator):
    return make_walk(
        db,
        make_place(db),
        coordinator["id"],
        state="ongoing",
        meeting_point="Vid tunnelbanans entré",
        meeting_lat=59.3551,
        meeting_lon=17.8823,
        invitation_text="Välkommen! Vi går en timme.",
    )


def record(page: Page, code: str = "lighting") -> None:
    """Record an observation with a photo on the capture screen and wait until it is listed."""
    stored = page.locator("#observation-list li.observation:not(.pending)")
    count = stored.count()
    choose_category(page, code)
    page.locator("#photos").set_input_files(CANON)
    page.locator("#save").click()
    expect(stored).to_have_count(count + 1)  # confirmed by the server, not only queued


@pytest.mark.parametrize("locale, lang", [("sv-SE", "sv"), ("en-GB", "en")])
def test_capture_page_is_accessible_before_and_after_recording(phone, walk, locale, lang):
    page = phone(locale=locale)
    join(page, walk, "Kim")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    assert_accessible(page)
    choose_category(page, "people")  # the first action asks for the position
    expect(page.locator("input[name=location_source]")).to_have_value("device")
    assert_accessible(page)
    record(page)
    assert_accessible(page)


def test_capture_page_with_field_errors_is_accessible(phone, walk, tmp_path):
    fake = tmp_path / "x.jpg"
    fake.write_text("not a photo")
    page = phone()
    join(page, walk, "Kim")
    page.locator("#photos").set_input_files(fake)
    page.locator("#save").click()
    expect(page.locator("#category-error")).to_be_visible()
    expect(page.locator("#photos-error")).to_be_visible()
    assert_accessible(page)


def test_capture_page_with_field_errors_from_server_is_accessible(phone, walk, tmp_path):
    fake = tmp_path / "x.jpg"
    fake.write_text("not a photo")
    phone.expect_console_error(r"status of 415 \(UNSUPPORTED MEDIA TYPE\)")
    page = phone()
    # As before capture.js has arrived, the form posts itself. (axe needs JavaScript, so the
    # page cannot simply have it switched off.)
    page.route(
        "**/static/js/capture.js?*",
        lambda route: route.fulfill(content_type="text/javascript", body="/* not yet */"),
    )
    join(page, walk, "Kim")
    page.locator("#photos").set_input_files(fake)
    page.locator("#save").click()
    expect(page.locator("#category-error")).to_be_visible()
    expect(page.locator("#photos-error")).to_be_visible()
    assert_accessible(page)


def test_walk_page_is_accessible_to_staff(phone, walk, coordinator):
    resident = phone()
    join(resident, walk, "Kim")
    record(resident)
    page = phone()
    log_in(page, coordinator)
    page.goto(f"/walks/{walk['id']}")
    expect(page.locator("#observation-list li.observation")).to_have_count(1)
    expect(page.locator("#walk-map .pin")).to_have_count(2)  # the meeting point and one report
    assert_accessible(page)


def test_walk_page_is_accessible_to_residents(phone, walk):
    page = phone()
    join(page, walk, "Kim")
    record(page)
    page.goto(f"/walks/{walk['id']}")
    expect(page.locator("#walk-map .pin")).to_have_count(2)
    assert_accessible(page)


def test_join_page_is_accessible(phone, walk):
    page = phone()
    page.goto(f"/j/{walk['invite_token']}")
    assert_accessible(page)


def test_login_page_is_accessible_also_after_a_wrong_password(phone, coordinator):
    phone.expect_console_error(r"status of 401 \(UNAUTHORIZED\)")
    page = phone()
    page.goto("/login")
    assert_accessible(page)
    log_in(page, coordinator, password="wrong horse battery")
    expect(page.locator("main .alert[role=alert]")).to_be_visible()
    assert_accessible(page)


def test_home_page_is_accessible_to_newcomers_residents_and_staff(phone, walk, coordinator):
    page = phone()
    page.goto("/")
    assert_accessible(page)
    join(page, walk, "Kim")
    record(page)
    page.goto("/")
    expect(page.locator("main .cards")).to_be_visible()
    assert_accessible(page)
    staff = phone()
    log_in(staff, coordinator)
    assert_accessible(staff)


def test_walk_form_is_accessible_also_with_errors(phone, walk, coordinator):
    phone.expect_console_error(r"status of 400 \(BAD REQUEST\)")
    page = phone()
    log_in(page, coordinator)
    page.goto("/walks/new")
    assert_accessible(page)
    page.locator("main form button.primary").click()
    expect(page.locator("#title-error")).to_be_visible()
    expect(page.locator("#title")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)


def test_walk_form_meeting_point_can_be_set_with_keyboard(phone, walk, coordinator):
    page = phone()
    log_in(page, coordinator)
    page.goto("/walks/new")
    page.locator("#meeting_point").focus()
    tab_to(page, "el.id === 'walk-form-map'")
    page.keyboard.press("Enter")
    latitude = float(page.locator("input[name=meeting_lat]").input_value())
    longitude = float(page.locator("input[name=meeting_lon]").input_value())
    # The map starts fitted to the first place, Råcksta: its middle is inside the polygon.
    assert 59.352 <= latitude <= 59.358 and 17.876 <= longitude <= 17.889
    expect(page.locator("#walk-form-map .pin.meeting")).to_have_count(1)


# What the focused element looks like. A control hidden for looks (the photo input behind its
# big label button) must show its focus on the label that stands in for it.
FOCUS_STATE = """() => {
  const el = document.activeElement;
  const ring = e => {
    const s = getComputedStyle(e);
    return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
  };
  const box = el.getBoundingClientRect(), style = getComputedStyle(el);
  const stand_in = box.width <= 1 || box.height <= 1 || style.opacity === '0';
  return {
    what: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.name ? '[name=' + el.name + ']' : ''),
    id: el.id,
    visible: stand_in ? Array.from(el.labels || []).some(ring) : ring(el),
  };
}"""
NOT_WIDGETS = {"RootWebArea", "main"}  # focusable only from script (main has tabindex=-1)


def focused_name(cdp) -> str:
    """The accessible name Chromium computes for the focused element."""
    handle = cdp.send("Runtime.evaluate", {"expression": "document.activeElement"})
    tree = cdp.send(
        "Accessibility.getPartialAXTree",
        {"objectId": handle["result"]["objectId"], "fetchRelatives": False},
    )
    return (tree["nodes"][0].get("name") or {}).get("value", "").strip()


def tab_through_capture_form(page: Page) -> list[dict]:
    """Press Tab from the top of the page until the save button; what got focus, in order."""
    cdp = page.context.new_cdp_session(page)
    stops = []
    for _ in range(60):
        page.keyboard.press("Tab")
        state = page.evaluate(FOCUS_STATE)
        state["name"] = focused_name(cdp)
        stops.append(state)
        if state["id"] == "save":
            return stops
    pytest.fail("Tab never reached the save button: " + ", ".join(s["what"] for s in stops))


def test_capture_form_by_keyboard_shows_focus_and_names_every_control(phone, walk):
    page = phone()
    join(page, walk, "Kim")

    stops = tab_through_capture_form(page)
    reached = {s["id"] for s in stops}
    assert {"photos", "gallery", "description", "urgent", "change-position", "save"} <= reached
    assert any(s["what"] == "input[name=category]" for s in stops)
    unseen = [s["what"] for s in stops if not s["visible"]]
    assert not unseen, f"focus is not visible on {unseen}"
    unnamed = [s["what"] for s in stops if not s["name"]]
    assert not unnamed, f"no accessible name: {unnamed}"

    # Also the controls Tab skips (the other radios of a group): everything focusable is named.
    cdp = page.context.new_cdp_session(page)
    unnamed = []
    for node in cdp.send("Accessibility.getFullAXTree")["nodes"]:
        props = {p["name"]: p["value"].get("value") for p in node.get("properties", [])}
        role = node.get("role", {}).get("value")
        named = (node.get("name") or {}).get("value", "").strip()
        widget = props.get("focusable") and not node.get("ignored") and role not in NOT_WIDGETS
        if widget and not named:
            unnamed.append(f"{role} (DOM node {node.get('backendDOMNodeId')})")
    assert not unnamed, f"focusable without an accessible name: {unnamed}"


def tab_to(page: Page, condition: str, limit: int = 40) -> None:
    """Press Tab until `condition` (a JS expression about document.activeElement) holds."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(el => {condition})(document.activeElement)"):
            return
    pytest.fail(f"Tab never reached an element where {condition}")


def test_observation_can_be_recorded_with_keyboard_alone_pin_set_on_map(phone, walk, db):
    # No position from the phone: the pin has to be put on the map, here with keys only.
    page = phone(permissions=[])
    join(page, walk, "Kim")
    tab_to(page, "el.name === 'category'")
    page.keyboard.press("ArrowDown")  # the second category: vegetation
    expect(page.locator("#category input[value=vegetation]")).to_be_checked()
    tab_to(page, "el.id === 'change-position'")
    page.keyboard.press("Enter")  # the map opens, with the focus on it
    expect(page.locator("#capture-map")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("input[name=location_source]")).to_have_value("map")
    tab_to(page, "el.id === 'save'")
    page.keyboard.press("Enter")
    # Queued on the phone first (a "waiting" item), then confirmed by the server.
    expect(page.locator("#observation-list li.observation:not(.pending)")).to_have_count(1)

    [observation] = [dict(r) for r in db.execute("SELECT * FROM observations")]
    assert observation["category"] == "vegetation"
    assert observation["location_source"] == "map"
    # The pin lands in the middle of the map, which starts fitted to the walk's place.
    assert 59.352 <= observation["lat"] <= 59.358 and 17.876 <= observation["lon"] <= 17.889


# --- every page, in both themes, on a 360 px phone --------------------------------------------


def resident_pages(page: Page, db) -> list[str]:
    """A resident's pages, reached as a resident does: by the invitation link of the demo walk."""
    walk = db.execute("SELECT * FROM walks WHERE state = 'planned'").fetchone()
    page.goto(f"/j/{walk['invite_token']}")
    pages = [f"/j/{walk['invite_token']}"]
    page.locator("main form button").click()
    expect(page).to_have_url(re.compile(rf"/walks/{walk['id']}/capture$"))
    record(page, "vegetation")
    observation = db.execute(
        "SELECT id FROM observations WHERE walk_id = ? ORDER BY rowid DESC", [walk["id"]]
    ).fetchone()[0]
    return pages + [
        f"/walks/{walk['id']}/capture",
        f"/walks/{walk['id']}",
        "/",
        f"/observations/{observation}",
        f"/status/{observation}",
        "/outbox",
        "/offline",
        "/login",
    ]


# What the dark theme changes is colour alone (CSS variables under [data-theme=dark]; no
# script reads the theme): on the same page, only axe's colour rules can answer differently.
EVERY_RULE = {"resultTypes": ["violations"]}
COLOUR_RULES = {
    **EVERY_RULE,
    "runOnly": {"type": "rule", "values": ["color-contrast", "link-in-text-block"]},
}


def test_every_page_passes_axe_in_both_themes_on_a_phone(phone, district, db):
    """axe-core on every page a resident or a coordinator opens, at 360 px: every rule in the
    light theme, then the colour rules again with the page switched to the dark theme."""
    violations = {}

    def check(page: Page, path: str | None) -> None:
        """axe on `path`, or on the page as it is (None)."""
        if path is not None:
            page.goto(path)
        page.wait_for_load_state("load")
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        if page.locator("#walk-map").count():
            expect(page.locator(".leaflet-control-zoom-in")).to_be_visible()
        light = axe.run(page, options=EVERY_RULE)
        page.evaluate("document.documentElement.setAttribute('data-theme', 'dark')")
        # axe is on the page now: run again without sending its script a second time.
        dark = AxeResults(page.evaluate("options => axe.run(document, options)", COLOUR_RULES))
        for theme, results in (("light", light), ("dark", dark)):
            if results.violations_count:
                violations[f"{path or page.url} ({theme})"] = results.generate_report()

    def themed_phone() -> Page:
        """A phone whose theme switch was left on light, before any page of the run."""
        page = phone()
        page.context.add_init_script("localStorage.setItem('fieldwalk-theme', 'light')")
        return page

    resident = themed_phone()
    for path in resident_pages(resident, db):
        check(resident, path)
    staff = themed_phone()
    log_in(staff, district["coordinator"])
    for path in staff_pages(db):
        check(staff, path)
    # The engineer lands on "My tasks", which reloads itself sorted by distance from the phone.
    for role, landing, paths in (
        ("admin", r"/$", ["/admin/users"]),
        ("engineer", r"/tasks/mine\?sort=near", [None]),
    ):
        other = themed_phone()
        log_in(other, district[role], landing=landing)
        for path in paths:
            check(other, path)
    assert not violations, "\n\n".join(f"{path}:\n{report}" for path, report in violations.items())
