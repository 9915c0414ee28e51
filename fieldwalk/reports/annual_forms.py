"""The annual follow-up's forms: the joint written assessment and a measure made a task."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from fieldwalk.reports.annual_assessment import MAX_FIELD, MAX_MEASURE

TOO_LONG = _l("At most %(max)d characters.")


class AnnualForm(FlaskForm):
    how_it_has_been = TextAreaField(
        _l("How it has been"), validators=[Optional(), Length(max=MAX_FIELD, message=TOO_LONG)]
    )
    expected_development = TextAreaField(
        _l("How it is expected to develop"),
        validators=[Optional(), Length(max=MAX_FIELD, message=TOO_LONG)],
    )
    long_term_measures = TextAreaField(
        _l("Long-term measures needed"),
        validators=[Optional(), Length(max=MAX_FIELD, message=TOO_LONG)],
    )
    finished = BooleanField(_l("Finished: the police and the district agree on this text"))
    based_on = HiddenField(default="0")

    def validate_based_on(self, field):
        text = (field.data or "").strip()
        if not (text.isdecimal() and int(text) < 2**31):
            raise ValidationError(_("Reload the page and write the assessment again."))

    def validate_finished(self, field):
        if field.data and not all(
            (f.data or "").strip()
            for f in (self.how_it_has_been, self.expected_development, self.long_term_measures)
        ):
            raise ValidationError(_("Fill in all three parts before marking it finished."))

    def texts(self) -> dict[str, str]:
        return {
            "how_it_has_been": self.how_it_has_been.data or "",
            "expected_development": self.expected_development.data or "",
            "long_term_measures": self.long_term_measures.data or "",
        }


class MeasureTaskForm(FlaskForm):
    measure = HiddenField(validators=[InputRequired(), Length(max=MAX_MEASURE, message=TOO_LONG)])
    party_id = SelectField(_l("Which party"), choices=[], validate_choice=False)
    due_date = DateField(
        _l("By when"),
        validators=[InputRequired(_l("Give the date it is to be done by."))],
        invalid_value_message=_l("Give the date as YYYY-MM-DD."),
    )

    def validate_party_id(self, field):
        if (field.data or "") not in {choice.value for choice in field.choices}:
            raise ValidationError(_("Choose from the list."))

    def party(self) -> int | None:
        return int(self.party_id.data) if self.party_id.data else None
