"""The "hear back" fields of the join and capture forms: read, checked, in words."""

from flask_babel import gettext as _

from fieldwalk.residents.model import clean_email


def read_follow(form) -> tuple[dict, str | None, str]:
    """(the values to show again, the address to follow or None, an error message or "").

    The address counts only with the box ticked; a ticked box needs an address.
    """
    values = {"follow": bool(form.get("follow")), "follow_email": form.get("follow_email", "")}
    if not values["follow"]:
        return values, None, ""
    email = clean_email(values["follow_email"])
    if email is None:
        return (
            values,
            None,
            _("Enter your email address, such as name@example.se, or untick the box."),
        )
    return values, email, ""
