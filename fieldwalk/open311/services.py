"""Open311 services: one per category of the checklist, in the language asked for.

A service's code is the category's code. A service has a definition (`metadata` true) when
`SERVICE_ATTRIBUTES` gives its category questions beyond the description; every category
asks the two the capture screen asks: how safe it feels, and whether it is urgent.
"""

from flask_babel import gettext as _

from fieldwalk.categories import CATEGORIES

FEELING_VALUES = ("1", "2", "3", "4", "5")
URGENT_VALUES = ("false", "true")


def _common_attributes() -> list[dict]:
    return [
        {
            "variable": True,
            "code": "feeling",
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": _("1 = very unsafe, 5 = very safe"),
            "order": 1,
            "description": _("How safe does it feel here?"),
            "values": [{"key": key, "name": key} for key in FEELING_VALUES],
        },
        {
            "variable": True,
            "code": "urgent",
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": "",
            "order": 2,
            "description": _("Urgent: a danger that needs action now"),
            "values": [
                {"key": "false", "name": _("No")},
                {"key": "true", "name": _("Yes")},
            ],
        },
    ]


# Which categories have a service definition (their extra questions); none may be empty.
SERVICE_ATTRIBUTES = {code: _common_attributes for code in CATEGORIES}


def list_services() -> list[dict]:
    """Every service, in the current language (see `flask_babel.force_locale`)."""
    return [
        {
            "service_code": code,
            "service_name": str(label),
            "description": str(hint),
            "metadata": code in SERVICE_ATTRIBUTES,
            "type": "realtime",
            "keywords": "",
            "group": _("Safety walk"),
        }
        for code, (label, hint) in CATEGORIES.items()
    ]


def service_definition(code: str) -> dict | None:
    """A service's definition (its attributes), or None when it has none or is unknown."""
    attributes = SERVICE_ATTRIBUTES.get(code)
    if attributes is None:
        return None
    return {"service_code": code, "attributes": attributes()}
