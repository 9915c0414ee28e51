"""Serving stored photos (no metadata inside), and the check-photos and blur-pending commands.

Who is served what: a photo's public copies (faces blurred, fieldwalk/photos/public.py) to
anyone who has their address; its originals (the display copy and thumbnail as uploaded) to
staff and to the phone that took it. Anyone else asking for an original is sent to its
public copy, or, while that is still being made, given a plain grey stand-in (never cached):
nothing unblurred is served to them, not even in between. Parties (engineers, link holders,
emails) and the other people on a walk are "anyone else".
"""

import functools
import io
import signal
import threading
from pathlib import Path

import click
from flask import Blueprint, Flask, abort, current_app, redirect, send_from_directory, url_for
from flask.cli import with_appcontext
from flask_babel import gettext as _
from PIL import Image

from fieldwalk.db import connect, get_db
from fieldwalk.observations.model import get_observation
from fieldwalk.photos import pipeline as photo_pipeline
from fieldwalk.photos import squares
from fieldwalk.photos.files import check_photos, ensure_square, remove_stale_temp_files
from fieldwalk.photos.model import find_photos_by_file
from fieldwalk.photos.public import BlurWorker, blur_pending, register
from fieldwalk.security import device_key_hash, is_staff

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


@functools.cache
def pending_image() -> bytes:
    """A plain grey picture shown in place of a photo whose blurred copy is being made."""
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 204, 207)).save(out, "JPEG", quality=60)
    return out.getvalue()


def pending_response():
    """The stand-in for a photo not yet blurred: never cached, by a browser or the app's
    service worker (which skips no-store answers), so the photo shows once it is ready."""
    response = current_app.response_class(pending_image(), mimetype="image/jpeg")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Photo-Pending"] = "1"
    return response


def may_see_original(photo: dict) -> bool:
    """Staff, and the phone that took an observation's photo, see it unblurred."""
    if is_staff():
        return True
    if photo["observation_id"] is None:
        return False
    device = device_key_hash()
    observation = get_observation(get_db(), photo["observation_id"]) if device else None
    return observation is not None and observation["device_key_hash"] == device


@bp.get("/photos/<path:relative>")
def serve(relative: str):
    """Serve a stored image: content-addressed, so cacheable for ever; no metadata inside.

    A list square (photos/squares.py) follows its thumbnail's rule, and one of a photo stored
    before squares existed is made on its first request.
    """
    if relative.startswith(".") or "/." in relative or not relative.endswith(".jpg"):
        abort(404)
    square = squares.parse_square_path(relative)
    owners = find_photos_by_file(get_db(), square[0] if square else relative)
    if not any(copy == "public" and not photo["hidden_at"] for photo, copy in owners):
        if not any(may_see_original(photo) for photo, _copy in owners):
            # Someone else's original (or a hidden photo): its blurred copy, if made yet.
            for photo, copy in owners:
                public = photo["public_file"] if copy == "display" else photo["public_thumb_file"]
                if public and copy != "public" and not photo["hidden_at"]:
                    target = squares.square_path(public, square[1]) if square else public
                    response = redirect(photo_url(target), code=303)
                    response.headers["Cache-Control"] = "no-store"
                    return response
            if any(not photo["hidden_at"] for photo, _copy in owners):
                return pending_response()  # the blurred copy is still being made
            abort(404)
        copy = "original"
    else:
        copy = "public"
    if square and not ensure_square(Path(current_app.config["PHOTO_PATH"]), relative):
        abort(404)
    response = send_from_directory(
        current_app.config["PHOTO_PATH"], relative, mimetype="image/jpeg", max_age=ONE_YEAR
    )
    response.cache_control.immutable = True
    if copy != "public":  # an original: never kept by a shared cache, nor shown to another
        response.cache_control.public = False
        response.cache_control.private = True
        response.vary.add("Cookie")
    return response


@click.command("blur-pending")
@click.option("--watch", is_flag=True, help="Keep running, looking for new photos every 5 s.")
@with_appcontext
def blur_pending_command(watch: bool) -> None:
    """Make the face-blurred public copies of every photo still without them.

    Safe beside the app's own blurring thread and another run (each photo is claimed). Give
    it the cores nothing else wants, as docs/systemd/fieldwalk-blur.service does: a photo's
    faces cost some two seconds of one core. Stopped (SIGTERM, Ctrl-C), it gives back the
    photo at hand, so no file is left written and unrecorded.
    Example: chrt --idle 0 flask --app app blur-pending   (from cron, each minute)
             flask --app app blur-pending --watch   (as a service)
    """
    config = current_app.config
    stop = threading.Event()
    before = {n: signal.signal(n, lambda *_: stop.set()) for n in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.is_set():
            db = connect(config["DATABASE_PATH"])
            try:
                made = blur_pending(
                    db, Path(config["PHOTO_PATH"]), config["PHOTO_THUMB_EDGE"], stop=stop
                )
            finally:
                db.close()
            if not watch:
                click.echo(f"{made} photo(s) blurred.")
                return
            if not made:
                stop.wait(5)
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


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
    """Register photo serving, the commands, and this process's blurring thread; remove what
    killed workers left."""
    app.register_blueprint(bp)
    app.cli.add_command(check_photos_command)
    app.cli.add_command(blur_pending_command)
    app.jinja_env.globals["photo_url"] = photo_url
    app.jinja_env.globals["list_thumb_url"] = list_thumb_url
    app.jinja_env.globals["list_thumb_srcset"] = list_thumb_srcset
    try:
        remove_stale_temp_files(Path(app.config["PHOTO_PATH"]))
    except OSError:  # an unreadable folder is for /healthz to report, not a reason not to start
        app.logger.exception("could not remove stale temporary photo files")
    in_process = app.config["FACE_BLUR_IN_PROCESS"]
    if in_process or (in_process is None and not app.testing):
        worker = BlurWorker(
            app.config["DATABASE_PATH"], app.config["PHOTO_PATH"], app.config["PHOTO_THUMB_EDGE"]
        )
        app.extensions["fieldwalk_blur"] = worker
        register(worker)
        # Whatever a restart, an import or the demo left unblurred is done once the server
        # serves its first request. (A command that records photos starts the thread too,
        # and waits for the photo at hand when it exits: BlurWorker.stop.)
        first = []

        @app.before_request
        def _blur_backlog() -> None:
            if not first:
                first.append(True)
                worker.wake()


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
