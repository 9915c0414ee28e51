"""A resident's own data from their phone, and staff's register extracts and erasures.

From the phone that reported (its device key): `/me/data` shows what is stored, downloads
it all (JSON and the photos in a ZIP) and erases the contact details and the reports'
personal parts. Coordinators and admins do the same for a person who asks them (by a
report's address or the name they gave) on `/admin/privacy`; each extract and erasure is
in the audit log with who did it.

Also records when each phone was last used (once a day at most), which decides when its
device key is forgotten (fieldwalk/privacy/retention.py).
"""

from datetime import UTC, datetime
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from fieldwalk.clock import now
from fieldwalk.db import get_db
from fieldwalk.ids import parse_uuid
from fieldwalk.privacy.devices import touch_device
from fieldwalk.privacy.export import (
    Subject,
    erase,
    export_zip,
    gather,
    log_extract,
    subject_of_observation,
    subject_of_participant,
)
from fieldwalk.render import fail, render
from fieldwalk.security import MANAGER_ROLES, device_key_hash, role_required
from fieldwalk.walks.model import find_participants_by_name

bp = Blueprint("privacy", __name__)


def note_device_use() -> None:
    """Record today's use of this phone's device key (one write per phone and day)."""
    key_hash = device_key_hash()
    if key_hash is None:
        return
    today = datetime.now(UTC).date().isoformat()
    if session.get("device_seen") == today:
        return
    touch_device(get_db(), key_hash, now())
    session["device_seen"] = today


def _photo_dir() -> Path:
    return Path(current_app.config["PHOTO_PATH"])


def _zip_response(data: bytes, name: str):
    response = current_app.response_class(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _own_subject() -> Subject:
    key_hash = device_key_hash()
    if key_hash is None:
        abort(404)
    return Subject(key_hash)


@bp.get("/me/data")
def mine():
    """What is stored about the person using this phone, with download and erase."""
    data = gather(get_db(), _own_subject())
    return render("privacy/mine.html", data=data, erased=request.args.get("erased"))


@bp.get("/me/data.zip")
def mine_zip():
    """Everything stored about the person using this phone: data.json and their photos."""
    data = export_zip(get_db(), _photo_dir(), _own_subject())
    return _zip_response(data, "fieldwalk-mina-uppgifter.zip")


@bp.post("/me/data/erase")
def mine_erase():
    """Erase this phone's contact details and the personal parts of what it reported."""
    subject = _own_subject()
    if request.form.get("confirm") != "1":
        data = gather(get_db(), subject)
        error = _("Tick the box to confirm that you want it erased.")
        return render("privacy/mine.html", data=data, error=error, status=400)
    erase(get_db(), _photo_dir(), subject, user_id=None, actor="resident")
    # The phone starts afresh: its old key is no longer linked to anything.
    session.pop("device", None)
    session.pop("device_seen", None)
    return redirect(url_for("privacy.done"), code=303)


@bp.get("/me/data/erased")
def done():
    """Said once the erasure is made (the phone no longer has anything to show)."""
    return render("privacy/erased.html")


def _subject_or_404(handle: str) -> Subject:
    """A person staff named by 'o:<report uuid>' or 'p:<participant id>'."""
    kind, _sep, value = handle.partition(":")
    db = get_db()
    subject = None
    if kind == "o" and parse_uuid(value):
        subject = subject_of_observation(db, parse_uuid(value))
    elif kind == "p" and value.isdigit():
        subject = subject_of_participant(db, int(value))
    if subject is None:
        abort(404)
    return subject


def _actor() -> str:
    return g.user["name"] or g.user["email"]


@bp.get("/admin/privacy")
@role_required(*MANAGER_ROLES)
def requests_page():
    """Find the person a request is about, by a report's address or the name they gave."""
    query = request.args.get("q", "").strip()
    db = get_db()
    found = []
    if query:
        uuid = parse_uuid(query.rstrip("/").rsplit("/", 1)[-1])
        if uuid:
            subject = subject_of_observation(db, uuid)
            if subject:
                found.append({"handle": f"o:{uuid}", "data": gather(db, subject)})
        else:
            for participant in find_participants_by_name(db, query):
                subject = subject_of_participant(db, participant["id"])
                found.append({"handle": f"p:{participant['id']}", "data": gather(db, subject)})
    return render(
        "privacy/requests.html",
        query=query,
        found=found,
        erased=request.args.get("erased"),
    )


@bp.get("/admin/privacy/extract")
@role_required(*MANAGER_ROLES)
def extract():
    """A register extract (registerutdrag) for the person: the same ZIP the phone gets."""
    subject = _subject_or_404(request.args.get("subject", ""))
    db = get_db()
    log_extract(db, subject, user_id=g.user["id"], actor=_actor())
    return _zip_response(export_zip(db, _photo_dir(), subject), "registerutdrag.zip")


@bp.post("/admin/privacy/erase")
@role_required(*MANAGER_ROLES)
def erase_for():
    """Erasure (radering) on the person's request, recorded with who made it."""
    subject = _subject_or_404(request.form.get("subject", ""))
    if request.form.get("confirm") != "1":
        fail(400, _("Tick the box to confirm that the person asked for it to be erased."))
    erase(get_db(), _photo_dir(), subject, user_id=g.user["id"], actor=_actor())
    return redirect(url_for("privacy.requests_page", erased=1), code=303)


def init_app(app: Flask) -> None:
    """Register the routes and the daily note of each phone's use."""
    app.register_blueprint(bp)
    app.before_request(note_device_use)
