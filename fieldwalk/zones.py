"""Zones: polygons saying who controls which ground (park land, street, a property).

Coordinators draw them on the map (Leaflet.draw, in static/js/zones.js) or load a GIS team's
layer as GeoJSON; the routing rule (fieldwalk.routing) picks a fix's party from them.
"""

import json
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlite_utils import Database
from wtforms import BooleanField, HiddenField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from fieldwalk import geo
from fieldwalk.db import get_db, now, transaction
from fieldwalk.parties import KINDS as PARTY_KINDS
from fieldwalk.parties import find_party_by_name, get_party, insert_party, list_parties
from fieldwalk.places import list_places, place_feature
from fieldwalk.render import render
from fieldwalk.routing import Zone
from fieldwalk.security import MANAGER_ROLES, audit, role_required

bp = Blueprint("zones", __name__)

KINDS = ("park", "street", "square", "property", "transit", "other")
KIND_LABELS = {
    "park": _l("Park land"),
    "street": _l("Street"),
    "square": _l("Square"),
    "property": _l("Property"),
    "transit": _l("Stop or station"),
    "other": _l("Other"),
}
# One colour per party on the map (by party id), told apart from each other and the tiles.
PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#e6550d",
    "#8c564b", "#d6379b", "#17becf", "#636363", "#8c8c00",
)  # fmt: skip
MAX_IMPORT_BYTES = 5 * 1024 * 1024


def kind_label(kind: str) -> str:
    """The translated name of a zone kind."""
    return str(KIND_LABELS.get(kind, kind))


def party_colour(party_id: int) -> str:
    """The colour a party's zones are drawn in."""
    return PALETTE[party_id % len(PALETTE)]


def parse_zone_geometry(value: str | dict | None) -> dict:
    """Check a zone's shape (GeoJSON text or object): a Polygon or MultiPolygon with an area.

    Returns the bare geometry (type and coordinates); raises ValueError saying what is wrong.
    """
    text = value if isinstance(value, str) else json.dumps(value)
    try:
        geometry = geo.parse_polygon(text)
        area = geo.area_m2(geometry)
    except (TypeError, KeyError, AttributeError, IndexError) as error:
        raise ValueError("expected a GeoJSON Polygon or MultiPolygon") from error
    if not area > 0:
        raise ValueError("the polygon has no area")
    return {"type": geometry["type"], "coordinates": geometry["coordinates"]}


# --- queries -----------------------------------------------------------------------------


def _shape_columns(geometry: dict) -> dict:
    """The stored shape and what the routing rule's queries need from it."""
    min_lat, min_lon, max_lat, max_lon = geo.bbox(geometry)
    return {
        "geometry": json.dumps(geometry),
        "min_lat": min_lat,
        "min_lon": min_lon,
        "max_lat": max_lat,
        "max_lon": max_lon,
        "area_m2": geo.area_m2(geometry),
    }


def insert_zone(db: Database, party_id: int, name: str, geometry: dict, kind: str = "other") -> int:
    """Create a zone owned by a party; return its id."""
    if kind not in KINDS:
        raise ValueError(f"unknown zone kind {kind!r}")
    stamp = now()
    row = {"party_id": party_id, "name": name.strip(), "kind": kind, **_shape_columns(geometry)}
    row.update(created_at=stamp, updated_at=stamp)
    with transaction(db):
        cursor = db.execute(
            f"INSERT INTO zones ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608
            list(row.values()),
        )
    return cursor.lastrowid


def update_zone(
    db: Database, zone_id: int, *, party_id: int, name: str, kind: str, geometry: dict
) -> None:
    """Redraw or reassign a zone."""
    if kind not in KINDS:
        raise ValueError(f"unknown zone kind {kind!r}")
    row = {"party_id": party_id, "name": name.strip(), "kind": kind, **_shape_columns(geometry)}
    row["updated_at"] = now()
    with transaction(db):
        db.execute(
            f"UPDATE zones SET {', '.join(f'{k} = ?' for k in row)} WHERE id = ?",  # noqa: S608
            [*row.values(), zone_id],
        )


def delete_zone(db: Database, zone_id: int) -> None:
    """Remove a zone."""
    with transaction(db):
        db.execute("DELETE FROM zones WHERE id = ?", [zone_id])


