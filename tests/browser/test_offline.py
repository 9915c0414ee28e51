"""Works with no signal: what a phone records offline reaches the server exactly once.

"Offline" here is real for the service worker too: Playwright's offline switch does not cut
the worker's own requests, so every test also routes every request of the phone (pages,
scripts, the worker's fetches) to a network failure while the network is "down".
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import PHOTOS, make_place, make_user, make_walk
from playwright.sync_api import BrowserContext, Page, expect

from fieldwalk.db import connect

from .conftest import Phones

ROOT = Path(__file__).resolve().parents[2]
CANON = PHOTOS / "camera" / "Canon_40D.jpg"
NIKON = PHOTOS / "camera" / "Nikon_D70.jpg"
PENTAX = PHOTOS / "camera" / "Pentax_K10D.jpg"
NETWORK_ERRORS = (
    r"net::ERR_|Failed to (load resource|fetch)|NetworkError|TypeError: Failed"
    # htmx polling while offline: the worker answers 503, or the request fails outright
    r"|Response Status Error Code 503|htmx:sendError|htmx:afterRequest"
)


class Network:
    """The phone's network: up, down, or flaky, for pages and the service worker alike."""

    def __init__(self, context: BrowserContext):
        self.context = context
        self.down = False
        self.flaky: str | None = None  # None, or "drop-request" / "lose-response" alternately
        self.seen = 0
        self.on_request = None
        context.route("**/*", self._route)

    def _route(self, route):
        if self.on_request:
            self.on_request(route.request)
        if self.down:
            route.abort("internetdisconnected")
            return
        if self.flaky and route.request.url.split("?")[0].split("/api/v1/")[-1].startswith(
            "observations"
        ):
            self.seen += 1
            if self.seen % 2 == 1:
                if self.seen % 4 == 1:
                    route.abort("connectionreset")  # never reached the server
                else:
                    route.fetch()  # the server stored it, the phone never heard back
                    route.abort("connectionreset")
                return
        route.fallback()

    def go_offline(self) -> None:
        self.down = True
        self.context.set_offline(True)

    def go_online(self) -> None:
        self.down = False
        self.context.set_offline(False)


