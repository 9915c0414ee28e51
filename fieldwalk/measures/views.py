"""A place's facts (what it has, with history), camera site proposals and the measures map.

Coordinators and admins keep the facts and send proposals; staff read them. Every form is a
plain POST that works without JavaScript and answers with a redirect; a form with errors gets
its page back (400) with the errors beside the fields.
"""

from datetime import UTC, date, datetime, timedelta

from flask import Blueprint, Flask, abort, g, redirect, request, url_for
from flask_babel import gettext as _

from fieldwalk.dashboard.filters import local_zone
from fieldwalk.db import get_db, transaction
from fieldwalk.measures.cameras import (
    NEAR_PLACE_METRES,
    ProposalAnswered,
    camera_reasons,
    check_site,
    get_proposal,
    list_proposals,
    propose_camera,
    record_answer,
)
from fieldwalk.measures.forms import DECISION_LABELS, AnswerForm, CameraForm, FactForm
from fieldwalk.measures.model import (
    CAMERA_STATES,
    KINDS,
    FactConflict,
    all_facts,
    fact_history,
    get_fact,
    kind_label,
    record_fact,
    remove_fact,
    state_label,
)
from fieldwalk.open311.party_views import tell_parties_now
from fieldwalk.parties.model import find_party_by_kind, list_party_names
from fieldwalk.places.model import get_place, list_places, place_feature
from fieldwalk.render import render
from fieldwalk.reports.assessments import level_label
from fieldwalk.security import MANAGER_ROLES, STAFF_ROLES, audit, role_required
from fieldwalk.tasks.states import Actor, TaskError

bp = Blueprint("measures", __name__)
ANSWER_DAYS = 30  # the answer wanted within a month, unless the coordinator says otherwise


def place_or_404(place_id: int) -> dict:
    place = get_place(get_db(), place_id) if 0 < place_id < 2**63 else None
    if place is None:
        abort(404)
    return place


def fact_or_404(place: dict, fact_key: str) -> dict:
    fact = get_fact(get_db(), fact_key) if len(fact_key) <= 64 else None
    if fact is None or fact["place_id"] != place["id"]:
        abort(404)
    return fact


def actor() -> Actor:
    return Actor(("coordinator",), g.user["id"], g.user["name"] or g.user["email"])


def party_names() -> dict[int, str]:
    return dict(list_party_names(get_db()))


def _fact_form(data: dict | None = None) -> FactForm:
    form = FactForm(data=data)
    form.party_ids.choices = [(str(i), name) for i, name in list_party_names(get_db())]
    return form


@bp.route("/places/<int:place_id>/facts/new", methods=["GET", "POST"])
@role_required(*MANAGER_ROLES)
def new_fact(place_id: int):
    """Record what a place has: a dated fact (a drug scene, an order, cameras, ...)."""
    place = place_or_404(place_id)
    kind = request.args.get("kind", "")
    form = _fact_form({"kind": kind} if request.method == "GET" and kind in KINDS else None)
    if form.validate_on_submit():
        db = get_db()
        with transaction(db):
            fact = record_fact(db, place_id=place_id, recorded_by=g.user["id"], **form.values())
            audit("create", "place_fact", fact["fact_key"], place_id=place_id, kind=fact["kind"])
        return redirect(url_for("places.show", place_id=place_id, _anchor="facts"), code=303)
    return render(
        "measures/fact_form.html",
        place=place,
        form=form,
        fact=None,
        status=400 if request.method == "POST" else 200,
    )


