"""The park engineer's phone: My tasks nearest first, a task, closed with an after-photo in
three taps on a 360 px screen; then the resident who reported it sees it done."""

import re
import uuid
from pathlib import Path

import pytest
from conftest import (
    PASSWORD,
    PHOTO_SETTINGS,
    PHOTOS,
    RACKSTA,
    make_place,
    make_walk,
    set_fast_password,
)
from playwright.sync_api import Page, expect

from fieldwalk.auth import create_user
from fieldwalk.observations.model import put_observation, validate
from fieldwalk.observations.record import record_photo
from fieldwalk.parties.model import insert_party
from fieldwalk.tasks.model import get_task, insert_task, transition
from fieldwalk.tasks.states import COORDINATOR, Actor
from fieldwalk.zones.model import insert_zone

from .conftest import POSITION, log_in, no_sideways_scrolling

CANON = PHOTOS / "camera" / "Canon_40D.jpg"


@pytest.fixture(autouse=True)
def _corpus_present():
    if not CANON.is_file():
        pytest.fail(f"photo corpus missing: expected {CANON}")


class Taps:
    """Counts what the engineer does on the page, so the test can say "three taps"."""

    def __init__(self, page: Page):
        self.page, self.count = page, 0

    def tap(self, selector: str) -> None:
        self.count += 1
        self.page.locator(selector).tap()

    def take_photo(self, selector: str, photo: Path) -> None:
        """Tap the camera button; the phone's camera hands back the photo (the second tap)."""
        with self.page.expect_file_chooser() as chooser:
            self.tap(selector)
        self.count += 1
        chooser.value.set_files(photo)


@pytest.fixture
def scene(db, app):
    """A finished walk with a lamp observation (and its photo) sent to the park engineers,
    and a second task farther off."""
    park = insert_party(db, "Parkenheten", "park")
    insert_zone(db, park, "Råckstaparken", RACKSTA, kind="park")
    coordinator = create_user(db, "cora@example.se", "coordinator", "Cora")
    engineer = create_user(db, "eva@example.se", "engineer", "Eva", party_id=park)
    set_fast_password(db, engineer)
    walk = make_walk(db, make_place(db), coordinator, state="finished")
    actor = Actor((COORDINATOR,), coordinator, "Cora")

    def observe_and_send(description: str, lat: float, lon: float, measure: str) -> tuple:
        photo_id = str(uuid.uuid4())
        body = {
            "walk_id": walk["id"],
            "category": "lighting",
            "description": description,
            "lat": lat,
            "lon": lon,
            "photos": [photo_id],
        }
        observation, _ = put_observation(db, str(uuid.uuid4()), validate(body, 2000, 12), walk=walk)
        record_photo(
            db,
            Path(app.config["PHOTO_PATH"]),
            observation,
            photo_id,
            CANON.read_bytes(),
            PHOTO_SETTINGS,
        )
        task_id = insert_task(
            db,
            observation_ids=[observation["id"]],
            measure=measure,
            party_id=park,
            suggestion={"party_id": park},
            actor=actor,
        )
        transition(db, task_id, "send", actor, version=1)
        return observation["id"], task_id

    _, far_task = observe_and_send("Mörk gång", 59.3575, 17.8885, "Sätt upp en lampa vid gången")
    observation, task = observe_and_send(
        "Trasig lampa vid trappan",
        POSITION["latitude"] + 0.0002,
        POSITION["longitude"],
        "Byt lampan vid trappan",
    )
    return {"walk": walk, "observation": observation, "task": task, "far_task": far_task}


def test_engineer_closes_the_nearest_task_with_an_after_photo_in_three_taps(phone, scene, db):
    page = phone()
    log_in(page, {"email": "eva@example.se", "password": PASSWORD}, None, tap=True)

    # Landing on My tasks, the phone gives its position and the nearest task comes first.
    expect(page).to_have_url(re.compile(r"/tasks/mine\?sort=near&lat=59\.35512&lon=17\.88234$"))
    items = page.locator("#task-list li")
    expect(items).to_have_count(2)
    expect(items.first).to_have_attribute("data-task-id", str(scene["task"]))
    expect(items.first.locator(".distance")).to_have_text(re.compile(r"^20 m$"))
    expect(page.locator("#tasks-map .leaflet-marker-icon")).to_have_count(2)
    no_sideways_scrolling(page)

    items.first.locator("a").tap()
    expect(page).to_have_url(re.compile(rf"/tasks/{scene['task']}$"))
    expect(page.locator("#task-state")).to_have_attribute("data-state", "sent")
    no_sideways_scrolling(page)

    taps = Taps(page)
    taps.take_photo("#done-photo-label", CANON)  # 1: "Done – take photo", 2: the camera
    expect(page.locator("#after-photo-preview img")).to_have_count(1)
    expect(page.locator("#send-done")).to_be_in_viewport()
    taps.tap("#send-done")  # 3: "Send"
    assert taps.count == 3

    expect(page).to_have_url(re.compile(rf"/tasks/{scene['task']}\?ok=done$"))
    expect(page.locator("#task-state")).to_have_attribute("data-state", "done")
    after = page.locator("#after-photos img")
    expect(after).to_have_count(1)
    after.scroll_into_view_if_needed()
    assert after.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
    assert get_task(db, scene["task"])["state"] == "done"
    assert get_task(db, scene["far_task"])["state"] == "sent"

    # The resident who was on the walk opens the observation and sees it done, with the photo.
    resident = phone()
    resident.goto(f"/j/{scene['walk']['invite_token']}")
    resident.locator("main form button").tap()
    expect(resident).to_have_url(re.compile(rf"/walks/{scene['walk']['id']}/capture$"))
    resident.goto(f"/observations/{scene['observation']}")
    task = resident.locator(f"#tasks #task-{scene['task']}")
    expect(task.locator("[data-state]")).to_have_attribute("data-state", "done")
    photo = task.locator("img")
    photo.scroll_into_view_if_needed()
    assert photo.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
    no_sideways_scrolling(resident)


def test_without_position_my_tasks_falls_back_to_due_date(phone, scene):
    page = phone(permissions=[])
    log_in(page, {"email": "eva@example.se", "password": PASSWORD}, None, tap=True)
    expect(page).to_have_url(re.compile(r"/tasks/mine$"))
    # An sv-SE phone: "ordered by due date" in Swedish.
    expect(page.locator("#position-status")).to_have_text(re.compile("sista dag"))
    expect(page.locator("#task-list li")).to_have_count(2)
    no_sideways_scrolling(page)
