"""The citizen's language: Danish or English.

Chosen, first that applies: on the pages of a login a service asked for, the `ui_locales`
of its request (unless the switch is clicked during that login); the citizen's own choice
with the switch (this session's, else the year-long cookie); the browser's Accept-Language;
then DEFAULT_LANGUAGE (Danish unless the operator says otherwise).

A service's `ui_locales` is the service's wish for its own login, not the citizen's choice:
it is held apart from that choice, applies on the login's pages only (never on the portal),
and ends when the login goes back to the service. It never overwrites what the citizen chose.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import (
    Blueprint,
    current_app,
    g,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import get_locale, get_translations
from flask_babel import lazy_gettext as _l

from idp.core.config import issuer_is_https
from idp.core.redirects import safe_next

LANGUAGES = ("da", "en")
LANGUAGE_NAMES = {"da": "Dansk", "en": "English"}
COOKIE = "tillid_lang"
_SESSION_KEY = "ui_locale"  # the citizen's choice with the switch
_LOGIN_KEY = "login_ui_locale"  # a service's ui_locales, for the login under way
# The pages of a login a service sends the citizen through: /authorize and its consent page,
# logging in and stepping up, and logging in with the phone.
_LOGIN_BLUEPRINTS = frozenset({"oidc", "auth", "phone_login"})
_COOKIE_SECONDS = 365 * 24 * 60 * 60
_MAX_TARGET = 8192  # the page to go back to, with its query (a login page carries /authorize)

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    if not has_request_context():
        # The flask commands and background work: an operator reads them, in English (as
        # every command's own text is). Nothing here has a session or a browser to ask.
        return "en"
    if request.blueprint in _LOGIN_BLUEPRINTS:
        asked = session.get(_LOGIN_KEY)
        if asked in LANGUAGES:
            return asked
    chosen = session.get(_SESSION_KEY) or request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or current_app.config["DEFAULT_LANGUAGE"]


def remember_ui_locales(ui_locales: str | None) -> None:
    """A service's `ui_locales` (OIDC Core 3.1.2.1: preferred first, space-separated): the
    first one Tillid speaks holds for the rest of this login, on its pages only; unknown
    tags are ignored. The citizen's own choice is left as it is."""
    for tag in (ui_locales or "").split():
        language = tag.split("-")[0].lower()
        if language in LANGUAGES:
            if session.get(_LOGIN_KEY) != language:
                session[_LOGIN_KEY] = language
            return


def end_login_language() -> None:
    """The login went back to the service: its `ui_locales` no longer applies."""
    if _LOGIN_KEY in session:
        del session[_LOGIN_KEY]


def _local_path(target: str | None) -> str:
    """Back to the page the switch was on, on this site only; else the front page. Longer
    than a login's own `next` allows: a login page's address carries the service's request."""
    return safe_next(target, url_for("auth.index"), max_length=_MAX_TARGET)


@bp.get("/language/<language>")
def switch(language: str):
    """The language switch on every page: a link, so it works without script, kept a year."""
    if language not in LANGUAGES:
        return redirect(_local_path(request.args.get("next")))
    session[_SESSION_KEY] = language
    session.pop(_LOGIN_KEY, None)  # the citizen's choice wins over the service's wish
    response = redirect(_local_path(request.args.get("next")))
    response.set_cookie(
        COOKIE,
        language,
        max_age=_COOKIE_SECONDS,
        secure=issuer_is_https(current_app.config),
        httponly=True,
        samesite="Lax",
    )
    return response


def switch_links() -> list[dict]:
    """For the page header: the other language(s), each leading back to this page."""
    here = request.full_path if request.method == "GET" else request.path
    here = here[:-1] if here.endswith("?") else here
    current = str(get_locale())
    return [
        {
            "code": code,
            "name": LANGUAGE_NAMES[code],
            # Every reserved character escaped: the page's own query (say a refused
            # `next=https://…`) never shows up in the link as a readable address.
            "href": f"{url_for('i18n.switch', language=code)}?next={quote(here, safe='')}",
        }
        for code in LANGUAGES
        if code != current
    ]


# What the page scripts (idp/static/js) say by themselves, keyed as they ask for it: each page
# carries them in its language in <meta name="tillid-messages"> (a script reads the content;
# nothing inline runs, so the CSP stays strict).
_SCRIPT_MESSAGES = {
    "requestFailed": _l("The request failed."),
    "passkeyNotUsed": _l("The passkey was not used (cancelled, timed out, or not for this site)."),
    "passkeyNotMade": _l("No passkey was made (cancelled, timed out, or already registered)."),
    "openPairingLink": _l("Open the pairing link from your computer (scan its QR code)."),
    "phoneNotPaired": _l("The phone was not paired (cancelled)."),
    "phoneApproved": _l("Approved. You can go back to your browser."),
    "phoneNotApproved": _l("Not approved (cancelled)."),
    "phoneRejected": _l("Rejected. The login is stopped."),
    "approvedLoggingIn": _l("Approved. Logging you in…"),
}


_script_messages_by_locale: dict[str, dict[str, str]] = {}


def script_messages() -> dict[str, str]:
    # The catalogues are read once per process (Flask-Babel caches them too), so the texts
    # of one language never change while it runs: made once per language.
    locale = str(get_locale())
    found = _script_messages_by_locale.get(locale)
    if found is None:
        found = {key: str(text) for key, text in _SCRIPT_MESSAGES.items()}
        _script_messages_by_locale[locale] = found
    return found


def _translations():
    """The request's catalogue, looked up once per request and locale. Flask-Babel's own
    lookup, which its Jinja callables run for every string (about 30 on a page), resolves the
    domain, the locale and its name each time. Keyed by the locale object Flask-Babel holds,
    so `force_locale` and `refresh` (which replace or drop it) are followed."""
    if not g:  # no app context: Flask-Babel answers with no translation
        return get_translations()
    babel = g.get("_flask_babel")
    locale = getattr(babel, "babel_locale", None)
    held = getattr(babel, "tillid_translations", None)
    if held is not None and locale is not None and held[0] is locale:
        return held[1]
    translations = get_translations()
    babel = g.get("_flask_babel")
    if babel is not None:
        babel.tillid_translations = (getattr(babel, "babel_locale", None), translations)
    return translations


def init_app(app) -> None:
    app.jinja_env.globals["language_switch_links"] = switch_links
    app.jinja_env.globals["script_messages"] = script_messages
    # The same callables Flask-Babel installs, with the catalogue looked up once per request.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
