"""Email to parties: one email per party with its tasks from a walk, and overdue reminders.

Email goes through SMTP when SMTP_HOST is set, otherwise it is written as an .eml file to
`<instance>/outbox/`, so the demo works with no mail server. Emails are in MAIL_LOCALE
(Swedish by default; "en" for English).

Every email is recorded in `notifications` under a unique key, reserved before the email
leaves: the same key is never sent twice, even by two processes at once (at most once; a
failed send releases its key so a later run tries again). A walk's email is keyed by walk,
party and task ids; reminders by task and due date, one row per task, so a task is reminded
once per due date and a changed due date may remind again.
"""

import os
import re
import secrets
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_babel import force_locale, ngettext
from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import connect, transaction
from fieldwalk.parties.model import get_party, party_recipients
from fieldwalk.tasks.links import ensure_party_link, map_url, with_observations
from fieldwalk.tasks.model import list_tasks
from fieldwalk.tasks.states import WITH_PARTY
from fieldwalk.walks.model import get_walk

CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def header_text(value: str, limit: int = 150) -> str:
    """Text safe for a header: control characters and line breaks become spaces."""
    text = " ".join(CONTROL.sub(" ", value or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def clean_addresses(addresses: list[str]) -> list[str]:
    """The plain, well-formed addresses among `addresses` (no names, no line breaks)."""
    clean = []
    for address in addresses:
        if CONTROL.search(address):
            continue
        _name, parsed = parseaddr(address)
        if parsed and parsed == address.strip() and "@" in parsed and "," not in parsed:
            clean.append(parsed)
    return list(dict.fromkeys(clean))


def url_builder(base_url: str):
    """Build absolute URLs to the app's routes from `base_url`, with or without a request."""
    parts = urlsplit(base_url)
    adapter = current_app.url_map.bind(
        parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme or "https"
    )

    def external(endpoint: str, **values) -> str:
        return adapter.build(endpoint, values, force_external=True)

    return external


def _render(name: str, **context) -> str:
    # Straight from the Jinja environment: emails are also built by cron, outside a request,
    # where request-bound context processors cannot run.
    context.setdefault("lang", current_app.config["MAIL_LOCALE"])
    return current_app.jinja_env.get_template(name).render(**context)


def build_message(recipients: list[str], subject: str, text: str, html: str) -> EmailMessage:
    """A multipart (plain text and HTML) email."""
    sender = current_app.config["MAIL_FROM"]
    domain = parseaddr(sender)[1].partition("@")[2] or "localhost"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = header_text(subject)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def transport_name() -> str:
    """How email leaves: "smtp" when a server is configured, else "outbox"."""
    return "smtp" if current_app.config["SMTP_HOST"] else "outbox"


def deliver(message: EmailMessage) -> str:
    """Send through SMTP or write to the outbox folder; return the transport used."""
    config = current_app.config
    if not config["SMTP_HOST"]:
        write_outbox(message, Path(current_app.instance_path) / "outbox")
        return "outbox"
    host, port, timeout = config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_TIMEOUT_SECONDS"]
    if config["SMTP_USE_TLS"]:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        if not config["SMTP_USE_TLS"] and config["SMTP_STARTTLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        smtp.send_message(message)
    return "smtp"


def write_outbox(message: EmailMessage, folder: Path) -> Path:
    """Write an email as an .eml file (atomically); return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", message["Subject"] or "")[:60].strip("-")
    path = folder / f"{stamp}-{slug}-{secrets.token_hex(3)}.eml"
    temp = folder / f".tmp-{path.name}"
    temp.write_bytes(message.as_bytes(policy=SMTP))
    os.replace(temp, path)
    return path


def _reserve(
    db: Database, kind: str, keys: list[str], party_id: int, recipients: list[str]
) -> list[str]:
    """Claim the keys not yet sent; return those claimed (the rest were sent already)."""
    claimed = []
    with transaction(db):
        for key in keys:
            cursor = db.execute(
                """INSERT OR IGNORE INTO notifications
                       (kind, key, party_id, recipients, subject, sent_at, transport)
                   VALUES (?, ?, ?, ?, '', ?, ?)""",
                [kind, key, party_id, ", ".join(recipients), now(), transport_name()],
            )
            if cursor.rowcount == 1:
                claimed.append(key)
    return claimed


def _settle(db: Database, keys: list[str], subject: str | None, transport: str = "") -> None:
    """Record a sent email under its keys, or (subject None) release them after a failure."""
    marks = ",".join("?" * len(keys))
    with transaction(db):
        if subject is None:
            db.execute(f"DELETE FROM notifications WHERE key IN ({marks})", keys)  # noqa: S608
        else:
            db.execute(
                f"""UPDATE notifications SET subject = ?, sent_at = ?, transport = ?
                    WHERE key IN ({marks})""",  # noqa: S608
                [subject, now(), transport, *keys],
            )


def _send(db: Database, keys: list[str], recipients: list[str], compose) -> dict:
    """Compose and send an email whose keys are reserved; settle or release the keys."""
    try:
        subject, text, html = compose()
        transport = deliver(build_message(recipients, subject, text, html))
    except (smtplib.SMTPException, OSError) as error:
        _settle(db, keys, None)
        current_app.logger.warning("Email to %s failed: %s", recipients, error)
        return {"status": "failed", "error": str(error)}
    except BaseException:
        _settle(db, keys, None)
        raise
    _settle(db, keys, header_text(subject), transport)
    return {"status": "sent", "transport": transport, "subject": header_text(subject)}


def notify_walk_parties(
    db: Database, walk_id: int, sent: dict[int, list[int]], base_url: str
) -> list[dict]:
    """Email each party ONE message listing its tasks just sent from the walk, with its link.

    `sent` maps party ids to task ids (what `send_walk_tasks` returns). Returns one result per
    party: status "sent", "already_sent", "no_recipients" or "failed", with the recipients,
    subject and transport of what was sent.
    """
    config = current_app.config
    walk = get_walk(db, walk_id)
    external = url_builder(base_url)
    results = []
    with force_locale(config["MAIL_LOCALE"]):
        for party_id, task_ids in sent.items():
            party = get_party(db, party_id)
            ids = sorted(set(task_ids))
            if party is None or not ids or walk is None:
                continue
            key = f"walk:{walk_id}:party:{party_id}:tasks:{','.join(map(str, ids))}"
            recipients = clean_addresses(party_recipients(db, party_id))
            result = {
                "party_id": party_id,
                "party_name": party["name"],
                "task_ids": ids,
                "recipients": recipients,
            }
            results.append(result)
            if not recipients:
                result["status"] = "no_recipients"
            elif not _reserve(db, "walk_tasks", [key], party_id, recipients):
                result["status"] = "already_sent"
            else:
                compose = partial(_walk_email, db, party, walk, ids, external)
                result.update(_send(db, [key], recipients, compose))
    return results


def _walk_email(db: Database, party: dict, walk: dict, ids: list[int], external):
    token = ensure_party_link(db, party["id"], walk["id"], current_app.config["PARTY_LINK_DAYS"])
    listed = list_tasks(db, party_id=party["id"], walk_id=walk["id"])
    tasks = with_observations(db, [t for t in listed if t["id"] in ids])
    context = {
        "party": party,
        "walk": walk,
        "tasks": tasks,
        "link_url": external("links.tasks_page", token=token),
        "external": external,
        "map_url": map_url,
    }
    subject = ngettext(
        "Safety walk %(walk)s: %(num)d task for %(party)s",
        "Safety walk %(walk)s: %(num)d tasks for %(party)s",
        len(tasks),
        walk=header_text(walk["title"], 60),
        party=header_text(party["name"], 60),
    )
    return subject, _render("email/tasks.txt", **context), _render("email/tasks.html", **context)


def overdue_tasks(db: Database, today: str) -> list[dict]:
    """Tasks with a party, still open with it, whose due date is before `today`."""
    return [
        t
        for t in list_tasks(db, states=WITH_PARTY)
        if t["party_id"] is not None and t["due_date"] and t["due_date"] < today
    ]


def send_reminders(db: Database, base_url: str, today: str) -> list[dict]:
    """Email each party ONE reminder listing its overdue tasks not yet reminded about.

    A task is reminded about once per due date. Returns one result per party with overdue
    tasks, like `notify_walk_parties`.
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
            keys = {f"reminder:task:{t['id']}:due:{t['due_date']}": t for t in overdue}
            if not recipients:
                result.update(status="no_recipients", task_ids=[t["id"] for t in overdue])
                continue
            claimed = _reserve(db, "reminder", list(keys), party_id, recipients)
            tasks = [keys[k] for k in claimed]
            result["task_ids"] = [t["id"] for t in tasks]
            if not tasks:
                result["status"] = "already_sent"
                continue
            compose = partial(_reminder_email, db, party, tasks, external)
            result.update(_send(db, claimed, recipients, compose))
    return results


def _reminder_email(db: Database, party: dict, tasks: list[dict], external):
    walks = []
    for walk_id in dict.fromkeys(t["walk_id"] for t in tasks):
        walk = get_walk(db, walk_id) if walk_id is not None else None
        days = current_app.config["PARTY_LINK_DAYS"]
        token = ensure_party_link(db, party["id"], walk_id, days) if walk else None
        walks.append(
            {
                "walk": walk,
                "link_url": external("links.tasks_page", token=token) if token else "",
                "tasks": with_observations(db, [t for t in tasks if t["walk_id"] == walk_id]),
            }
        )
    context = {"party": party, "walks": walks, "external": external, "map_url": map_url}
    subject = ngettext(
        "Reminder: %(num)d overdue task for %(party)s",
        "Reminder: %(num)d overdue tasks for %(party)s",
        len(tasks),
        party=header_text(party["name"], 60),
    )
    return (
        subject,
        _render("email/reminder.txt", **context),
        _render("email/reminder.html", **context),
    )


def local_today() -> str:
    """Today's date in the app's time zone (due dates are local dates)."""
    return datetime.now(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])).date().isoformat()


@click.command("send-reminders")
@click.option("--base-url", help="Address links point to (default: PUBLIC_BASE_URL).")
@with_appcontext
def send_reminders_command(base_url: str | None) -> None:
    """Email each party a reminder of its overdue tasks; safe to run from cron.

    Never sends the same reminder twice: a task is reminded about once per due date.

    Example: flask --app app send-reminders
    """
    config = current_app.config
    db = connect(config["DATABASE_PATH"])
    try:
        results = send_reminders(db, base_url or config["PUBLIC_BASE_URL"], local_today())
    finally:
        db.close()
    for r in results:
        count = len(r.get("task_ids", []))
        to = ", ".join(r["recipients"]) or "-"
        detail = r.get("transport") or r.get("error", "")
        name = header_text(r["party_name"])
        click.echo(f"{r['status']}: {name} <{to}> {count} overdue task(s) {detail}".rstrip())
    sent = sum(1 for r in results if r["status"] == "sent")
    click.echo(f"{sent} reminder(s) sent.")
    if any(r["status"] == "failed" for r in results):
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    """Register the send-reminders command."""
    app.cli.add_command(send_reminders_command)
