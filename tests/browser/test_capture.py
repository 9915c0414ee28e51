"""A resident records observations on a phone: join by link, photo, position, live list."""

import json
import re
from pathlib import Path

import pytest
from conftest import PHOTOS, east_of_racksta, make_place, make_user, make_walk
from playwright.sync_api import Page, expect

from fieldwalk.places.nearness import is_far

from .conftest import POSITION, choose_category, join

CANON = PHOTOS / "camera" / "Canon_40D.jpg"
NIKON_GPS = PHOTOS / "gps" / "DSCN0010.jpg"
CHOOSE_CATEGORY = re.compile(r"^(Välj en kategori\.|Choose a category\.)$")


@pytest.fixture(autouse=True)
def _corpus_present():
    """The real photos live in tests/data/photos (see its README); say so when they are not."""
    if not CANON.is_file() or not NIKON_GPS.is_file():
        pytest.fail(f"photo corpus missing: expected {CANON} and {NIKON_GPS}")


@pytest.fixture
def walk(db):
    """An ongoing walk around Råcksta, planned by a coordinator."""
    coordinator = make_user(db, "coordinator")
    return make_walk(db, make_place(db), coordinator["id"], state="ongoing")


def message(page: Page, key: str) -> str:
    """A message the capture screen shows, in the page's language (from its own config)."""
    return json.loads(page.locator("#capture-config").text_content())["msg"][key]


def observations(db) -> list[dict]:
    return [dict(r) for r in db.execute("SELECT * FROM observations")]


def photos(db) -> list[dict]:
    return [dict(r) for r in db.execute("SELECT * FROM photos")]


def test_resident_records_observation_with_photo_and_phone_position(phone, walk, db, app):
    page = phone()
    join(page, walk, "Kim")

    # The first action asks the phone for its position, which arrives before the person is done.
    choose_category(page, "lighting")
    expect(page.locator("input[name=location_source]")).to_have_value("device")
    page.locator("#photos").set_input_files(CANON)
    expect(page.locator("#photo-previews li")).to_have_count(1)
    page.locator("#description").fill("Trasig lampa vid trappan")
    page.locator("#save").click()

    expect(page.locator("#capture-status")).to_have_text(message(page, "saved"))
    items = page.locator("#observation-list li.observation")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Trasig lampa vid trappan")
    expect(items.first).to_contain_text("Kim")
    thumb = items.first.locator("img")
    thumb.scroll_into_view_if_needed()  # lazy-loaded below the form
    assert thumb.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
    page.locator("main .meta a").click()  # the walk's own page
    expect(page.locator("#observation-list li.observation")).to_contain_text(
        "Trasig lampa vid trappan"
    )
    expect(page.locator("#walk-map .pin")).to_have_count(1)

    [observation] = observations(db)
    assert observation["walk_id"] == walk["id"]
    assert observation["category"] == "lighting"
    assert observation["lat"] == pytest.approx(POSITION["latitude"], abs=1e-6)
    assert observation["lon"] == pytest.approx(POSITION["longitude"], abs=1e-6)
    assert observation["location_source"] == "device"
    assert observation["accuracy_m"] == POSITION["accuracy"]
    [photo] = photos(db)
    assert photo["observation_id"] == observation["id"]
    assert photo["source_format"] == "jpeg"
    photo_dir = Path(app.config["PHOTO_PATH"])
    assert (photo_dir / photo["file"]).stat().st_size > 0
    assert (photo_dir / photo["thumb_file"]).stat().st_size > 0


def test_other_residents_see_new_observation_appear_without_reloading(phone, walk, db, app):
    app.config["WALK_POLL_SECONDS"] = 1
    watcher = phone()
    join(watcher, walk, "Alva")
    watcher.goto(f"/walks/{walk['id']}")
    expect(watcher.locator("#observation-list li.observation")).to_have_count(0)
    watcher.evaluate("window.__sameDocument = true")

    recorder = phone()
    join(recorder, walk, "Kim")
    choose_category(recorder, "vegetation")
    expect(recorder.locator("input[name=location_source]")).to_have_value("device")
    recorder.locator("#photos").set_input_files(NIKON_GPS)
    expect(recorder.locator("#photo-previews li")).to_have_count(1)
    recorder.locator("#save").click()
    expect(recorder.locator("#capture-status")).to_have_text(message(recorder, "saved"))

    item = watcher.locator("#observation-list li.observation")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Kim")
    expect(watcher.locator("#observation-list .count")).to_have_text("(1)")
    # The map redraws from the new list: one pin at the phone's position.
    expect(watcher.locator("#walk-map .pin")).to_have_count(1)
    assert watcher.evaluate("window.__sameDocument") is True
    [observation] = observations(db)
    assert len(photos(db)) == 1
    assert item.get_attribute("id") == f"obs-{observation['id']}"