_ZONE_SELECT = """SELECT zones.*, parties.name AS party_name, parties.kind AS party_kind
                  FROM zones JOIN parties ON parties.id = zones.party_id"""


def get_zone(db: Database, zone_id: int) -> dict | None:
    """One zone with its party's name and kind, or None."""
    row = db.execute(f"{_ZONE_SELECT} WHERE zones.id = ?", [zone_id]).fetchone()  # noqa: S608
    return dict(row) if row else None


def list_zones(db: Database, party_id: int | None = None) -> list[dict]:
    """Every zone (or one party's) with its party's name and kind, smallest first."""
    where, params = ("WHERE zones.party_id = ?", [party_id]) if party_id is not None else ("", [])
    rows = db.execute(f"{_ZONE_SELECT} {where} ORDER BY area_m2, zones.id", params)  # noqa: S608
    return [dict(r) for r in rows]


def zones_at(db: Database, lat: float, lon: float) -> list[Zone]:
    """The zones whose bounding box holds the point: the routing rule's candidates."""
    rows = db.execute(
        """SELECT * FROM zones WHERE ? BETWEEN min_lat AND max_lat
           AND ? BETWEEN min_lon AND max_lon""",
        [lat, lon],
    )
    return [
        Zone(r["id"], r["party_id"], r["name"], json.loads(r["geometry"]), r["area_m2"])
        for r in rows
    ]


def zone_feature(zone: dict) -> dict:
    """A zone as a GeoJSON Feature (what export writes and import reads)."""
    return {
        "type": "Feature",
        "id": zone["id"],
        "geometry": json.loads(zone["geometry"]),
        "properties": {
            "id": zone["id"],
            "name": zone["name"],
            "kind": zone["kind"],
            "party": zone["party_name"],
            "party_id": zone["party_id"],
            "party_kind": zone["party_kind"],
        },
    }


def export_zones(db: Database) -> dict:
    """Every zone as a GeoJSON FeatureCollection (WGS84, [lon, lat])."""
    return {"type": "FeatureCollection", "features": [zone_feature(z) for z in list_zones(db)]}


@dataclass(frozen=True)
class ImportProblem:
    """Why a file, or one feature in it, cannot be imported. `str()` gives it in English."""

    code: str  # collection, empty, feature, geometry, party_missing, party_unknown
    feature: int | None = None  # 1-based position in the file
    name: str = ""
    detail: str = ""

    def __str__(self) -> str:
        where = f"feature {self.feature}" + (f" ({self.name})" if self.name else "")
        return {
            "collection": "not a GeoJSON FeatureCollection",
            "empty": "the FeatureCollection has no features",
            "feature": f"{where}: not a GeoJSON Feature",
            "geometry": f"{where}: {self.detail}",
            "party_missing": f"{where}: no party (property {self.detail!r})",
            "party_unknown": f"{where}: unknown party {self.detail!r}",
        }.get(self.code, self.code)