@bp.route("/places/<int:place_id>/facts/<fact_key>", methods=["GET", "POST"])
@role_required(*STAFF_ROLES)
def fact(place_id: int, fact_key: str):
    """A fact's history, and (coordinators) the form to change it: a new version."""
    place = place_or_404(place_id)
    current = fact_or_404(place, fact_key)
    status = 200
    if request.method == "POST":
        if g.user["role"] not in MANAGER_ROLES:
            abort(403)
        form = _fact_form()
        form.kind.data = current["kind"]  # a fact's kind never changes
        if form.validate_on_submit():
            db = get_db()
            try:
                with transaction(db):
                    saved = record_fact(
                        db,
                        place_id=place_id,
                        recorded_by=g.user["id"],
                        fact_key=fact_key,
                        based_on=int(form.based_on.data),
                        **form.values(),
                    )
                    audit("update", "place_fact", fact_key, version=saved["version"])
                return redirect(url_for("measures.fact", place_id=place_id, fact_key=fact_key), 303)
            except FactConflict as conflict:
                current = conflict.current
                form.based_on.data = str(current["version"])
                form.form_errors.append(
                    _(
                        "Someone changed this while you were writing: read the history, then save again."
                    )
                )
                status = 409
        else:
            status = 400
    else:
        form = _fact_form(
            {
                **current,
                "from_date": date.fromisoformat(current["from_date"])
                if current["from_date"]
                else None,
                "to_date": date.fromisoformat(current["to_date"]) if current["to_date"] else None,
                "party_ids": [str(p) for p in current["party_ids"]],
                "based_on": str(current["version"]),
            }
        )
    return render(
        "measures/fact.html",
        place=place,
        fact=current,
        form=form,
        history=list(reversed(fact_history(get_db(), fact_key))),
        parties=party_names(),
        status=status,
    )


@bp.post("/places/<int:place_id>/facts/<fact_key>/remove")
@role_required(*MANAGER_ROLES)
def remove(place_id: int, fact_key: str):
    """Take a fact away; its history stays."""
    place = place_or_404(place_id)
    current = fact_or_404(place, fact_key)
    text = (request.form.get("based_on") or "").strip()
    if current["removed"]:
        return redirect(url_for("places.show", place_id=place_id, _anchor="facts"), code=303)
    if not (text.isdecimal() and int(text) == current["version"]):
        abort(409, _("Someone changed this meanwhile: reload the page and try again."))
    db = get_db()
    with transaction(db):
        remove_fact(db, fact_key, recorded_by=g.user["id"], based_on=current["version"])
        audit("remove", "place_fact", fact_key, place_id=place_id)
    return redirect(url_for("places.show", place_id=place_id, _anchor="facts"), code=303)


def local_today() -> date:
    return datetime.now(UTC).astimezone(local_zone()).date()


def camera_page(place: dict, form: CameraForm, status: int):
    db = get_db()
    return render(
        "measures/camera_form.html",
        place=place,
        form=form,
        feature=place_feature(place),
        reasons=camera_reasons(db, place["id"], datetime.now(local_zone())),
        office=find_party_by_kind(db, "security"),
        near=NEAR_PLACE_METRES,
        status=status,
    )


@bp.route("/places/<int:place_id>/cameras/new", methods=["GET", "POST"])
@role_required(*MANAGER_ROLES)
def propose(place_id: int):
    """Propose a camera site to the city's security office: a point, why, and the figures."""
    place = place_or_404(place_id)
    db = get_db()
    form = CameraForm()
    if request.method == "GET":
        form.due_date.data = local_today() + timedelta(days=ANSWER_DAYS)
        return camera_page(place, form, 200)
    office = find_party_by_kind(db, "security")
    valid = form.validate_on_submit()
    if valid:
        try:
            check_site(db, place_id, *form.point())
        except ValueError:
            form.lat.errors = [
                _("Choose a site in the place or at most %(m)d m from it.", m=NEAR_PLACE_METRES)
            ]
            valid = False
    if valid and form.due_date.data < local_today():
        form.due_date.errors = [*form.due_date.errors, _("Give a date from today on.")]
        valid = False
    if valid and office is None:
        form.form_errors.append(
            _("Add the city's security office as a party (kind: security office) first.")
        )
        valid = False
    if not valid:
        return camera_page(place, form, 400)
    lat, lon = form.point()
    measure = _(
        "Camera site proposal: %(place)s, at %(lat).5f, %(lon).5f. %(why)s",
        place=place["name"],
        lat=lat,
        lon=lon,
        why=form.motivation.data.strip(),
    )
    with transaction(db):
        proposal_id, created = propose_camera(
            db,
            place_id=place_id,
            lat=lat,
            lon=lon,
            motivation=form.motivation.data,
            party_id=office["id"],
            measure=measure,
            reason=_("The city's security office decides on safety cameras."),
            due_date=form.due_date.data.isoformat(),
            actor=actor(),
            moment=datetime.now(local_zone()),
            key=form.key.data,
        )
        if created:
            audit("propose", "camera_proposal", proposal_id, place_id=place_id)
    if created:  # the security office hears of it now, as of a weekly decision
        tell_parties_now(db, {office["id"]})
    return redirect(url_for("measures.proposal", proposal_id=proposal_id), code=303)


