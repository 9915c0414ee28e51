"""Serving stored photos (no metadata inside) and the check-photos command."""

from pathlib import Path

import click
from flask import Blueprint, Flask, abort, current_app, send_from_directory, url_for
from flask.cli import with_appcontext
from flask_babel import gettext as _

from fieldwalk.db import connect
from fieldwalk.photos import pipeline as photo_pipeline
from fieldwalk.photos import squares
from fieldwalk.photos.files import check_photos, ensure_square, remove_stale_temp_files

bp = Blueprint("photo_files", __name__)


ONE_YEAR = 365 * 24 * 3600


def photo_url(relative: str) -> str:
    """The URL of a stored photo file."""
    return url_for("photo_files.serve", relative=relative)


def list_thumb_srcset(thumb_relative: str) -> str:
    """The `srcset` of a thumbnail's list squares (photos/squares.py), smallest first."""
    return ", ".join(
        f"{photo_url(squares.square_path(thumb_relative, edge))} {edge}w" for edge in squares.EDGES
    )


def list_thumb_url(thumb_relative: str) -> str:
    """The URL of a thumbnail's smallest list square (the `src` beside the srcset)."""
    return photo_url(squares.square_path(thumb_relative, squares.EDGES[0]))


@bp.get("/photos/<path:relative>")
def serve(relative: str):
    """Serve a stored image: content-addressed, so cacheable for ever; no metadata inside.

    A list square of a photo stored before squares existed is made on its first request.
    """
    if relative.startswith(".") or "/." in relative or not relative.endswith(".jpg"):
        abort(404)
    photo_dir = Path(current_app.config["PHOTO_PATH"])
    if squares.parse_square_path(relative) and not ensure_square(photo_dir, relative):
        abort(404)
    response = send_from_directory(
        current_app.config["PHOTO_PATH"], relative, mimetype="image/jpeg", max_age=ONE_YEAR
    )
    response.cache_control.immutable = True
    return response


@click.command("check-photos")
@click.option("--fix", is_flag=True, help="Remove files that no row refers to.")
@with_appcontext
def check_photos_command(fix: bool) -> None:
    """List photo files no row refers to and rows whose file is missing.

    Example: flask --app app check-photos --fix
    """
    db = connect(current_app.config["DATABASE_PATH"])
    try:
        report = check_photos(db, Path(current_app.config["PHOTO_PATH"]), fix=fix)
    finally:
        db.close()
    for path in report["orphans"]:
        click.echo(f"{'removed' if fix else 'orphan'}: {path}")
    for path in report["missing"]:
        click.echo(f"missing: {path}")
    click.echo(
        f"{len(report['orphans'])} orphan file(s), {len(report['missing'])} missing file(s)."
    )
    if report["missing"]:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    """Register photo serving and the check-photos command; remove what killed workers left."""
    app.register_blueprint(bp)
    app.cli.add_command(check_photos_command)
    app.jinja_env.globals["photo_url"] = photo_url
    app.jinja_env.globals["list_thumb_url"] = list_thumb_url
    app.jinja_env.globals["list_thumb_srcset"] = list_thumb_srcset
    try:
        remove_stale_temp_files(Path(app.config["PHOTO_PATH"]))
    except OSError:  # an unreadable folder is for /healthz to report, not a reason not to start
        app.logger.exception("could not remove stale temporary photo files")


def photo_error_message(error: photo_pipeline.PhotoError) -> str:
    """What to tell a person whose photo was refused."""
    config = current_app.config
    return {
        "empty": _("The photo is empty."),
        "too_large": _(
            "The photo is too large (at most %(mb)d MB).", mb=config["MAX_PHOTO_BYTES"] // 2**20
        ),
        "too_many_pixels": _("The photo has too many pixels."),
        "too_costly": _(
            "The image is too large to process here. Take it with “Take photo”, which makes it"
            " smaller, or save it at a lower resolution."
        ),
        "not_image": _("This is not a photo. Use JPEG, PNG, WebP or HEIC."),
        "unsupported": _("This image format is not supported. Use JPEG, PNG, WebP or HEIC."),
        "undecodable": _("The photo could not be read; it may be damaged."),
    }.get(error.code, _("The photo could not be read; it may be damaged."))
