"""The event pages' forms: one event on the phone, a CSV upload, the upload's confirmation."""

import uuid
from datetime import UTC, datetime

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from fieldwalk.dashboard.filters import local_zone
from fieldwalk.db import get_db
from fieldwalk.events.importer import PlaceIndex, check_point, coordinate
from fieldwalk.events.model import MAX_DESCRIPTION, SOURCES, TYPES, NonexistentTime, local_to_utc
from fieldwalk.events.problems import problem_message
from fieldwalk.places.model import get_place


class EventForm(FlaskForm):
    key = HiddenField()
    date = DateField(
        _l("Date"),
        validators=[InputRequired(_l("Give the date."))],
        invalid_value_message=_l("Give the date as YYYY-MM-DD."),
    )
    time = TimeField(
        _l("Time"),
        format=["%H:%M", "%H:%M:%S"],
        validators=[InputRequired(_l("Give the time."))],
        invalid_value_message=_l("Give the time as HH:MM."),
    )
    type = RadioField(
        _l("What happened?"),
        choices=[SelectChoice(code, label) for code, label in TYPES.items()],
        validate_choice=False,
    )
    # A select: a partner's source is nearly always their own, and it comes pre-chosen.
    source = SelectField(
        _l("Reported by"),
        choices=[SelectChoice("", _l("Choose who reported it"))]
        + [SelectChoice(code, label) for code, label in SOURCES.items()],
        validate_choice=False,
    )
    place_id = SelectField(_l("Place"), choices=[], validate_choice=False)
    lat = StringField(_l("Latitude"), validators=[Optional(), Length(max=30)])
    lon = StringField(_l("Longitude"), validators=[Optional(), Length(max=30)])
    description = TextAreaField(
        _l("Short description"),
        validators=[
            Optional(),
            Length(max=MAX_DESCRIPTION, message=_l("At most %(max)d characters.")),
        ],
    )

    def validate_key(self, field):
        try:
            field.data = str(uuid.UUID(field.data or ""))
        except ValueError:
            field.data = str(uuid.uuid4())  # a form from before the key: a fresh one

    def validate_type(self, field):
        if field.data not in TYPES:
            raise ValidationError(_("Choose what happened."))

    def validate_source(self, field):
        if field.data not in SOURCES:
            raise ValidationError(_("Choose who reported it."))

    def validate_place_id(self, field):
        number = int(field.data) if (field.data or "").isdecimal() else 0
        known = 0 < number < 2**63 and get_place(get_db(), number)
        if field.data and not known:
            raise ValidationError(_("Choose a place from the list."))

    def validate_lat(self, field):
        self._axis(field, self.lon, 90)

    def validate_lon(self, field):
        self._axis(field, self.lat, 180)

    def _axis(self, field, other, limit: int) -> None:
        if bool((field.data or "").strip()) != bool((other.data or "").strip()):
            raise ValidationError(_("Give both latitude and longitude, or neither."))
        if (field.data or "").strip():
            number = coordinate(field.data)
            if number is None or not -limit <= number <= limit:
                raise ValidationError(_("Give a number from -%(limit)d to %(limit)d.", limit=limit))

    def validate_time(self, field):
        if self.date.data and field.data:
            moment = datetime.combine(self.date.data, field.data.replace(second=0))
            try:
                self.occurred = local_to_utc(moment, local_zone())
            except NonexistentTime as error:
                raise ValidationError(
                    _("That time does not exist: the clocks were put forward an hour.")
                ) from error
            if self.occurred > datetime.now(UTC):
                raise ValidationError(_("That time has not come yet."))

    def validate(self, extra_validators=None) -> bool:
        """The fields one by one, then where: a place or a point, and a point near its place
        (or near some place), so a mixed-up lat and lon is caught here."""
        valid = super().validate(extra_validators)
        if self.place_id.errors or self.lat.errors or self.lon.errors:
            return False
        point = self.point()
        if self.place() is None and point is None:
            self.place_id.errors.append(_("Choose a place, or give a position."))
            return False
        if point is not None:
            places = PlaceIndex(get_db())
            place = places.places.get(self.place()) if self.place() else None
            far = current_app.config["FAR_FROM_PLACE_METRES"]
            problem = check_point(places, point[0], point[1], place, far)
            if problem is not None:
                self.lat.errors.append(problem_message(problem))
                return False
        return valid

    def place(self) -> int | None:
        return int(self.place_id.data) if self.place_id.data else None

    def point(self) -> tuple[float, float] | None:
        if not (self.lat.data or "").strip():
            return None
        return coordinate(self.lat.data), coordinate(self.lon.data)


class ImportForm(FlaskForm):
    file = FileField(
        _l("CSV file"),
        validators=[FileRequired(_l("Choose a file."))],
        render_kw={"accept": ".csv,.txt,text/csv"},
    )


class ConfirmForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])
