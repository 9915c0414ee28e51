"""Who may do what: every route, asked by every role, with the status each should get.

Eight roles ask: an anonymous visitor, a resident who joined the walk, a resident who joined
another walk, the walk leader who created the walk, another walk leader, a coordinator, an
admin and a partner (the police or a security company, who reach events only). State-changing requests carry a valid CSRF token, so each row is about the role.
A route that is not in TABLE fails `test_every_route_is_in_the_access_table`.

One app and its database serve the whole module (a fresh app per row would cost most of the
suite's time). Each row gets fresh walks and a fresh observation in it, and each role a
fresh client carrying that role's real session cookie, made once by the login form or the
invitation link.
"""

import io
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path

import pytest
from conftest import (
    PASSWORD,
    PHOTO_SETTINGS,
    PHOTOS,
    RACKSTA,
    approve_public,
    csrf_token,
    join,
    login,
    make_place,
    make_user,
    make_walk,
    set_fast_password,
)

from fieldwalk import create_app
from fieldwalk.auth import create_token, create_user
from fieldwalk.db import connect
from fieldwalk.measures.cameras import propose_camera
from fieldwalk.measures.model import record_fact
from fieldwalk.observations.model import put_observation, validate
from fieldwalk.observations.record import record_photo
from fieldwalk.parties.model import add_contact, insert_party
from fieldwalk.photos.public import blur_pending
from fieldwalk.places.model import get_place, place_geometry
from fieldwalk.reports.annual_assessment import save_annual
from fieldwalk.reports.periods import last_complete_week, week_text
from fieldwalk.residents.model import follow_observation
from fieldwalk.residents.news import unsubscribe_token
from fieldwalk.security import hash_secret
from fieldwalk.status import ensure_public_token
from fieldwalk.tasks.links import create_party_link
from fieldwalk.tasks.model import get_task, insert_task, transition
from fieldwalk.tasks.states import Actor
from fieldwalk.users import password_token
from fieldwalk.walks.model import join_walk
from fieldwalk.zones.model import insert_zone

PHOTO = (PHOTOS / "camera" / "Canon_40D.jpg").read_bytes()

ROLES = (
    "anonymous",
    "resident",
    "resident_other",
    "leader",
    "other_leader",
    "coordinator",
    "admin",
    "partner",
)
STAFF = ("leader", "other_leader", "coordinator", "admin")
LOGGED_IN = (*STAFF, "partner")


def statuses(*codes: int) -> dict[str, int]:
    """The expected status for each role, given in ROLES order."""
    return dict(zip(ROLES, codes, strict=True))


def but(pattern: dict[str, int], **changes: int) -> dict[str, int]:
    """A pattern with some roles' statuses changed."""
    return {**pattern, **changes}


# The usual patterns, in ROLES order.
EVERYONE = statuses(200, 200, 200, 200, 200, 200, 200, 200)
# Staff see every walk; residents the walks they joined; anyone else is told to join it first.
WALK_VISIBLE = statuses(403, 200, 403, 200, 200, 200, 200, 403)
# An observation (unguessable UUID) is not found by anyone who may not see it.
OBSERVATION_VISIBLE = statuses(404, 200, 404, 200, 200, 200, 200, 404)
# Staff pages: the anonymous (residents included) are sent to the login form.
STAFF_PAGE = statuses(302, 302, 302, 200, 200, 200, 200, 403)
STAFF_POST = statuses(401, 401, 401, 303, 303, 303, 303, 403)
# Managing a walk: its creator, coordinators and admins; another walk leader gets 403.
MANAGE_PAGE = statuses(302, 302, 302, 200, 403, 200, 200, 403)
MANAGE_POST = statuses(401, 401, 401, 303, 403, 303, 303, 403)
# Coordinators' and admins' own screens (parties, zones, triage): walk leaders get 403.
MANAGER_PAGE = statuses(302, 302, 302, 403, 403, 200, 200, 403)
MANAGER_POST = statuses(401, 401, 401, 403, 403, 303, 303, 403)
# The weekly meeting's page: coordinators, admins and partners (police, guards).
MEETING_PAGE = statuses(302, 302, 302, 403, 403, 200, 200, 200)
# Events: staff and partners enter, import and read them.
EVENT_PAGE = statuses(302, 302, 302, 200, 200, 200, 200, 200)
EVENT_POST = statuses(401, 401, 401, 303, 303, 303, 303, 303)

