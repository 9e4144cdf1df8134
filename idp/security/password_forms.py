"""The forms of a password's life after activation: changing it, and a forgotten one."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from idp.auth.forms import cpr_field, user_id_field


def _new_password_fields():
    """The new password twice; the policy itself is the service's (it knows the user ID)."""
    password = PasswordField(
        _l("New password"),
        description=_l("At least 8 characters. A few unrelated words make a strong password."),
        validators=[
            DataRequired(_l("Choose a new password.")),
            Length(max=1024, message=_l("The password is too long.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[
            DataRequired(_l("Repeat the new password.")),
            EqualTo("password", _l("The two passwords are not the same.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    return password, confirm


class ForgotPasswordForm(FlaskForm):
    username = user_id_field("username")


class NewPasswordForm(FlaskForm):
    password, password_confirm = _new_password_fields()


class RecoveryLetterForm(FlaskForm):
    cpr = cpr_field()
    activation_code = StringField(
        _l("Code from the letter"),
        description=_l("The code in the new letter we sent you, e.g. ABCD-EFGH-JKMN."),
        validators=[
            DataRequired(_l("Enter the code from your letter.")),
            Length(max=64, message=_l("The code is too long.")),
        ],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "characters"},
    )
    password, password_confirm = _new_password_fields()


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[
            DataRequired(_l("Enter your current password.")),
            Length(max=1024, message=_l("The password is too long.")),
        ],
        render_kw={"autocomplete": "current-password"},
    )
    # Required by the view when the citizen confirms with the app rather than a passkey.
    otp = StringField(
        _l("Code from your authenticator app"),
        description=_l("6 digits. A new code appears every 30 seconds."),
        validators=[Optional(), Length(max=16, message=_l("The code has 6 digits."))],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    password, password_confirm = _new_password_fields()
