"""Places: the squares, stations and parks that walks go around, and their pages.

A place's page shows its polygon, its walks, its tasks per party with the median days from
observation to done, and the trend by month. Coordinators add places and redraw them.
"""

import json
import re
import statistics
import unicodedata
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, abort, current_app, redirect, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlite_utils import Database
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from fieldwalk import geo
from fieldwalk.charts import Series, line_chart
from fieldwalk.db import get_db, now, transaction
from fieldwalk.render import render
from fieldwalk.reports import count_by_period, month_periods
from fieldwalk.security import MANAGER_ROLES, STAFF_ROLES, audit, role_required
from fieldwalk.tasks import DONE, DUPLICATE, NOT_OURS, OPEN_STATES, VERIFIED, WONT_FIX

bp = Blueprint("places", __name__)

KIND_LABELS = {"area": _l("Area"), "lov3": _l("LOV 3 area (public order guards)")}
DAY_SECONDS = 86400
CLOSED_STATES = (DONE, VERIFIED, WONT_FIX, DUPLICATE)  # answered "not ours" is neither


def bounds(geometry: dict) -> dict:
    """The bounding box and its centre: the columns stored beside a place's polygon."""
    min_lat, min_lon, max_lat, max_lon = geo.bbox(geometry)
    return {
        "min_lat": min_lat,
        "min_lon": min_lon,
        "max_lat": max_lat,
        "max_lon": max_lon,
        "center_lat": (min_lat + max_lat) / 2,
        "center_lon": (min_lon + max_lon) / 2,
    }


def insert_place(
    db: Database,
    slug: str,
    name: str,
    geometry: dict,
    description: str = "",
    kind: str = "area",
) -> int:
    """Insert a place with its polygon; return its id."""
    box = bounds(geometry)
    stamp = now()
    with transaction(db):
        cursor = db.execute(
            """INSERT INTO places (slug, name, description, kind, geometry, min_lat, min_lon,
                   max_lat, max_lon, center_lat, center_lon, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [slug, name, description, kind, json.dumps(geometry), *box.values(), stamp, stamp],
        )
    return cursor.lastrowid


def update_place(
    db: Database, place_id: int, *, name: str, description: str, kind: str, geometry: dict
) -> None:
    """Rename, describe or redraw a place; its bounding box and centre follow the polygon."""
    box = bounds(geometry)
    with transaction(db):
        db.execute(
            """UPDATE places SET name = ?, description = ?, kind = ?, geometry = ?,
                   min_lat = ?, min_lon = ?, max_lat = ?, max_lon = ?, center_lat = ?,
                   center_lon = ?, updated_at = ? WHERE id = ?""",
            [name, description, kind, json.dumps(geometry), *box.values(), now(), place_id],
        )


def slugify(name: str) -> str:
    """'Råcksta: gamla torget' as 'racksta-gamla-torget'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60] or "place"


def unique_slug(db: Database, name: str) -> str:
    """A slug for a new place that no other place has yet."""
    base, n = slugify(name), 1
    slug = base
    while db.execute("SELECT 1 FROM places WHERE slug = ?", [slug]).fetchone():
        n += 1
        slug = f"{base}-{n}"
    return slug


def parse_place_geometry(text: str) -> dict:
    """Check a drawn or pasted polygon (GeoJSON text); return the bare geometry.

    Raises ValueError when it is not a closed Polygon or MultiPolygon in range with an area.
    """
    try:
        geometry = geo.parse_polygon(text)
        area = geo.area_m2(geometry)
    except (TypeError, KeyError, AttributeError, IndexError) as error:
        raise ValueError("expected a GeoJSON Polygon or MultiPolygon") from error
    if not area > 0:
        raise ValueError("the polygon has no area")
    return {"type": geometry["type"], "coordinates": geometry["coordinates"]}


def list_places(db: Database) -> list[dict]:
    """Every place, by name."""
    return [dict(r) for r in db.execute("SELECT * FROM places ORDER BY name")]


def get_place(db: Database, place_id: int) -> dict | None:
    """One place, or None."""
    row = db.execute("SELECT * FROM places WHERE id = ?", [place_id]).fetchone()
    return dict(row) if row else None


def place_geometry(place: dict) -> dict:
    """The place's polygon as a GeoJSON geometry."""
    return json.loads(place["geometry"])