def proposal_or_404(proposal_id: int) -> dict:
    proposal = get_proposal(get_db(), proposal_id) if 0 < proposal_id < 2**63 else None
    if proposal is None:
        abort(404)
    return proposal


def proposal_page(proposal: dict, form: AnswerForm, status: int = 200):
    return render(
        "measures/proposal.html",
        proposal=proposal,
        place=get_place(get_db(), proposal["place_id"]),
        form=form,
        decision_labels=DECISION_LABELS,
        status=status,
    )


@bp.get("/cameras/<int:proposal_id>")
@role_required(*MANAGER_ROLES)
def proposal(proposal_id: int):
    """A camera site proposal: the site, the reasons, the task and the answer."""
    return proposal_page(proposal_or_404(proposal_id), AnswerForm())


@bp.post("/cameras/<int:proposal_id>/answer")
@role_required(*MANAGER_ROLES)
def answer(proposal_id: int):
    """Record the security office's answer and decision; the task is done with it."""
    found = proposal_or_404(proposal_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        return proposal_page(found, form, 400)
    db = get_db()
    try:
        with transaction(db):
            record_answer(
                db,
                proposal_id,
                decision=form.decision.data,
                answer=form.answer.data,
                actor=actor(),
                fact_note=_("Decided by the security office (proposal %(n)d).", n=proposal_id),
            )
            audit("answer", "camera_proposal", proposal_id, decision=form.decision.data)
    except ProposalAnswered:
        form.form_errors.append(_("The answer was already recorded: it is shown above."))
        return proposal_page(proposal_or_404(proposal_id), form, 409)
    except TaskError:
        form.form_errors.append(_("The task could not be closed; open it and check its state."))
        return proposal_page(found, form, 409)
    return redirect(url_for("measures.proposal", proposal_id=proposal_id), code=303)


@bp.get("/measures")
@role_required(*STAFF_ROLES)
def index():
    """What every place has, on a map with a layer per kind, and the camera proposals."""
    db = get_db()
    places = {p["id"]: p for p in list_places(db)}
    facts = all_facts(db)
    proposals = list_proposals(db)
    today = local_today().isoformat()
    layers = {kind: [] for kind in KINDS}
    for fact in facts:
        place = places.get(fact["place_id"])
        if place and (fact["to_date"] is None or fact["to_date"] >= today):
            feature = place_feature(place)
            feature["properties"] = {"name": place["name"], "label": kind_label(fact["kind"])}
            layers[fact["kind"]].append(feature)
    map_data = {
        "layers": [
            {"kind": kind, "label": kind_label(kind), "features": features}
            for kind, features in layers.items()
        ],
        "proposals": [
            {
                "lat": p["lat"],
                "lon": p["lon"],
                "label": f"{p['place_name']}: {_('Camera site proposal')}",
            }
            for p in proposals
        ],
        "proposals_label": _("Camera site proposals"),
    }
    by_place: dict[int, list[dict]] = {}
    for fact in facts:
        by_place.setdefault(fact["place_id"], []).append(fact)
    return render(
        "measures/index.html",
        places=[places[i] for i in sorted(by_place, key=lambda i: places[i]["name"].lower())],
        by_place=by_place,
        proposals=proposals,
        map_data=map_data,
        parties=party_names(),
        today=today,
    )


def init_app(app: Flask) -> None:
    """Register the measures' routes and their template helpers."""
    app.register_blueprint(bp)
    app.jinja_env.globals["fact_kind_label"] = kind_label
    app.jinja_env.globals["camera_state_label"] = state_label
    app.jinja_env.globals["camera_states"] = CAMERA_STATES
    app.jinja_env.globals["decision_label"] = lambda code: str(DECISION_LABELS.get(code, code))
    app.jinja_env.globals["level_label"] = level_label
