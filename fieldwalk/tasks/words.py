"""A task's states, actions, priorities and errors in the person's language."""

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwalk.categories import category_label
from fieldwalk.db import get_db
from fieldwalk.parties.model import get_party
from fieldwalk.routing import CATEGORY_DEFAULT, ZONE
from fieldwalk.tasks.cases import format_case, parse_case

STATE_LABELS = {
    "proposed": _l("Proposed"),
    "sent": _l("Sent"),
    "accepted": _l("Accepted"),
    "in_progress": _l("In progress"),
    "done": _l("Done"),
    "verified": _l("Verified"),
    "not_ours": _l("Not ours"),
    "wont_fix": _l("Will not fix"),
    "duplicate": _l("Duplicate"),
}


ACTION_LABELS = {
    "create": _l("Created"),
    "link": _l("Observation linked"),
    "send": _l("Send to the party"),
    "accept": _l("Accept"),
    "start": _l("Start work"),
    "done": _l("Done"),
    "verify": _l("Verify"),
    "not_ours": _l("Not ours"),
    "wont_fix": _l("Will not fix"),
    "duplicate": _l("Duplicate"),
    "reopen": _l("Reopen"),
    "reroute": _l("Re-route"),
    "edit": _l("Edited"),
}


# What an edit changed, field by field, in words.
FIELD_LABELS = {
    "measure": _l("What should be done"),
    "due_date": _l("Due date"),
    "priority": _l("Priority"),
    "assignee_user_id": _l("Named engineer"),
}


# What happened, for the history: "Skickad till parten", "Part bytt", "Återöppnad".
EVENT_LABELS = {
    "create": _l("Created"),
    "link": _l("Observation linked"),
    "send": _l("Sent to the party"),
    "accept": _l("Accepted"),
    "start": _l("Work started"),
    "done": _l("Marked done"),
    "verify": _l("Verified"),
    "not_ours": _l("Answered: not ours"),
    "wont_fix": _l("Closed: will not be fixed"),
    "duplicate": _l("Closed as a duplicate"),
    "reopen": _l("Reopened"),
    "reroute": _l("Party changed"),
    "edit": _l("Edited"),
}


PRIORITY_LABELS = {
    "low": _l("Low"),
    "normal": _l("Normal"),
    "high": _l("High"),
    "urgent": _l("Urgent"),
}


# Which form field a TaskError code belongs beside, and the status it answers with.
ERROR_FIELDS = {
    "note": "note",
    "evidence": "note",
    "duplicate_of": "duplicate_of",
    "party": "party_id",
    "override_reason": "override_reason",
    "measure": "measure",
    "priority": "priority",
    "due_date": "due_date",
    "assignee": "assignee_user_id",
    "comment": "body",
}


ERROR_STATUS = {"forbidden": 403, "state": 409, "conflict": 409, "not_found": 404}


def task_error_message(code: str, **detail) -> str:
    """What to tell a person whose change was refused, in their language."""
    return {
        "note": _("Write a reason; this step needs one."),
        "evidence": _("Add an after-photo or a note saying what was done."),
        "duplicate_of": _("Choose the original task: another task, not one that copies this one."),
        "party": _("Choose a responsible party."),
        "override_reason": _("Say why you chose another party than the suggestion."),
        "measure": _("Say what should be done."),
        "priority": _("Choose a priority."),
        "due_date": _("Give the due date as a date (YYYY-MM-DD)."),
        "assignee": _("The named assignee must be an engineer of the chosen party."),
        "observations": _("That observation does not exist."),
        "place": _("That place does not exist."),
        "forbidden": _("You may not take this step on this task."),
        "state": _(
            "This step is not possible now: the task is %(state)s.",
            state=STATE_LABELS.get(detail.get("state"), detail.get("state", "")),
        ),
        "conflict": _("Someone else changed this task just now. Here is how it stands now."),
        "not_found": _("We could not find that task."),
        "comment": _(
            "Write a comment of at most %(limit)d characters.", limit=detail.get("limit", 2000)
        ),
    }.get(code, _("The change could not be made."))


def suggestion_text(suggestion: dict) -> str:
    """The routing suggestion's reason, in words."""
    party = get_party(get_db(), suggestion["party_id"]) if suggestion.get("party_id") else None
    name = party["name"] if party else ""
    if suggestion.get("reason") == ZONE:
        return _(
            "Inside zone %(zone)s, owned by %(party)s", zone=suggestion["zone_name"], party=name
        )
    if suggestion.get("reason") == CATEGORY_DEFAULT:
        return _(
            "Default for category %(category)s: %(party)s",
            category=category_label(suggestion.get("category", "")),
            party=name,
        )
    return _("No zone or default decides: goes to triage")


def case_label(task: dict) -> str:
    """A task's case number with the district's prefix (HV-2026-0042)."""
    return format_case(
        current_app.config["CASE_PREFIX"], task.get("case_year"), task.get("case_seq")
    )


def case_search(text: str) -> tuple[int, int] | None:
    """(year, number) when a search text is one of our case numbers, else None."""
    return parse_case(text, current_app.config["CASE_PREFIX"])
