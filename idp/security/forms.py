"""The security page's forms: confirming an authenticator app, naming an authenticator."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from idp.auth.forms import otp_field


class EnrolTotpForm(FlaskForm):
    name = StringField(
        _l("Name"),
        description=_l("So you can tell your authenticators apart, e.g. “My phone”."),
        validators=[Length(max=100, message=_l("Use at most 100 characters."))],
    )
    otp = otp_field(
        _l("Code from the app"),
        _l("Enter the 6-digit code the app shows, to show that it works."),
        _l("Enter the code the app shows."),
    )
    next = HiddenField()


class RenameForm(FlaskForm):
    name = StringField(
        _l("New name"),
        validators=[
            DataRequired(_l("Enter a name.")),
            Length(max=100, message=_l("Use at most 100 characters.")),
        ],
    )
