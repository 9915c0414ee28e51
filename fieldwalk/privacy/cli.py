"""`flask --app app purge [--dry-run]`: remove personal data kept past its time."""

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from fieldwalk.db import connect
from fieldwalk.privacy.retention import Retention, purge


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@with_appcontext
def purge_command(dry_run: bool) -> None:
    """Remove residents' names and email addresses, device keys, photos and the persons in
    old history entries once their time is up (RETAIN_* settings). Safe to run daily from cron.

    Example: flask --app app purge --dry-run
    """
    config = current_app.config
    rules = Retention.from_config(config)
    db = connect(config["DATABASE_PATH"])
    try:
        report = purge(db, Path(config["PHOTO_PATH"]), rules, dry_run=dry_run)
    finally:
        db.close()
    verb = "would be" if dry_run else "were"
    click.echo(
        f"{len(report['names'])} resident name(s) {verb} removed "
        f"(fixes closed over {rules.names_days} days ago)."
    )
    click.echo(
        f"{len(report['follows'])} resident email address(es) {verb} removed "
        f"(what they follow closed over {rules.names_days} days ago)."
    )
    click.echo(
        f"{len(report['devices'])} device key(s) {verb} forgotten "
        f"(unused for over {rules.device_days} days)."
    )
    click.echo(
        f"{len(report['photos'])} photo(s) {verb} deleted "
        f"(fixes closed over {rules.photo_days} days ago)."
    )
    click.echo(
        f"{report['audit_entries']} history entr{'y' if report['audit_entries'] == 1 else 'ies'}"
        f" {verb} reduced to the role (older than {rules.audit_person_days} days)."
    )
    merged = len(report["search_index"])
    click.echo(
        f"{merged} search index(es) {verb} merged, to drop the words of texts erased, changed"
        " or deleted since the last purge."
    )
    if not dry_run and not report["log_emptied"]:
        click.echo(
            "The write-ahead log was not emptied (a reader held it, such as a long export):"
            " the next purge will."
        )
    if dry_run:
        listed = (
            ("participant", report["names"]),
            ("follow", report["follows"]),
            ("photo", report["photos"]),
        )
        for name, values in listed:
            for value in values:
                click.echo(f"  {name} {value}")


def init_app(app: Flask) -> None:
    """Register the purge command."""
    app.cli.add_command(purge_command)
