"""An engineer answers the coordinators about a task from a 360 px phone (issue 14, item 3):
the conversation sits on the task page, the comment is sent with the phone's keyboard and a
tap, shows at once, and reaches the coordinators by email (aiosmtpd)."""

import re

from conftest import PASSWORD, mail_bodies
from playwright.sync_api import expect

from fieldwalk.tasks.conversation import list_comments

from .conftest import assert_accessible, log_in, no_sideways_scrolling
from .test_engineer import scene  # noqa: F401 (the fixture)


def test_engineer_comments_on_a_task_from_the_phone_and_the_coordinator_is_emailed(
    phone,
    scene,  # noqa: F811 (the fixture, imported above)
    db,
    smtp,
):
    page = phone()
    log_in(page, {"email": "eva@example.se", "password": PASSWORD}, None, tap=True)
    # My tasks reloads itself once, nearest first, with the phone's position: tap after that.
    expect(page).to_have_url(re.compile(r"/tasks/mine\?sort=near&lat=[0-9.]+&lon=[0-9.]+$"))
    page.locator(f'#task-list li[data-task-id="{scene["task"]}"] a').tap()
    expect(page).to_have_url(re.compile(rf"/tasks/{scene['task']}$"))

    conversation = page.locator("#conversation")
    conversation.scroll_into_view_if_needed()
    expect(conversation.get_by_role("heading", name=re.compile("Samtal"))).to_be_visible()
    expect(conversation).to_contain_text("Inga kommentarer än.")
    sizes = page.evaluate(
        "() => [...document.querySelectorAll('#conversation textarea, #conversation button')]"
        ".map(el => el.getBoundingClientRect()).map(b => [b.width, b.height])"
    )
    assert len(sizes) == 2 and all(w >= 44 and h >= 44 for w, h in sizes), "big tap targets"

    box = page.get_by_label("Skriv en kommentar")
    box.tap()
    box.fill("Lampan är beställd, byts på torsdag.")
    page.get_by_role("button", name="Skicka kommentaren").tap()

    expect(page).to_have_url(re.compile(rf"/tasks/{scene['task']}\?commented=sent#conversation$"))
    expect(page.locator("#comment-sent")).to_be_visible()
    comment = page.locator("#conversation .comment")
    expect(comment).to_have_count(1)
    expect(comment).to_contain_text("Eva")
    expect(comment).to_contain_text("Parkenheten")
    expect(comment).to_contain_text("Lampan är beställd, byts på torsdag.")
    expect(page.get_by_label("Skriv en kommentar")).to_have_value("")
    no_sideways_scrolling(page)
    assert_accessible(page)

    (stored,) = list_comments(db, scene["task"])
    assert (stored["side"], stored["author"]) == ("party", "Eva")
    (received,) = smtp.messages
    assert received["rcpt"] == ["cora@example.se"]
    assert "Lampan är beställd, byts på torsdag." in mail_bodies(received["message"])[0]