def test_saving_without_category_shows_error_at_category_fieldset(phone, walk, db):
    page = phone()
    join(page, walk, "Kim")
    page.locator("#save").click()

    fieldset = page.locator("fieldset#category")
    error = fieldset.locator("#category-error")
    expect(error).to_have_text(CHOOSE_CATEGORY)
    expect(fieldset).to_have_class(re.compile(r"\bhas-error\b"))
    expect(fieldset).to_have_attribute("aria-describedby", "category-error")
    # Focus moves to the first choice, so a screen reader announces the group and its error.
    expect(fieldset.locator("input[type=radio]").first).to_be_focused()
    assert observations(db) == []


def test_non_image_file_shows_photo_error_and_nothing_is_stored(phone, walk, db, tmp_path):
    fake = tmp_path / "x.jpg"
    fake.write_text("not a photo at all\n")
    page = phone()
    join(page, walk, "Kim")
    choose_category(page, "upkeep")
    page.locator("#photos").set_input_files(fake)

    field = page.locator(".field:has(#photos)")
    error = field.locator("#photos-error")
    expect(error).to_have_text(re.compile(r"^x\.jpg: "))
    expect(error).to_contain_text(message(page, "notImage"))
    expect(page.locator("#photos")).to_have_attribute(
        "aria-describedby", re.compile(r"\bphotos-error\b")
    )
    expect(page.locator("#photo-previews li")).to_have_count(0)
    assert observations(db) == []
    assert photos(db) == []


def test_without_javascript_plain_form_records_observation_with_photo(phone, walk, db, app):
    page = phone(java_script_enabled=False)
    join(page, walk, "Kim")
    choose_category(page, "paths")
    page.locator("#photos").set_input_files(CANON)
    page.locator("#description").fill("Trappan saknar räcke")
    page.locator("#save").click()

    expect(page).to_have_url(re.compile(rf"/walks/{walk['id']}/capture\?saved=[0-9a-f-]{{36}}$"))
    expect(page.locator("main p.notice[role=status]:visible")).to_be_visible()
    item = page.locator("#observation-list li.observation")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Trappan saknar räcke")

    [observation] = observations(db)
    assert page.url.endswith(f"saved={observation['id']}")
    assert observation["category"] == "paths"
    # Without JavaScript the page cannot ask the phone for a position.
    assert observation["lat"] is None and observation["location_source"] is None
    [photo] = photos(db)
    assert photo["observation_id"] == observation["id"]
    assert (Path(app.config["PHOTO_PATH"]) / photo["file"]).stat().st_size > 0


def test_without_javascript_errors_show_next_to_fields_and_nothing_is_stored(
    phone, walk, db, tmp_path
):
    fake = tmp_path / "x.jpg"
    fake.write_text("not a photo at all\n")
    # Chromium logs the refused post's status (415: not an image) as a console error.
    phone.expect_console_error(r"status of 415 \(UNSUPPORTED MEDIA TYPE\)")
    page = phone(java_script_enabled=False)
    join(page, walk, "Kim")
    page.locator("#photos").set_input_files(fake)
    page.locator("#description").fill("Mörkt under bron")
    page.locator("#save").click()

    expect(page.locator("main .alert[role=alert]")).to_be_visible()
    expect(page.locator("fieldset#category #category-error")).to_have_text(CHOOSE_CATEGORY)
    expect(page.locator("fieldset#category")).to_have_attribute(
        "aria-describedby", "category-error"
    )
    expect(page.locator(".field:has(#photos) #photos-error")).to_have_text(re.compile(r"^x\.jpg: "))
    expect(page.locator("#photos")).to_have_attribute(
        "aria-describedby", re.compile(r"\bphotos-error\b")
    )
    # What was typed survives the round trip.
    expect(page.locator("#description")).to_have_value("Mörkt under bron")
    assert observations(db) == []
    assert photos(db) == []


