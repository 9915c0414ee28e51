"""Places: the squares, stations and parks that walks go around, and their pages.

A place's page shows its polygon, its walks, its tasks per party with the median days from
observation to done, and the trend by month. Coordinators add places and redraw them.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, abort, current_app, flash, redirect, request, url_for
from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from fieldwalk.charts import Series, line_chart
from fieldwalk.db import get_db, transaction
from fieldwalk.gis import CRS_NAMES, file_crs, problem_message
from fieldwalk.measures.cameras import list_proposals
from fieldwalk.measures.model import KINDS as FACT_KINDS
from fieldwalk.measures.model import place_facts
from fieldwalk.parties.model import list_party_names
from fieldwalk.places.model import (
    get_place,
    insert_place,
    list_places,
    parse_place_geometry,
    place_feature,
    place_geometry,
    unique_slug,
    update_place,
)
from fieldwalk.places.nearness import is_far
from fieldwalk.places.summary import (
    list_place_summaries,
    list_place_walks,
    monthly_trend,
    party_task_summary,
)
from fieldwalk.places.transfer import export_places, import_places
from fieldwalk.render import render
from fieldwalk.residents.model import place_followup
from fieldwalk.security import MANAGER_ROLES, STAFF_ROLES, audit, role_required
from fieldwalk.zones.views import (
    export_crs,
    geojson_download,
    import_limit_text,
    read_geojson_upload,
)

bp = Blueprint("places", __name__)


KIND_LABELS = {"area": _l("Area"), "lov3": _l("LOV 3 area (public order guards)")}


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


class PlaceImportForm(FlaskForm):
    file = FileField(
        _l("GeoJSON file"),
        validators=[FileRequired(_l("Choose a file.")), read_geojson_upload],
        render_kw={"accept": ".geojson,.json,application/geo+json,application/json"},
    )
    crs = SelectField(
        _l("Coordinate system"),
        choices=[SelectChoice("", _l("As named in the file (else WGS84)"))]
        + [SelectChoice(code, name) for code, name in CRS_NAMES.items()],
        default="",
    )


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
    proposals = list_proposals(db, place_id)
    return render(
        "places/show.html",
        place=place,
        feature=place_feature(place),
        walks=list_place_walks(db, place_id),
        parties=party_task_summary(db, place_id),
        trend=trend,
        chart=trend_chart(trend),
        followup=place_followup(db, place_id),
        facts=place_facts(db, place_id),
        fact_kinds=FACT_KINDS,
        proposals=proposals,
        camera_points=[[p["lat"], p["lon"]] for p in proposals],
        party_names=dict(list_party_names(db)),
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


@bp.get("/places.geojson")
@role_required(*MANAGER_ROLES)
def export():
    """Every place as a GeoJSON download, in WGS84 or SWEREF 99 (`?crs=3011`)."""
    crs = export_crs()
    return geojson_download(export_places(get_db(), crs), "places", crs)


@bp.route("/places/import", methods=["GET", "POST"])
@role_required(*MANAGER_ROLES)
def import_file():
    """Load places from a GIS layer, all or nothing; a known name is redrawn, not doubled."""
    form = PlaceImportForm()
    problems: list = []
    if form.validate_on_submit():
        db = get_db()
        chosen = form.crs.data or None
        with transaction(db):
            count, problems = import_places(
                db,
                form.file.collection,
                crs=chosen,
                bounds=tuple(current_app.config["DISTRICT_BOUNDS"]),
            )
            if not problems:
                audit("import", "place", "geojson", count=count, filename=form.file.data.filename)
        if not problems:
            flash(ngettext("Imported %(num)d place.", "Imported %(num)d places.", count))
            return redirect(url_for("places.index"), code=303)
        read_in = file_crs(form.file.collection, chosen)[0] if problems else None
        problems = [problem_message(p, read_in) for p in problems]
    return render(
        "places/import.html",
        form=form,
        problems=problems,
        max_size=import_limit_text(),
        status=400 if request.method == "POST" else 200,
    )


def far_from_place(distance_m: float | None) -> bool:
    """The far-from-the-place rule (places/nearness.py) with this app's setting, for pages."""
    return is_far(distance_m, current_app.config["FAR_FROM_PLACE_METRES"])


def init_app(app: Flask) -> None:
    """Register the place pages."""
    app.register_blueprint(bp)
    app.jinja_env.globals["place_kind_label"] = kind_label
    app.jinja_env.globals["far_from_place"] = far_from_place
