"""Static files and response compression.

WhiteNoise serves `static/` with far-future cache headers and the pre-compressed `.br`/`.gz`
copies that `make assets` builds; `static_url()` adds a content hash to each URL so a changed
file gets a new URL. Our own scripts and styles are also minified into `static/build/` by
`python -m fieldwalk.assets` (phones at the meeting point are on mobile data); a build older
than its source is ignored, and so is a compressed copy older than its file, so an edit never
serves stale code. Vendored libraries carry their version in their folder name.
Flask-Compress compresses pages and JSON.
"""

import contextlib
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


BUILD = "build"
MINIFIED = ("js/", "css/")


def _fresh(built: Path, source: Path) -> bool:
    return built.is_file() and built.stat().st_mtime >= source.stat().st_mtime


def static_url(filename: str) -> str:
    """URL of a static file with its content hash, safe to cache for a year.

    Our own scripts and styles are served from their minified build when it is up to date.
    """
    root = Path(current_app.static_folder)
    path = root / filename
    if filename.startswith(MINIFIED) and path.is_file() and _fresh(root / BUILD / filename, path):
        filename = f"{BUILD}/{filename}"
        path = root / filename
    version = _file_hash(str(path)) if path.is_file() else "missing"
    return url_for("static", filename=filename, v=version)


def build(static_folder: Path) -> list[str]:
    """Minify our scripts and styles into static/build/; return what was written."""
    import rcssmin
    import rjsmin

    written = []
    for source in sorted(static_folder.glob("js/*.js")) + sorted(static_folder.glob("css/*.css")):
        relative = source.relative_to(static_folder)
        target = static_folder / BUILD / relative
        if _fresh(target, source):
            continue
        text = source.read_text()
        minified = rjsmin.jsmin(text) if source.suffix == ".js" else rcssmin.cssmin(text)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(minified)
        written.append(str(relative))
    return written


def drop_stale_compressed(static_folder: Path) -> None:
    """Remove .br/.gz copies older than their file, so WhiteNoise never serves stale bytes."""
    for compressed in list(static_folder.rglob("*.br")) + list(static_folder.rglob("*.gz")):
        source = compressed.with_suffix("")
        if source.is_file() and compressed.stat().st_mtime < source.stat().st_mtime:
            # On a read-only deployment this cannot happen: `make assets` ran there.
            with contextlib.suppress(OSError):
                compressed.unlink()


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
    drop_stale_compressed(Path(app.static_folder))
    app.wsgi_app = WhiteNoise(
        app.wsgi_app,
        root=app.static_folder,
        prefix="static/",
        max_age=ONE_YEAR,
        autorefresh=app.debug,
        allow_all_origins=False,  # nothing cross-origin needs these files; one header fewer each
        add_headers_function=static_security_headers(app.config),
    )
    app.jinja_env.globals["static_url"] = static_url


if __name__ == "__main__":
    from fieldwalk import ROOT

    for name in build(ROOT / "static"):
        print(f"minified {name}")
