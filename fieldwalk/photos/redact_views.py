"""Staff's photo editor: blur rectangles, turn, hide (fieldwalk/photos/redact.py does it).

On a phone the rectangles are drawn with a finger (static/js/redact.js); without JavaScript
the same form takes them as numbers (x, y, width, height in the photo's pixels).
"""

from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, g, redirect, request, url_for
from flask_babel import gettext as _

from fieldwalk.db import get_db
from fieldwalk.i18n import safe_next
from fieldwalk.ids import parse_uuid
from fieldwalk.photos.model import get_photo, photo_history
from fieldwalk.photos.redact import MAX_BOXES, TURNS, RedactionError, parse_box, redact
from fieldwalk.render import render
from fieldwalk.security import STAFF_ROLES, role_required

bp = Blueprint("redact", __name__)


# Rows of number fields the form offers without JavaScript.
NUMBER_ROWS = 3


def _photo_or_404(photo_id: str) -> dict:
    canonical = parse_uuid(photo_id)
    photo = get_photo(get_db(), canonical) if canonical else None
    if photo is None:
        abort(404)
    return photo


def _back(photo: dict) -> str:
    """Where the photo is shown: its observation's page, or its task's."""
    if photo["observation_id"]:
        return url_for("capture.show", observation_id=photo["observation_id"])
    return url_for("tasks.show", task_id=photo["task_id"])


def error_message(code: str) -> str:
    """What to tell staff about a rectangle or turn that cannot be applied."""
    return {
        "box": _("Give each rectangle as four numbers: x, y, width and height."),
        "box_outside": _("A rectangle lies outside the photo."),
        "turn": _("Choose how far to turn the photo."),
        "too_many": _("At most %(n)d rectangles at a time.", n=MAX_BOXES),
    }.get(code, _("Give each rectangle as four numbers: x, y, width and height."))


def _page(photo: dict, errors: dict | None = None, status: int = 200, values=None):
    return render(
        "photos/edit.html",
        photo=photo,
        history=photo_history(get_db(), photo["id"]),
        back=safe_next(request.values.get("next"), _back(photo)),
        errors=errors or {},
        values=values or {},
        rows=range(1, NUMBER_ROWS + 1),
        saved=request.args.get("saved"),
        status=status,
    )


@bp.get("/photos/<photo_id>/edit")
@role_required(*STAFF_ROLES)
def edit(photo_id: str):
    """The photo as staff see it, to blur parts of, turn or hide."""
    return _page(_photo_or_404(photo_id))


@bp.post("/photos/<photo_id>/edit")
@role_required(*STAFF_ROLES)
def save(photo_id: str):
    """Apply the rectangles, the turn and hiding to every copy of the photo."""
    photo = _photo_or_404(photo_id)
    form = request.form
    texts = [t for t in form.getlist("box") if t.strip()]
    for n in range(1, NUMBER_ROWS + 1):
        numbers = [form.get(f"box-{n}-{k}", "").strip() for k in ("x", "y", "w", "h")]
        if any(numbers):
            texts.append(",".join(numbers))
    try:
        boxes = [parse_box(t, photo["width"], photo["height"]) for t in texts]
        turn = int(form.get("turn", "0") or 0)
        if turn not in TURNS:
            raise RedactionError("turn")
        config = current_app.config
        redact(
            get_db(),
            Path(config["PHOTO_PATH"]),
            photo["id"],
            boxes=boxes,
            turn=turn,
            hide=form.get("hidden") == "1",
            thumb_edge=config["PHOTO_THUMB_EDGE"],
            user_id=g.user["id"],
            actor=g.user["name"] or g.user["email"],
        )
    except (RedactionError, ValueError) as error:
        code = error.code if isinstance(error, RedactionError) else "turn"
        return _page(photo, {"_": error_message(code)}, status=400, values=form)
    target = url_for("redact.edit", photo_id=photo["id"], saved=1, next=form.get("next") or None)
    return redirect(target, code=303)


def photo_action_label(action: str) -> str:
    """A hand-made change to a photo, as the history says it."""
    return {
        "redact": _("Blurred in part or turned"),
        "hide": _("Hidden from all but staff"),
        "show": _("Shown again"),
    }.get(action, action)


def init_app(app: Flask) -> None:
    """Register the photo editor and the words of its history."""
    app.register_blueprint(bp)
    app.jinja_env.globals["photo_action_label"] = photo_action_label
