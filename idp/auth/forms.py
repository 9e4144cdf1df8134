"""Login and activation forms; they carry the user-facing validation messages."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    username = StringField(
        _l("User ID"),
        validators=[DataRequired(_l("Enter your user ID.")), Length(max=256)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField(validators=[Length(max=2048)])


class ActivateForm(FlaskForm):
    cpr = StringField(
        _l("CPR number"),
        description=_l("10 digits, as on your health insurance card (DDMMYY-XXXX)."),
        validators=[DataRequired(_l("Enter your CPR number.")), Length(max=32)],
        render_kw={"autocomplete": "off", "inputmode": "numeric"},
    )
    activation_code = StringField(
        _l("Activation code"),
        description=_l("The code in the letter we sent you, e.g. ABCD-EFGH-JKMN."),
        validators=[
            DataRequired(_l("Enter the activation code from your letter.")),
            Length(max=64),
        ],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "characters"},
    )
    username = StringField(
        _l("Choose a user ID"),
        description=_l("3 to 64 characters: letters, digits, dot, dash or underscore."),
        validators=[DataRequired(_l("Choose a user ID.")), Length(max=64)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Choose a password"),
        description=_l("At least 8 characters. A few unrelated words make a strong password."),
        validators=[DataRequired(_l("Choose a password.")), Length(max=1024)],
        render_kw={"autocomplete": "new-password"},
    )
    password_confirm = PasswordField(
        _l("Repeat the password"),
        validators=[
            DataRequired(_l("Repeat the password.")),
            EqualTo("password", _l("The two passwords are not the same.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token: logout, end sessions."""
