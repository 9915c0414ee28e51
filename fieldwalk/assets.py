"""Static files and response compression.

WhiteNoise serves `static/` with far-future cache headers and the pre-compressed `.br`/`.gz`
copies that `make` builds (`python -m whitenoise.compress static`); `static_url()` adds a
content hash to each URL so a changed file gets a new URL. Vendored libraries carry their
version in their folder name. Flask-Compress compresses pages and JSON.
"""

import hashlib
from functools import cache
from pathlib import Path

from flask import Flask, current_app, url_for
from flask_compress import Compress
from flask_htmx import HTMX
from whitenoise import WhiteNoise

from fieldwalk.security import static_security_headers

ONE_YEAR = 365 * 24 * 3600
compress = Compress()
htmx = HTMX()


@cache
def _file_hash(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:10]


def static_url(filename: str) -> str:
    """URL of a static file with its content hash, safe to cache for a year."""
    path = Path(current_app.static_folder) / filename
    version = _file_hash(str(path)) if path.is_file() else "missing"
    return url_for("static", filename=filename, v=version)


def init_app(app: Flask) -> None:
    """Serve static files through WhiteNoise, compress responses, bind flask-htmx."""
    app.config.setdefault(
        "COMPRESS_MIMETYPES",
        [
            "text/html",
            "application/json",
            "application/geo+json",
            "image/svg+xml",
            "application/manifest+json",
            "text/javascript",
            "text/css",
        ],
    )
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_STREAMS", False)
    app.config.setdefault("COMPRESS_REGISTER", True)
    compress.init_app(app)
    htmx.init_app(app)
    app.wsgi_app = WhiteNoise(
        app.wsgi_app,
        root=app.static_folder,
        prefix="static/",
        max_age=ONE_YEAR,
        autorefresh=app.debug,
        add_headers_function=static_security_headers(app.config),
    )
    app.jinja_env.globals["static_url"] = static_url