def wait_until(check, timeout: float = 30.0, message: str = "condition", page: Page | None = None):
    """Poll `check()` until it returns a truthy value.

    With a `page`, waiting goes through Playwright, which is when the sync API runs route
    handlers: a plain sleep would hold every routed request of the phone until the next call.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message} (last: {value!r})")
        if page is not None:
            page.wait_for_timeout(200)
        else:
            time.sleep(0.2)


def outbox_size(page: Page) -> int:
    return page.evaluate("FieldwalkOutbox.all().then(entries => entries.length)")


def outbox_entries(page: Page) -> list[dict]:
    return page.evaluate(
        "FieldwalkOutbox.all().then(es => es.map(e => ({id: e.id, state: e.state, error: e.error,"
        " photos: e.photos.length, sent: e.photos.filter(p => p.sent).length})))"
    )


def kept_for_offline(page: Page) -> None:
    """Wait until the service worker is active and has kept this page for offline use."""
    wait_until(
        lambda: page.evaluate(
            "navigator.serviceWorker.ready"
            ".then(() => caches.match(location.href, {ignoreVary: true})).then(found => !!found)"
        ),
        timeout=15,
        message="the page to be kept for offline use",
    )


def join(page: Page, walk: dict, name: str = "Kim") -> None:
    page.goto(f"/j/{walk['invite_token']}")
    page.locator("#display_name").fill(name)
    page.locator("main form button").click()
    expect(page).to_have_url(re.compile(rf"/walks/{walk['id']}/capture$"))
    page.wait_for_load_state("domcontentloaded")
    kept_for_offline(page)


def record(page: Page, description: str, photos: list[Path], category: str = "lighting") -> None:
    page.locator(f"#category input[value={category}]").check()
    if photos:
        page.locator("#photos").set_input_files(photos)
        expect(page.locator("#photo-previews li")).to_have_count(len(photos))
    page.locator("#description").fill(description)
    page.locator("#save").click()
    expect(page.locator("#description")).to_have_value("")  # queued, form ready for the next


def counts(db_path: str) -> tuple[int, int]:
    db = connect(db_path)
    try:
        observations = db.execute("SELECT count(*) FROM observations").fetchone()[0]
        photos = db.execute("SELECT count(*) FROM photos").fetchone()[0]
    finally:
        db.close()
    return observations, photos


@pytest.fixture
def walk(db):
    coordinator = make_user(db, "coordinator")
    return make_walk(db, make_place(db), coordinator["id"], state="ongoing")


def test_walk_recorded_offline_is_kept_across_a_reload_and_arrives_exactly_once(phone, walk, app):
    phone.expect_console_error(NETWORK_ERRORS)
    page = phone()
    net = Network(page.context)
    join(page, walk)

    net.go_offline()
    record(page, "Trasig lampa i tunneln", [CANON])
    record(page, "Buskar skymmer sikten", [NIKON, PENTAX], category="vegetation")
    record(page, "Klotter på väggen", [CANON], category="graffiti")
    expect(page.locator("#capture-status")).to_have_text(
        json.loads(page.locator("#capture-config").text_content())["msg"]["offline"]
    )
    assert counts(app.config["DATABASE_PATH"]) == (0, 0)

    page.reload()  # offline: the worker serves the page it kept; the outbox is in IndexedDB
    expect(page.locator("#observation-list li.pending")).to_have_count(3)
    expect(page.locator("#observation-list li.pending").first).to_contain_text("Klotter")
    expect(page.locator("#outbox-bar")).to_be_visible()
    expect(page.locator("#outbox-text")).to_contain_text("3")
    assert outbox_size(page) == 3

    net.go_online()  # the `online` event starts the replay
    wait_until(lambda: outbox_size(page) == 0, message="the outbox to empty")
    assert counts(app.config["DATABASE_PATH"]) == (3, 4)
    expect(page.locator("#outbox-bar")).to_be_hidden()
    expect(page.locator("#observation-list li.observation:not(.pending)")).to_have_count(3)


def test_flaky_network_during_sync_still_delivers_everything_exactly_once(phone, walk, app):
    phone.expect_console_error(NETWORK_ERRORS)
    page = phone()
    net = Network(page.context)
    join(page, walk)
    net.go_offline()
    for i in range(3):
        record(page, f"Observation {i}", [CANON, NIKON])
    net.flaky = "alternate"  # every other API request is dropped or loses its answer
    net.go_online()
    wait_until(
        lambda: page.evaluate("FieldwalkSync.now().then(() => FieldwalkOutbox.all())") == [],
        timeout=60,
        message="every entry to be confirmed",
    )
    assert net.seen >= 9, "the flaky network really was in the way"
    assert counts(app.config["DATABASE_PATH"]) == (3, 6)


def test_two_tabs_replaying_the_same_outbox_at_once_store_nothing_twice(phone, walk, app):
    phone.expect_console_error(NETWORK_ERRORS)
    first = phone()
    net = Network(first.context)
    join(first, walk)
    net.go_offline()
    for i in range(4):
        record(first, f"Tab test {i}", [CANON])
    # The second tab has no Web Locks, so both really replay at the same time; only the
    # server's idempotency stands between them and duplicates.
    first.context.add_init_script("delete Navigator.prototype.locks;")
    second = first.context.new_page()
    first.route("**/api/**", lambda route: route.abort("internetdisconnected"))
    second.route("**/api/**", lambda route: route.abort("internetdisconnected"))
    net.go_online()
    second.goto(f"/walks/{walk['id']}/capture")
    assert second.evaluate("'locks' in navigator") is False
    first.unroute("**/api/**")
    second.unroute("**/api/**")
    start = "() => { window.__replay = FieldwalkOutbox.replay({force: true}); }"
    first.evaluate(start)
    second.evaluate(start)
    wait_until(
        lambda: first.evaluate("FieldwalkSync.now().then(() => FieldwalkOutbox.all())") == [],
        message="the outbox to empty",
    )
    assert counts(app.config["DATABASE_PATH"]) == (4, 4)


def test_an_entry_the_server_refuses_stays_on_the_phone_with_its_reason(phone, walk, app, db):
    phone.expect_console_error(NETWORK_ERRORS + r"|403|409")
    page = phone()
    net = Network(page.context)
    join(page, walk)
    net.go_offline()
    record(page, "Refused later: too long by then", [CANON])
    record(page, "x", [])
    entries = outbox_entries(page)
    conflicting = next(e["id"] for e in entries if e["photos"] == 0)
    # Meanwhile on the server: the same UUID got other content (409), and descriptions got a
    # tighter limit (the first entry will be refused with 400 and a field message).
    coordinator = db.execute("SELECT id FROM users").fetchone()[0]
    from fieldwalk.observations.model import put_observation, validate

    clean = validate(
        {"category": "other", "description": "Server copy", "walk_id": walk["id"]}, 2000, 12
    )
    put_observation(db, conflicting, clean, walk=walk, user_id=coordinator)
    app.config["MAX_DESCRIPTION_LENGTH"] = 10

    net.go_online()
    wait_until(
        lambda: all(e["state"] != "waiting" for e in outbox_entries(page)),
        message="both entries to be judged",
    )
    states = {e["id"]: e for e in outbox_entries(page)}
    assert states[conflicting]["state"] == "conflict"
    refused = next(e for e in states.values() if e["id"] != conflicting)
    assert refused["state"] == "rejected" and refused["error"]
    # Nothing is dropped: both stay, visible with their reasons, until the person decides.
    page.goto("/outbox")
    expect(page.locator("#outbox-list li")).to_have_count(2)
    expect(page.locator("#outbox-list li.problem")).to_have_count(2)
    expect(page.locator(f"#outbox-{refused['id']} .reason")).to_contain_text(refused["error"])
    expect(page.locator(f"#outbox-{conflicting} .as-new")).to_be_visible()
    assert db.execute("SELECT description FROM observations").fetchone()[0] == "Server copy"


def test_a_new_app_version_while_the_outbox_holds_entries_loses_nothing(phone, walk, app):
    phone.expect_console_error(NETWORK_ERRORS)
    page = phone()
    net = Network(page.context)
    join(page, walk)
    net.go_offline()
    record(page, "Before the upgrade", [CANON])
    record(page, "Also before", [NIKON])

    app.config["RELEASE"] = "next"  # a deployment: the worker script changes
    # Still offline for the outbox: only the worker update gets through.
    page.route("**/api/**", lambda route: route.abort("internetdisconnected"))
    net.go_online()
    old_caches = page.evaluate("caches.keys()")
    page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
    expect(page.locator("#update-banner")).to_be_visible(timeout=15_000)
    assert outbox_size(page) == 2
    page.locator("#update-button").click()  # the person says yes: reload under the new worker
    page.wait_for_function(
        "() => navigator.serviceWorker.controller"
        " && !document.querySelector('#update-banner:not([hidden])')"
    )
    wait_until(
        lambda: set(page.evaluate("caches.keys()")) - set(old_caches),
        message="the new version's caches",
    )
    assert not any(
        k.startswith("fieldwalk-shell-")
        for k in set(old_caches) & set(page.evaluate("caches.keys()"))
    ), "the old version's shell cache was removed on activate"
    assert outbox_size(page) == 2, "the outbox survived the new version"
    page.unroute("**/api/**")
    page.evaluate("FieldwalkSync.now()")
    wait_until(lambda: outbox_size(page) == 0, message="the outbox to empty")
    assert counts(app.config["DATABASE_PATH"]) == (2, 2)


STORES_JS = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open('fieldwalk-outbox');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result, counts = {version: db.version};
    const names = Array.from(db.objectStoreNames);
    const tx = db.transaction(names);
    names.forEach((name) => {
      tx.objectStore(name).count().onsuccess = (e) => { counts[name] = e.target.result; };
    });
    tx.oncomplete = () => { db.close(); resolve(counts); };
  };
})"""