def place_for_point(db: Database, lat: float, lon: float) -> dict | None:
    """The smallest place whose polygon contains the point, or None."""
    candidates = db.execute(
        """SELECT * FROM places WHERE ? BETWEEN min_lat AND max_lat AND ? BETWEEN min_lon AND max_lon
           ORDER BY (max_lat - min_lat) * (max_lon - min_lon)""",
        [lat, lon],
    )
    for row in candidates:
        if geo.contains(json.loads(row["geometry"]), lat, lon):
            return dict(row)
    return None


def place_feature(place: dict) -> dict:
    """A place as a GeoJSON Feature for maps and the API."""
    return {
        "type": "Feature",
        "id": place["id"],
        "geometry": place_geometry(place),
        "properties": {
            "id": place["id"],
            "slug": place["slug"],
            "name": place["name"],
            "description": place["description"],
            "kind": place["kind"],
            "center": [place["center_lat"], place["center_lon"]],
        },
    }


# --- the place page's figures ----------------------------------------------------------------


def list_place_summaries(db: Database) -> list[dict]:
    """Every place by name, with its number of walks and of open tasks."""
    rows = db.execute(
        """SELECT places.*,
                  (SELECT count(*) FROM walks WHERE walks.place_id = places.id) AS walk_count,
                  (SELECT count(*) FROM tasks WHERE tasks.place_id = places.id
                   AND state IN (?, ?, ?, ?)) AS open_tasks
           FROM places ORDER BY name""",
        OPEN_STATES,
    )
    return [dict(r) for r in rows]


def list_place_walks(db: Database, place_id: int) -> list[dict]:
    """The walks around a place, newest first, with their observation counts."""
    rows = db.execute(
        """SELECT walks.*,
                  (SELECT count(*) FROM observations WHERE walk_id = walks.id) AS observation_count
           FROM walks WHERE place_id = ? ORDER BY starts_at DESC, id DESC""",
        [place_id],
    )
    return [dict(r) for r in rows]


def days_to_done(db: Database, place_id: int) -> dict[int | None, list[float]]:
    """Per party id: for each done task of the place, the days from its first observation
    (the earliest `created_at` it fixes) to the task's `done_at`."""
    rows = db.execute(
        """SELECT tasks.party_id, tasks.done_at, min(o.created_at) AS observed_at
           FROM tasks JOIN task_observations t ON t.task_id = tasks.id
           JOIN observations o ON o.id = t.observation_id
           WHERE tasks.place_id = ? AND tasks.done_at IS NOT NULL GROUP BY tasks.id""",
        [place_id],
    )
    days: dict[int | None, list[float]] = {}
    for row in rows:
        seconds = (_instant(row["done_at"]) - _instant(row["observed_at"])).total_seconds()
        days.setdefault(row["party_id"], []).append(seconds / DAY_SECONDS)
    return days


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def party_task_summary(db: Database, place_id: int) -> list[dict]:
    """Per responsible party (None: no party yet), the place's tasks: open, answered "not
    ours", closed, and the median days from observation to done."""
    rows = db.execute(
        """SELECT tasks.party_id, parties.name AS party_name,
                  sum(state IN (?, ?, ?, ?)) AS open,
                  sum(state = ?) AS not_ours,
                  sum(state IN (?, ?, ?, ?)) AS closed
           FROM tasks LEFT JOIN parties ON parties.id = tasks.party_id
           WHERE tasks.place_id = ? GROUP BY tasks.party_id
           ORDER BY parties.name IS NULL, lower(parties.name)""",
        [*OPEN_STATES, NOT_OURS, *CLOSED_STATES, place_id],
    )
    days = days_to_done(db, place_id)
    summary = []
    for row in rows:
        entry = dict(row)
        durations = days.get(row["party_id"], [])
        entry["done_count"] = len(durations)
        entry["median_days"] = statistics.median(durations) if durations else None
        summary.append(entry)
    return summary


def monthly_trend(db: Database, place_id: int, today: date, tz: ZoneInfo) -> dict:
    """The place's new observations and tasks done per local month, the last 12 months
    (this one included)."""
    first = date(today.year - (today.month < 12), today.month % 12 + 1, 1)
    periods = month_periods(first, 12, tz)
    observed = count_by_period(db, "observations", "created_at", periods, place_id)
    done = count_by_period(db, "tasks", "done_at", periods, place_id)
    return {
        "months": [p.start.date() for p in periods],
        "observations": observed.get(place_id, [0] * 12),
        "done": done.get(place_id, [0] * 12),
    }


