"""The walk protocol (protokoll): the document sent to every party and filed, as HTML and PDF.

One template serves both: the page links photos and styles over HTTP, the PDF reads them from
disk. WeasyPrint gets a URL fetcher that serves only files under the photo and static folders
(and data: URLs) and refuses everything else, so making a PDF never touches the network, even
if some text were to smuggle in a remote URL. The route is drawn as a static SVG (the place,
the route, the meeting point and numbered observations) with no map tiles.
"""

import json
import math
import mimetypes
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from babel import dates as babel_dates
from flask import Blueprint, Flask, Response, current_app, render_template
from flask_babel import format_datetime, format_time, get_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlite_utils import Database

from fieldwalk import geo
from fieldwalk.categories import category_label
from fieldwalk.db import get_db
from fieldwalk.photos.views import photo_url
from fieldwalk.places.model import get_place, place_geometry
from fieldwalk.places.nearness import is_far
from fieldwalk.render import fail, render
from fieldwalk.security import STAFF_ROLES, role_required
from fieldwalk.walks.access import get_walk_or_404
from fieldwalk.walks.model import PARTICIPANT_ROLES

bp = Blueprint("protocol", __name__)


FONT = 'font-family="DejaVu Sans, system-ui, sans-serif"'


def participant_counts(db: Database, walk_id: int) -> list[tuple[str, int]]:
    """How many took part in each role (every role listed, zeros included), in a fixed order."""
    counts = dict.fromkeys(PARTICIPANT_ROLES, 0)
    for row in db.execute(
        """SELECT participant_role, count(*) AS n FROM walk_participants WHERE walk_id = ?
           GROUP BY participant_role""",
        [walk_id],
    ):
        counts[row["participant_role"]] = row["n"]
    return list(counts.items())


def protocol_observations(db: Database, walk_id: int) -> list[dict]:
    """The walk's observations in the order they were made, numbered from 1, with photos."""
    observations = [
        dict(r, number=n, photos=[], tasks=[])
        for n, r in enumerate(
            db.execute(
                "SELECT * FROM observations WHERE walk_id = ? ORDER BY observed_at, id", [walk_id]
            ),
            start=1,
        )
    ]
    by_id = {o["id"]: o for o in observations}
    for photo in db.execute(
        """SELECT photos.* FROM photos JOIN observations o ON o.id = photos.observation_id
           WHERE o.walk_id = ? ORDER BY photos.created_at, photos.id""",
        [walk_id],
    ):
        by_id[photo["observation_id"]]["photos"].append(dict(photo))
    return observations


def protocol_tasks(db: Database, walk_id: int, observations: list[dict]) -> list[dict]:
    """The fixes proposed for the walk's observations (through task_observations), grouped by
    responsible party by name; tasks with no party yet form the last group (triage).

    Each task gets `numbers`, the observations it fixes; each observation its `tasks` (the
    same task dicts).
    """
    by_id = {o["id"]: o for o in observations}
    tasks: dict[int, dict] = {}
    for row in db.execute(
        """SELECT tasks.*, parties.name AS party_name, t.observation_id FROM tasks
           JOIN task_observations t ON t.task_id = tasks.id
           JOIN observations o ON o.id = t.observation_id
           LEFT JOIN parties ON parties.id = tasks.party_id
           WHERE o.walk_id = ? ORDER BY tasks.id, t.rowid""",
        [walk_id],
    ):
        task = tasks.setdefault(row["id"], dict(row, numbers=[]))
        observation = by_id[row["observation_id"]]
        task["numbers"].append(observation["number"])
        observation["tasks"].append(task)
    groups: dict[int | None, dict] = {}
    for task in tasks.values():
        group = groups.setdefault(
            task["party_id"],
            {"party_id": task["party_id"], "name": task["party_name"], "tasks": []},
        )
        group["tasks"].append(task)
    return sorted(groups.values(), key=lambda g: (g["name"] is None, (g["name"] or "").lower()))