# The outbox as version 1 of the app left it: photo bytes inside the entry.
VERSION_1_JS = """([walkId, bytes]) => new Promise((resolve, reject) => {
  const gone = indexedDB.deleteDatabase('fieldwalk-outbox');
  gone.onsuccess = () => {
    const open = indexedDB.open('fieldwalk-outbox', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('entries', {keyPath: 'id'});
    open.onsuccess = () => {
      const db = open.result;
      const id = crypto.randomUUID(), photo = crypto.randomUUID();
      const data = new Uint8Array(bytes).buffer;
      const tx = db.transaction('entries', 'readwrite');
      tx.objectStore('entries').put({
        id: id, seq: Date.now() * 1000, created_at: new Date().toISOString(), walk_id: walkId,
        meta: {label: 'Belysning'},
        body: {category: 'lighting', description: 'Sparad av version 1', walk_id: walkId,
               works_well: false, feeling: 2, urgent: false, lat: null, lon: null,
               accuracy_m: null, location_source: null,
               captured_at: new Date().toISOString(), photos: [photo]},
        photos: [{id: photo, name: 'IMG_1.jpg', type: 'image/jpeg', size: data.byteLength,
                  data: data, sent: false, state: 'waiting', error: ''}],
        observation_sent: false, state: 'waiting', error: '', fields: null, attempts: 0,
        next_attempt_at: 0});
      tx.oncomplete = () => { db.close(); resolve({id: id, photo: photo}); };
      tx.onerror = () => reject(tx.error);
    };
    open.onerror = () => reject(open.error);
  };
  gone.onerror = () => reject(gone.error);
})"""


