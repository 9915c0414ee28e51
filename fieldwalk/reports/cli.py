"""`flask --app app recount`: rebuild the reports' running totals from the raw rows."""

import contextlib

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from fieldwalk import textsearch
from fieldwalk.dashboard.mapcells import rebuild_map_cells
from fieldwalk.db import connect, transaction
from fieldwalk.reports.totals import TABLES, differences, recount, snapshot
from fieldwalk.tasks import untasked


class _Undo(Exception):
    """Raised to roll a `--check` back."""


@click.command("recount")
@click.option("--check", is_flag=True, help="Only say whether the totals are right.")
@with_appcontext
def recount_command(check: bool) -> None:
    """Rebuild the running totals (observations, events, tasks), the map's cell counts, the
    text search's index and triage's observations without a task from the stored rows.

    With --check nothing changes; the exit status is 1 when a total was wrong.

    Example: flask --app app recount
    """
    db = connect(current_app.config["DATABASE_PATH"])
    wrong: dict[str, int] = {}
    try:
        # --check rolls the whole recount back by leaving the transaction with _Undo.
        with contextlib.suppress(_Undo), transaction(db):
            before = snapshot(db)
            sizes = recount(db)
            after = snapshot(db)
            wrong = differences(before, after)
            cells = rebuild_map_cells(db)
            indexed = textsearch.rebuild(db)
            waiting = untasked.rebuild(db)
            if check:
                raise _Undo
    finally:
        db.close()
    for table in TABLES:
        state = f"{wrong[table]} row(s) differed" if table in wrong else "right"
        size = "" if check else f", {sizes[table]} row(s)"
        click.echo(f"{table}: {state}{size}")
    if not check:
        click.echo(f"map_cells: rebuilt, {cells} row(s)")
        click.echo(f"text index: rebuilt, {indexed} row(s)")
        click.echo(f"observations without a task: rebuilt, {waiting} row(s)")
    if check and wrong:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    """Register `recount`."""
    app.cli.add_command(recount_command)
