"""Playwright fixtures: a phone in headless Chromium against the live server.

Every page a test opens is watched: a console error, an uncaught exception or a
Content-Security-Policy violation fails the test that caused it. Requests to anything but the
live server never leave the machine (map tiles get a blank tile, everything else is aborted),
so the tests do not hang on a closed network and cannot quietly depend on a CDN.
"""

import base64
import re
import shutil
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import LiveServer, seed_demo
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

HERE = Path(__file__).parent
# How long a step or an expectation waits for the page: a wait, not a limit. On a loaded
# machine (the suite beside other work) the phone's own work took longer than Playwright's
# defaults (5 s for `expect`): three photos made smaller in the page before the outbox said
# it was offline. A page that never gets there still fails, 15 s later.
WAIT_MS = 15_000
expect.set_options(timeout=WAIT_MS)
axe = Axe()  # axe-core, as the axe-playwright-python package ships it
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Root in a container; the rest keeps Chromium from calling home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Inside the Råcksta polygon of tests/conftest.py (59.352-59.358 N, 17.876-17.889 E).
POSITION = {"latitude": 59.35512, "longitude": 17.88234, "accuracy": 8}

PHONE = {
    "viewport": {"width": 360, "height": 740},
    "screen": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "sv-SE",
    "timezone_id": "Europe/Stockholm",
    "permissions": ["geolocation"],
    "geolocation": POSITION,
}


def log_in(
    page: Page,
    user: dict,
    landing: str | None = r"/$",
    *,
    password: str | None = None,
    tap: bool = False,
) -> None:
    """Log in through the form as `user` (its "email" and "password") and wait until the
    page it lands on (`landing`, a pattern of its URL; None: any page but the form) shows its
    heading. With `password` (a wrong one) the form is only sent. `tap`: a finger's tap on
    the button, as on a phone with touch, instead of a click."""
    page.goto("/login")
    page.locator("#email").fill(user["email"])
    page.locator("#password").fill(password or user["password"])
    button = page.locator("main form button")
    if tap:
        button.tap()
    else:
        button.click()
    if password is not None:
        return
    if landing is None:
        expect(page).not_to_have_url(re.compile(r"/login"))
    else:
        expect(page).to_have_url(re.compile(landing))
    # The URL changes before the new document is parsed: its heading says it is there.
    expect(page.locator("main h1").first).to_be_visible()


def assert_accessible(page: Page) -> None:
    """axe-core finds no violations on the page as it is now (once loaded)."""
    page.wait_for_load_state("load")
    results = axe.run(page)
    assert results.violations_count == 0, results.generate_report()


def no_sideways_scrolling(page: Page) -> None:
    """The page is no wider than a 360 px phone's screen."""
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 360, f"{page.url} is {width} px wide on a 360 px screen"


def fits_the_screen(page: Page) -> bool:
    """Whether the page is no wider than the window (nothing to scroll sideways)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def too_small(page: Page) -> tuple[int, list[str]]:
    """How many visible controls the main content has, and those smaller than 44 by 44 CSS
    pixels. A radio button is tapped through its label, so the label is what is measured."""
    return page.evaluate(
        """() => {
          const controls = [...document.querySelectorAll(
              'main button, main select, main input:not([type=hidden]):not([type=radio]),'
              + ' main textarea, main summary, main .segmented label, main a.button')]
            .filter(el => el.offsetParent !== null);
          const small = controls.filter(el => {
            const box = el.getBoundingClientRect();
            return box.height < 44 || box.width < 44;
          });
          return [controls.length, small.map(el => el.outerHTML.slice(0, 80))];
        }"""
    )


def choose_category(page: Page, code: str) -> None:
    """Pick a category on the capture screen by its code."""
    page.locator(f"#category input[value={code}]").check()


def join(page: Page, walk: dict, name: str) -> None:
    """Open the invitation link and join with a display name; lands on the capture screen."""
    page.goto(f"/j/{walk['invite_token']}")
    page.locator("#display_name").fill(name)
    page.locator("main form button").click()
    expect(page).to_have_url(re.compile(rf"/walks/{walk['id']}/capture$"))
    # Deferred scripts have run by DOMContentLoaded: the form is enhanced before we touch it.
    page.wait_for_load_state("domcontentloaded")


# A 1x1 transparent PNG, served in place of every map tile.
BLANK_TILE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

# Recorded into the page (window.__cspViolations) and reported to the test through a binding,
# so a violation on a page the test has already navigated away from is not lost.
CSP_WATCH = """
document.addEventListener('securitypolicyviolation', function (e) {
  var v = e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' in ' +
          (e.sourceFile || document.location.href) + ':' + e.lineNumber +
          (e.sample ? ' (' + e.sample + ')' : '');
  (window.__cspViolations = window.__cspViolations || []).push(v);
  if (window.__reportCspViolation) window.__reportCspViolation(v);
});
"""


def pytest_collection_modifyitems(items):
    """Mark everything under tests/browser, so `-m "not browser"` skips the slow suite."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run (Debian's; never a downloaded one)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Phones:
    """Opens phones (browser contexts) on the live server and collects what went wrong."""

    def __init__(self, browser, base_url: str):
        self.browser = browser
        self.base_url = base_url
        self.contexts: list[BrowserContext] = []
        self.problems: list[str] = []
        self.expected: list[re.Pattern] = []

    def expect_console_error(self, pattern: str) -> None:
        """Accept console errors matching `pattern` (say, the status of a refused form post)."""
        self.expected.append(re.compile(pattern))

    def __call__(self, **options) -> Page:
        """A new phone (its own cookies: another person) with one open page."""
        context = self.browser.new_context(base_url=self.base_url, **{**PHONE, **options})
        context.set_default_timeout(WAIT_MS)
        context.route(lambda url: not url.startswith(self.base_url + "/"), self._outside)
        context.on("console", self._console)
        context.on("weberror", lambda error: self.problems.append(f"uncaught: {error.error}"))
        context.expose_binding(
            "__reportCspViolation", lambda _source, text: self.problems.append(f"CSP: {text}")
        )
        context.add_init_script(CSP_WATCH)
        self.contexts.append(context)
        return context.new_page()

    def _outside(self, route):
        if route.request.resource_type == "image" and "tile" in route.request.url:
            route.fulfill(status=200, content_type="image/png", body=BLANK_TILE)
        else:
            self.problems.append(f"request outside the live server: {route.request.url}")
            route.abort("blockedbyclient")

    def _console(self, message):
        if message.type == "error" and not any(p.search(message.text) for p in self.expected):
            self.problems.append(
                f"console error on {message.page.url if message.page else '?'}: {message.text}"
            )

    def check(self) -> None:
        """Fail when any page logged an error or broke the CSP."""
        for context in self.contexts:
            for page in context.pages:
                try:  # also pumps Playwright's event queue, so late console events arrive
                    seen = page.evaluate("window.__cspViolations || []")
                except PlaywrightError:  # the page is closing
                    continue
                self.problems += [f"CSP: {v}" for v in seen if f"CSP: {v}" not in self.problems]
        problems, self.problems = self.problems, []
        if problems:
            pytest.fail("the browser reported problems:\n" + "\n".join(problems), pytrace=False)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def read_whole(file, block_size=8192):
    """A `wsgi.file_wrapper` that reads the file at once and closes it."""
    with file:
        return [file.read()]