# --- the capture screen on a phone at dusk: photo first, three taps, one screen ----------------

# Counts the page's requests for a position (watchPosition/getCurrentPosition), page by page.
COUNT_POSITION_REQUESTS = """
(() => {
  const geo = navigator.geolocation;
  if (!geo) return;
  window.__positionRequests = 0;
  for (const name of ['watchPosition', 'getCurrentPosition']) {
    const original = geo[name].bind(geo);
    geo[name] = (...args) => { window.__positionRequests += 1; return original(...args); };
  }
})();
"""


def inside_viewport(page: Page, selector: str, above: str | None = None) -> list[str]:
    """The elements matching `selector` not wholly on screen (or not wholly above `above`)."""
    return page.evaluate(
        """([selector, above]) => {
          const bottom = above ? document.querySelector(above).getBoundingClientRect().top : innerHeight;
          return Array.from(document.querySelectorAll(selector)).filter(el => {
            const r = el.getBoundingClientRect();
            return r.top < 0 || r.left < 0 || r.bottom > bottom || r.right > innerWidth || !r.height;
          }).map(el => el.textContent.trim() || el.outerHTML.slice(0, 80));
        }""",
        [selector, above],
    )


def test_observation_with_photo_takes_three_taps_on_one_screen(phone, walk, db):
    """From the walk page: photo, category, save, at 360x740, nothing scrolled, nothing else."""
    page = phone()
    join(page, walk, "Kim")
    page.goto(f"/walks/{walk['id']}")
    page.get_by_role(
        "link", name=re.compile("^(Lägg till en observation|Record an observation)$")
    ).tap()
    expect(page).to_have_url(re.compile(rf"/walks/{walk['id']}/capture$"))
    page.wait_for_load_state("domcontentloaded")
    # Every category and "Feels safe here" is on the first screen, clear of the save bar.
    assert inside_viewport(page, "#category .tile", above=".sticky-submit") == []

    taps = 0

    def tap(locator) -> None:
        nonlocal taps
        taps += 1
        locator.tap()

    with page.expect_file_chooser() as chooser:
        tap(page.locator("label[for=photos]"))  # "Take photo": the rear camera on a phone
    assert chooser.value.element.get_attribute("capture") == "environment"
    chooser.value.set_files(CANON)
    expect(page.locator("#photo-previews li")).to_have_count(1)
    tap(page.locator("#category .tile:has(input[value=lighting])"))
    expect(page.locator("#category input[value=lighting]")).to_be_checked()
    assert page.evaluate("scrollY") == 0
    assert inside_viewport(page, "#save") == []  # visible without scrolling
    tap(page.locator("#save"))

    expect(page.locator("#capture-status")).to_have_text(message(page, "saved"))
    assert taps == 3
    [observation] = observations(db)
    assert observation["category"] == "lighting"
    assert observation["location_source"] == "device"  # asked for on the first tap
    assert len(photos(db)) == 1


def test_position_is_asked_for_on_the_first_action_not_when_the_page_opens(phone, walk):
    page = phone()
    page.context.add_init_script(COUNT_POSITION_REQUESTS)
    join(page, walk, "Kim")
    expect(page.locator("#change-position")).to_be_visible()  # capture.js has run
    assert page.evaluate("window.__positionRequests") == 0
    page.locator("#category .tile:has(input[value=paths])").tap()
    expect(page.locator("#location-status")).to_have_text(
        message(page, "accuracy").replace("{m}", str(POSITION["accuracy"]))
    )
    assert page.evaluate("window.__positionRequests") == 1


