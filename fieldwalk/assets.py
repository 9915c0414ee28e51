"""Static files and response compression.

WhiteNoise serves `static/` with far-future cache headers and the pre-compressed `.br`/`.gz`
copies that `make assets` builds; `static_url()` adds a content hash to each URL so a changed
file gets a new URL. Our own scripts and styles are also minified into `static/build/` by
`python -m fieldwalk.assets` (phones at the meeting point are on mobile data), and files that
always load together are joined into one bundle each (`bundle_urls()`). A build older than its
sources (or than this module, which decides how it is built) is ignored, and so is a
compressed copy older than its file, so an edit never serves stale code. Vendored libraries
carry their version in their folder name. Flask-Compress compresses pages and JSON.
"""

import contextlib
import hashlib
import os
import re
from functools import cache
from pathlib import Path

from flask import Flask, current_app, url_for
from flask_compress import Compress
from whitenoise import WhiteNoise

from fieldwalk.headers import static_security_headers

ONE_YEAR = 365 * 24 * 3600
compress = Compress()

BUILD = "build"
MINIFIED = ("js/", "css/")
# Files that always load together, each set built into one file in static/build/bundles/: over
# HTTP/1.1 every response costs a round trip and ~350 bytes of headers. outbox.js stays apart
# because the service worker imports it too: pages and worker share one cached copy.
BUNDLES = {
    "common.js": ("vendor/htmx-2.0.11/htmx.min.js", "js/app.js", "js/offline.js"),
    "map.js": ("vendor/leaflet-1.9.4/leaflet.js", "js/map.js"),
    "map.css": ("vendor/leaflet-1.9.4/leaflet.css",),
    # The walk page's and capture screen's maps, on residents' phones: Leaflet without what
    # they never use (static/vendor/leaflet-1.9.4-lite/build/entry.js), ~6 KB less to download.
    "map-lite.js": ("vendor/leaflet-1.9.4-lite/leaflet.js", "js/map.js"),
    "map-lite.css": ("vendor/leaflet-1.9.4-lite/leaflet.css",),
}
BUNDLED = f"{BUILD}/bundles"
MEDIA_TYPES = {".js": "application/javascript", ".css": "text/css"}
SOURCE_MAP = re.compile(r"^//# sourceMappingURL=.*$", re.MULTILINE)  # vendored maps not shipped
RELATIVE_CSS_URL = re.compile(r"""url\(\s*(['"]?)(?![a-z]+:|/|#)([^'")]+)\1\s*\)""")


@cache
def _file_hash(path: str, mtime: float) -> str:
    """A file's content hash; `mtime` keys the cache, so a rebuilt file gets a new one."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:10]


def _fresh(built: Path, *sources: Path) -> bool:
    """Whether `built` exists and is newer than its sources and than this module."""
    if not built.is_file():
        return False
    newest = max(p.stat().st_mtime for p in (*sources, Path(__file__)))
    return built.stat().st_mtime >= newest


def _versioned(filename: str) -> str:
    path = Path(current_app.static_folder) / filename
    version = _file_hash(str(path), path.stat().st_mtime) if path.is_file() else "missing"
    return url_for("static", filename=filename, v=version)


def static_url(filename: str) -> str:
    """URL of a static file with its content hash, safe to cache for a year.

    Our own scripts and styles are served from their minified build when it is up to date.
    """
    root = Path(current_app.static_folder)
    path = root / filename
    if filename.startswith(MINIFIED) and path.is_file() and _fresh(root / BUILD / filename, path):
        filename = f"{BUILD}/{filename}"
    return _versioned(filename)


def bundle_urls(name: str) -> list[str]:
    """URLs that load the bundle `name`: the built file, or its parts while that is stale."""
    root = Path(current_app.static_folder)
    parts = BUNDLES[name]
    if _fresh(root / BUNDLED / name, *(root / part for part in parts)):
        return [_versioned(f"{BUNDLED}/{name}")]
    return [static_url(part) for part in parts]


def minify_text(text: str, suffix: str) -> str:
    """A script (".js") or a style sheet (".css") minified by tdewolff's minifiers.

    Local names are shortened, which is where most of the saving is; no syntax newer than
    ES2015 is introduced (the sources choose their own).
    """
    import minify

    minify.config({"js-version": 2015})
    return minify.string(MEDIA_TYPES[suffix], text)


def _rebase_css_urls(text: str, source_dir: Path, target_dir: Path) -> str:
    """Relative url()s in a style sheet moved from source_dir to target_dir, still pointing home."""

    def rebase(match: re.Match) -> str:
        return f"url({Path(os.path.relpath(source_dir / match[2], target_dir)).as_posix()})"

    return RELATIVE_CSS_URL.sub(rebase, text)


def _bundle_text(static_folder: Path, name: str) -> str:
    suffix = Path(name).suffix
    texts = []
    for part in BUNDLES[name]:
        source = static_folder / part
        text = source.read_text()
        if suffix == ".css":
            text = minify_text(
                _rebase_css_urls(text, source.parent, static_folder / BUNDLED), suffix
            )
        elif part.startswith(MINIFIED):
            text = minify_text(text, suffix)
        else:
            text = SOURCE_MAP.sub("", text).rstrip()  # a vendored script comes minified
        texts.append(text)
    # A script that ends without ";" must not run into the next one's first parenthesis.
    return (";\n" if suffix == ".js" else "\n").join(texts) + "\n"


def build(static_folder: Path) -> list[str]:
    """Minify our scripts and styles into static/build/ and build the bundles.

    Returns what was written; what is up to date is left alone.
    """
    written = []
    for source in sorted(static_folder.glob("js/*.js")) + sorted(static_folder.glob("css/*.css")):
        relative = source.relative_to(static_folder)
        target = static_folder / BUILD / relative
        if _fresh(target, source):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(minify_text(source.read_text(), source.suffix))
        written.append(str(relative))
    for name, parts in BUNDLES.items():
        target = static_folder / BUNDLED / name
        if _fresh(target, *(static_folder / part for part in parts)):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_bundle_text(static_folder, name))
        written.append(f"{BUNDLED}/{name}")
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
    """Serve static files through WhiteNoise and compress responses."""
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
    # Brotli's level 5 is the first with context modelling: pages 5-7% smaller than at
    # Flask-Compress's default 4, for about 0.05 ms more per page.
    app.config.setdefault("COMPRESS_BR_LEVEL", 5)
    app.config.setdefault("COMPRESS_STREAMS", False)
    app.config.setdefault("COMPRESS_REGISTER", True)
    compress.init_app(app)
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
    app.jinja_env.globals["bundle_urls"] = bundle_urls


if __name__ == "__main__":
    from fieldwalk import ROOT

    for name in build(ROOT / "static"):
        print(f"built {name}")
