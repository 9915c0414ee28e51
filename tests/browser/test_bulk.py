"""Bulk work in a browser (issue 14, item 5): a coordinator ticks several rows of the
dashboard's list and assigns them to a party in one go (htmx swaps the list in place); in
triage the same works with JavaScript off, as a plain form."""

import re

import pytest
from conftest import make_observation, make_place, make_staff, make_task, make_walk
from playwright.sync_api import expect

from fieldwalk.parties.model import insert_party
from fieldwalk.tasks.model import get_task, tasks_for_observation

from .conftest import assert_accessible, log_in, no_sideways_scrolling


@pytest.fixture
def desk(db):
    walk = make_walk(db, make_place(db))
    park = insert_party(db, "Parkingenjörerna", "park", "park@example.se")
    waiting = [
        make_task(db, make_observation(db, walk, f"Problem {n}"), None, f"Åtgärd {n}")
        for n in range(2)
    ]
    untasked = make_observation(db, walk, "Obehandlad iakttagelse")
    coordinator = make_staff(db, "coordinator", "cora@example.se")
    return {"park": park, "waiting": waiting, "untasked": untasked, "user": coordinator}


def test_coordinator_assigns_several_rows_of_the_dashboard_list_at_once(phone, desk, db, smtp):
    page = phone()
    log_in(page, desk["user"], tap=True)
    page.goto("/dashboard")
    for task_id in desk["waiting"]:
        page.locator(f"#item-t-{task_id} .bulk-check input").check()
    page.locator(f'input[name="observation_ids"][value="{desk["untasked"]}"]').check()
    page.get_by_label("Ansvarig part", exact=True).last.select_option(str(desk["park"]))
    page.locator("#bulk-note").fill("Parkmark")
    page.locator("#bulk-send-now").check()
    url_before = page.url
    page.locator("#bulk-assign").tap()

    expect(page.locator("#dashboard-results")).to_contain_text("2 åtgärder ändrade.")
    expect(page.locator("#dashboard-results")).to_contain_text("1 åtgärd skapad.")
    assert page.url == url_before, "htmx swapped the list; the page stayed"
    for task_id in desk["waiting"]:
        expect(page.locator(f"#item-t-{task_id}")).to_contain_text("Skickad")
        assert get_task(db, task_id)["party_id"] == desk["park"]
    assert len(tasks_for_observation(db, desk["untasked"])) == 1
    (received,) = smtp.messages
    assert received["rcpt"] == ["park@example.se"]
    no_sideways_scrolling(page)
    assert_accessible(page)


def test_a_refused_bulk_step_shows_why_beside_the_form_and_changes_nothing(phone, desk, db):
    phone.expect_console_error(r"status of 400")  # the refusal, answered as it should be
    page = phone()
    log_in(page, desk["user"], tap=True)
    page.goto("/dashboard")
    page.locator(f"#item-t-{desk['waiting'][0]} .bulk-check input").check()
    page.locator("#bulk-assign").tap()  # no party chosen
    problems = page.locator("#bulk-problems")
    expect(problems).to_contain_text("Inget ändrades")
    expect(problems).to_contain_text("Välj en ansvarig part.")
    assert get_task(db, desk["waiting"][0])["party_id"] is None


def test_triage_bulk_works_without_javascript(browser, live_server, desk, db):
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, locale="sv-SE",
        viewport={"width": 360, "height": 740},
    )  # fmt: skip
    try:
        page = context.new_page()
        log_in(page, desk["user"])
        page.goto("/tasks/triage")
        for task_id in desk["waiting"]:
            page.locator(f'input[name="task_ids"][value="{task_id}"]').check()
        page.locator("#bulk-due").fill("2027-06-30")
        page.locator("#bulk-set-due").click()
        expect(page).to_have_url(re.compile(r"/tasks/triage$"))
        expect(page.locator("main")).to_contain_text("2 åtgärder ändrade.")
        assert {get_task(db, t)["due_date"] for t in desk["waiting"]} == {"2027-06-30"}
    finally:
        context.close()
