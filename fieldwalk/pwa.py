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

from fieldwalk.assets import bundle_urls, minify_text, static_url
from fieldwalk.render import render
from fieldwalk.security import device_key_hash

bp = Blueprint("pwa", __name__)

# What the app needs to open with no signal: the shell and the capture screen's scripts. The
# same URLs as the pages load (bundles as built, see fieldwalk/assets.py), or the worker would
# download a second copy. The map (Leaflet, ~34 KB) is not among them: pages load it only where
# a map is shown, and the worker keeps it then (cache-first for /static/), so a phone that never
# shows a map (a resident who goes from the invitation to the capture screen) never downloads it.
SHELL_FILES = (
    "css/app.css",
    "js/theme.js",
    "js/outbox.js",
    "js/capture.js",
    "icons/favicon-32.png",
)
SHELL_BUNDLES = ("common.js",)


def shell_urls() -> list[str]:
    """Versioned URLs of the shell files."""
    bundled = [url for name in SHELL_BUNDLES for url in bundle_urls(name)]
    return [static_url(name) for name in SHELL_FILES] + bundled


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
    """The service worker, from the site root so it controls every page; never cached.

    Minified: a phone downloads it on its first visit and again whenever it changes.
    """
    source = render_template(
        "pwa/sw.js",
        version=worker_version(),
        shell=json.dumps(shell_urls() + ["/offline"]),
        outbox_url=static_url("js/outbox.js"),
    )
    response = Response(minify_text(source, ".js"), mimetype="text/javascript")
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
