"""Page or fragment, decided in one place; error pages and JSON errors.

An htmx request that is not boosted and not a history restore gets only the partial; every
other request gets the whole page. `Vary: HX-Request` keeps caches from mixing the two.
"""

from datetime import UTC, datetime

from babel import dates as babel_dates
from flask import Flask, jsonify, make_response, render_template, request
from flask_babel import (
    format_datetime,
    format_decimal,
    format_percent,
    format_time,
    get_locale,
    to_user_timezone,
)
from flask_babel import gettext as _
from flask_htmx import HTMX
from werkzeug.exceptions import HTTPException

from fieldwalk.categories import category_label

htmx = HTMX()


def wants_fragment() -> bool:
    """True when the request should be answered with a fragment, not a page."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(page: str, partial: str | None = None, status: int = 200, **context):
    """Render `page`, or `partial` alone for an htmx request that wants a fragment."""
    template = partial if partial and wants_fragment() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def error_messages() -> dict[int, str]:
    """Plain-language messages for the statuses people can meet."""
    return {
        400: _("The request could not be understood."),
        401: _("Please log in to continue."),
        403: _("You do not have access to this page."),
        404: _("We could not find that page."),
        405: _("That action is not possible here."),
        409: _("This was changed by someone else at the same time."),
        413: _("That file is too large."),
        415: _("That file type is not supported."),
        422: _("The data could not be processed."),
        429: _("Too many attempts. Please wait a moment and try again."),
        500: _("Something went wrong on our side. Please try again."),
    }


def wants_json() -> bool:
    """True for the JSON API and clients that ask for JSON."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_page(status: int, message: str | None = None):
    """A friendly error page in the person's language."""
    message = message or error_messages().get(status, _("Something went wrong."))
    if wants_json():
        return jsonify(error=status, message=message), status
    return render("errors/error.html", status=status, error_status=status, message=message)


def local_datetime(value: str | None) -> str:
    """Format a local wall-clock time ('2026-11-28T16:30') in the person's language."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = to_user_timezone(moment).replace(tzinfo=None)
    # The date in words, the time to the minute: walks start at 16:30, not 16:30:00.
    locale = get_locale()
    day = babel_dates.format_date(moment.date(), "medium", locale=locale)
    return f"{day} {babel_dates.format_time(moment.time(), 'short', locale=locale)}"


def local_time(value: str | None, full: bool = False) -> str:
    """Format a stored UTC time ('...Z') in Stockholm time; just the time when it is today."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        return local_datetime(value)
    local = to_user_timezone(moment)
    if not full and local.date() == to_user_timezone(datetime.now(UTC)).date():
        return format_time(moment, "short")
    if not full:
        return format_datetime(moment, "short")
    # The date in words, the time to the minute (never the seconds): "4 dec. 2026 21:37".
    locale = get_locale()
    day = babel_dates.format_date(local.date(), "medium", locale=locale)
    return f"{day} {babel_dates.format_time(local.time(), 'short', locale=locale)}"


def leaflet_draw_text(*, draw: str, close: str, remove: str, change: str, tap_remove: str) -> dict:
    """Leaflet.draw's own words (L.drawLocal) in the person's language.

    The place and zone editors share everything but the five phrases that name what is drawn.
    """
    return {
        "draw": {
            "toolbar": {
                "actions": {"title": _("Cancel drawing"), "text": _("Cancel")},
                "finish": {"title": _("Finish drawing"), "text": _("Finish")},
                "undo": {"title": _("Delete the last corner"), "text": _("Delete last corner")},
                "buttons": {"polygon": draw},
            },
            "handlers": {
                "polygon": {
                    "tooltip": {
                        "start": _("Tap to place the first corner."),
                        "cont": _("Tap to place the next corner."),
                        "end": close,
                    }
                },
                "polyline": {"error": _("The edges cannot cross.")},
            },
        },
        "edit": {
            "toolbar": {
                "actions": {
                    "save": {"title": _("Keep the changes"), "text": _("Done")},
                    "cancel": {"title": _("Undo the changes"), "text": _("Cancel")},
                    "clearAll": {"title": _("Remove every shape"), "text": _("Remove all")},
                },
                "buttons": {
                    "edit": _("Move corners"),
                    "editDisabled": _("Nothing to change yet"),
                    "remove": remove,
                    "removeDisabled": _("Nothing to remove yet"),
                },
            },
            "handlers": {
                "edit": {"tooltip": {"text": change, "subtext": _("Cancel undoes the changes.")}},
                "remove": {"tooltip": {"text": tap_remove}},
            },
        },
    }


def location_source_label(source: str | None) -> str:
    """Where a position came from, in words."""
    return {
        "device": _("from the phone"),
        "photo": _("from the photo"),
        "map": _("set on the map"),
    }.get(source or "", "")


def observation_points(observations: list[dict]) -> list[dict]:
    """The few fields the map needs to draw a list of observations."""
    return [
        {
            "id": o["id"],
            "lat": o["lat"],
            "lon": o["lon"],
            "label": category_label(o["category"]),
            "urgent": bool(o["urgent"]),
            "good": bool(o["works_well"]),
        }
        for o in observations
        if o["lat"] is not None
    ]


def decimal(value: float | None, digits: int = 1) -> str:
    """A number as the person's language writes it ("3,5" in Swedish); "–" for none."""
    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern)


def percent(value: float | None) -> str:
    """A share as a whole percentage in the person's language ("25 %" in Swedish)."""
    return "–" if value is None else format_percent(value)


def init_app(app: Flask) -> None:
    """Answer every HTTP error with a page or JSON in the person's language; template helpers."""
    htmx.init_app(app)
    app.jinja_env.filters["decimal"] = decimal
    app.jinja_env.filters["percent"] = percent

    app.jinja_env.filters["localdatetime"] = local_datetime
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.filters["observation_points"] = observation_points
    app.jinja_env.globals["category_label"] = category_label
    app.jinja_env.globals["location_source_label"] = location_source_label
    app.jinja_env.globals["leaflet_draw_text"] = leaflet_draw_text

    @app.context_processor
    def inject_tiles():
        config = app.config
        return {
            "tiles": {
                "url": config["TILE_URL"],
                "attribution": config["TILE_ATTRIBUTION"],
                "maxZoom": config["TILE_MAX_ZOOM"],
                "zoomIn": _("Zoom in"),
                "zoomOut": _("Zoom out"),
            }
        }

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        message = error.description if getattr(error, "fieldwalk_message", False) else None
        response = error_page(error.code or 500, message)
        if error.code == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def server_error(error: Exception):
        app.logger.exception("Unhandled error")
        return error_page(500)


def fail(status: int, message: str):
    """Abort with a message meant for the person (already translated)."""
    from werkzeug.exceptions import default_exceptions

    error = default_exceptions[status](description=message)
    error.fieldwalk_message = True
    raise error