def test_an_outbox_left_by_the_previous_app_version_is_moved_over_and_delivered(phone, walk, app):
    """Version 2 keeps photo bytes in their own store; what version 1 queued arrives whole."""
    phone.expect_console_error(NETWORK_ERRORS)
    page = phone()
    net = Network(page.context)
    join(page, walk)
    net.go_offline()
    page.goto("/offline")  # kept by the worker; it opens no outbox
    photo = CANON.read_bytes()
    queued = page.evaluate("(args) => (" + VERSION_1_JS + ")(args)", [walk["id"], list(photo)])
    assert page.evaluate(STORES_JS) == {"version": 1, "entries": 1}

    page.goto(f"/walks/{walk['id']}/capture")  # offline: the kept page, with the new code
    expect(page.locator("#outbox-text")).to_contain_text("1")
    assert page.evaluate(STORES_JS) == {"version": 2, "entries": 1, "photos": 1}
    entry = page.evaluate("FieldwalkOutbox.all().then(es => es[0])")
    assert entry["id"] == queued["id"] and "data" not in entry["photos"][0]
    moved = page.evaluate(f"FieldwalkOutbox.photoData('{queued['photo']}').then(d => d.byteLength)")
    assert moved == len(photo)

    net.go_online()
    wait_until(lambda: outbox_size(page) == 0, message="the outbox to empty", page=page)
    assert counts(app.config["DATABASE_PATH"]) == (1, 1)
    assert page.evaluate(STORES_JS) == {"version": 2, "entries": 0, "photos": 0}


def test_a_conflict_sent_as_new_arrives_with_its_photo_and_leaves_nothing_behind(
    phone, walk, app, db
):
    phone.expect_console_error(NETWORK_ERRORS + r"|409")
    page = phone()
    net = Network(page.context)
    join(page, walk)
    net.go_offline()
    record(page, "Lampan är trasig igen", [NIKON])
    (queued,) = outbox_entries(page)
    from fieldwalk.observations.model import put_observation, validate

    coordinator = db.execute("SELECT id FROM users").fetchone()[0]
    clean = validate(
        {"category": "other", "description": "Server copy", "walk_id": walk["id"]}, 2000, 12
    )
    put_observation(db, queued["id"], clean, walk=walk, user_id=coordinator)

    net.go_online()
    wait_until(lambda: outbox_entries(page)[0]["state"] == "conflict", message="the 409", page=page)
    page.goto("/outbox")
    page.locator(f"#outbox-{queued['id']} .as-new").click()
    wait_until(lambda: outbox_size(page) == 0, message="the outbox to empty", page=page)
    assert counts(app.config["DATABASE_PATH"]) == (2, 1)
    ours = db.execute(
        "SELECT id FROM observations WHERE description = 'Lampan är trasig igen'"
    ).fetchone()[0]
    assert ours != queued["id"]
    (photo_owner,) = db.execute("SELECT observation_id FROM photos").fetchone()
    assert photo_owner == ours
    assert page.evaluate(STORES_JS) == {"version": 2, "entries": 0, "photos": 0}


