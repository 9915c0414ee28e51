"""Observations as GeoReport v2 service requests, and their fixes' changes as updates.

A service request is an observation of a problem: its UUID is the `service_request_id`, its
category the `service_code`, its observed time the `requested_datetime`. It is `closed`
once all its fixes are finished (`fieldwalk.tasks.progress`), `open` until then. Every
field comes from `open311.public.public_request`, so nothing the status page keeps to
itself is published here either, and an observation staff have not approved for the public
pages is in no answer (nor are its fixes' updates) but those to a `key_holder` (a reader
with a staff account's api_key). `photo_link` turns a stored photo file into an absolute
URL (the caller knows the host).
"""

from collections.abc import Callable
from datetime import datetime

from sqlite_utils import Database

from fieldwalk.categories import category_label
from fieldwalk.clock import stamp
from fieldwalk.observations.moderation import APPROVED
from fieldwalk.open311.formats import w3c
from fieldwalk.open311.public import public_request
from fieldwalk.status import public_state_label
from fieldwalk.tasks.progress import (
    changes_of_observations,
    find_requests,
    status_after_each,
    task_changes,
)
from fieldwalk.tasks.states import DONE, VERIFIED

MAX_RESULTS = 1000


def _status(closed: bool) -> str:
    return "closed" if closed else "open"


def service_request(
    db: Database, row: dict, photo_link: Callable[[str], str], key_holder: bool = False
) -> dict | None:
    """One observation row (from `find_requests`) as a service request; None when it is not
    approved for the public pages (and the reader no `key_holder`)."""
    public = public_request(db, row, key_holder=key_holder)
    if public is None:
        return None
    fixes = public["fixes"]
    parties = dict.fromkeys(fix["party_name"] for fix in fixes if fix["party_name"])
    return {
        "service_request_id": row["id"],
        "status": _status(bool(row["closed"])),
        "status_notes": "; ".join(f"{f['state_label']}: {f['measure']}" for f in fixes) or None,
        "service_name": category_label(row["category"]),
        "service_code": row["category"],
        "description": public["description"] or None,
        "agency_responsible": ", ".join(parties) or None,
        "service_notice": None,
        "requested_datetime": w3c(row["observed_at"]),
        "updated_datetime": w3c(row["changed_at"]),
        "expected_datetime": None,
        "address": public["place_name"] or None,
        "address_id": None,
        "zipcode": None,
        "lat": public["lat"],
        "long": public["lon"],
        "media_url": photo_link(public["photos"][0]) if public["photos"] else None,
    }


def find_service_requests(
    db: Database,
    photo_link: Callable[[str], str],
    *,
    ids: list[str] | None = None,
    codes: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    status: str | None = None,
    key_holder: bool = False,
) -> list[dict]:
    """Service requests by id (overriding every other filter), or by code, observed time and
    status ('open' or 'closed'); newest first, at most MAX_RESULTS; only those approved for
    the public pages unless the reader is a `key_holder`."""
    rows = find_requests(
        db,
        ids=ids,
        categories=codes,
        start=stamp(start) if start else None,
        end=stamp(end) if end else None,
        closed=None if status is None else status == "closed",
        reviewed=None if key_holder else APPROVED,
        limit=MAX_RESULTS,
    )
    found = (service_request(db, row, photo_link, key_holder) for row in rows)
    return [request for request in found if request is not None]


def service_request_updates(
    db: Database,
    photo_link: Callable[[str], str],
    start: datetime,
    end: datetime,
    key_holder: bool = False,
) -> list[dict]:
    """Each change of a fix's state from `start` to `end`, oldest first, as an update of every
    request it fixes: the request's status after it, and its public note (the new state and
    the measure); a finished fix's first after-photo as `media_url`. Only of requests approved
    for the public pages, unless the reader is a `key_holder`."""
    changes = task_changes(db, stamp(start), stamp(end), MAX_RESULTS)
    wanted = sorted({oid for change in changes for oid in change["observation_ids"]})
    rows = {
        row["id"]: row
        for row in find_requests(
            db, ids=wanted, reviewed=None if key_holder else APPROVED, limit=len(wanted) or 1
        )
    }
    publics = {
        oid: public
        for oid, row in rows.items()
        if (public := public_request(db, row, key_holder=key_holder))
    }
    closed_after = {
        oid: status_after_each(history)
        for oid, history in changes_of_observations(db, list(rows)).items()
    }
    updates = []
    for change in changes:
        for oid in change["observation_ids"]:
            fix = next(
                (
                    f
                    for f in publics.get(oid, {"fixes": []})["fixes"]
                    if f["task_id"] == change["task_id"]
                ),
                None,
            )
            if fix is None:
                continue
            photos = fix["after_photos"] if change["to"] in (DONE, VERIFIED) else []
            updates.append(
                {
                    "update_id": f"{change['id']}-{oid[:8]}",
                    "service_request_id": oid,
                    "status": _status(closed_after[oid].get(change["id"], False)),
                    "updated_datetime": w3c(change["at"]),
                    "description": f"{public_state_label(change['to'])}: {fix['measure']}",
                    "media_url": photo_link(photos[0]["file"]) if photos else None,
                }
            )
    return updates
