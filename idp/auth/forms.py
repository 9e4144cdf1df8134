"""Login and activation forms; they carry the user-facing validation messages."""

import re

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import AnyOf, DataRequired, EqualTo, Length, Regexp, StopValidation

from idp.authenticators import totp


def user_id_field(autocomplete: str) -> StringField:
    return StringField(
        _l("User ID"),
        validators=[
            DataRequired(_l("Enter your user ID.")),
            Length(max=256, message=_l("The user ID is too long.")),
        ],
        render_kw={"autocomplete": autocomplete, "autocapitalize": "none", "spellcheck": "false"},
    )


def cpr_field() -> StringField:
    """A CPR number as on a letter's form: only its shape is checked here (whether the number
    is registered is never told apart)."""
    return StringField(
        _l("CPR number"),
        description=_l("10 digits, as on your health insurance card (DDMMYY-XXXX)."),
        validators=[
            DataRequired(_l("Enter your CPR number.")),
            Regexp(
                r"^\s*[0-9]{6}-?[0-9]{4}\s*$",
                message=_l("Enter the 10 digits of your CPR number, e.g. 010190-1234."),
            ),
        ],
        render_kw={"autocomplete": "off", "inputmode": "numeric"},
    )


class LoginForm(FlaskForm):
    # "webauthn": the browser offers passkeys in this field's autofill (conditional UI).
    username = user_id_field("username webauthn")
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
    cpr = cpr_field()
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

    username = user_id_field("username")
    next = HiddenField()


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token: logout, end sessions."""


class ConsentForm(FlaskForm):
    """Allow or deny a service the claims it asks for: the two buttons carry `decision`."""

    decision = StringField(validators=[AnyOf(["allow", "deny"])])


class CodeShape:
    """A code typed by hand is first checked for its shape, so a typo is told as one: the
    wrong number of characters ("The code has 6 digits; you entered 5") or characters a code
    never has. Only a code of the right shape is tried, and only a tried code counts towards
    the lockout: a typo is not a guess."""

    def __init__(self, length: int, alphabet: str, ignored: str, wrong_characters):
        self.length, self.wrong_characters = length, wrong_characters
        self._ignored = re.compile(ignored)
        self._alphabet = re.compile(f"[{alphabet}]*")

    def __call__(self, form, field) -> None:
        code = self._ignored.sub("", field.data or "")
        if not self._alphabet.fullmatch(code):
            raise StopValidation(str(self.wrong_characters))
        if len(code) != self.length:
            raise StopValidation(self.wrong_length(len(code)))

    def wrong_length(self, typed: int) -> str:
        raise NotImplementedError


class DigitCode(CodeShape):
    """An authenticator app's code: digits, spaces between them allowed."""

    def __init__(self):
        super().__init__(totp.DIGITS, "0-9", r"\s", _l("The code has only digits (0 to 9)."))

    def wrong_length(self, typed: int) -> str:
        return ngettext(
            "The code has %(digits)d digits; you entered %(num)d.",
            "The code has %(digits)d digits; you entered %(num)d.",
            typed,
            digits=self.length,
        )


class RecoveryCodeShape(CodeShape):
    """A recovery code: 16 of 0-9 and a-f, as printed in groups with dashes (any case)."""

    def __init__(self):
        super().__init__(
            16,
            "0-9a-fA-F",
            r"[\s-]",
            _l("A recovery code has only the digits 0 to 9 and the letters a to f."),
        )

    def wrong_length(self, typed: int) -> str:
        return ngettext(
            "A recovery code has %(length)d characters (dashes not counted); you entered %(num)d.",
            "A recovery code has %(length)d characters (dashes not counted); you entered %(num)d.",
            typed,
            length=self.length,
        )


def otp_field(label, description, missing) -> StringField:
    return StringField(
        label,
        description=description,
        validators=[
            DataRequired(missing),
            Length(max=64, message=_l("The code has 6 digits.")),
            DigitCode(),
        ],
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
            RecoveryCodeShape(),
        ],
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
    )
    next = HiddenField()