# (method, rule as in app.url_map, path to request, body kind, expected status per role)
TABLE = [
    # A partner's home is the events list.
    ("GET", "/", "/", None, but(EVERYONE, partner=302)),
    ("POST", "/lang", "/lang", "lang", statuses(303, 303, 303, 303, 303, 303, 303, 303)),
    ("GET", "/login", "/login", None, EVERYONE),
    ("POST", "/login", "/login", "login", statuses(303, 303, 303, 303, 303, 303, 303, 303)),
    ("POST", "/logout", "/logout", "empty", statuses(303, 303, 303, 303, 303, 303, 303, 303)),
    # One's own password: whoever is logged in (the row sets the same password again).
    ("GET", "/account/password", "/account/password", None, statuses(302, 302, 302, 200, 200, 200, 200, 200)),
    ("POST", "/account/password", "/account/password", "password", statuses(401, 401, 401, 303, 303, 303, 303, 303)),
    # Staff accounts: admins lock and unlock them.
    ("GET", "/admin/users", "/admin/users", None, statuses(302, 302, 302, 403, 403, 403, 200, 403)),
    ("POST", "/admin/users/<int:user_id>/lock", "/admin/users/{staff_user}/lock", "empty", statuses(401, 401, 401, 403, 403, 403, 303, 403)),
    ("POST", "/admin/users/<int:user_id>/unlock", "/admin/users/{staff_user}/unlock", "empty", statuses(401, 401, 401, 403, 403, 403, 303, 403)),
    # Admins invite, set roles and send password links; the emailed link is the key.
    ("GET", "/admin/users/invite", "/admin/users/invite", None, statuses(302, 302, 302, 403, 403, 403, 200, 403)),
    ("POST", "/admin/users/invite", "/admin/users/invite", "invite", statuses(401, 401, 401, 403, 403, 403, 303, 403)),
    ("POST", "/admin/users/<int:user_id>/role", "/admin/users/{staff_user}/role", "role", statuses(401, 401, 401, 403, 403, 403, 303, 403)),
    ("POST", "/admin/users/<int:user_id>/reset", "/admin/users/{staff_user}/reset", "empty", statuses(401, 401, 401, 403, 403, 403, 303, 403)),
    ("GET", "/account/set-password/<token>", "/account/set-password/{password_token}", None, EVERYONE),
    ("GET", "/account/set-password/<token>", "/account/set-password/not-a-token", None, statuses(404, 404, 404, 404, 404, 404, 404, 404)),
    ("POST", "/account/set-password/<token>", "/account/set-password/{password_token}", "new_password", statuses(303, 303, 303, 303, 303, 303, 303, 303)),
    # walks
    ("GET", "/walks/new", "/walks/new", None, STAFF_PAGE),
    ("POST", "/walks/new", "/walks/new", "walk_form", STAFF_POST),
    ("GET", "/walks/<int:walk_id>/edit", "/walks/{walk}/edit", None, MANAGE_PAGE),
    ("POST", "/walks/<int:walk_id>/edit", "/walks/{walk}/edit", "walk_form", MANAGE_POST),
    ("POST", "/walks/<int:walk_id>/state", "/walks/{walk}/state", "state", MANAGE_POST),
    ("GET", "/walks/<int:walk_id>", "/walks/{walk}", None, WALK_VISIBLE),
    ("GET", "/walks/<int:walk_id>", "/walks/{unknown_walk}", None, statuses(404, 404, 404, 404, 404, 404, 404, 404)),
    ("GET", "/walks/<int:walk_id>/observations", "/walks/{walk}/observations", None, WALK_VISIBLE),
    ("GET", "/walks/<int:walk_id>/qr.svg", "/walks/{walk}/qr.svg", None, WALK_VISIBLE),
    ("GET", "/walks/<int:walk_id>/poster", "/walks/{walk}/poster", None, WALK_VISIBLE),
    # The invitation link is the way in; a phone that already joined goes to capture.
    ("GET", "/j/<token>", "/j/{invite}", None, statuses(200, 303, 200, 200, 200, 200, 200, 200)),
    ("GET", "/j/<token>", "/j/not-an-invitation", None, statuses(404, 404, 404, 404, 404, 404, 404, 404)),
    ("POST", "/j/<token>", "/j/{invite}", "join", statuses(303, 303, 303, 303, 303, 303, 303, 303)),
    # capture
    ("GET", "/walks/<int:walk_id>/capture", "/walks/{walk}/capture", None, WALK_VISIBLE),
    ("POST", "/walks/<int:walk_id>/observations", "/walks/{walk}/observations", "capture", statuses(403, 303, 403, 303, 303, 303, 303, 403)),
    # Outside a walk: staff, and residents whose phone has joined some walk.
    ("GET", "/report", "/report", None, statuses(404, 200, 200, 200, 200, 200, 200, 403)),
    ("POST", "/report", "/report", "capture", statuses(404, 303, 303, 303, 303, 303, 303, 403)),
    ("GET", "/observations/<observation_id>", "/observations/{observation}", None, OBSERVATION_VISIBLE),
    # Photo files are content-addressed (a SHA-256 in the URL). An original goes to staff and
    # the phone that took it; anyone else gets its face-blurred copy, and a grey stand-in
    # while that is made (tests/test_face_blur.py tells the two apart).
    ("GET", "/photos/<path:relative>", "/photos/{photo_file}", None, EVERYONE),
    # A public (face-blurred) copy: to whoever has its address.
    ("GET", "/photos/<path:relative>", "/photos/{public_photo_file}", None, EVERYONE),
    # Blurring parts of a photo, turning or hiding it: staff.
    ("GET", "/photos/<photo_id>/edit", "/photos/{stored_photo}/edit", None, STAFF_PAGE),
    ("POST", "/photos/<photo_id>/edit", "/photos/{stored_photo}/edit", "redact", STAFF_POST),
    # JSON API
    ("GET", "/api/v1/categories", "/api/v1/categories", None, EVERYONE),
    ("GET", "/api/v1/places", "/api/v1/places", None, EVERYONE),
    ("GET", "/api/v1/walks/<int:walk_id>", "/api/v1/walks/{walk}", None, WALK_VISIBLE),
    ("PUT", "/api/v1/observations/<observation_id>", "/api/v1/observations/{new_observation}", "observation_json", statuses(403, 201, 403, 201, 201, 201, 201, 403)),
    ("GET", "/api/v1/observations/<observation_id>", "/api/v1/observations/{observation}", None, OBSERVATION_VISIBLE),
    ("PUT", "/api/v1/observations/<observation_id>/photos/<photo_id>", "/api/v1/observations/{observation}/photos/{missing_photo}", "photo", statuses(404, 201, 404, 201, 201, 201, 201, 404)),
    ("GET", "/api/v1/observations", "/api/v1/observations", None, statuses(401, 200, 200, 200, 200, 200, 200, 401)),
    ("GET", "/api/v1/observations", "/api/v1/observations?walk_id={walk}", None, WALK_VISIBLE),
    # The installable app: open to everyone, the session check included.
    ("GET", "/sw.js", "/sw.js", None, EVERYONE),
    ("GET", "/manifest.webmanifest", "/manifest.webmanifest", None, EVERYONE),
    ("GET", "/offline", "/offline", None, EVERYONE),
    ("GET", "/api/v1/session", "/api/v1/session", None, EVERYONE),
    ("GET", "/outbox", "/outbox", None, EVERYONE),
    # For the load balancer: no details, no login.
    ("GET", "/healthz", "/healthz", None, EVERYONE),
    # Public status pages: whoever has the link, nothing personal on them.
    ("GET", "/status/<observation_id>", "/status/{observation}", None, EVERYONE),
    ("GET", "/w/<token>", "/w/{public_token}", None, EVERYONE),
    # Residents who left an address stop the emails with the link in them, logged in or not;
    # anyone may tell how the place feels once its fix is done.
    ("GET", "/unsubscribe/<token>", "/unsubscribe/{unsubscribe_token}", None, EVERYONE),
    ("GET", "/unsubscribe/<token>", "/unsubscribe/not-a-token", None, statuses(404, 404, 404, 404, 404, 404, 404, 404)),
    ("POST", "/unsubscribe/<token>", "/unsubscribe/{unsubscribe_token}", "empty", EVERYONE),
    ("POST", "/status/<observation_id>/followup", "/status/{done_observation}/followup", "followup", statuses(303, 303, 303, 303, 303, 303, 303, 303)),
    ("GET", "/w/<token>", "/w/not-a-public-token", None, statuses(404, 404, 404, 404, 404, 404, 404, 404)),
    ("GET", "/walks/<int:walk_id>/public", "/walks/{walk}/public", None, statuses(302, 302, 302, 303, 403, 303, 303, 403)),
    # A party's signed link is the credential: whoever holds it, whatever else they are.
    ("GET", "/l/<token>", "/l/{link_token}", None, EVERYONE),
    ("GET", "/l/<token>", "/l/not-a-link", None, statuses(404, 404, 404, 404, 404, 404, 404, 404)),
    ("POST", "/l/<token>/tasks/<int:task_id>", "/l/{link_token}/tasks/{sent_task}", "link_accept", statuses(303, 303, 303, 303, 303, 303, 303, 303)),
    ("POST", "/l/<token>/tasks/<int:task_id>/comments", "/l/{link_token}/tasks/{sent_task}/comments", "comment", statuses(303, 303, 303, 303, 303, 303, 303, 303)),
    ("GET", "/walks/<int:walk_id>/links", "/walks/{walk}/links", None, statuses(302, 302, 302, 403, 403, 200, 200, 403)),
    ("POST", "/walks/<int:walk_id>/links/<int:link_id>/revoke", "/walks/{walk}/links/{link}/revoke", "empty", statuses(401, 401, 401, 403, 403, 303, 303, 403)),
    # A new link on demand, and a party's links (from every walk and from outside a walk).
    ("POST", "/walks/<int:walk_id>/links/send", "/walks/{walk}/links/send", "walk_link_send", MANAGER_POST),
    ("GET", "/parties/<int:party_id>/links", "/parties/{party}/links", None, MANAGER_PAGE),
    ("POST", "/parties/<int:party_id>/links/send", "/parties/{party}/links/send", "party_link_send", MANAGER_POST),
    ("POST", "/parties/<int:party_id>/links/<int:link_id>/revoke", "/parties/{party}/links/{link}/revoke", "empty", MANAGER_POST),
    # Parties and zones: coordinators and admins.
    ("GET", "/parties", "/parties", None, MANAGER_PAGE),
    ("POST", "/parties/defaults", "/parties/defaults", "empty", MANAGER_POST),
    ("GET", "/parties/new", "/parties/new", None, MANAGER_PAGE),
    ("POST", "/parties/new", "/parties/new", "new_party", MANAGER_POST),
    ("GET", "/parties/<int:party_id>", "/parties/{party}", None, MANAGER_PAGE),
    ("GET", "/parties/<int:party_id>/edit", "/parties/{party}/edit", None, MANAGER_PAGE),
    ("POST", "/parties/<int:party_id>/edit", "/parties/{party}/edit", "edit_party", MANAGER_POST),
    ("POST", "/parties/<int:party_id>/contacts", "/parties/{party}/contacts", "contact", MANAGER_POST),
    ("POST", "/parties/<int:party_id>/contacts/<int:contact_id>/remove", "/parties/{party}/contacts/{contact}/remove", "empty", MANAGER_POST),
    # A party reached over Open311 instead of email.
    ("GET", "/parties/<int:party_id>/open311", "/parties/{party}/open311", None, MANAGER_PAGE),
    ("POST", "/parties/<int:party_id>/open311", "/parties/{party}/open311", "open311_channel", MANAGER_POST),
    ("POST", "/parties/<int:party_id>/open311/remove", "/parties/{party}/open311/remove", "empty", MANAGER_POST),
    ("GET", "/zones", "/zones", None, MANAGER_PAGE),
    ("GET", "/zones/new", "/zones/new", None, MANAGER_PAGE),
    ("POST", "/zones/new", "/zones/new", "zone", MANAGER_POST),
    ("GET", "/zones/<int:zone_id>/edit", "/zones/{zone}/edit", None, MANAGER_PAGE),
    ("POST", "/zones/<int:zone_id>/edit", "/zones/{zone}/edit", "zone", MANAGER_POST),
    ("GET", "/zones/<int:zone_id>/delete", "/zones/{zone}/delete", None, MANAGER_PAGE),
    ("POST", "/zones/<int:zone_id>/delete", "/zones/{zone}/delete", "empty", MANAGER_POST),
    ("GET", "/zones.geojson", "/zones.geojson", None, MANAGER_PAGE),
    ("GET", "/zones/import", "/zones/import", None, MANAGER_PAGE),
    ("POST", "/zones/import", "/zones/import", "zone_import", MANAGER_POST),
    # Tasks: staff see them; the walk's managers plan and send them; triage is the managers'.
    # A partner is not told that a task or an observation exists.
    ("GET", "/tasks", "/tasks", None, STAFF_PAGE),
    ("GET", "/tasks/<int:task_id>", "/tasks/{task}", None, but(STAFF_PAGE, partner=404)),
    ("POST", "/tasks/<int:task_id>/<action>", "/tasks/{task}/send", "task_version", but(MANAGE_POST, partner=404)),
    # Everyone who sees a task may comment on it; those who plan it may edit it.
    ("POST", "/tasks/<int:task_id>/comments", "/tasks/{task}/comments", "comment", but(STAFF_POST, partner=404)),
    ("POST", "/tasks/<int:task_id>/edit", "/tasks/{task}/edit", "task_edit", but(MANAGE_POST, partner=404)),
    ("GET", "/observations/<observation_id>/tasks/new", "/observations/{observation}/tasks/new", None, but(MANAGE_PAGE, partner=404)),
    ("POST", "/observations/<observation_id>/tasks", "/observations/{observation}/tasks", "new_task", but(MANAGE_POST, partner=404)),
    ("POST", "/observations/<observation_id>/tasks/link", "/observations/{other_observation}/tasks/link", "link_task", but(MANAGE_POST, partner=404)),
    # "Visa publikt": whoever plans the observation's tasks decides what of it is public.
    ("POST", "/observations/<observation_id>/public", "/observations/{observation}/public", "review", but(MANAGE_POST, partner=404)),
    ("GET", "/walks/<int:walk_id>/tasks", "/walks/{walk}/tasks", None, MANAGE_PAGE),
    ("POST", "/walks/<int:walk_id>/tasks/send", "/walks/{walk}/tasks/send", "empty", MANAGE_POST),
    ("GET", "/tasks/triage", "/tasks/triage", None, MANAGER_PAGE),
    ("POST", "/tasks/bulk", "/tasks/bulk", "bulk_due", MANAGER_POST),
    # The dashboard and its exports: staff read them; the duplicate answer is the managers'.
    ("GET", "/dashboard", "/dashboard", None, STAFF_PAGE),
    ("GET", "/dashboard/map.json", "/dashboard/map.json", None, STAFF_PAGE),
    ("GET", "/dashboard/observations/<int:key>", "/dashboard/observations/999999999", None, statuses(302, 302, 302, 404, 404, 404, 404, 403)),
    ("GET", "/dashboard/observations.csv", "/dashboard/observations.csv", None, STAFF_PAGE),
    ("GET", "/dashboard/tasks.csv", "/dashboard/tasks.csv", None, STAFF_PAGE),
    ("GET", "/dashboard/observations.geojson", "/dashboard/observations.geojson", None, STAFF_PAGE),
    ("GET", "/dashboard/tasks.geojson", "/dashboard/tasks.geojson", None, STAFF_PAGE),
    ("POST", "/observations/<observation_id>/duplicate-of", "/observations/{observation}/duplicate-of", "empty", statuses(401, 401, 401, 403, 403, 400, 400, 403)),
    # Places: staff see them; coordinators and admins draw them.
    ("GET", "/places", "/places", None, STAFF_PAGE),
    ("GET", "/places/<int:place_id>", "/places/{place}", None, STAFF_PAGE),
    ("GET", "/places/new", "/places/new", None, MANAGER_PAGE),
    ("POST", "/places/new", "/places/new", "place", MANAGER_POST),
    ("GET", "/places/<int:place_id>/edit", "/places/{place}/edit", None, MANAGER_PAGE),
    ("POST", "/places/<int:place_id>/edit", "/places/{place}/edit", "place", MANAGER_POST),
    ("GET", "/places.geojson", "/places.geojson?crs=3011", None, MANAGER_PAGE),
    ("GET", "/places/import", "/places/import", None, MANAGER_PAGE),
    ("POST", "/places/import", "/places/import", "place_import", MANAGER_POST),
    # Reports: coordinators and admins; the weekly meeting's page (the lägesbild, its CSV and
    # PDF) also partners, who write the joint assessment with staff. Decisions become tasks:
    # coordinators and admins. (The index sends each on to the week.)
    ("GET", "/reports", "/reports", None, statuses(302, 302, 302, 403, 403, 302, 302, 302)),
    ("GET", "/reports/week", "/reports/week", None, MEETING_PAGE),
    ("GET", "/reports/week.csv", "/reports/week.csv", None, MEETING_PAGE),
    ("GET", "/reports/week.pdf", "/reports/week.pdf", None, MEETING_PAGE),
    ("POST", "/reports/week/<week>/places/<int:place_id>/assessment", "/reports/week/{meeting_week}/places/{place}/assessment", "assessment", statuses(401, 401, 401, 403, 403, 303, 303, 303)),
    ("POST", "/reports/week/<week>/places/<int:place_id>/decisions", "/reports/week/{meeting_week}/places/{place}/decisions", "decision", MANAGER_POST),
    ("GET", "/reports/year", "/reports/year", None, MANAGER_PAGE),
    ("GET", "/reports/year.csv", "/reports/year.csv", None, MANAGER_PAGE),
    # The annual follow-up of a place with the police: coordinators, admins and partners read
    # it and write the joint assessment; only coordinators and admins make its measures tasks.
    ("GET", "/reports/year/places/<int:place_id>", "/reports/year/places/{place}", None, MEETING_PAGE),
    ("GET", "/reports/year/scenes", "/reports/year/scenes", None, MEETING_PAGE),
    ("GET", "/reports/year.pdf", "/reports/year.pdf?place={place}", None, MEETING_PAGE),
    ("POST", "/reports/year/<int:year>/places/<int:place_id>/assessment", "/reports/year/{this_year}/places/{place}/assessment", "annual", statuses(401, 401, 401, 403, 403, 303, 303, 303)),
    ("POST", "/reports/year/<int:year>/places/<int:place_id>/measures", "/reports/year/{this_year}/places/{place}/measures", "annual_measure", MANAGER_POST),
    # What each place has: staff read facts and the measures map; coordinators and admins
    # keep the facts and propose camera sites to the security office.
    ("GET", "/measures", "/measures", None, STAFF_PAGE),
    ("GET", "/places/<int:place_id>/facts/new", "/places/{place}/facts/new", None, MANAGER_PAGE),
    ("POST", "/places/<int:place_id>/facts/new", "/places/{place}/facts/new", "fact", MANAGER_POST),
    ("GET", "/places/<int:place_id>/facts/<fact_key>", "/places/{place}/facts/{fact}", None, STAFF_PAGE),
    ("POST", "/places/<int:place_id>/facts/<fact_key>", "/places/{place}/facts/{fact}", "fact_change", MANAGER_POST),
    ("POST", "/places/<int:place_id>/facts/<fact_key>/remove", "/places/{place}/facts/{fact}/remove", "fact_remove", MANAGER_POST),
    ("GET", "/places/<int:place_id>/cameras/new", "/places/{place}/cameras/new", None, MANAGER_PAGE),
    ("POST", "/places/<int:place_id>/cameras/new", "/places/{place}/cameras/new", "camera", MANAGER_POST),
    ("GET", "/cameras/<int:proposal_id>", "/cameras/{proposal}", None, MANAGER_PAGE),
    ("POST", "/cameras/<int:proposal_id>/answer", "/cameras/{proposal}/answer", "camera_answer", MANAGER_POST),
    # A walk's protocol: staff, who see every walk.
    ("GET", "/walks/<int:walk_id>/protocol", "/walks/{walk}/protocol", None, STAFF_PAGE),
    ("GET", "/walks/<int:walk_id>/protocol.pdf", "/walks/{walk}/protocol.pdf", None, STAFF_PAGE),
    # Events: the phone form, the list and its CSV, the upload (a checked preview) and its
    # confirmation.
    ("GET", "/events", "/events", None, EVENT_PAGE),
    ("GET", "/events.csv", "/events.csv", None, EVENT_PAGE),
    ("GET", "/events/new", "/events/new", None, EVENT_PAGE),
    ("POST", "/events/new", "/events/new", "event", EVENT_POST),
    ("GET", "/events/import", "/events/import", None, EVENT_PAGE),
    ("POST", "/events/import", "/events/import", "event_csv", statuses(401, 401, 401, 200, 200, 200, 200, 200)),
    ("POST", "/events/import/confirm", "/events/import/confirm", "event_confirm", EVENT_POST),
    # Open311 GeoReport v2: reading is open to anyone; creating needs an api_key (a staff
    # token) in the body, whoever sends it, and a cookie adds nothing.
    ("GET", "/open311/discovery.<fmt>", "/open311/discovery.xml", None, EVERYONE),
    ("GET", "/open311/v2/discovery.<fmt>", "/open311/v2/discovery.json", None, EVERYONE),
    ("GET", "/open311/v2/services.<fmt>", "/open311/v2/services.xml", None, EVERYONE),
    ("GET", "/open311/v2/services/<code>.<fmt>", "/open311/v2/services/lighting.json", None, EVERYONE),
    ("GET", "/open311/v2/requests.<fmt>", "/open311/v2/requests.xml", None, EVERYONE),
    ("GET", "/open311/v2/requests/<request_id>.<fmt>", "/open311/v2/requests/{approved_observation}.json", None, EVERYONE),
    # Not approved for the public pages yet: not published, to anyone (no api_key given).
    ("GET", "/open311/v2/requests/<request_id>.<fmt>", "/open311/v2/requests/{observation}.xml", None, statuses(404, 404, 404, 404, 404, 404, 404, 404)),
    ("GET", "/open311/v2/servicerequestupdates.<fmt>", "/open311/v2/servicerequestupdates.xml", None, EVERYONE),
    ("POST", "/open311/v2/requests.<fmt>", "/open311/v2/requests.json", "open311_request", statuses(201, 201, 201, 201, 201, 201, 201, 201)),
    ("POST", "/open311/v2/requests.<fmt>", "/open311/v2/requests.xml", "empty", statuses(403, 403, 403, 403, 403, 403, 403, 403)),
    # A resident's own data, from the phone that reported (a device key); erasing without the
    # tick is refused (the rows must not erase the shared phones' data).
    ("GET", "/me/data", "/me/data", None, statuses(404, 200, 200, 404, 404, 404, 404, 404)),
    ("GET", "/me/data.zip", "/me/data.zip", None, statuses(404, 200, 200, 404, 404, 404, 404, 404)),
    ("POST", "/me/data/erase", "/me/data/erase", "empty", statuses(404, 400, 400, 404, 404, 404, 404, 404)),
    ("GET", "/me/data/erased", "/me/data/erased", None, EVERYONE),
    # Register extracts and erasures on a person's request: coordinators and admins.
    ("GET", "/admin/privacy", "/admin/privacy", None, MANAGER_PAGE),
    ("GET", "/admin/privacy/extract", "/admin/privacy/extract?subject=o:{observation}", None, MANAGER_PAGE),
    ("POST", "/admin/privacy/erase", "/admin/privacy/erase", "staff_erase", but(MANAGER_POST, coordinator=400, admin=400)),
    # An engineer's own list: none of these eight roles is an engineer.
    ("GET", "/tasks/mine", "/tasks/mine", None, statuses(302, 302, 302, 403, 403, 403, 403, 403)),
]  # fmt: skip