def test_a_photo_gone_from_the_phone_is_shown_as_the_reason_not_sent_empty(phone, walk, app):
    """Storage cleared by hand under a queued photo: the observation still arrives, the entry
    stays with the reason in the person's language until they discard it."""
    phone.expect_console_error(NETWORK_ERRORS)
    page = phone()
    net = Network(page.context)
    join(page, walk)
    net.go_offline()
    record(page, "Fotot försvinner", [CANON])
    page.evaluate(
        """() => new Promise((resolve) => {
          const open = indexedDB.open('fieldwalk-outbox');
          open.onsuccess = () => {
            const tx = open.result.transaction('photos', 'readwrite');
            tx.objectStore('photos').clear();
            tx.oncomplete = () => { open.result.close(); resolve(); };
          };
        })"""
    )
    net.go_online()
    wait_until(
        lambda: outbox_entries(page)[0]["state"] == "rejected", message="the refusal", page=page
    )
    assert outbox_entries(page)[0]["error"] == "Fotot finns inte längre på telefonen."
    assert counts(app.config["DATABASE_PATH"]) == (1, 0)
    page.goto("/outbox")
    expect(page.locator("#outbox-list li.problem .reason")).to_contain_text("inte längre")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#outbox-list li .discard").click()
    expect(page.locator("#outbox-list li")).to_have_count(0)
    assert page.evaluate(STORES_JS) == {"version": 2, "entries": 0, "photos": 0}


# --- a real server process, killed in the middle of a sync -----------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """The app under gunicorn, as `make run` serves it, in its own process group."""

    def __init__(self, instance: Path, port: int):
        self.instance, self.port, self.process = instance, port, None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        env = dict(os.environ, FIELDWALK_INSTANCE=str(self.instance))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "app:app",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._healthy, timeout=30, message="the server to start")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


def test_server_killed_mid_sync_and_restarted_still_gets_everything_exactly_once(browser, tmp_path):
    from fieldwalk import create_app

    instance = tmp_path / "instance"
    seed = create_app({"INSTANCE": str(instance)})
    db = connect(seed.config["DATABASE_PATH"])
    walk = make_walk(db, make_place(db), make_user(db, "coordinator")["id"], state="ongoing")
    db.close()
    server = ServerProcess(instance, _free_port())
    server.start()
    phones = Phones(browser, server.url)
    phones.expect_console_error(NETWORK_ERRORS)
    try:
        page = phones()
        net = Network(page.context)
        join(page, walk)
        net.go_offline()
        for i in range(4):
            record(page, f"Crash test {i}", [CANON, NIKON])
        photo_puts = []

        def kill_on_third_photo(request):
            if request.method == "PUT" and "/photos/" in request.url:
                photo_puts.append(request.url)
                if len(photo_puts) == 3:
                    server.kill()  # mid-sync, with this very upload on its way

        net.on_request = kill_on_third_photo
        net.go_online()
        wait_until(
            lambda: server.process.poll() is not None, message="the server to die", page=page
        )
        page.wait_for_timeout(500)
        assert outbox_size(page) > 0, "the kill interrupted the sync"
        net.on_request = None
        server.start()
        wait_until(
            lambda: page.evaluate("FieldwalkSync.now().then(() => FieldwalkOutbox.all())") == [],
            timeout=60,
            message="the outbox to empty after the restart",
        )
        assert counts(str(instance / "fieldwalk.db")) == (4, 8)
        check = connect(str(instance / "fieldwalk.db"))
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        check.close()
        phones.check()
    finally:
        phones.close()
        if server.process.poll() is None:
            server.kill()


def test_back_in_signal_a_phone_waits_a_random_moment_before_it_sends(phone, walk, app):
    """A crowd that gets its signal back together would send in the same instant: on
    `online` (and the worker's background sync) the replay starts after a random wait of up to
    3 s (static/js/outbox.js's spread). With the dice at their highest the wait is the whole
    3 s (timers never fire early, so a slow machine cannot fail this), at their lowest none;
    and a phone back online still delivers everything."""
    phone.expect_console_error(NETWORK_ERRORS)
    page = phone()
    join(page, walk)
    waited = page.evaluate(
        """async () => {
            const waited = [];
            for (const dice of [0.99, 0]) {
                Math.random = () => dice;
                const start = performance.now();
                await FieldwalkOutbox.spread();
                waited.push(performance.now() - start);
            }
            return waited;
        }"""
    )
    assert waited[0] >= 0.99 * 3000 - 5 and waited[1] < 1000, waited
    net = Network(page.context)
    net.go_offline()
    record(page, "Trasig lampa i tunneln", [CANON])
    net.go_online()
    wait_until(lambda: outbox_size(page) == 0, message="the outbox to empty")
    assert counts(app.config["DATABASE_PATH"]) == (1, 1)
