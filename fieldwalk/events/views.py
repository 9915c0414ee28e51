"""Event pages: the phone form, the CSV upload (checked, previewed, then imported) and the list.

Staff and partners (police, security companies) use them; a partner sees events only, never
a walk, an observation or a resident. An upload is checked as a dry run first and kept on the
server (for an hour, for the person who sent it) until they confirm it: the browser cannot
send the same file twice without asking them to pick it again.
"""

import re
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    g,
    redirect,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from wtforms import SelectChoice

from fieldwalk.dashboard.exports import csv_chunks
from fieldwalk.dashboard.filters import local_zone, parse_day, parse_page, utc_bound
from fieldwalk.db import get_db, transaction
from fieldwalk.events.cli import import_events_command
from fieldwalk.events.forms import ConfirmForm, EventForm, ImportForm
from fieldwalk.events.importer import ImportResult, import_events
from fieldwalk.events.model import (
    EXPORT_COLUMNS,
    MAX_DESCRIPTION,
    SOURCES,
    TYPES,
    count_events,
    export_rows,
    insert_event,
    list_events,
    source_label,
    type_label,
)
from fieldwalk.events.problems import problem_message
from fieldwalk.places.model import list_places
from fieldwalk.render import fail, render
from fieldwalk.security import EVENT_ROLES, audit, role_required
from fieldwalk.spreadsheet import neutralise

bp = Blueprint("events", __name__)

PAGE_SIZE = 50
MAX_IMPORT_BYTES = 2 * 1024 * 1024
PENDING_DIR = "event_imports"
PENDING_SECONDS = 3600
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


# --- helpers -------------------------------------------------------------------------------------


def _place_choices() -> list[SelectChoice]:
    places = list_places(get_db())
    return [SelectChoice("", _("Choose a place"))] + [
        SelectChoice(str(p["id"]), p["name"]) for p in places
    ]


def _last_source(user_id: int) -> str | None:
    """The source this person entered last: a police officer's events are the police's."""
    row = (
        get_db()
        .execute(
            "SELECT source FROM events WHERE created_by = ? ORDER BY id DESC LIMIT 1", [user_id]
        )
        .fetchone()
    )
    return row[0] if row else None


def _import_limit() -> int:
    return current_app.config.get("MAX_EVENT_IMPORT_BYTES", MAX_IMPORT_BYTES)


def _size_text(limit: int) -> str:
    return f"{limit // 2**20} MB" if limit >= 2**20 else f"{max(1, limit // 2**10)} kB"


def _pending_dir() -> Path:
    return Path(current_app.instance_path) / PENDING_DIR


def _pending_path(token: str) -> Path | None:
    if not TOKEN.match(token or ""):
        return None
    return _pending_dir() / f"{g.user['id']}-{token}.csv"


def save_pending(data: bytes) -> str:
    """Keep a checked upload for its sender until they confirm it; return its token."""
    folder = _pending_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.csv"):  # the unconfirmed uploads of an hour ago
        if old.stat().st_mtime < time.time() - PENDING_SECONDS:
            old.unlink(missing_ok=True)
    token = secrets.token_urlsafe(24)
    _pending_path(token).write_bytes(data)
    return token


def load_pending(token: str) -> bytes | None:
    """The sender's checked upload, if it is still there."""
    path = _pending_path(token)
    if path is None or not path.is_file():
        return None
    if path.stat().st_mtime < time.time() - PENDING_SECONDS:
        path.unlink(missing_ok=True)
        return None
    return path.read_bytes()


def _import(data: bytes, *, dry_run: bool) -> ImportResult:
    return import_events(
        get_db(),
        data,
        created_by=g.user["id"],
        dry_run=dry_run,
        far_metres=current_app.config["FAR_FROM_PLACE_METRES"],
    )


def _import_page(form, result: ImportResult | None = None, token: str = "", status: int = 200):
    return render(
        "events/import.html",
        form=form,
        result=result,
        problems=[problem_message(p) for p in result.problems] if result else [],
        confirm=ConfirmForm(token=token) if token else None,
        max_size=_size_text(_import_limit()),
        max_description=MAX_DESCRIPTION,
        types=TYPES,
        sources=SOURCES,
        status=status,
    )


def _filter_labels() -> dict[str, str]:
    return {
        "place": _("Place"),
        "type": _("Type"),
        "source": _("Source"),
        "from": _("From"),
        "to": _("To"),
        "page": _("Page"),
    }


def _selection() -> tuple[dict, dict, dict[str, str]]:
    """The list's filters from the query string: (for the form, for the query, errors)."""
    args = request.args
    shown: dict = {
        k: (args.get(k) or "").strip() for k in ("place", "type", "source", "from", "to")
    }
    query: dict = {}
    errors: dict[str, str] = {}
    if shown["place"]:
        if shown["place"].isdecimal() and 0 < int(shown["place"]) < 2**63:
            query["place_id"] = int(shown["place"])
        else:
            errors["place"] = _("Choose from the list.")
    for name, codes in (("type", TYPES), ("source", SOURCES)):
        if shown[name]:
            if shown[name] in codes:
                query[f"{name}s"] = [shown[name]]
            else:
                errors[name] = _("Choose from the list.")
    tz = local_zone()
    for name, key, shift in (("from", "since", 0), ("to", "until", 1)):
        if shown[name]:
            day = parse_day(shown[name])
            if day is None:
                errors[name] = _("Give the date as YYYY-MM-DD.")
            else:
                query[key] = utc_bound(day + timedelta(days=shift), tz)
    return shown, query, errors


