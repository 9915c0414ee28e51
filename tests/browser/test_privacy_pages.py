"""The pages of issue 16 pass axe-core on a 360 px phone: a resident's own data, the review
list and button, the photo editor, and staff's personal data requests."""

import re

from playwright.sync_api import expect

from .conftest import assert_accessible, join, log_in
from .test_accessibility import coordinator, record, walk  # noqa: F401


def test_privacy_pages_are_accessible(phone, walk, coordinator, db):  # noqa: F811
    resident = phone()
    join(resident, walk, "Kim")
    record(resident)
    resident.goto("/")
    resident.get_by_role("link", name=re.compile("Dina uppgifter")).click()
    expect(resident.locator("h1")).to_have_text("Dina uppgifter")
    assert_accessible(resident)

    staff = phone()
    log_in(staff, coordinator)
    staff.goto("/tasks/triage")
    expect(staff.locator("#review-heading")).to_be_visible()
    assert_accessible(staff)
    (observation_id,) = db.execute("SELECT id FROM observations").fetchone()
    staff.goto(f"/observations/{observation_id}")
    expect(staff.locator("#public-review")).to_be_visible()
    assert_accessible(staff)
    staff.get_by_role("link", name="Sudda, vrid eller dölj").first.click()
    expect(staff.locator("#redact-stage")).to_be_visible()
    assert_accessible(staff)
    staff.goto(f"/admin/privacy?q={observation_id}")
    expect(staff.get_by_role("link", name="Registerutdrag (ZIP)")).to_be_visible()
    assert_accessible(staff)