@pytest.fixture
def live_server(app):
    """tests/conftest.py's live server, with static files and photos read whole, not streamed.

    Werkzeug's development server (3.1) skips closing the response when the client drops the
    connection: the `finally` of its `execute()` first drains the socket, which raises
    ConnectionResetError, so `application_iter.close()` never runs and WhiteNoise's (or
    send_file's) open file is left to the garbage collector: a ResourceWarning, an error under
    filterwarnings=error, in whichever test happens to be running. Browsers drop connections
    all the time (a favicon or service-worker fetch when a context closes). Production runs
    gunicorn, which closes the iterable; reading the file whole sidesteps the leak here.
    """
    inner = app.wsgi_app

    def wsgi_app(environ, start_response):
        environ["wsgi.file_wrapper"] = read_whole
        return inner(environ, start_response)

    app.wsgi_app = wsgi_app
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def phone(browser, live_server):
    """`phone(**context_options)` opens a page on a new phone; see PHONE for the defaults."""
    phones = Phones(browser, live_server.url)
    yield phones
    phones.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After a passing browser test, fail it if its pages reported problems."""
    result = yield
    phones = getattr(item, "funcargs", {}).get("phone")
    if isinstance(phones, Phones):
        phones.check()
    return result


@pytest.fixture
def district(app, runner, db):
    """The demo district; the logins by role."""
    _, logins = seed_demo(app, runner)
    return {
        role: {"email": email, "password": password} for email, (role, password) in logins.items()
    }


def staff_pages(db) -> list[str]:
    """Every page a coordinator can open, with the demo district's own ids."""

    def first(sql: str):
        return db.execute(sql).fetchone()[0]

    walk = first("SELECT id FROM walks WHERE state = 'finished'")
    planned = first("SELECT id FROM walks WHERE state = 'planned'")
    observation = first("SELECT id FROM observations WHERE walk_id IS NOT NULL ORDER BY rowid")
    task = first("SELECT id FROM tasks ORDER BY id")
    party = first("SELECT id FROM parties ORDER BY length(name) DESC")
    place = first("SELECT id FROM places ORDER BY length(name) DESC")
    zone = first("SELECT id FROM zones ORDER BY id")
    scene = first("SELECT id FROM places WHERE slug = 'hasselby-strand'")
    proposal = first("SELECT id FROM camera_proposals ORDER BY id")
    fact = first(
        """SELECT fact_key FROM place_facts WHERE place_id =
               (SELECT id FROM places WHERE slug = 'hasselby-strand') ORDER BY id"""
    )
    return [
        "/",
        "/walks/new",
        f"/walks/{walk}",
        f"/walks/{planned}",
        f"/walks/{walk}/edit",
        f"/walks/{walk}/capture",
        f"/walks/{walk}/tasks",
        f"/walks/{walk}/links",
        f"/walks/{walk}/protocol",
        f"/walks/{walk}/public",
        f"/walks/{walk}/poster",
        "/report",
        f"/observations/{observation}",
        f"/observations/{observation}/tasks/new",
        f"/status/{observation}",
        "/tasks",
        f"/tasks/{task}",
        "/tasks/triage",
        "/dashboard",
        "/parties",
        "/parties/new",
        f"/parties/{party}",
        f"/parties/{party}/edit",
        "/places",
        "/places/new",
        f"/places/{place}",
        f"/places/{place}/edit",
        "/zones",
        "/zones/new",
        f"/zones/{zone}/edit",
        "/zones/import",
        "/reports",
        "/reports/week",
        "/reports/year",
        f"/reports/year/places/{scene}",
        "/reports/year/scenes",
        "/measures",
        f"/places/{scene}/facts/new",
        f"/places/{scene}/facts/{fact}",
        f"/places/{scene}/cameras/new",
        f"/cameras/{proposal}",
        "/account/password",
        "/outbox",
        "/offline",
    ]