def import_zones(
    db: Database,
    collection: object,
    *,
    party_property: str = "party",
    create_parties: bool = False,
    replace: bool = False,
) -> tuple[int, list[ImportProblem]]:
    """Import a GeoJSON FeatureCollection of zones, all or nothing; return (count, problems).

    Each feature needs a Polygon or MultiPolygon and a party: the party's name in
    `party_property` (created, with the kind in `party_kind` if any, when `create_parties`
    is set), or else a `party_id` of this database. `replace` deletes every zone first.
    """
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        return 0, [ImportProblem("collection")]
    features = collection.get("features")
    if not isinstance(features, list) or not features:
        return 0, [ImportProblem("empty")]
    problems: list[ImportProblem] = []
    planned = []
    for index, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.append(ImportProblem("feature", index))
            continue
        props = feature.get("properties")
        props = props if isinstance(props, dict) else {}
        name = str(props.get("name") or "").strip()[:200] or f"Zone {index}"
        try:
            geometry = parse_zone_geometry(feature.get("geometry"))
        except ValueError as error:
            problems.append(ImportProblem("geometry", index, name, str(error)))
            continue
        kind = props.get("kind") if props.get("kind") in KINDS else "other"
        # The name wins over party_id: ids from another database would point at the wrong party.
        party_name = str(props.get(party_property) or "").strip()[:200]
        party = find_party_by_name(db, party_name) if party_name else None
        party_id = props.get("party_id")
        if not party_name and isinstance(party_id, int) and not isinstance(party_id, bool):
            party = get_party(db, party_id)
        if party is None and not party_name:
            problems.append(ImportProblem("party_missing", index, name, party_property))
            continue
        if party is None and not create_parties:
            problems.append(ImportProblem("party_unknown", index, name, party_name))
            continue
        if party is None:
            party_kind = props.get("party_kind")
            if party_kind not in PARTY_KINDS:
                party_kind = "property_owner" if kind == "property" else "other"
            party = {"name": party_name, "kind": party_kind}
        planned.append((party, name, kind, geometry))
    if problems:
        return 0, problems
    with transaction(db):
        if replace:
            db.execute("DELETE FROM zones")
        for party, name, kind, geometry in planned:
            if "id" not in party:  # to create; an earlier feature may have done so already
                existing = find_party_by_name(db, party["name"])
                party["id"] = existing["id"] if existing else insert_party(db, **party)
            insert_zone(db, party["id"], name, geometry, kind)
    return len(planned), []


# --- forms -------------------------------------------------------------------------------


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


def _import_limit_text() -> str:
    limit = _import_limit()
    return f"{limit // 2**20} MB" if limit >= 2**20 else f"{max(1, limit // 2**10)} kB"


def read_geojson_upload(_form, field) -> None:
    """WTForms validator: the upload is at most MAX_IMPORT_BYTES of JSON (kept on the field)."""
    limit = _import_limit()
    data = field.data.stream.read(limit + 1)
    if len(data) > limit:
        raise ValidationError(_("The file is larger than %(size)s.", size=_import_limit_text()))
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
    create_parties = BooleanField(_l("Create the parties that do not exist yet"))
    replace = BooleanField(_l("Replace all existing zones"))


def problem_message(problem: ImportProblem) -> str:
    """An import problem in the person's language."""
    where = (
        _("Feature %(n)d (%(name)s)", n=problem.feature, name=problem.name)
        if problem.name
        else _("Feature %(n)d", n=problem.feature or 0)
    )
    messages = {
        "collection": lambda: _("The file is not a GeoJSON FeatureCollection."),
        "empty": lambda: _("The file has no features."),
        "feature": lambda: _("%(where)s is not a GeoJSON Feature.", where=where),
        "geometry": lambda: _(
            "%(where)s: the shape is not a valid Polygon or MultiPolygon (%(detail)s).",
            where=where,
            detail=problem.detail,
        ),
        "party_missing": lambda: _(
            "%(where)s has no property “%(property)s” naming its party.",
            where=where,
            property=problem.detail,
        ),
        "party_unknown": lambda: _(
            "%(where)s: there is no party called “%(party)s”.", where=where, party=problem.detail
        ),
    }
    return messages[problem.code]() if problem.code in messages else str(problem)


# --- routes ------------------------------------------------------------------------------


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


@bp.get("/zones.geojson")
@role_required(*MANAGER_ROLES)
def export():
    """Every zone as a GeoJSON download, for GIS tools and for importing elsewhere."""
    body = json.dumps(export_zones(get_db()), ensure_ascii=False)
    return Response(
        body,
        mimetype="application/geo+json",
        headers={
            "Content-Disposition": "attachment; filename=zones.geojson",
            "Cache-Control": "no-store",
        },
    )


@bp.route("/zones/import", methods=["GET", "POST"])
@role_required(*MANAGER_ROLES)
def import_file():
    """Load zones from a GeoJSON file, all or nothing."""
    form = ImportForm()
    problems: list[ImportProblem] = []
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
        problems=[problem_message(p) for p in problems],
        max_size=_import_limit_text(),
        status=400 if request.method == "POST" else 200,
    )


def init_app(app: Flask) -> None:
    """Register the zone routes and the kind label helper."""
    app.register_blueprint(bp)
    app.jinja_env.globals["zone_kind_label"] = kind_label
