"""A coordinator narrows the dashboard to one place and one category: the map draws exactly
what the list shows, the URL holds the filters, a reload shows the same view, and Back
returns to the filter before."""

import re
import uuid

import pytest
from conftest import PASSWORD, make_place, set_fast_password
from playwright.sync_api import Page, expect

from fieldwalk.auth import create_user
from fieldwalk.observations.model import put_observation, validate
from fieldwalk.tasks.model import insert_task
from fieldwalk.tasks.states import COORDINATOR, Actor

from .conftest import assert_accessible, log_in

CORA = {"email": "cora@example.se", "password": PASSWORD}  # the coordinator of `district`

VALLINGBY = {
    "type": "Polygon",
    "coordinates": [
        [[17.866, 59.361], [17.877, 59.361], [17.877, 59.365], [17.866, 59.365], [17.866, 59.361]]
    ],
}
DESKTOP = {
    "viewport": {"width": 1280, "height": 900},
    "screen": {"width": 1280, "height": 900},
    "device_scale_factor": 1,
    "is_mobile": False,
    "has_touch": False,
}


@pytest.fixture
def district(db):
    """Råcksta: 3 lighting observations (one with a task) and 2 vegetation; Vällingby: 2
    lighting. So: everything 7 + 1 task, Råcksta 5 + 1, Råcksta lighting 3 + 1."""
    coordinator = create_user(db, "cora@example.se", "coordinator", "Cora")
    set_fast_password(db, coordinator)
    racksta = make_place(db)
    vallingby = make_place(db, slug="vallingby", name="Vällingby centrum", geometry=VALLINGBY)

    def observe(category: str, lat: float, lon: float) -> dict:
        body = {"category": category, "lat": lat, "lon": lon, "description": "Sett på plats"}
        observation, _ = put_observation(db, str(uuid.uuid4()), validate(body, 2000, 12), walk=None)
        return observation

    lamps = [observe("lighting", 59.3530 + i * 0.001, 17.8780 + i * 0.002) for i in range(3)]
    for i in range(2):
        observe("vegetation", 59.3545 + i * 0.001, 17.8800)
        observe("lighting", 59.3620 + i * 0.001, 17.8700)
    insert_task(
        db,
        observation_ids=[lamps[0]["id"]],
        measure="Byt lampa",
        party_id=None,
        suggestion={"party_id": None},
        actor=Actor((COORDINATOR,), coordinator, "Cora"),
    )
    return {"racksta": racksta, "vallingby": vallingby}


def expect_view(page: Page, items: int) -> None:
    """The list shows `items` rows and the map has drawn the same number of markers."""
    expect(page.locator("#dashboard-list > li")).to_have_count(items)
    results_url = page.locator("#dashboard-results").get_attribute("data-map-url")
    expect(page.locator("#dashboard-map")).to_have_attribute("data-filters", results_url)
    expect(page.locator("#dashboard-map")).to_have_attribute("data-mode", "points")
    expect(page.locator("#dashboard-map")).to_have_attribute("data-points", str(items))
    expect(page.locator("#dashboard-map .leaflet-marker-icon")).to_have_count(items)


def test_coordinator_filters_to_one_place_and_category_and_the_map_agrees(phone, district):
    page = phone(**DESKTOP)
    log_in(page, CORA)
    page.goto("/dashboard")
    expect_view(page, 8)

    place = str(district["racksta"])
    page.locator("#filter-place").select_option(place)
    expect(page).to_have_url(re.compile(rf"/dashboard\?place={place}$"))
    expect_view(page, 6)

    page.locator("#filter-category").select_option("lighting")
    expect(page).to_have_url(re.compile(rf"/dashboard\?place={place}&category=lighting$"))
    expect_view(page, 4)
    kinds = page.locator("#dashboard-list > li").evaluate_all(
        "items => items.map(li => li.dataset.kind).sort()"
    )
    assert kinds == ["observation", "observation", "observation", "task"]

    # The URL is the view: reloading it (or opening a shared link) shows the same.
    page.reload()
    expect(page.locator("#filter-place")).to_have_value(place)
    expect(page.locator("#filter-category")).to_have_value("lighting")
    expect_view(page, 4)

    # Another category, then Back: the previous filter comes back, map and list alike.
    page.locator("#filter-category").select_option("vegetation")
    expect(page).to_have_url(re.compile(rf"/dashboard\?place={place}&category=vegetation$"))
    expect_view(page, 2)
    page.go_back()
    expect(page).to_have_url(re.compile(rf"/dashboard\?place={place}&category=lighting$"))
    expect(page.locator("#filter-category")).to_have_value("lighting")
    expect_view(page, 4)
    page.go_forward()
    expect(page).to_have_url(re.compile(r"category=vegetation$"))
    expect_view(page, 2)


def test_dashboard_is_accessible_with_the_map_and_a_filtered_list(phone, district):
    page = phone(**DESKTOP)
    log_in(page, CORA)
    page.goto(f"/dashboard?place={district['racksta']}")
    expect_view(page, 6)
    assert_accessible(page)
    page.locator("#filter-category").select_option("vegetation")
    expect_view(page, 2)
    assert_accessible(page)


def test_many_points_are_drawn_as_clusters_that_zoom_in_to_points(app, phone, district):
    """Over the limit the map shows counts per cell: round buttons a keyboard reaches, with
    their count; Enter zooms in on one until its points are few enough to be drawn."""
    app.config["MAP_POINTS_AT_MOST"] = 5
    page = phone(**DESKTOP)
    log_in(page, CORA)
    page.goto("/dashboard")
    expect(page.locator("#dashboard-list > li")).to_have_count(8)
    box = page.locator("#dashboard-map")
    expect(box).to_have_attribute("data-mode", "clusters")
    expect(box).to_have_attribute("data-loaded", re.compile(r"bbox=.*&zoom=\d+$"))
    expect(box).not_to_have_attribute("aria-busy", "true")
    clusters = page.locator("#dashboard-map .cluster-wrap")
    counts = [int(text) for text in clusters.all_inner_texts()]
    assert sum(counts) == 8 and len(counts) >= 2, counts
    label = clusters.first.get_attribute("aria-label")
    assert label and "observationer och åtgärder här; zooma in" in label
    assert clusters.first.get_attribute("role") == "button"
    assert clusters.first.get_attribute("tabindex") == "0"
    assert_accessible(page)
    for _ in range(6):
        if box.get_attribute("data-mode") == "points":
            break
        before = box.get_attribute("data-loaded")
        clusters.first.focus()
        page.keyboard.press("Enter")
        expect(box).not_to_have_attribute("data-loaded", before)
        expect(box).not_to_have_attribute("aria-busy", "true")
    expect(box).to_have_attribute("data-mode", "points")
    points = int(box.get_attribute("data-points"))
    assert 1 <= points <= 5
    expect(page.locator("#dashboard-map .pin-wrap")).to_have_count(points)
    expect(clusters).to_have_count(0)


def test_without_javascript_the_filter_form_still_works(browser, live_server, district, db):
    """The form is a plain GET form underneath; htmx only makes it quicker."""
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        log_in(page, CORA)
        page.goto("/dashboard")
        page.locator("#filter-place").select_option(str(district["vallingby"]))
        page.locator("#dashboard-filters button.primary").click()
        expect(page).to_have_url(re.compile(rf"place={district['vallingby']}"))
        expect(page.locator("#dashboard-list > li")).to_have_count(2)
    finally:
        context.close()
