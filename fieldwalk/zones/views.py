"""Zones: polygons saying who controls which ground (park land, street, a property).

Coordinators draw them on the map (Leaflet.draw, in static/js/zones.js) or load a GIS team's
layer as GeoJSON; the routing rule (fieldwalk.routing) picks a fix's party from them.
"""

import json

from flask import Blueprint, Flask, Response, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from fieldwalk.db import get_db, transaction
from fieldwalk.gis import CRS_NAMES, WGS84, crs_code, file_crs, problem_message
from fieldwalk.parties.model import list_parties
from fieldwalk.places.model import list_places, place_feature
from fieldwalk.render import fail, render
from fieldwalk.security import MANAGER_ROLES, audit, role_required
from fieldwalk.zones.model import (
    KIND_LABELS,
    MAX_IMPORT_BYTES,
    delete_zone,
    export_zones,
    get_zone,
    import_zones,
    insert_zone,
    kind_label,
    list_zones,
    parse_zone_geometry,
    party_colour,
    update_zone,
    zone_feature,
)

bp = Blueprint("zones", __name__)


class ZoneForm(FlaskForm):
    party_id = SelectField(_l("Party"), coerce=int, validators=[DataRequired()])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(
        _l("Kind of ground"),
        choices=[SelectChoice(k, v) for k, v in KIND_LABELS.items()],
        default="other",
    )
    geometry = HiddenField(_l("The zone on the map"))

    def validate_geometry(self, field):
        if not field.data:
            raise ValidationError(_("Draw the zone on the map."))
        try:
            self.shape = parse_zone_geometry(field.data)
        except ValueError as error:
            raise ValidationError(_("The shape could not be read. Draw the zone again.")) from error

    def values(self) -> dict:
        return {
            "party_id": self.party_id.data,
            "name": self.name.data.strip(),
            "kind": self.kind.data,
            "geometry": self.shape,
        }


def _import_limit() -> int:
    return current_app.config.get("MAX_ZONE_IMPORT_BYTES", MAX_IMPORT_BYTES)


def import_limit_text() -> str:
    limit = _import_limit()
    return f"{limit // 2**20} MB" if limit >= 2**20 else f"{max(1, limit // 2**10)} kB"


def read_geojson_upload(_form, field) -> None:
    """WTForms validator: the upload is at most MAX_IMPORT_BYTES of JSON (kept on the field)."""
    limit = _import_limit()
    data = field.data.stream.read(limit + 1)
    if len(data) > limit:
        raise ValidationError(_("The file is larger than %(size)s.", size=import_limit_text()))
    try:
        field.collection = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ValidationError(
            _("The file is not GeoJSON: it could not be read as JSON.")
        ) from error


class ImportForm(FlaskForm):
    file = FileField(
        _l("GeoJSON file"),
        validators=[FileRequired(_l("Choose a file.")), read_geojson_upload],
        render_kw={"accept": ".geojson,.json,application/geo+json,application/json"},
    )
    party_property = StringField(
        _l("Property holding the party's name"),
        default="party",
        validators=[DataRequired(), Length(max=100)],
    )
    crs = SelectField(
        _l("Coordinate system"),
        choices=[SelectChoice("", _l("As named in the file (else WGS84)"))]
        + [SelectChoice(code, name) for code, name in CRS_NAMES.items()],
        default="",
    )
    create_parties = BooleanField(_l("Create the parties that do not exist yet"))
    replace = BooleanField(_l("Replace all existing zones"))


def get_zone_or_404(zone_id: int) -> dict:
    """The zone, or 404."""
    zone = get_zone(get_db(), zone_id)
    if zone is None:
        abort(404)
    return zone


def map_feature(zone: dict) -> dict:
    """A zone as the zones map draws it: its shape, colour, labels and edit link."""
    return {
        "type": "Feature",
        "geometry": json.loads(zone["geometry"]),
        "properties": {
            "id": zone["id"],
            "name": zone["name"],
            "kind": kind_label(zone["kind"]),
            "party": zone["party_name"],
            "colour": party_colour(zone["party_id"]),
            "edit_url": url_for("zones.edit", zone_id=zone["id"]),
        },
    }


def _map_data(zones: list[dict]) -> dict:
    # Largest first, so a property drawn over its park stays on top and can be tapped.
    largest_first = sorted(zones, key=lambda z: (-z["area_m2"], z["id"]))
    return {
        "zones": {"type": "FeatureCollection", "features": [map_feature(z) for z in largest_first]},
        "places": [place_feature(p) for p in list_places(get_db())],
    }


def _form_page(form: ZoneForm, zone: dict | None, status: int):
    others = [z for z in list_zones(get_db()) if zone is None or z["id"] != zone["id"]]
    return render(
        "zones/form.html",
        form=form,
        zone=zone,
        map_data=_map_data(others),
        status=status,
    )


def _party_choices() -> list[SelectChoice]:
    return [SelectChoice(p["id"], p["name"]) for p in list_parties(get_db())]


@bp.get("/zones")
@role_required(*MANAGER_ROLES)
def index():
    """Every zone on a map coloured by party, with a legend that lists them."""
    zones = sorted(list_zones(get_db()), key=lambda z: (z["party_name"].lower(), z["name"]))
    for zone in zones:
        zone["colour"] = party_colour(zone["party_id"])
    return render("zones/index.html", zones=zones, map_data=_map_data(zones))


