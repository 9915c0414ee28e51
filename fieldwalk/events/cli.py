"""`import-events`: the CSV import from the command line, for a weekly file from the police."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _

from fieldwalk.auth import find_user_by_email
from fieldwalk.db import connect
from fieldwalk.events.importer import import_events
from fieldwalk.events.problems import problem_message


@click.command("import-events")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report; store nothing.")
@click.option("--user", "email", help="The account the events are entered as (its email).")
@click.option("--lang", type=click.Choice(["sv", "en"]), help="Language of the report.")
@with_appcontext
def import_events_command(file: Path, dry_run: bool, email: str | None, lang: str | None) -> None:
    """Import events from a CSV file, all rows or none (exit status 1 and every bad row).

    Example: flask --app app import-events handelser-v47.csv --dry-run
    Example: flask --app app import-events handelser-v47.csv --user polis@example.se
    """
    config = current_app.config
    db = connect(config["DATABASE_PATH"])
    try:
        with force_locale(lang or config["BABEL_DEFAULT_LOCALE"]):
            user = find_user_by_email(db, email) if email else None
            if email and user is None:
                raise click.ClickException(f"No user with the email {email}.")
            result = import_events(
                db,
                file.read_bytes(),
                created_by=user["id"] if user else None,
                dry_run=dry_run,
                far_metres=config["FAR_FROM_PLACE_METRES"],
            )
            if not result.ok:
                click.echo(
                    _("Nothing was imported. Fix these rows in the file and try again:"), err=True
                )
                for problem in result.problems:
                    click.echo(f"  {problem_message(problem)}", err=True)
                raise SystemExit(1)
            if dry_run:
                summary = ngettext(
                    "Would import %(num)d event.", "Would import %(num)d events.", result.new
                )
            else:
                summary = ngettext(
                    "Imported %(num)d event.", "Imported %(num)d events.", result.new
                )
            if result.already:
                summary += " " + _("%(n)d were imported before.", n=result.already)
            if result.without_place:
                summary += " " + _("%(n)d lie inside no place.", n=result.without_place)
            if result.ignored_columns:
                summary += " " + _(
                    "Ignored columns: %(columns)s.", columns=", ".join(result.ignored_columns)
                )
            click.echo(summary)
    finally:
        db.close()
