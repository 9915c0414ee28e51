"""GeoReport v2's two formats, and its times: pure functions, no Flask, no database.

One data structure makes both: a name and a list (or a dict) of plain values. JSON drops the
outer name (`services.json` is a bare array), XML wraps each list item in the singular of
its list's name (`<services><service>…`), the Spark convention the Open311 wiki describes and
FixMyStreet's XML reader expects. An empty or missing value is left out of XML, as a client
reading XML cannot tell an empty element from a nested one; JSON keeps it as null.
"""

import json
import re
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
UNENCODED_PLUS = re.compile(r"(T[\d:.]+) (\d\d:?\d\d)$")

SINGULAR = {
    "services": "service",
    "service_requests": "request",
    "service_requests_updates": "request_update",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


def serialize(fmt: str, name: str, data: list | dict) -> bytes:
    """`data` under the root `name` as JSON or XML bytes (UTF-8)."""
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False).encode()
    root = ET.Element(name)
    _fill(root, name, data)
    return XML_DECLARATION + ET.tostring(root, encoding="unicode").encode()


def _fill(element: ET.Element, name: str, value) -> None:
    if isinstance(value, list):
        for item in value:
            _fill(ET.SubElement(element, SINGULAR.get(name, name)), name, item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if item is None or item == "" or item == []:
                continue
            _fill(ET.SubElement(element, key), key, item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)


def errors_body(fmt: str, status: int, descriptions: list[str]) -> bytes:
    """The spec's error answer: `[{"code": 400, "description": "…"}]`, or `<errors>`."""
    return serialize(
        fmt, "errors", [{"code": status, "description": text} for text in descriptions]
    )


def w3c(stamp: str | None) -> str | None:
    """A stored UTC stamp ('2026-11-28T05:45:00Z') in W3C form with an offset, as the spec
    wants: '2026-11-28T05:45:00+00:00'. None stays None."""
    if not stamp:
        return None
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_w3c(text: str) -> datetime | None:
    """A W3C date-time ('2026-11-28T06:45:00+01:00', '…Z', or a bare date) as an aware UTC
    datetime; a time without an offset is taken as UTC. None when unreadable."""
    text = (text or "").strip()
    if not text or len(text) > 40:
        return None
    # An unencoded '+' in a query string arrives as a space: '…06:45:00 01:00'.
    text = UNENCODED_PLUS.sub(r"\1+\2", text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
