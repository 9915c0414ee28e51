"""Who should fix it: the routing rule, as a pure function.

The zones that contain the observation's position pick the party, the smallest zone winning
where zones overlap (a property inside a park is the property owner's). Where no zone
contains it, a per-category default applies (street lighting to the traffic office). Where
neither decides, the fix goes to the coordinators' triage list.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fieldwalk import geo

ZONE = "zone"
CATEGORY_DEFAULT = "category_default"
TRIAGE = "triage"


@dataclass(frozen=True)
class Zone:
    id: int
    party_id: int
    name: str
    geometry: dict
    area_m2: float


@dataclass(frozen=True)
class Suggestion:
    """The party a fix should go to, and why."""

    party_id: int | None
    reason: str  # ZONE, CATEGORY_DEFAULT or TRIAGE
    zone_id: int | None = None
    zone_name: str | None = None

    def as_dict(self) -> dict:
        """The suggestion as stored with a task (JSON-friendly)."""
        return {
            "party_id": self.party_id,
            "reason": self.reason,
            "zone_id": self.zone_id,
            "zone_name": self.zone_name,
        }


def suggest_party(
    lat: float | None,
    lon: float | None,
    category: str,
    zones: Iterable[Zone],
    category_defaults: Mapping[str, int],
) -> Suggestion:
    """Pick the responsible party for a fix at (lat, lon) of this category."""
    if lat is not None and lon is not None:
        zone = geo.smallest_containing(
            zones, lat, lon, geometry=lambda z: z.geometry, size=lambda z: (z.area_m2, z.id)
        )
        if zone is not None:
            return Suggestion(zone.party_id, ZONE, zone.id, zone.name)
    if category in category_defaults:
        return Suggestion(category_defaults[category], CATEGORY_DEFAULT)
    return Suggestion(None, TRIAGE)