# --- routes --------------------------------------------------------------------------------------


@bp.route("/events/new", methods=["GET", "POST"])
@role_required(*EVENT_ROLES)
def new():
    """Enter one event, on one phone screen."""
    form = EventForm()
    form.place_id.choices = _place_choices()
    if request.method == "GET":
        local = datetime.now(UTC).astimezone(local_zone())
        form.date.data, form.time.data = local.date(), local.time().replace(second=0)
        form.key.data = str(uuid.uuid4())
        form.source.data = _last_source(g.user["id"])
        form.place_id.data = request.args.get("place", "")
    if form.validate_on_submit():
        db = get_db()
        point = form.point()
        with transaction(db):
            event_id, created = insert_event(
                db,
                occurred_at=form.occurred,
                type=form.type.data,
                source=form.source.data,
                place_id=form.place(),
                lat=point[0] if point else None,
                lon=point[1] if point else None,
                description=form.description.data or "",
                created_by=g.user["id"],
                import_key=f"form:{form.key.data}",
            )
            if created:
                audit("create", "event", event_id, type=form.type.data)
        flash(_("Event saved.") if created else _("This event was saved already."))
        return redirect(url_for("events.index"), code=303)
    status = 400 if request.method == "POST" else 200
    return render("events/new.html", form=form, max_description=MAX_DESCRIPTION, status=status)


@bp.get("/events")
@role_required(*EVENT_ROLES)
def index():
    """The latest events, filtered by place, type, source and dates."""
    shown, query, errors = _selection()
    page = parse_page(request.args)
    if page is None:
        errors["page"] = _("Choose a page number.")
        page = 1
    db = get_db()
    total = count_events(db, **query)
    events = list_events(db, **query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    args = {k: v for k, v in shown.items() if v and k not in errors}
    return render(
        "events/index.html",
        events=events,
        total=total,
        page_number=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        shown=shown,
        args=args,
        errors=errors,
        places=list_places(db),
        types=TYPES,
        sources=SOURCES,
        labels=_filter_labels(),
        status=400 if errors else 200,
    )


@bp.get("/events.csv")
@role_required(*EVENT_ROLES)
def export_csv():
    """The filtered events as CSV (UTF-8 with a BOM, for Excel), streamed."""
    _shown, query, errors = _selection()
    if errors:
        labels = _filter_labels()
        fail(400, " ".join(f"{labels[name]}: {message}" for name, message in errors.items()))

    def batches():
        batch = []
        for row in export_rows(get_db(), **query):
            batch.append([neutralise(value) for value in row])
            if len(batch) == 1000:
                yield batch
                batch = []
        if batch:
            yield batch

    response = Response(
        stream_with_context(csv_chunks(EXPORT_COLUMNS, batches())),
        content_type="text/csv; charset=utf-8",  # verbatim: `mimetype` adds a second charset
    )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    response.headers["Content-Disposition"] = f'attachment; filename="fieldwalk-events-{stamp}.csv"'
    return response


@bp.route("/events/import", methods=["GET", "POST"])
@role_required(*EVENT_ROLES)
def import_file():
    """Upload a CSV file: every row is checked, nothing is stored, and what would be imported
    (or every bad row, with its line number) is shown."""
    form = ImportForm()
    if not form.validate_on_submit():
        return _import_page(form, status=400 if request.method == "POST" else 200)
    limit = _import_limit()
    data = form.file.data.stream.read(limit + 1)
    if len(data) > limit:
        form.file.errors.append(_("The file is larger than %(size)s.", size=_size_text(limit)))
        return _import_page(form, status=413)
    result = _import(data, dry_run=True)
    if not result.ok:
        return _import_page(form, result, status=400)
    token = save_pending(data) if result.new else ""
    return _import_page(form, result, token)


@bp.post("/events/import/confirm")
@role_required(*EVENT_ROLES)
def confirm_import():
    """Import the file checked a moment ago: all its new rows in one transaction."""
    form = ConfirmForm()
    data = load_pending(form.token.data or "") if form.validate_on_submit() else None
    if data is None:
        form = ImportForm(formdata=None)
        form.file.errors = [_("The checked file is no longer here. Choose it again.")]
        return _import_page(form, status=400)
    db = get_db()
    with transaction(db):
        result = _import(data, dry_run=False)
        if result.ok:
            audit("import", "event", "csv", new=result.new, already=result.already)
    if not result.ok:  # the places changed since the check
        return _import_page(ImportForm(formdata=None), result, status=400)
    _pending_path(form.token.data).unlink(missing_ok=True)
    flash(
        ngettext("Imported %(num)d event.", "Imported %(num)d events.", result.new)
        + (" " + _("%(n)d were imported before.", n=result.already) if result.already else "")
    )
    return redirect(url_for("events.index"), code=303)


def init_app(app: Flask) -> None:
    """Register the event pages, the import command and the label helpers."""
    app.register_blueprint(bp)
    app.cli.add_command(import_events_command)
    app.jinja_env.globals["event_type_label"] = type_label
    app.jinja_env.globals["event_source_label"] = source_label