def route_map(
    geometry: dict,
    route: dict | None,
    meeting: tuple[float, float] | None,
    points: list[dict],
    *,
    title: str,
    desc: str,
    width: int = 640,
    height: int = 400,
) -> Markup:
    """The place's polygon, the route, the meeting point and the numbered observations as an
    SVG, projected equirectangularly around the place (exact enough at a district's scale)."""
    polygon = geo.rings(geometry)
    positions = [p for ring in polygon for p in ring]
    positions += route["coordinates"] if route else []
    positions += [[meeting[1], meeting[0]]] if meeting else []
    positions += [[p["lon"], p["lat"]] for p in points]
    lat0 = (min(p[1] for p in positions) + max(p[1] for p in positions)) / 2
    kx = math.cos(math.radians(lat0))
    xs, ys = [p[0] * kx for p in positions], [p[1] for p in positions]
    pad = 28
    span_x, span_y = max(max(xs) - min(xs), 1e-6), max(max(ys) - min(ys), 1e-6)
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
    left = pad + (width - 2 * pad - span_x * scale) / 2
    top = pad + (height - 2 * pad - span_y * scale) / 2

    def xy(lon: float, lat: float) -> str:
        return f"{left + (lon * kx - min(xs)) * scale:.1f},{top + (max(ys) - lat) * scale:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="route-map" role="img" width="100%" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="route-title '
        f'route-desc"><title id="route-title">{escape(title)}</title>'
        f'<desc id="route-desc">{escape(desc)}</desc>'
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="#f7f8f8" '
        'stroke="#8a8a8a"/>'
    ]
    rings = " ".join("M" + " L".join(xy(*p[:2]) for p in ring) + " Z" for ring in polygon)
    parts.append(
        f'<path d="{rings}" fill="#0b4f6c" fill-opacity="0.1" fill-rule="evenodd" '
        f'stroke="#0b4f6c" stroke-width="2"/>'
    )
    if route:
        line = " ".join(xy(*p[:2]) for p in route["coordinates"])
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="#7a2e8e" stroke-width="3" '
            f'stroke-dasharray="8 5"/>'
        )
    if meeting:
        x, y = (float(v) for v in xy(meeting[1], meeting[0]).split(","))
        parts.append(
            f'<rect x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14" fill="#111" '
            f'transform="rotate(45 {x:.1f} {y:.1f})"/><text x="{x + 11:.1f}" y="{y + 4:.1f}" '
            f'font-size="12" font-weight="bold" {FONT}>{escape(_("Meeting point"))}</text>'
        )
    for point in points:
        x, y = (float(v) for v in xy(point["lon"], point["lat"]).split(","))
        colour = "#a1001a" if point["urgent"] else "#1b6b2f" if point["works_well"] else "#0b4f6c"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="10" fill="{colour}" stroke="#fff" '
            f'stroke-width="2"/><text x="{x:.1f}" y="{y + 4:.1f}" font-size="11" '
            f'font-weight="bold" fill="#fff" text-anchor="middle" {FONT}>{point["number"]}</text>'
        )
    parts.append(_scale_bar(scale, height))
    parts.append(
        f'<text x="{width - 18}" y="22" font-size="14" font-weight="bold" text-anchor="middle" '
        f'{FONT}>N</text><path d="M{width - 18},26 l-5,12 l5,-3 l5,3 Z" fill="#111"/></svg>'
    )
    return Markup("".join(parts))  # noqa: S704 - numbers and escaped text only


