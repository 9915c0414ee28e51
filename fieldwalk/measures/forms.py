"""The forms of a place's facts and of a camera site proposal."""

import uuid

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from fieldwalk.events.importer import coordinate
from fieldwalk.measures.cameras import DECISIONS, MAX_ANSWER, MAX_MOTIVATION
from fieldwalk.measures.model import CAMERA_STATES, KINDS, MAX_NOTE

DECISION_LABELS = {
    "approved": _l("Approved: the camera will be put up"),
    "rejected": _l("Rejected"),
    "postponed": _l("Postponed: asked again later"),
}


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes (a list of parties fits a phone better than a select)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class FactForm(FlaskForm):
    kind = SelectField(
        _l("What"),
        choices=[SelectChoice(code, label) for code, label in KINDS.items()],
        validate_choice=False,
    )
    state = SelectField(
        _l("State (city cameras)"),
        choices=[SelectChoice("", "–")]
        + [SelectChoice(code, label) for code, label in CAMERA_STATES.items()],
        validate_choice=False,
    )
    from_date = DateField(
        _l("From"),
        validators=[Optional()],
        invalid_value_message=_l("Give the date as YYYY-MM-DD."),
    )
    to_date = DateField(
        _l("To"),
        validators=[Optional()],
        invalid_value_message=_l("Give the date as YYYY-MM-DD."),
    )
    party_ids = CheckboxesField(_l("Parties (place partnership)"), choices=[], coerce=str)
    note = TextAreaField(
        _l("Note"),
        validators=[Optional(), Length(max=MAX_NOTE, message=_l("At most %(max)d characters."))],
    )
    based_on = HiddenField(default="0")

    def validate_kind(self, field):
        if field.data not in KINDS:
            raise ValidationError(_("Choose from the list."))

    def validate_state(self, field):
        if self.kind.data == "city_cameras" and field.data not in CAMERA_STATES:
            raise ValidationError(_("Say whether the cameras are proposed, decided or installed."))
        if self.kind.data != "city_cameras" and field.data:
            raise ValidationError(_("Only city cameras have a state."))

    def validate_to_date(self, field):
        if field.data and self.from_date.data and field.data < self.from_date.data:
            raise ValidationError(_("The end cannot come before the start."))

    def validate_party_ids(self, field):
        allowed = {choice[0] for choice in field.choices}
        if any(value not in allowed for value in field.data or []):
            raise ValidationError(_("Choose from the list."))
        if field.data and self.kind.data != "place_partnership":
            raise ValidationError(_("Only a place partnership has parties."))

    def validate_based_on(self, field):
        text = (field.data or "").strip()
        if not (text.isdecimal() and int(text) < 2**31):
            raise ValidationError(_("Reload the page and try again."))

    def values(self) -> dict:
        return {
            "kind": self.kind.data,
            "state": self.state.data or "",
            "from_date": self.from_date.data.isoformat() if self.from_date.data else None,
            "to_date": self.to_date.data.isoformat() if self.to_date.data else None,
            "party_ids": [int(p) for p in self.party_ids.data or []],
            "note": self.note.data or "",
        }


class CameraForm(FlaskForm):
    key = HiddenField()
    lat = StringField(_l("Latitude"), validators=[InputRequired(_l("Choose the site on the map."))])
    lon = StringField(
        _l("Longitude"), validators=[InputRequired(_l("Choose the site on the map."))]
    )
    motivation = TextAreaField(
        _l("Why a camera here"),
        validators=[
            InputRequired(_l("Say why a camera is needed here.")),
            Length(max=MAX_MOTIVATION, message=_l("At most %(max)d characters.")),
        ],
    )
    due_date = DateField(
        _l("Answer wanted by"),
        validators=[InputRequired(_l("Give the date an answer is wanted by."))],
        invalid_value_message=_l("Give the date as YYYY-MM-DD."),
    )

    def validate_key(self, field):
        try:
            field.data = str(uuid.UUID(field.data or ""))
        except ValueError:
            field.data = str(uuid.uuid4())

    def validate_lat(self, field):
        value = coordinate(field.data)
        if value is None or not -90 <= value <= 90:
            raise ValidationError(_("Give a number from -%(limit)d to %(limit)d.", limit=90))

    def validate_lon(self, field):
        value = coordinate(field.data)
        if value is None or not -180 <= value <= 180:
            raise ValidationError(_("Give a number from -%(limit)d to %(limit)d.", limit=180))

    def point(self) -> tuple[float, float]:
        return coordinate(self.lat.data), coordinate(self.lon.data)


class AnswerForm(FlaskForm):
    decision = SelectField(
        _l("The security office's decision"),
        choices=[SelectChoice("", _l("Choose the decision"))]
        + [SelectChoice(code, DECISION_LABELS[code]) for code in DECISIONS],
        validate_choice=False,
    )
    answer = TextAreaField(
        _l("Their answer"),
        validators=[
            InputRequired(_l("Write what the security office answered.")),
            Length(max=MAX_ANSWER, message=_l("At most %(max)d characters.")),
        ],
    )

    def validate_decision(self, field):
        if field.data not in DECISIONS:
            raise ValidationError(_("Choose the decision."))