def test_the_map_loads_only_when_asked_and_sets_the_position(phone, walk, db):
    page = phone(permissions=[])
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    join(page, walk, "Kim")
    expect(page.locator("#change-position")).to_be_visible()
    expect(page.locator("#capture-map")).to_be_hidden()
    assert not [url for url in requested if "/bundles/map" in url or "leaflet" in url]

    page.locator("#change-position").tap()
    expect(page.locator("#capture-map")).to_be_visible()
    assert [url for url in requested if "/bundles/map-lite.js" in url or "/leaflet.js" in url]
    # Leaflet's zoom buttons: named in the page's language, and big enough for a thumb.
    zoom_in = page.locator("#capture-map .leaflet-control-zoom-in")
    expect(zoom_in).to_have_attribute("title", "Zooma in")
    box = zoom_in.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44
    map_box = page.locator("#capture-map").bounding_box()
    page.mouse.click(map_box["x"] + map_box["width"] / 2, map_box["y"] + map_box["height"] * 0.6)
    expect(page.locator("input[name=location_source]")).to_have_value("map")
    expect(page.locator("#location-status")).to_have_text(message(page, "fromMap"))


def test_feeling_is_one_row_of_five_equal_targets(phone, walk):
    page = phone()
    join(page, walk, "Kim")
    boxes = [
        page.locator(f".scale-row label:has(input[value='{n}'])").bounding_box()
        for n in range(1, 6)
    ]
    assert len({round(b["y"]) for b in boxes}) == 1, boxes
    assert max(b["width"] for b in boxes) - min(b["width"] for b in boxes) < 1, boxes
    assert all(b["width"] >= 44 and b["height"] >= 44 for b in boxes), boxes
    assert boxes[-1]["x"] + boxes[-1]["width"] <= 360


def test_after_saving_the_screen_is_clean_with_focus_at_the_top(phone, walk, db):
    """Nothing of the last observation stays: no photo, choice, text or far-away warning."""
    far = {"latitude": 59.3326, "longitude": 18.0649, "accuracy": 12}  # Sergels torg, 6 km off
    page = phone(geolocation=far)
    join(page, walk, "Kim")
    page.locator("#photos").set_input_files(CANON)
    choose_category(page, "sightlines")
    page.locator("#category input[name=works_well]").check()
    page.locator(".scale-row label:has(input[value='2'])").tap()
    page.locator("#urgent").check()
    page.locator("#description").fill("Mörk passage under bron")
    expect(page.locator("#location-warning")).to_be_visible()  # 6 km from Råcksta
    page.locator("#save").click()

    expect(page.locator("#capture-status")).to_have_text(message(page, "saved"))
    expect(page.locator("#capture-heading")).to_be_focused()
    assert page.evaluate("scrollY") == 0
    expect(page.locator("#photo-previews li")).to_have_count(0)
    expect(page.locator("#location-warning")).to_be_hidden()
    expect(page.locator("#capture-form input:checked")).to_have_count(0)
    expect(page.locator("#description")).to_have_value("")
    # The phone's position is kept for the next one; the new observation gets a new id.
    expect(page.locator("input[name=location_source]")).to_have_value("device")
    [observation] = observations(db)
    assert page.locator("input[name=id]").input_value() != observation["id"]
    assert observation["works_well"] == 1 and observation["urgent"] == 1
    assert observation["feeling"] == 2 and observation["distance_m"] > 2000


def test_saved_offline_says_it_waits_in_the_outbox(phone, walk, db):
    page = phone()
    join(page, walk, "Kim")
    choose_category(page, "graffiti")
    page.context.route("**/api/**", lambda route: route.abort("internetdisconnected"))
    phone.expect_console_error(r"net::ERR_INTERNET_DISCONNECTED|Failed to (load resource|fetch)")
    page.locator("#save").click()
    expect(page.locator("#capture-status")).to_have_text(message(page, "offline"))
    expect(page.locator("#capture-heading")).to_be_focused()
    # Counted as Swedish counts: one observation, not "1 observationer".
    expect(page.locator("#outbox-text")).to_have_text(
        "Väntar på att skickas: 1 observation, 0 foton."
    )
    assert observations(db) == []


