"""The weekly meeting's forms: a place's assessment and a decision. Each place on the page has
its own pair, told apart by a prefix (`p12-level`), so every field's id is unique on the page."""

import uuid

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, RadioField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from fieldwalk.reports.assessments import LEVELS, MAX_TEXT

MAX_MEASURE = 500


def prefix(place_id: int) -> str:
    """The prefix of one place's forms on the meeting's page."""
    return f"p{place_id}"


class AssessmentForm(FlaskForm):
    level = RadioField(
        _l("Level"),
        choices=[SelectChoice(code, label) for code, (label, _d) in LEVELS.items()],
        validate_choice=False,
    )
    text = TextAreaField(
        _l("Assessment"),
        validators=[Optional(), Length(max=MAX_TEXT, message=_l("At most %(max)d characters."))],
    )
    based_on = HiddenField(default="0")

    def validate_level(self, field):
        if field.data not in LEVELS:
            raise ValidationError(_("Choose a level."))

    def validate_based_on(self, field):
        text = (field.data or "").strip()
        if not (text.isdecimal() and int(text) < 2**31):
            raise ValidationError(_("Reload the page and write the assessment again."))

    def version_seen(self) -> int:
        """The version the writer saw (0: none yet)."""
        return int(self.based_on.data)


class DecisionForm(FlaskForm):
    key = HiddenField()
    measure = TextAreaField(
        _l("What is to be done"),
        validators=[
            InputRequired(_l("Say what is to be done.")),
            Length(max=MAX_MEASURE, message=_l("At most %(max)d characters.")),
        ],
    )
    party_id = SelectField(_l("Which party"), choices=[], validate_choice=False)
    due_date = DateField(
        _l("By when"),
        validators=[InputRequired(_l("Give the date it is to be done by."))],
        invalid_value_message=_l("Give the date as YYYY-MM-DD."),
    )

    def validate_key(self, field):
        try:
            field.data = str(uuid.UUID(field.data or ""))
        except ValueError:
            field.data = str(uuid.uuid4())  # no key: sending it twice makes two

    def validate_measure(self, field):
        if not (field.data or "").strip():
            raise ValidationError(_("Say what is to be done."))

    def validate_party_id(self, field):
        allowed = {choice.value for choice in field.choices}
        if (field.data or "") not in allowed:
            raise ValidationError(_("Choose from the list."))

    def party(self) -> int | None:
        """The chosen party's id, or None (triage)."""
        return int(self.party_id.data) if self.party_id.data else None