ROWS = [
    pytest.param(method, path, body, role, expected[role], id=f"{method} {path} as {role}")
    for method, _rule, path, body, expected in TABLE
    for role in ROLES
]
# Logging in (again) and out end the session on the server: these rows get a login of their
# own, so the role's shared session lives on for the other rows.
ENDS_SESSION = {("POST", "/login"), ("POST", "/logout")}


class Site:
    """The module's app, its users and one real session cookie (and CSRF token) per role."""

    def __init__(self, instance: Path):
        self.app = create_app({"TESTING": True, "INSTANCE": str(instance)})
        self.db = connect(self.app.config["DATABASE_PATH"])
        self.place_id = make_place(self.db)
        self.geometry = place_geometry(get_place(self.db, self.place_id))
        self.users = {
            "leader": self._staff("walk_leader", "leader@example.se"),
            "other_leader": self._staff("walk_leader", "other-leader@example.se"),
            "coordinator": self._staff("coordinator", "coordinator@example.se"),
            "admin": self._staff("admin", "admin@example.se"),
            "partner": self._staff("partner", "partner@example.se"),
        }
        self.login_target = self._staff("coordinator", "login-target@example.se")
        self.open311_key = create_token(self.db, self.login_target["id"], "open311")
        self.office = insert_party(self.db, "Stadens säkerhetsavdelning", "security")
        self.sessions = {}  # role -> (cookie, csrf token, device key hash or None)
        client = self.app.test_client()
        self.sessions["anonymous"] = (*self._cookie(client, csrf_token(client, "/login")), None)
        for role in LOGGED_IN:
            client = self.app.test_client()
            self.sessions[role] = (*self._cookie(client, login(client, self.users[role])), None)
        for role in ("resident", "resident_other"):
            # A phone that joined some earlier walk through its link: it has a device key.
            client = self.app.test_client()
            token = join(client, make_walk(self.db, self.place_id, title=f"Start {role}"))
            with client.session_transaction() as session:
                device = hash_secret(session["device"])
            self.sessions[role] = (*self._cookie(client, token), device)

    def _staff(self, role: str, email: str) -> dict:
        user = make_user(self.db, role, email, password=None)
        set_fast_password(self.db, user["id"])
        return dict(user, password=PASSWORD)

    @staticmethod
    def _cookie(client, token: str) -> tuple[str, str]:
        return client.get_cookie("fieldwalk_session").value, token

    def client_as(self, role: str, own_login: bool = False):
        """A fresh client with the role's session cookie; and its CSRF token.

        With `own_login`, staff and partners get a login of their own instead of the shared
        session.
        """
        if own_login and role in LOGGED_IN:
            client = self.app.test_client()
            return client, login(client, self.users[role])
        cookie, token, _device = self.sessions[role]
        client = self.app.test_client()
        client.set_cookie("fieldwalk_session", cookie)
        return client, token


