"""The installable app: manifest, service worker, offline page, and the outbox's session check.

The service worker is rendered from a template so that its version and the list of files it
precaches follow the static files' content hashes: any change to a cached file makes a new
worker, which the page offers as "update available".
"""

import hashlib
import json

from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from fieldwalk.assets import static_url
from fieldwalk.render import render
from fieldwalk.security import device_key_hash

bp = Blueprint("pwa", __name__)

# What the app needs to open with no signal: the shell, the capture screen's scripts, the map.
SHELL_FILES = (
    "css/app.css",
    "js/app.js",
    "js/outbox.js",
    "js/offline.js",
    "js/capture.js",
    "js/map.js",
    "vendor/htmx-2.0.11/htmx.min.js",
    "vendor/leaflet-1.9.4/leaflet.js",
    "vendor/leaflet-1.9.4/leaflet.css",
    "icons/favicon-32.png",
)


def shell_urls() -> list[str]:
    """Versioned URLs of the shell files."""
    return [static_url(name) for name in SHELL_FILES]


def worker_version() -> str:
    """Changes whenever a shell file or the worker template changes."""
    source = current_app.jinja_env.loader.get_source(current_app.jinja_env, "pwa/sw.js")[0]
    digest = hashlib.sha256(source.encode())
    digest.update(str(current_app.config.get("RELEASE", "")).encode())
    for url in shell_urls():
        digest.update(url.encode())
    return digest.hexdigest()[:12]


@bp.get("/sw.js")
def service_worker():
    """The service worker, from the site root so it controls every page; never cached."""
    body = render_template(
        "pwa/sw.js",
        version=worker_version(),
        shell=json.dumps(shell_urls() + ["/offline"]),
        outbox_url=static_url("js/outbox.js"),
    )
    response = Response(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/manifest.webmanifest")
def manifest():
    """The web app manifest, in the person's language."""
    data = {
        "name": _("fieldwalk: safety walks"),
        "short_name": "fieldwalk",
        "description": _("Record what makes a place feel unsafe, and follow what gets fixed."),
        "lang": str(get_locale() or "sv"),
        "start_url": "/?source=pwa",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b4f6c",
        "icons": [
            {"src": static_url("icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static_url("icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": static_url("icons/icon-maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    response = jsonify(data)
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/offline")
def offline():
    """Shown by the service worker when a page is not cached and there is no network."""
    return render("pwa/offline.html")


@bp.get("/api/v1/session")
def session_state():
    """A fresh CSRF token and whether this browser can still record (for the outbox replay)."""
    response = jsonify(
        csrf_token=generate_csrf(),
        user=bool(g.get("user")),
        device=device_key_hash() is not None,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the PWA routes."""
    app.register_blueprint(bp)
