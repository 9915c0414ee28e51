"""The phone's outbox, seen from the server: its page, and importing an exported outbox.

The outbox itself lives in the browser (static/js/outbox.js). When nothing gets through, a
participant exports it as a ZIP (outbox.json plus the photo bytes) and a coordinator imports
it with `flask --app app import-outbox FILE`: idempotent, by UUID, through the same rules as
the API, so importing twice or after a partial sync stores everything exactly once.
"""

import json
import zipfile
from pathlib import Path

import click
from flask import Blueprint, Flask, current_app
from flask.cli import with_appcontext
from sqlite_utils import Database

from fieldwalk.categories import category_list
from fieldwalk.db import connect
from fieldwalk.ids import parse_uuid
from fieldwalk.observations.model import Conflict, Invalid, PhotoIdsTaken, validate
from fieldwalk.observations.record import record_observation, record_photo
from fieldwalk.photos import hints
from fieldwalk.photos import pipeline as photo_pipeline
from fieldwalk.photos.attach import PhotoConflict, PhotoNotDeclared, PhotoSettings
from fieldwalk.render import render
from fieldwalk.walks.model import get_walk

bp = Blueprint("outbox", __name__)
MAX_ENTRIES = 10_000


@bp.get("/outbox")
def page():
    """What waits on this phone, what was refused and why (the list is filled by JavaScript)."""
    categories = category_list()
    return render(
        "pwa/outbox.html",
        categories=categories,
        label_map={c["code"]: c["label"] for c in categories},
    )


def import_outbox(db: Database, photo_dir: Path, path: Path, config: dict, user_id=None) -> dict:
    """Store what an exported outbox holds; return counts and a line per problem."""
    summary = {
        "created": 0,
        "existing": 0,
        "photos_created": 0,
        "photos_existing": 0,
        "problems": [],
    }
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("outbox.json")
        if info.file_size > 50 * 1024 * 1024:
            raise ValueError("outbox.json is too large")
        manifest = json.loads(archive.read(info))
        if manifest.get("format") != "fieldwalk-outbox" or not isinstance(
            manifest.get("entries"), list
        ):
            raise ValueError("not a fieldwalk outbox export")
        for entry in manifest["entries"][:MAX_ENTRIES]:
            _import_entry(db, photo_dir, archive, entry, config, user_id, summary)
    return summary


def _import_entry(db, photo_dir, archive, entry, config, user_id, summary) -> None:
    observation_id = parse_uuid(entry.get("id", ""))
    if observation_id is None:
        summary["problems"].append(f"{entry.get('id')!r}: not a UUID")
        return
    try:
        clean = validate(
            entry.get("body"),
            config["MAX_DESCRIPTION_LENGTH"],
            config["MAX_PHOTOS_PER_OBSERVATION"],
        )
    except Invalid as invalid:
        summary["problems"].append(f"{observation_id}: {invalid.errors}")
        return
    walk = None
    if clean["walk_id"] is not None:
        walk = get_walk(db, clean["walk_id"])
        if walk is None:
            summary["problems"].append(f"{observation_id}: unknown walk {clean['walk_id']}")
            return
    settings = PhotoSettings.from_config(config)
    try:
        observation, created = record_observation(
            db, photo_dir, observation_id, clean, settings, walk=walk, user_id=user_id
        )
    except PhotoIdsTaken as taken:
        summary["problems"].append(
            f"{observation_id}: photo ids already declared by another observation: {taken.photo_ids}"
        )
        return
    except Conflict:
        summary["problems"].append(
            f"{observation_id}: the server holds other content under this UUID"
        )
        return
    summary["created" if created else "existing"] += 1
    for photo in entry.get("photos") or []:
        photo_id = parse_uuid(photo.get("id", ""))
        if photo_id is None or not photo.get("file"):
            continue
        try:
            info = archive.getinfo(photo["file"])
        except KeyError:
            summary["problems"].append(f"{observation_id}: photo file {photo['file']} missing")
            continue
        if info.file_size > config["MAX_PHOTO_BYTES"]:
            summary["problems"].append(f"{observation_id}: photo {photo_id} is too large")
            continue
        try:
            _row, photo_created = record_photo(
                db,
                photo_dir,
                observation,
                photo_id,
                archive.read(info),
                settings,
                # What the phone read from the original (absent in exports before it was kept).
                phone_gps=hints.listed_position(photo.get("gps")),
                phone_taken_at=hints.phone_taken_at(photo.get("taken_at")),
            )
        except (PhotoConflict, PhotoNotDeclared, photo_pipeline.PhotoError) as error:
            summary["problems"].append(
                f"{observation_id}: photo {photo_id}: {type(error).__name__} {error}"
            )
            continue
        summary["photos_created" if photo_created else "photos_existing"] += 1


@click.command("import-outbox")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_outbox_command(file: Path) -> None:
    """Import an outbox exported from a phone (idempotent, by UUID).

    Example: flask --app app import-outbox fieldwalk-outbox-2026-11-28.zip
    """
    db = connect(current_app.config["DATABASE_PATH"])
    try:
        summary = import_outbox(
            db, Path(current_app.config["PHOTO_PATH"]), file, current_app.config
        )
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise click.ClickException(f"Cannot read {file}: {error}") from error
    finally:
        db.close()
    click.echo(
        f"Observations: {summary['created']} new, {summary['existing']} already stored. "
        f"Photos: {summary['photos_created']} new, {summary['photos_existing']} already stored."
    )
    for problem in summary["problems"]:
        click.echo(f"problem: {problem}", err=True)
    if summary["problems"]:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    """Register the outbox page and the import command."""
    app.register_blueprint(bp)
    app.cli.add_command(import_outbox_command)
