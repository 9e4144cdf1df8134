"""Login and activation forms; they carry the user-facing validation messages."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import AnyOf, DataRequired, EqualTo, Length, Regexp


def _user_id_field(autocomplete: str) -> StringField:
    return StringField(
        _l("User ID"),
        validators=[
            DataRequired(_l("Enter your user ID.")),
            Length(max=256, message=_l("The user ID is too long.")),
        ],
        render_kw={"autocomplete": autocomplete, "autocapitalize": "none", "spellcheck": "false"},
    )


class LoginForm(FlaskForm):
    # "webauthn": the browser offers passkeys in this field's autofill (conditional UI).
    username = _user_id_field("username webauthn")
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(_l("Enter your password.")),
            Length(max=1024, message=_l("The password is too long.")),
        ],
        render_kw={"autocomplete": "current-password"},
    )
    # Not validated: an unusable destination falls back to /me (redirects.safe_next), it is
    # never an error the citizen could neither see nor fix.
    next = HiddenField()


class ActivateForm(FlaskForm):
    cpr = StringField(
        _l("CPR number"),
        description=_l("10 digits, as on your health insurance card (DDMMYY-XXXX)."),
        validators=[
            DataRequired(_l("Enter your CPR number.")),
            # Only the shape: whether the number is registered is never told apart.
            Regexp(
                r"^\s*[0-9]{6}-?[0-9]{4}\s*$",
                message=_l("Enter the 10 digits of your CPR number, e.g. 010190-1234."),
            ),
        ],
        render_kw={"autocomplete": "off", "inputmode": "numeric"},
    )
    activation_code = StringField(
        _l("Activation code"),
        description=_l("The code in the letter we sent you, e.g. ABCD-EFGH-JKMN."),
        validators=[
            DataRequired(_l("Enter the activation code from your letter.")),
            Length(max=64, message=_l("The activation code is too long.")),
        ],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "characters"},
    )
    username = StringField(
        _l("Choose a user ID"),
        description=_l("3 to 64 characters: letters, digits, dot, dash or underscore."),
        validators=[
            DataRequired(_l("Choose a user ID.")),
            Length(max=64, message=_l("Use at most 64 characters.")),
        ],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Choose a password"),
        description=_l("At least 8 characters. A few unrelated words make a strong password."),
        validators=[
            DataRequired(_l("Choose a password.")),
            Length(max=1024, message=_l("The password is too long.")),
        ],
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


class PhoneLoginForm(FlaskForm):
    """The user ID alone: the phone app gives both factors."""

    username = _user_id_field("username")
    next = HiddenField()


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token: logout, end sessions."""


class ConsentForm(FlaskForm):
    """Allow or deny a service the claims it asks for: the two buttons carry `decision`."""

    decision = StringField(validators=[AnyOf(["allow", "deny"])])


def otp_field(label, description, missing) -> StringField:
    return StringField(
        label,
        description=description,
        validators=[DataRequired(missing), Length(max=16, message=_l("The code has 6 digits."))],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class SecondFactorForm(FlaskForm):
    otp = otp_field(
        _l("Code from your authenticator app"),
        _l("6 digits. A new code appears every 30 seconds."),
        _l("Enter the code from your authenticator app."),
    )
    next = HiddenField()


class RecoveryCodeForm(FlaskForm):
    recovery_code = StringField(
        _l("Recovery code"),
        description=_l("One of the codes you saved when you set up your authenticator."),
        validators=[
            DataRequired(_l("Enter one of your recovery codes.")),
            Length(max=64, message=_l("A recovery code has 16 characters.")),
        ],
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
    )
    next = HiddenField()