def _scale_bar(scale: float, height: int) -> str:
    metres_per_px = geo.EARTH_RADIUS_M * math.pi / 180 / scale
    length = min(
        (10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
        key=lambda m: abs(m / metres_per_px - 120),
    )
    px = length / metres_per_px
    label = f"{length // 1000} km" if length >= 1000 else f"{length} m"
    y = height - 14
    return (
        f'<path d="M12,{y - 5} V{y} H{12 + px:.1f} V{y - 5}" fill="none" stroke="#111" '
        f'stroke-width="2"/><text x="{16 + px:.1f}" y="{y}" font-size="11" {FONT}>{label}</text>'
    )


def local_fetcher(roots: list[Path]):
    """A WeasyPrint URL fetcher for file: URLs under `roots` and data: URLs; it refuses every
    other URL (http, https, ftp, files elsewhere) and notes it in `refused`."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class LocalFetcher(URLFetcher):
        def __init__(self):
            super().__init__(allowed_protocols=("file", "data"), allow_redirects=False)
            self.roots = [Path(root).resolve() for root in roots]
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            scheme = url.split(":", 1)[0].lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file":
                path = Path(url2pathname(urlsplit(url).path)).resolve()
                if path.is_file() and any(path.is_relative_to(root) for root in self.roots):
                    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(
                        path.as_uri(), path.read_bytes(), {"Content-Type": kind}
                    )
            self.refused.append(url)
            raise ValueError(f"not a local file of fieldwalk's: {url}")

    return LocalFetcher()


def html_to_pdf(html: str, roots: list[Path], fetcher=None) -> bytes:
    """Lay out `html` on A4 pages (its print stylesheet decides how) and return the PDF."""
    from PIL import ImageFile
    from weasyprint import HTML

    # Importing WeasyPrint sets Pillow's LOAD_TRUNCATED_IMAGES for the whole process, after
    # which the photo pipeline would store half-uploaded photos instead of refusing them.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    fetcher = fetcher or local_fetcher(roots)
    return HTML(
        string=html, base_url=Path(roots[0]).as_uri() + "/", url_fetcher=fetcher
    ).write_pdf()


def clock(stored: str) -> str:
    """A stored UTC time as the local time of day ('16:42')."""
    return format_time(datetime.fromisoformat(stored.replace("Z", "+00:00")), "HH:mm")


def walk_when(walk: dict) -> tuple[str, str]:
    """The walk's date and time in the person's language ('tisdag 1 december 2026', '16:30')."""
    moment = datetime.fromisoformat(walk["starts_at"])
    locale = get_locale()
    return (
        babel_dates.format_date(moment, "EEEE d MMMM y", locale=locale),
        babel_dates.format_time(moment, "HH:mm", locale=locale),
    )


def protocol_context(walk: dict, pdf: bool) -> dict:
    """What the protocol shows, with photo and stylesheet addresses for the page or the PDF."""
    db = get_db()
    place = get_place(db, walk["place_id"])
    observations = protocol_observations(db, walk["id"])
    groups = protocol_tasks(db, walk["id"], observations)
    far = current_app.config["FAR_FROM_PLACE_METRES"]
    mapped = [o for o in observations if o["lat"] is not None and not is_far(o["distance_m"], far)]
    meeting = (
        (walk["meeting_lat"], walk["meeting_lon"]) if walk["meeting_lat"] is not None else None
    )
    date_text, time_text = walk_when(walk)
    photo_dir, static_dir = Path(current_app.config["PHOTO_PATH"]), Path(current_app.static_folder)
    return {
        "walk": walk,
        "place": place,
        "date_text": date_text,
        "time_text": time_text,
        "roles": participant_counts(db, walk["id"]),
        "observations": observations,
        "groups": groups,
        "unmapped": [o for o in observations if o not in mapped],
        "route_map": route_map(
            place_geometry(place),
            json.loads(walk["route"]) if walk["route"] else None,
            meeting,
            mapped,
            title=_("The route around %(place)s", place=place["name"]),
            desc=_(
                "The place's outline, the route (dashed), the meeting point (diamond) and "
                "each observation as a numbered circle, as numbered in the list."
            ),
        ),
        "pdf": pdf,
        "photo_src": (lambda f: (photo_dir / f).as_uri()) if pdf else photo_url,
        "print_css": (static_dir / "css/print.css").as_uri() if pdf else None,
        "category_label": category_label,
        "clock": clock,
        "made_at": format_datetime(datetime.now(UTC), "short"),
    }


@bp.get("/walks/<int:walk_id>/protocol")
@role_required(*STAFF_ROLES)
def show(walk_id: int):
    """The walk's protocol as a page, printable on A4."""
    walk = get_walk_or_404(walk_id)
    return render("protocol/show.html", **protocol_context(walk, pdf=False))


@bp.get("/walks/<int:walk_id>/protocol.pdf")
@role_required(*STAFF_ROLES)
def pdf(walk_id: int):
    """The walk's protocol as a PDF (WeasyPrint, local files only)."""
    walk = get_walk_or_404(walk_id)
    html = render_template("protocol/pdf.html", **protocol_context(walk, pdf=True))
    roots = [Path(current_app.static_folder), Path(current_app.config["PHOTO_PATH"])]
    try:
        data = html_to_pdf(html, roots)
    except OSError:  # Pango missing: `make pdf-libs` installs it
        current_app.logger.exception("WeasyPrint could not start")
        fail(503, _("PDFs cannot be made on this server right now. Print the page instead."))
    name = f"protokoll-{walk['starts_at'][:10]}-{walk['id']}.pdf"
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


def init_app(app: Flask) -> None:
    """Register the protocol routes."""
    app.register_blueprint(bp)
