"""Email to parties: sending rounds of new tasks, new links on demand, overdue reminders.

A sending round (`send_notices`) emails each party ONE message with every task waiting to be
told to it (`fieldwalk.tasks.notices`): tasks just sent, sent after a re-route, reopened back
to it; from any walk, and from outside a walk. Each group of tasks carries the party's link
to that walk (or to its tasks from outside a walk). A notice is settled in the same
transaction that records its email as sent; a failed email leaves it waiting.

Keys in `notifications` (see `fieldwalk.mail`): a round's email by its notices
(`notice:<id>`), a reminder by party, task and due date (a new party is reminded on its own,
a changed due date may remind again), a new link by link and time.
"""

from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import connect
from fieldwalk.mail import (
    clean_addresses,
    finished_keys,
    header_text,
    render_email,
    reserve,
    send_reserved,
    url_builder,
)
from fieldwalk.open311.channel import channel_party_ids
from fieldwalk.parties.model import get_party, party_recipients
from fieldwalk.residents.news import tell_residents
from fieldwalk.tasks.links import (
    ensure_party_link,
    map_url,
    open_tasks_for_link,
    with_observations,
)
from fieldwalk.tasks.model import list_tasks
from fieldwalk.tasks.notices import settle_moved, settle_notices, waiting_notices
from fieldwalk.tasks.states import WITH_PARTY
from fieldwalk.walks.model import get_walk


def _groups(db: Database, party: dict, tasks: list[dict], external) -> list[dict]:
    """Tasks grouped by walk (walk-less last), each group with the party's link to it."""
    days = current_app.config["PARTY_LINK_DAYS"]
    groups = []
    walk_ids = sorted({t["walk_id"] for t in tasks}, key=lambda w: (w is None, w or 0))
    for walk_id in walk_ids:
        token = ensure_party_link(db, party["id"], walk_id, days)
        groups.append(
            {
                "walk": get_walk(db, walk_id) if walk_id is not None else None,
                "link_url": external("links.tasks_page", token=token),
                "tasks": with_observations(db, [t for t in tasks if t["walk_id"] == walk_id]),
            }
        )
    return groups


def _with_place(db: Database, task_ids: list[int]) -> list[dict]:
    """Tasks as `list_tasks` gives them (party and place names), in the order given."""
    rows = {t["id"]: t for t in list_tasks(db, states=WITH_PARTY, ids=task_ids)}
    return [rows[i] for i in task_ids if i in rows]


def _subject(count: str, groups: list[dict]) -> str:
    walks = [g["walk"] for g in groups]
    if len(walks) == 1 and walks[0] is not None:
        return _("%(tasks)s after %(walk)s", tasks=count, walk=header_text(walks[0]["title"], 60))
    return count


def _tasks_email(db: Database, party: dict, notices: list[dict], external):
    ids = list(dict.fromkeys(n["task_id"] for n in notices))
    tasks = _with_place(db, ids)
    reopened = {n["task_id"]: n for n in notices if n["reason"] == "reopened"}
    for task in tasks:
        notice = reopened.get(task["id"])
        task["reopened"] = notice is not None
        task["reopened_note"] = (notice["note"] or "") if notice else ""
    groups = _groups(db, party, tasks, external)
    context = {"party": party, "groups": groups, "external": external, "map_url": map_url}
    name = header_text(party["name"], 60)
    if reopened:
        count = ngettext(
            "%(num)d task for %(party)s", "%(num)d tasks for %(party)s", len(tasks), party=name
        )
    else:
        count = ngettext(
            "%(num)d new task for %(party)s",
            "%(num)d new tasks for %(party)s",
            len(tasks),
            party=name,
        )
    return (
        _subject(count, groups),
        render_email("email/tasks.txt", **context),
        render_email("email/tasks.html", **context),
    )