def test_photo_keeps_its_own_place_and_time_though_the_phone_sends_it_smaller(phone, db, app):
    """The phone re-encodes the photo (no EXIF left) and sends what the EXIF said beside it,
    from the outbox too: the photo row keeps it, and the observation takes the photo's time."""
    from fieldwalk.photos.pipeline import read_exif

    ring = [[11.875, 43.46], [11.895, 43.46], [11.895, 43.475], [11.875, 43.475], [11.875, 43.46]]
    place = make_place(db, "ambra", "Ambra", {"type": "Polygon", "coordinates": [ring]})
    walk = make_walk(db, place, make_user(db, "coordinator")["id"], state="ongoing")
    (exif_gps, exif_time) = read_exif(NIKON_GPS.read_bytes())
    assert exif_gps and exif_time  # the original has both

    uploads = []
    page = phone(permissions=[])  # no position from the phone: the photo's is all there is
    page.on("request", lambda r: "/photos/" in r.url and r.method == "PUT" and uploads.append(r))
    join(page, walk, "Kim")
    page.locator("#photos").set_input_files(NIKON_GPS)
    expect(page.locator("#location-status")).to_have_text(message(page, "fromPhoto"))
    choose_category(page, "lighting")
    phone.expect_console_error(r"net::ERR_INTERNET_DISCONNECTED|Failed to (load resource|fetch)")
    page.context.route("**/api/**", lambda route: route.abort("internetdisconnected"))
    page.locator("#save").click()
    expect(page.locator("#capture-status")).to_have_text(message(page, "offline"))
    assert observations(db) == []

    page.context.unroute("**/api/**")
    page.evaluate("FieldwalkSync.now()")  # the outbox replays what waited
    expect(page.locator("#outbox-bar")).to_be_hidden()
    [upload] = [r for r in uploads if r.response() and r.response().status == 201]
    sent = upload.post_data_buffer
    assert read_exif(sent) == (None, None), "the bytes sent carry no EXIF"
    assert len(sent) < NIKON_GPS.stat().st_size
    headers = upload.headers
    assert float(headers["x-photo-lat"]) == pytest.approx(exif_gps[0], abs=1e-6)
    assert float(headers["x-photo-lon"]) == pytest.approx(exif_gps[1], abs=1e-6)
    assert headers["x-photo-taken-at"] == exif_time

    [photo] = photos(db)
    assert photo["gps_lat"] == pytest.approx(exif_gps[0], abs=1e-6)
    assert photo["gps_lon"] == pytest.approx(exif_gps[1], abs=1e-6)
    assert photo["taken_at"] == exif_time
    [observation] = observations(db)
    assert observation["location_source"] == "photo"
    assert observation["lat"] == pytest.approx(exif_gps[0], abs=1e-5)
    # Taken 16:28:39 on 22 October 2008: far older than any outbox waits, so the photo keeps
    # its time but does not date the observation (fieldwalk/clock.py).
    assert observation["observed_source"] != "photo"
    assert not observation["observed_at"].startswith("2008")


def test_the_save_bar_never_covers_the_field_being_filled_in(phone, walk):
    """Save sits over the bottom of the screen; a field reached by Tab scrolls clear of it."""
    page = phone()
    join(page, walk, "Kim")
    bar = page.locator(".sticky-submit")
    for selector in ("#description", "#urgent", "#change-position"):
        page.evaluate("scrollTo(0, 0)")
        page.locator("#category input[value=lighting]").focus()
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement.matches('{selector}')"):
                break
        box, cover = page.locator(selector).bounding_box(), bar.bounding_box()
        assert box["y"] + box["height"] <= cover["y"], (selector, box, cover)
        expect(page.locator("#save")).to_be_in_viewport()


@pytest.mark.parametrize(("metres", "far"), [(1990, False), (2010, True)])
def test_the_capture_screen_warns_as_the_server_does(phone, walk, db, metres, far):
    """The screen warns offline, from the same setting (farMetres) and the same measure as
    places/nearness.py; the stored observation shows the server came to the same verdict."""
    lat, lon = east_of_racksta(metres)
    page = phone(geolocation={"latitude": lat, "longitude": lon, "accuracy": 5})
    join(page, walk, "Kim")
    assert json.loads(page.locator("#capture-config").text_content())["farMetres"] == 2000
    page.locator("#category .tile:has(input[value=paths])").tap()
    expect(page.locator("input[name=location_source]")).to_have_value("device")
    if far:
        expect(page.locator("#location-warning")).to_be_visible()
    else:
        expect(page.locator("#location-warning")).to_be_hidden()
    page.locator("#save").click()
    expect(page.locator("#capture-status")).to_have_text(message(page, "saved"))
    [observation] = observations(db)
    assert is_far(observation["distance_m"], 2000) is far