# --- forms and routes ----------------------------------------------------------------------


class PlaceForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(
        _l("Kind"), choices=[SelectChoice(k, v) for k, v in KIND_LABELS.items()], default="area"
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=4000)])
    geometry = TextAreaField(_l("The polygon as GeoJSON"), validators=[Length(max=500_000)])

    def validate_geometry(self, field):
        if not (field.data or "").strip():
            raise ValidationError(_("Draw the place on the map."))
        try:
            self.shape = parse_place_geometry(field.data)
        except ValueError as error:
            raise ValidationError(
                _("The polygon could not be read. Draw the place again.")
            ) from error

    def values(self) -> dict:
        return {
            "name": self.name.data.strip(),
            "kind": self.kind.data,
            "description": (self.description.data or "").strip(),
            "geometry": self.shape,
        }


def kind_label(kind: str) -> str:
    """The translated name of a place kind."""
    return str(KIND_LABELS.get(kind, kind))


def get_place_or_404(place_id: int) -> dict:
    """The place, or 404."""
    place = get_place(get_db(), place_id) if 0 < place_id < 2**63 else None
    if place is None:
        abort(404)
    return place


def trend_chart(trend: dict) -> str:
    """The trend as a line chart, months labelled in the person's language."""
    labels = [
        format_date(m, "MMM y" if i == 0 or m.month == 1 else "MMM")
        for i, m in enumerate(trend["months"])
    ]
    return line_chart(
        _("New observations and tasks done per month"),
        _("The last 12 months; the same figures are in the table below the chart."),
        labels,
        [
            Series(_("New observations"), trend["observations"]),
            Series(_("Tasks done"), trend["done"]),
        ],
    )


@bp.get("/places")
@role_required(*STAFF_ROLES)
def index():
    """Every place, with its walks and open tasks."""
    return render("places/index.html", places=list_place_summaries(get_db()))


@bp.get("/places/<int:place_id>")
@role_required(*STAFF_ROLES)
def show(place_id: int):
    """A place: polygon, walks, tasks per party with the median days to done, the trend."""
    place = get_place_or_404(place_id)
    db = get_db()
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    trend = monthly_trend(db, place_id, datetime.now(UTC).astimezone(tz).date(), tz)
    return render(
        "places/show.html",
        place=place,
        feature=place_feature(place),
        walks=list_place_walks(db, place_id),
        parties=party_task_summary(db, place_id),
        trend=trend,
        chart=trend_chart(trend),
    )


def _form_page(form: PlaceForm, place: dict | None, status: int):
    others = [
        place_feature(p) for p in list_places(get_db()) if not place or p["id"] != place["id"]
    ]
    return render("places/form.html", form=form, place=place, others=others, status=status)


@bp.route("/places/new", methods=["GET", "POST"])
@role_required(*MANAGER_ROLES)
def new():
    """Add a place: name it and draw its polygon."""
    form = PlaceForm()
    if form.validate_on_submit():
        db = get_db()
        values = form.values()
        with transaction(db):
            place_id = insert_place(
                db,
                unique_slug(db, values["name"]),
                values["name"],
                values["geometry"],
                values["description"],
                values["kind"],
            )
            audit("create", "place", place_id, name=values["name"])
        return redirect(url_for("places.show", place_id=place_id), code=303)
    return _form_page(form, None, 400 if request.method == "POST" else 200)


@bp.route("/places/<int:place_id>/edit", methods=["GET", "POST"])
@role_required(*MANAGER_ROLES)
def edit(place_id: int):
    """Rename or redraw a place (the old polygon stays in the audit log)."""
    place = get_place_or_404(place_id)
    data = dict(place) if request.method == "GET" else None
    form = PlaceForm(data=data)
    if form.validate_on_submit():
        db = get_db()
        values = form.values()
        with transaction(db):
            update_place(db, place_id, **values)
            audit("update", "place", place_id, before=place_geometry(place), name=values["name"])
        return redirect(url_for("places.show", place_id=place_id), code=303)
    return _form_page(form, place, 400 if request.method == "POST" else 200)


def init_app(app: Flask) -> None:
    """Register the place pages."""
    app.register_blueprint(bp)
    app.jinja_env.globals["place_kind_label"] = kind_label