def send_notices(
    db: Database,
    base_url: str,
    *,
    party_ids: list[int] | None = None,
    walk_id: int | None = None,
) -> list[dict]:
    """A sending round: one email per party with every task waiting to be told to it.

    The round covers the given parties, or the parties with waiting tasks from the walk, or
    every party. Returns one result per party: status "sent", "no_recipients" or "failed",
    with the task ids, recipients, subject and transport.
    """
    settle_moved(db)
    if walk_id is not None:
        party_ids = sorted({n["party_id"] for n in waiting_notices(db, walk_id=walk_id)})
    notices = waiting_notices(db, party_ids=party_ids)
    # Parties reached over Open311 hear of their tasks as requests in their own system
    # (`fieldwalk.open311.channel`), never by email: their notices are settled as such.
    over_open311 = channel_party_ids(db)
    settle_notices(db, [n["id"] for n in notices if n["party_id"] in over_open311], "open311")
    notices = [n for n in notices if n["party_id"] not in over_open311]
    by_party: dict[int, list[dict]] = {}
    for notice in notices:
        by_party.setdefault(notice["party_id"], []).append(notice)
    external = url_builder(base_url)
    results = []
    with force_locale(current_app.config["MAIL_LOCALE"]):
        for party_id, waiting in by_party.items():
            party = get_party(db, party_id)
            recipients = clean_addresses(party_recipients(db, party_id))
            result = {
                "party_id": party_id,
                "party_name": party["name"],
                "task_ids": sorted({n["task_id"] for n in waiting}),
                "recipients": recipients,
            }
            results.append(result)
            if not recipients:
                result["status"] = "no_recipients"
                continue
            keys = {f"notice:{n['id']}": n for n in waiting}
            # Sent by an earlier round that stopped before settling: settle, never resend.
            done = finished_keys(db, list(keys))
            settle_notices(db, [keys[k]["id"] for k in done], "sent")
            claimed = reserve(db, "tasks", [k for k in keys if k not in done], recipients, party_id)
            if not claimed:
                result["status"] = "already_sent"
                continue
            mine = [keys[k] for k in claimed]
            result["task_ids"] = sorted({n["task_id"] for n in mine})
            compose = partial(_tasks_email, db, party, mine, external)

            def settle(transport, ids=tuple(n["id"] for n in mine)):
                settle_notices(db, list(ids), transport)

            result.update(send_reserved(db, claimed, recipients, compose, on_sent=settle))
    return results


def send_party_link(
    db: Database, party_id: int, walk_id: int | None, base_url: str, created_by: int | None
) -> dict:
    """Email a party a working link to the tasks it holds from a walk (None: from outside a
    walk), now; a withdrawn link is replaced by a new one. Status "sent", "no_tasks",
    "no_recipients" or "failed"."""
    party = get_party(db, party_id)
    tasks = open_tasks_for_link(db, party_id, walk_id) if party else []
    if not tasks:
        return {"status": "no_tasks"}
    recipients = clean_addresses(party_recipients(db, party_id))
    if not recipients:
        return {"status": "no_recipients"}
    days = current_app.config["PARTY_LINK_DAYS"]
    token = ensure_party_link(db, party_id, walk_id, days, created_by)
    external = url_builder(base_url)
    key = f"link:{party_id}:{walk_id}:{now()}:{token[-12:]}"
    if not reserve(db, "link", [key], recipients, party_id):
        return {"status": "already_sent"}

    def compose():
        groups = [
            {
                "walk": get_walk(db, walk_id) if walk_id is not None else None,
                "link_url": external("links.tasks_page", token=token),
                "tasks": with_observations(db, tasks),
            }
        ]
        context = {"party": party, "groups": groups, "external": external, "map_url": map_url}
        subject = _("A new link to your tasks, %(party)s", party=header_text(party["name"], 60))
        return (
            _subject(subject, groups),
            render_email("email/link.txt", **context),
            render_email("email/link.html", **context),
        )

    with force_locale(current_app.config["MAIL_LOCALE"]):
        return send_reserved(db, [key], recipients, compose)


def overdue_tasks(db: Database, today: str) -> list[dict]:
    """Tasks with a party, still open with it, whose due date is before `today`."""
    return [
        t for t in list_tasks(db, states=WITH_PARTY, due_before=today) if t["party_id"] is not None
    ]


