"""The checklist people walk with, drawn from Swedish safety-walk practice.

Codes are stable identifiers stored in the database; labels and hints are translated.
"""

from flask_babel import lazy_gettext as _l

CATEGORIES: dict[str, tuple[str, str]] = {
    "lighting": (
        _l("Lighting"),
        _l("Broken, missing or dazzling lights; dark stretches."),
    ),
    "vegetation": (
        _l("Vegetation"),
        _l("Bushes and trees that are overgrown or need trimming."),
    ),
    "sightlines": (
        _l("Sightlines and hiding places"),
        _l("Places where you cannot see or be seen; corners and stashes."),
    ),
    "upkeep": (
        _l("Upkeep and litter"),
        _l("Litter, full bins, needles, neglected spaces."),
    ),
    "graffiti": (
        _l("Graffiti and vandalism"),
        _l("Tags, broken glass, damaged benches or signs."),
    ),
    "paths": (
        _l("Paths and access"),
        _l("Uneven or narrow paths, stairs, barriers, no way out."),
    ),
    "wayfinding": (
        _l("Wayfinding and signs"),
        _l("Hard to find your way; missing or unclear signs."),
    ),
    "people": (
        _l("People and being seen"),
        _l("Deserted or crowded places; no one who would notice."),
    ),
    "other": (
        _l("Other"),
        _l("Anything else that affects how safe the place feels."),
    ),
}

LOCATION_SOURCES = ("device", "photo", "map")

# What a category's tile on the capture screen shows: a word or two under a Lucide icon
# (fieldwalk/icons.py), so that the nine fit on a phone's first screen.
TILES: dict[str, tuple[str, str]] = {
    "lighting": (_l("Lighting"), "lightbulb"),
    "vegetation": (_l("Vegetation"), "trees"),
    "sightlines": (_l("Sightlines"), "eye-off"),
    "upkeep": (_l("Litter, upkeep"), "trash-2"),
    "graffiti": (_l("Graffiti"), "spray-can"),
    "paths": (_l("Paths"), "footprints"),
    "wayfinding": (_l("Wayfinding"), "signpost"),
    "people": (_l("People around"), "users"),
    "other": (_l("Other"), "circle-ellipsis"),
}


def category_list() -> list[dict]:
    """The categories with their labels and hints in the current language."""
    return [
        {
            "code": code,
            "label": str(label),
            "hint": str(hint),
            "short": str(TILES[code][0]),
            "icon": TILES[code][1],
        }
        for code, (label, hint) in CATEGORIES.items()
    ]


def category_label(code: str) -> str:
    """The translated label of a category code (the code itself when unknown)."""
    entry = CATEGORIES.get(code)
    return str(entry[0]) if entry else code
