"""Security headers: the Content-Security-Policy and friends, for pages and static files."""

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import (
    current_app,
)


def content_security_policy(config=None) -> str:
    """The CSP: no inline script, no framing, tiles only from the configured host."""
    config = config or current_app.config
    tiles = urlsplit(config["TILE_URL"].replace("{s}", "a"))
    tile_origin = f"{tiles.scheme}://{tiles.netloc}" if tiles.netloc else ""
    tile_host = (
        tile_origin.replace("://a.", "://*.") if "{s}" in config["TILE_URL"] else tile_origin
    )
    # style-, connect-, font-, manifest- and worker-src fall back to default-src 'self': written
    # out they would change nothing and cost ~90 bytes on every page a phone loads. script-src
    # stays explicit, as the one a reader looks for.
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            f"img-src 'self' data: blob: {tile_host}".strip(),
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(config) -> dict[str, str]:
    """The security headers every response carries, pages and static files alike."""
    headers = {
        "Content-Security-Policy": content_security_policy(config),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "camera=(self), geolocation=(self)",
    }
    if config["SESSION_COOKIE_SECURE"]:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


def set_security_headers(response):
    """Security headers on every response Flask answers."""
    for name, value in security_headers(current_app.config).items():
        response.headers.setdefault(name, value)
    return response


def static_security_headers(config) -> Callable:
    """WhiteNoise's `add_headers_function`: static files never reach Flask's after_request.

    Scripts, styles and images get `nosniff` (and HSTS); a CSP only means something on a
    document, so only static files a browser could open as one (SVG, HTML) get the full set.
    Phones load these files on mobile data: every header is paid for on every file.
    """
    full = security_headers(config)
    lean = {"X-Content-Type-Options": "nosniff"}
    if "Strict-Transport-Security" in full:
        lean["Strict-Transport-Security"] = full["Strict-Transport-Security"]

    def add_headers(headers, path: str, _url: str) -> None:
        values = full if path.endswith((".svg", ".html", ".htm", ".xml")) else lean
        for name, value in values.items():
            headers.setdefault(name, value)

    return add_headers