@bp.route("/zones/new", methods=["GET", "POST"])
@role_required(*MANAGER_ROLES)
def new():
    """Draw a new zone for a party."""
    form = ZoneForm(party_id=request.args.get("party_id", type=int))
    form.party_id.choices = _party_choices()
    if form.validate_on_submit():
        db = get_db()
        values = form.values()
        with transaction(db):
            zone_id = insert_zone(db, **values)
            audit("create", "zone", zone_id, **values)
        flash(_("Zone “%(name)s” saved.", name=values["name"]))
        return redirect(url_for("zones.index"), code=303)
    return _form_page(form, None, 400 if request.method == "POST" else 200)


@bp.route("/zones/<int:zone_id>/edit", methods=["GET", "POST"])
@role_required(*MANAGER_ROLES)
def edit(zone_id: int):
    """Redraw a zone, rename it or give it to another party."""
    zone = get_zone_or_404(zone_id)
    form = ZoneForm(data=zone if request.method == "GET" else None)
    form.party_id.choices = _party_choices()
    if form.validate_on_submit():
        db = get_db()
        values = form.values()
        with transaction(db):
            update_zone(db, zone_id, **values)
            audit("update", "zone", zone_id, before=zone_feature(zone), **values)
        flash(_("Zone “%(name)s” saved.", name=values["name"]))
        return redirect(url_for("zones.index"), code=303)
    return _form_page(form, zone, 400 if request.method == "POST" else 200)


@bp.route("/zones/<int:zone_id>/delete", methods=["GET", "POST"])
@role_required(*MANAGER_ROLES)
def delete(zone_id: int):
    """Ask, then delete a zone (its shape stays in the audit log)."""
    zone = get_zone_or_404(zone_id)
    if request.method == "POST":
        db = get_db()
        with transaction(db):
            delete_zone(db, zone_id)
            audit("delete", "zone", zone_id, before=zone_feature(zone))
        flash(_("Zone “%(name)s” deleted.", name=zone["name"]))
        return redirect(url_for("zones.index"), code=303)
    return render("zones/delete.html", zone=zone)


def export_crs() -> str:
    """The system an export is asked for (`?crs=3011`, `EPSG:3006`; WGS84 by default)."""
    asked = request.args.get("crs", "")
    crs = crs_code(asked) if asked else WGS84
    if crs is None:
        fail(400, _("Unknown coordinate system: choose WGS84, EPSG:3006 or EPSG:3011."))
    return crs


def geojson_download(collection: dict, stem: str, crs: str) -> Response:
    """A GeoJSON file to save, named after what it holds and its coordinate system."""
    suffix = "" if crs == WGS84 else "-" + crs.replace(":", "")
    return Response(
        json.dumps(collection, ensure_ascii=False),
        mimetype="application/geo+json",
        headers={
            "Content-Disposition": f"attachment; filename={stem}{suffix}.geojson",
            "Cache-Control": "no-store",
        },
    )


@bp.get("/zones.geojson")
@role_required(*MANAGER_ROLES)
def export():
    """Every zone as a GeoJSON download, for GIS tools and for importing elsewhere."""
    crs = export_crs()
    return geojson_download(export_zones(get_db(), crs), "zones", crs)


@bp.route("/zones/import", methods=["GET", "POST"])
@role_required(*MANAGER_ROLES)
def import_file():
    """Load zones from a GeoJSON file, all or nothing."""
    form = ImportForm()
    problems: list = []
    if form.validate_on_submit():
        db = get_db()
        with transaction(db):
            before = {p["id"] for p in list_parties(db)}
            count, problems = import_zones(
                db,
                form.file.collection,
                party_property=form.party_property.data.strip(),
                create_parties=form.create_parties.data,
                replace=form.replace.data,
                crs=form.crs.data or None,
                bounds=tuple(current_app.config["DISTRICT_BOUNDS"]),
            )
            if not problems:
                for party in list_parties(db):
                    if party["id"] not in before:
                        audit("create", "party", party["id"], name=party["name"], via="zone import")
                audit(
                    "import",
                    "zone",
                    "geojson",
                    count=count,
                    filename=form.file.data.filename,
                    replace=form.replace.data,
                )
        if not problems:
            flash(ngettext("Imported %(num)d zone.", "Imported %(num)d zones.", count))
            return redirect(url_for("zones.index"), code=303)
    return render(
        "zones/import.html",
        form=form,
        problems=[problem_message(p, _read_crs(form)) for p in problems],
        max_size=import_limit_text(),
        status=400 if request.method == "POST" else 200,
    )


def _read_crs(form: ImportForm) -> str | None:
    """The system the uploaded file was read in (for messages about where it landed)."""
    collection = getattr(form.file, "collection", None)
    if not isinstance(collection, dict):
        return None
    return file_crs(collection, form.crs.data or None)[0]


def init_app(app: Flask) -> None:
    """Register the zone routes and the kind label helper."""
    app.register_blueprint(bp)
    app.jinja_env.globals["zone_kind_label"] = kind_label
