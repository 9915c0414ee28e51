"""Email: building a message, sending it (SMTP or the .eml outbox), and sending it only once.

Email goes through SMTP when SMTP_HOST is set, otherwise it is written as an .eml file to
`<instance>/outbox/`, so the demo works with no mail server. Emails are in MAIL_LOCALE
(Swedish by default; "en" for English).

Every email is recorded in `notifications` under one or more unique keys, reserved before
the email leaves: the same key is never sent twice, even by two processes at once (at most
once; a failed send releases its keys so a later run tries again).

Headers: Python's folding of long non-ASCII headers (3.11) can put the space between two
words as the fold between two encoded words, where RFC 2047 says a reader drops it
("för ParkingenjörernaHässelby"). `MailPolicy` folds such headers as encoded words that
carry their own spaces.
"""

import os
import re
import secrets
import smtplib
import ssl
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import UnstructuredHeader
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app
from sqlite_utils import Database

from fieldwalk.clock import now
from fieldwalk.db import transaction

CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


class MailPolicy(EmailPolicy):
    """`email.policy.SMTP` with unstructured non-ASCII headers folded so no space is lost."""

    def _encoded(self, name: str, value) -> str | None:
        if self.utf8 or not isinstance(value, UnstructuredHeader) or str(value).isascii():
            return None
        header = Header(str(value), "utf-8", header_name=name)
        folded = header.encode(linesep=self.linesep, maxlinelen=self.max_line_length or 78)
        return f"{name}: {folded}{self.linesep}"

    def fold(self, name, value):
        return self._encoded(name, value) or super().fold(name, value)

    def fold_binary(self, name, value):
        encoded = self._encoded(name, value)
        return encoded.encode("ascii") if encoded else super().fold_binary(name, value)


MAIL_POLICY = MailPolicy(linesep="\r\n")


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

    def external(endpoint: str, _anchor: str | None = None, **values) -> str:
        url = adapter.build(endpoint, values, force_external=True)
        return f"{url}#{_anchor}" if _anchor else url

    return external


def render_email(name: str, **context) -> str:
    """Render an email template straight from the Jinja environment.

    Emails are also built by cron, outside a request, where request-bound context
    processors cannot run.
    """
    context.setdefault("lang", current_app.config["MAIL_LOCALE"])
    return current_app.jinja_env.get_template(name).render(**context)


def build_message(recipients: list[str], subject: str, text: str, html: str) -> EmailMessage:
    """A multipart (plain text and HTML) email."""
    sender = current_app.config["MAIL_FROM"]
    domain = parseaddr(sender)[1].partition("@")[2] or "localhost"
    message = EmailMessage(policy=MAIL_POLICY)
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
    temp.write_bytes(message.as_bytes(policy=MAIL_POLICY))
    os.replace(temp, path)
    return path


def reserve(
    db: Database, kind: str, keys: list[str], recipients: list[str], party_id: int | None = None
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


def forget_recipients(db: Database, keys: list[str]) -> int:
    """Take the addresses out of these sent emails' records (inside a write): each keeps its
    kind, subject and time, with no recipients and a key that names no one. Returns how many
    records there were."""
    forgotten = 0
    for key in keys:
        forgotten += db.execute(
            """UPDATE notifications SET recipients = '', key = kind || ':forgotten:' || id
               WHERE key = ?""",
            [key],
        ).rowcount
    return forgotten


def finished_keys(db: Database, keys: list[str]) -> set[str]:
    """The keys whose email went out (reserved and settled with a subject)."""
    if not keys:
        return set()
    marks = ",".join("?" * len(keys))
    rows = db.execute(
        f"SELECT key FROM notifications WHERE key IN ({marks}) AND subject != ''",  # noqa: S608
        keys,
    )
    return {r[0] for r in rows}


def release_unsent(db: Database, keys: list[str]) -> None:
    """Give back keys claimed for an email that will not be sent after all."""
    if not keys:
        return
    marks = ",".join("?" * len(keys))
    with transaction(db):
        db.execute(
            f"DELETE FROM notifications WHERE key IN ({marks}) AND subject = ''",  # noqa: S608
            keys,
        )


def _settle(db: Database, keys: list[str], subject: str | None, transport: str, on_sent) -> None:
    """Record a sent email under its keys, or (subject None) release them after a failure."""
    marks = ",".join("?" * len(keys))
    with transaction(db):
        if subject is None:
            db.execute(f"DELETE FROM notifications WHERE key IN ({marks})", keys)  # noqa: S608
            return
        db.execute(
            f"""UPDATE notifications SET subject = ?, sent_at = ?, transport = ?
                WHERE key IN ({marks})""",  # noqa: S608
            [subject, now(), transport, *keys],
        )
        if on_sent is not None:
            on_sent(transport)


def send_reserved(db: Database, keys: list[str], recipients: list[str], compose, on_sent=None):
    """Compose and send an email whose keys are reserved; settle or release the keys.

    `compose()` returns (subject, text, html). `on_sent(transport)` runs in the same
    transaction that records the email as sent, so what it marks is marked exactly when
    the email counts as sent. Returns {"status": "sent", ...} or {"status": "failed", ...}.
    """
    try:
        subject, text, html = compose()
        transport = deliver(build_message(recipients, subject, text, html))
    except (smtplib.SMTPException, OSError) as error:
        _settle(db, keys, None, "", None)
        current_app.logger.warning("Email to %s failed: %s", recipients, error)
        return {"status": "failed", "error": str(error)}
    except BaseException:
        _settle(db, keys, None, "", None)
        raise
    _settle(db, keys, header_text(subject), transport, on_sent)
    return {"status": "sent", "transport": transport, "subject": header_text(subject)}


def send_once(
    db: Database,
    kind: str,
    key: str,
    recipients: list[str],
    compose,
    party_id: int | None = None,
) -> dict:
    """Send one email under one key, unless it was sent already (status "already_sent")."""
    recipients = clean_addresses(recipients)
    if not recipients:
        return {"status": "no_recipients"}
    if not reserve(db, kind, [key], recipients, party_id):
        return {"status": "already_sent"}
    return send_reserved(db, [key], recipients, compose)