def send_reminders(db: Database, base_url: str, today: str) -> list[dict]:
    """Email each party ONE reminder listing its overdue tasks not yet reminded about.

    A task is reminded about once per party holding it and due date: a task re-routed to a
    new party is reminded to that party on its own. Returns one result per party with
    overdue tasks, like `send_notices`.
    """
    external = url_builder(base_url)
    by_party: dict[int, list[dict]] = {}
    for task in overdue_tasks(db, today):
        by_party.setdefault(task["party_id"], []).append(task)
    results = []
    with force_locale(current_app.config["MAIL_LOCALE"]):
        for party_id, overdue in by_party.items():
            party = get_party(db, party_id)
            recipients = clean_addresses(party_recipients(db, party_id))
            result = {"party_id": party_id, "party_name": party["name"], "recipients": recipients}
            results.append(result)
            keys = {
                f"reminder:party:{party_id}:task:{t['id']}:due:{t['due_date']}": t for t in overdue
            }
            if not recipients:
                result.update(status="no_recipients", task_ids=[t["id"] for t in overdue])
                continue
            claimed = reserve(db, "reminder", list(keys), recipients, party_id)
            tasks = [keys[k] for k in claimed]
            result["task_ids"] = [t["id"] for t in tasks]
            if not tasks:
                result["status"] = "already_sent"
                continue
            compose = partial(_reminder_email, db, party, tasks, external)
            result.update(send_reserved(db, claimed, recipients, compose))
    return results


def _reminder_email(db: Database, party: dict, tasks: list[dict], external):
    context = {
        "party": party,
        "groups": _groups(db, party, tasks, external),
        "external": external,
        "map_url": map_url,
    }
    subject = ngettext(
        "Reminder: %(num)d overdue task for %(party)s",
        "Reminder: %(num)d overdue tasks for %(party)s",
        len(tasks),
        party=header_text(party["name"], 60),
    )
    return (
        subject,
        render_email("email/reminder.txt", **context),
        render_email("email/reminder.html", **context),
    )


@click.command("send-reminders")
@click.option("--base-url", help="Address links point to (default: PUBLIC_BASE_URL).")
@with_appcontext
def send_reminders_command(base_url: str | None) -> None:
    """Email each party a reminder of its overdue tasks, and any tasks not yet emailed to
    it, and residents the news about what they reported; safe to run from cron.

    Never sends the same reminder twice: a task is reminded about once per party holding it
    and due date.

    Example: flask --app app send-reminders
    """
    config = current_app.config
    db = connect(config["DATABASE_PATH"])
    base = base_url or config["PUBLIC_BASE_URL"]
    try:
        waiting = send_notices(db, base)
        results = send_reminders(db, base, local_today())
        residents = tell_residents(db, base)
    finally:
        db.close()
    for r in waiting:
        to = ", ".join(r["recipients"]) or "-"
        name = header_text(r["party_name"])
        detail = r.get("transport") or r.get("error", "")
        count = len(r["task_ids"])
        click.echo(f"{r['status']}: {name} <{to}> {count} new task(s) {detail}".rstrip())
    for r in results:
        count = len(r.get("task_ids", []))
        to = ", ".join(r["recipients"]) or "-"
        detail = r.get("transport") or r.get("error", "")
        name = header_text(r["party_name"])
        click.echo(f"{r['status']}: {name} <{to}> {count} overdue task(s) {detail}".rstrip())
    sent = sum(1 for r in results if r["status"] == "sent")
    click.echo(f"{sent} reminder(s) sent.")
    told = sum(1 for r in residents if r["status"] == "sent")
    click.echo(f"{told} email(s) to residents sent.")
    if any(r["status"] == "failed" for r in [*waiting, *results, *residents]):
        raise SystemExit(1)


def local_today() -> str:
    """Today's date in the app's time zone (due dates are local dates)."""
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    return datetime.now(zone).date().isoformat()


def init_app(app: Flask) -> None:
    """Register the send-reminders command."""
    app.cli.add_command(send_reminders_command)
