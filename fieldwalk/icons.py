"""Icons from Lucide (ISC), vendored in static/vendor/lucide-static-<version>/icons/, inlined.

Only the icons the pages use are vendored. Each is inlined into the page as a small <svg>
(decorative: hidden from assistive technology, the text beside it names the control), so an
icon costs no request and follows the text colour (`stroke="currentColor"`) in either theme.
"""

import re
from functools import cache
from pathlib import Path

from flask import Flask
from markupsafe import Markup

from fieldwalk import ROOT

VERSION = "1.62.0"
FOLDER = ROOT / "static" / "vendor" / f"lucide-static-{VERSION}" / "icons"
_SHAPES = re.compile(r"<svg[^>]*>(.*)</svg>", re.DOTALL)
_SPACE = re.compile(r"\s*\n\s*")


@cache
def _shapes(name: str) -> str:
    """The drawing inside an icon's <svg> element, on one line."""
    text = (FOLDER / f"{Path(name).name}.svg").read_text()
    match = _SHAPES.search(text)
    if match is None:
        raise ValueError(f"not an icon: {name}")
    return _SPACE.sub("", match.group(1)).replace(" />", "/>")


def icon(name: str, css_class: str = "icon") -> Markup:
    """An inline, decorative Lucide icon."""
    # Safe: the class comes from our templates and the drawing from our own vendored files.
    # Drawn as Lucide draws them (stroke 2, round ends): the presentation is in app.css (.icon).
    return Markup(  # noqa: S704
        f'<svg class="{css_class}" aria-hidden="true" viewBox="0 0 24 24">{_shapes(name)}</svg>'
    )


def init_app(app: Flask) -> None:
    """Make `icon()` available to templates."""
    app.jinja_env.globals["icon"] = icon