class Scene:
    """What one row needs, made fresh for it (and only when its path or body asks for it)."""

    def __init__(self, site: Site):
        self.site = site
        db = site.db
        self.walk_row = make_walk(db, site.place_id, created_by=site.users["leader"]["id"])
        other_walk = make_walk(db, site.place_id, created_by=site.users["leader"]["id"])
        for role, walk in (("resident", self.walk_row), ("resident_other", other_walk)):
            join_walk(
                db,
                walk["id"],
                device_hash=site.sessions[role][2],
                user_id=None,
                display_name=role,
                participant_role="resident",
            )
        self.photo_ids = [str(uuid.uuid4()), str(uuid.uuid4())]
        self.coordinator = Actor(("coordinator",), site.users["coordinator"]["id"], "coordinator")

    # --- walks and observations

    @property
    def walk(self) -> int:
        return self.walk_row["id"]

    @property
    def invite(self) -> str:
        return self.walk_row["invite_token"]

    @property
    def unknown_walk(self) -> int:
        return self.walk + 1000

    @property
    def new_observation(self) -> str:
        return str(uuid.uuid4())

    @property
    def missing_photo(self) -> str:
        return self.photo_ids[1]

    def _observation(self, photos: list[str]) -> str:
        """An observation by the resident on the walk."""
        observation_id = str(uuid.uuid4())
        clean = validate({"category": "lighting", "walk_id": self.walk, "photos": photos}, 2000, 12)
        put_observation(
            self.site.db,
            observation_id,
            clean,
            walk=self.walk_row,
            device_key_hash=self.site.sessions["resident"][2],
        )
        return observation_id

    @cached_property
    def observation(self) -> str:
        """The resident's observation, declaring two photos, none sent yet."""
        return self._observation(self.photo_ids)

    @cached_property
    def approved_observation(self) -> str:
        """The resident's observation, approved for the public pages ("Visa publikt")."""
        approve_public(self.site.db, self.observation)
        return self.observation

    @cached_property
    def other_observation(self) -> str:
        """A second observation on the walk, not yet part of any task."""
        return self._observation([])

    @cached_property
    def photo_file(self) -> str:
        """The display file of the observation's first photo, stored."""
        db = self.site.db
        observation = dict(
            db.execute("SELECT * FROM observations WHERE id = ?", [self.observation]).fetchone()
        )
        row, _created = record_photo(
            db,
            Path(self.site.app.config["PHOTO_PATH"]),
            observation,
            self.photo_ids[0],
            PHOTO,
            PHOTO_SETTINGS,
        )
        return row["file"]

    @cached_property
    def stored_photo(self) -> str:
        """The UUID of the observation's first photo, stored."""
        self.photo_file  # noqa: B018 (stored first)
        return self.photo_ids[0]

    @cached_property
    def public_photo_file(self) -> str:
        """The public copy of the observation's first photo, made as the app's thread does."""
        self.photo_file  # noqa: B018 (stored first)
        config = self.site.app.config
        blur_pending(self.site.db, Path(config["PHOTO_PATH"]), config["PHOTO_THUMB_EDGE"])
        row = self.site.db.execute(
            "SELECT public_file FROM photos WHERE id = ?", [self.photo_ids[0]]
        ).fetchone()
        return row[0]

    @cached_property
    def place(self) -> int:
        """A place of its own, to be shown and redrawn."""
        return make_place(self.site.db, f"plats-{uuid.uuid4().hex[:8]}", "Vällingby torg")

    @property
    def this_year(self) -> int:
        return datetime.now(UTC).year

    @cached_property
    def fact(self) -> str:
        """A fact of the row's place (version 1), to read, change or remove."""
        return record_fact(self.site.db, place_id=self.place, kind="lov3", recorded_by=None)[
            "fact_key"
        ]

    @cached_property
    def annual_measure(self) -> str:
        """A measure in the place's written assessment of this year, not yet a task."""
        measure = f"Belysning {uuid.uuid4().hex[:6]}"
        save_annual(
            self.site.db, place_id=self.place, year=self.this_year, finished=False,
            texts={"long_term_measures": measure}, written_by=None, based_on=0,
        )  # fmt: skip
        return measure

    @cached_property
    def proposal(self) -> int:
        """A camera site proposal at the row's place, sent to the security office."""
        db = self.site.db
        center = get_place(db, self.place)
        proposal_id, _created = propose_camera(
            db, place_id=self.place, lat=center["center_lat"], lon=center["center_lon"],
            motivation="Försäljning.", party_id=self.site.office, measure="Kameraförslag",
            reason="Säkerhetsavdelningen beslutar.", due_date="2030-01-01",
            actor=self.coordinator, moment=datetime.now(UTC),
        )  # fmt: skip
        return proposal_id

    @cached_property
    def staff_user(self) -> int:
        """A walk leader's account of its own, to be locked or unlocked."""
        return self.site._staff("walk_leader", f"leader-{uuid.uuid4().hex[:8]}@example.se")["id"]

    @property
    def event_csv(self) -> bytes:
        """A one-event CSV file, new each time (its description is unique)."""
        return (
            "tid;plats;typ;källa;beskrivning\n"
            f"2026-01-15 18:30;racksta;drug_use;staff;Sprutor vid trappan {uuid.uuid4().hex}\n"
        ).encode("utf-8-sig")

    @property
    def meeting_week(self) -> str:
        """The last complete week: the one the weekly meeting assesses."""
        return week_text(*last_complete_week(datetime.now(UTC)))

    @cached_property
    def password_token(self) -> str:
        """An invitation link for a fresh account without a password."""
        user_id = create_user(self.site.db, f"inv-{uuid.uuid4().hex[:8]}@example.se", "walk_leader")
        user = dict(self.site.db.execute("SELECT * FROM users WHERE id = ?", [user_id]).fetchone())
        return password_token(user, "invite", self.site.app.config["SECRET_KEY"])

    @cached_property
    def unsubscribe_token(self) -> str:
        follow_observation(self.site.db, self.observation, "boende@example.se")
        return unsubscribe_token("boende@example.se", self.site.app.config["SECRET_KEY"])

    @cached_property
    def done_observation(self) -> str:
        """The observation, its task sent and done."""
        task = self.sent_task
        version = get_task(self.site.db, task)["version"]
        transition(self.site.db, task, "done", self.coordinator, version=version, note="Klart")
        return self.observation

    @cached_property
    def public_token(self) -> str:
        return ensure_public_token(self.site.db, self.walk)

    # --- parties, zones, tasks, links

    @cached_property
    def party(self) -> int:
        return insert_party(self.site.db, f"Parkförvaltningen {uuid.uuid4().hex[:8]}", "park")

    @cached_property
    def contact(self) -> int:
        return add_contact(self.site.db, self.party, "Kim Ek", "kim@example.se")

    @cached_property
    def zone(self) -> int:
        return insert_zone(self.site.db, self.party, "Råcksta torg", RACKSTA, "square")

    @cached_property
    def task(self) -> int:
        """A proposed task for the observation, with a party: ready to be sent."""
        return insert_task(
            self.site.db,
            observation_ids=[self.observation],
            measure="Byt armaturen vid trappan.",
            party_id=self.party,
            suggestion={"party_id": self.party},
            actor=self.coordinator,
        )

    @cached_property
    def sent_task(self) -> int:
        """The task, sent to its party."""
        version = get_task(self.site.db, self.task)["version"]
        transition(self.site.db, self.task, "send", self.coordinator, version=version)
        return self.task

    @cached_property
    def walkless_sent_task(self) -> int:
        """A task for the party on an observation made outside a walk, sent."""
        observation_id = str(uuid.uuid4())
        clean = validate({"category": "lighting", "lat": 59.355, "lon": 17.882}, 2000, 12)
        put_observation(self.site.db, observation_id, clean, walk=None)
        task_id = insert_task(
            self.site.db,
            observation_ids=[observation_id],
            measure="Tänd lampan vid hållplatsen.",
            party_id=self.party,
            suggestion={"party_id": self.party},
            actor=self.coordinator,
        )
        transition(self.site.db, task_id, "send", self.coordinator, version=1)
        return task_id

    @cached_property
    def link_token(self) -> str:
        with self.site.app.app_context():  # signed with the app's secret key
            return create_party_link(self.site.db, self.party, self.walk, None, 30)

    @property
    def link(self) -> int:
        self.link_token  # noqa: B018 (made on first use)
        return self.site.db.execute("SELECT max(id) FROM party_links").fetchone()[0]

    # --- requests

    def path(self, template: str) -> str:
        names = [n.split("}")[0] for n in template.split("{")[1:]]
        return template.format(**{name: getattr(self, name) for name in names})

    def form(self, body: str) -> dict:
        """The form a person in this role would send (all valid: the row is about access)."""
        db = self.site.db
        match body:
            case "empty":
                return {}
            case "lang":
                return {"lang": "en", "next": "/"}
            case "login":
                return {"email": self.site.login_target["email"], "password": PASSWORD}
            case "password":
                return {
                    "current_password": PASSWORD,
                    "new_password": PASSWORD,
                    "confirm_password": PASSWORD,
                }
            case "walk_form":
                route = {"type": "LineString", "coordinates": [[17.877, 59.353], [17.886, 59.357]]}
                return {
                    "place_id": self.site.place_id,
                    "title": "Kvällsvandring",
                    "starts_at": "2026-12-01T16:30",
                    "route": json.dumps(route),
                }
            case "state":
                return {"state": "ongoing"}
            case "join":
                return {"display_name": "Sam", "participant_role": "resident"}
            case "capture":
                return {
                    "id": str(uuid.uuid4()),
                    "category": "sightlines",
                    "feeling": "3",
                    "photos": [(io.BytesIO(PHOTO), "bild.jpg")],
                }
            case "link_accept":
                return {"action": "accept", "version": get_task(db, self.sent_task)["version"]}
            case "new_party":
                return {"name": f"Bostadsbolaget {uuid.uuid4().hex[:8]}", "kind": "property_owner"}
            case "edit_party":
                party = db.execute("SELECT * FROM parties WHERE id = ?", [self.party]).fetchone()
                return {"name": party["name"], "kind": "park", "email": "park@example.se"}
            case "contact":
                return {"name": "Alex Berg", "email": "alex@example.se"}
            case "zone":
                return {
                    "party_id": self.party,
                    "name": "Torget",
                    "kind": "square",
                    "geometry": json.dumps(RACKSTA),
                }
            case "zone_import":
                name = db.execute("SELECT name FROM parties WHERE id = ?", [self.party]).fetchone()
                collection = {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "properties": {"name": "Torget", "party": name[0]},
                            "geometry": RACKSTA,
                        }
                    ],
                }
                data = json.dumps(collection).encode()
                return {"file": (io.BytesIO(data), "zoner.geojson"), "party_property": "party"}
            case "open311_channel":
                # Nothing listens on the discard port: no row ever posts anything.
                return {"endpoint": "http://127.0.0.1:9/open311/v2/", "code_default": "other"}
            case "place_import":
                collection = {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "properties": {"name": f"Blackeberg {uuid.uuid4().hex[:6]}"},
                            "geometry": RACKSTA,
                        }
                    ],
                }
                data = json.dumps(collection).encode()
                return {"file": (io.BytesIO(data), "platser.geojson")}
            case "place":
                return {
                    "name": f"Blackeberg {uuid.uuid4().hex[:6]}",
                    "kind": "area",
                    "geometry": json.dumps(RACKSTA),
                }
            case "task_version":
                return {"version": get_task(db, self.task)["version"]}
            case "new_task":
                return {
                    "measure": "Klipp buskarna längs gången.",
                    "party_id": self.party,
                    "override_reason": "Parken sköts av parkförvaltningen.",
                    "priority": "normal",
                }
            case "link_task":
                return {"task_id": self.task}
            case "comment":
                return {"body": "Lampan byts på torsdag."}
            case "followup":
                return {"answer": "yes"}
            case "invite":
                return {"email": f"ny-{uuid.uuid4().hex[:8]}@example.se", "role": "walk_leader"}
            case "role":
                return {"role": "coordinator"}
            case "new_password":
                return {"new_password": PASSWORD, "confirm_password": PASSWORD}
            case "bulk_due":
                return {"task_ids": [self.task], "action": "due", "due_date": "2027-01-15"}
            case "task_edit":
                task = get_task(db, self.task)
                return {
                    "version": task["version"],
                    "measure": "Byt armaturen och rensa buskarna.",
                    "priority": "high",
                    "due_date": "2027-01-15",
                }
            case "walk_link_send":
                self.contact  # noqa: B018 (someone to email)
                self.sent_task  # noqa: B018 (something to link to)
                return {"party_id": self.party}
            case "party_link_send":
                self.contact  # noqa: B018 (someone to email)
                self.walkless_sent_task  # noqa: B018 (something to link to)
                return {}
            case "review":
                return {"decision": "approved"}
            case "redact":
                return {"turn": "0"}
            case "staff_erase":  # without the tick: the row is about access, not erasing
                return {"subject": f"o:{self.observation}"}
            case "event":
                return {
                    "key": str(uuid.uuid4()),
                    "date": "2026-01-15",
                    "time": "18:30",
                    "type": "drug_dealing",
                    "source": "police",
                    "place_id": self.site.place_id,
                    "description": "Försäljning vid trappan.",
                }
            case "assessment":
                return {
                    f"p{self.place}-level": "uneasy",
                    f"p{self.place}-text": "Oro vid trappan.",
                    f"p{self.place}-based_on": "0",
                }
            case "decision":
                return {
                    f"p{self.place}-key": str(uuid.uuid4()),
                    f"p{self.place}-measure": "Klipp buskarna vid trappan.",
                    f"p{self.place}-party_id": "",
                    f"p{self.place}-due_date": (date.today() + timedelta(days=7)).isoformat(),
                }
            case "annual":
                return {
                    "based_on": "0",
                    "how_it_has_been": "Oroligt under våren.",
                    "long_term_measures": "Bättre belysning vid trappan",
                }
            case "annual_measure":
                return {
                    "prefix": "m0",
                    "m0-measure": self.annual_measure,
                    "m0-party_id": "",
                    "m0-due_date": (date.today() + timedelta(days=30)).isoformat(),
                }
            case "fact":
                return {"kind": "lov3", "from_date": "2026-01-01", "based_on": "0"}
            case "fact_change":
                return {"note": "Ändrad", "based_on": "1"}
            case "fact_remove":
                return {"based_on": "1"}
            case "camera":
                center = get_place(db, self.place)
                return {
                    "lat": str(center["center_lat"]),
                    "lon": str(center["center_lon"]),
                    "motivation": "Försäljning vid trappan.",
                    "due_date": (date.today() + timedelta(days=30)).isoformat(),
                }
            case "camera_answer":
                return {"decision": "postponed", "answer": "Vi återkommer."}
            case "open311_request":
                return {
                    "api_key": self.site.open311_key,
                    "service_code": "lighting",
                    "lat": "59.355",
                    "long": "17.882",
                    "description": "Lampan vid trappan är trasig.",
                }
            case "event_csv":
                return {"file": (io.BytesIO(self.event_csv), "handelser.csv")}
        raise AssertionError(f"no form for {body!r}")

    def request(self, client, method: str, path: str, body: str | None, token: str):
        """Send the request a person in this role would send."""
        headers = {"X-CSRFToken": token}
        if body is None:
            return client.open(path, method=method, buffered=True)
        if body == "observation_json":
            data = {"category": "paths", "walk_id": self.walk, "description": "Trasig kant."}
            return client.open(path, method=method, json=data, headers=headers)
        if body == "event_confirm":
            # The confirmation names a file this person uploaded and had checked a moment ago.
            preview = client.post(
                "/events/import", data=dict(self.form("event_csv"), csrf_token=token)
            ).get_data(as_text=True)
            match = re.search(r'name="token" type="hidden" value="([^"]+)"', preview)
            data = {"token": match.group(1) if match else "none", "csrf_token": token}
            return client.open(path, method=method, data=data, buffered=True)
        if body == "photo":
            return client.open(
                path, method=method, data=PHOTO, content_type="image/jpeg", headers=headers
            )
        data = dict(self.form(body), csrf_token=token)
        return client.open(path, method=method, data=data, buffered=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("access") / "instance")
    yield site
    site.db.close()


@pytest.mark.parametrize(("method", "path", "body", "role", "expected"), ROWS)
def test_role_gets_the_expected_status(site, method, path, body, role, expected):
    scene = Scene(site)
    client, token = site.client_as(role, own_login=(method, path) in ENDS_SESSION)
    response = scene.request(client, method, scene.path(path), body, token)
    assert response.status_code == expected, response.get_data(as_text=True)[:500]


def test_every_route_is_in_the_access_table(site):
    """A route added without access rules fails here: add its rows to TABLE."""
    covered = {(method, rule) for method, rule, *_ in TABLE}
    registered = {
        (method, rule.rule)
        for rule in site.app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert registered - covered == set()
    assert covered - registered == set()  # no stale rows for routes that are gone


def test_table_rows_ask_every_role():
    for method, rule, path, _body, expected in TABLE:
        assert set(expected) == set(ROLES), (method, rule, path)
