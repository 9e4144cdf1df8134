"""The login journey a page belongs to: which service it leads to (if a service sent the
citizen, by /authorize), its steps, and the way back to that service.

Every page of one journey counts the same steps: log in (user ID with a password, or with
the phone), confirm it is you (a code, a passkey, a recovery code, the phone's approval),
and, when a service asked, the step back to it (its consent screen, when it has one to
show). Views name the journey of their page with ``begin``; base.html reads it to keep the
account navigation out of a login in progress.
"""

from __future__ import annotations

import dataclasses

from flask import g, has_request_context, request, session, url_for
from flask_babel import gettext as _

from clients.models import Client
from idp.authenticators import assurance
from idp.core import redirects
from idp.sessions import current as sessions_current
from idp.sessions.destinations import requesting_client

LOG_IN, CONFIRM, BACK_TO_SERVICE = 1, 2, 3

# The service's request (its /authorize address) whose login needs both factors, noted by
# /authorize when it sends the citizen to log in (in the signed session cookie, this
# browser's only).
_TWO_FACTORS_FOR = "login_two_factors_for"


@dataclasses.dataclass(frozen=True)
class Journey:
    # The service the login is for (its registration, read-only), None for Tillid's own pages.
    service: Client | None
    # Where the login leads: for a service, its authorization request on this site, which
    # also takes the "cancel" (the service then hears access_denied).
    destination: str

    @property
    def steps(self) -> list[str]:
        labels = [_("Log in"), _("Confirm it is you")]
        if self.service is not None:
            labels.append(_("Approve and go back to %(name)s", name=self.service.name))
        return labels


def begin(destination: str) -> Journey:
    """The journey of this page's login, towards ``destination`` (already checked to stay on
    this site); kept for the page's template and its header."""
    g.login_journey = Journey(requesting_client(destination), destination)
    return g.login_journey


def current() -> Journey | None:
    """The journey this page is part of, if it is a page of a login: the one its view began,
    else the one its ``next`` leads to (a page on the way that is not a login step itself,
    such as setting up a first authenticator: its header must not lead away either)."""
    if not has_request_context():
        return None
    if "login_journey" not in g:
        destination = redirects.safe_next(request.args.get("next"), "")
        g.login_journey = (
            Journey(requesting_client(destination), destination) if destination else None
        )
    return g.login_journey


def account_navigation_shown() -> bool:
    """The header's account links: only once the whole login is done (the level Tillid's own
    pages need, so not after the password alone), and never during a login for a service,
    where they would lead away from it with no way back."""
    journey = current()
    if journey is not None and journey.service is not None:
        return False
    if sessions_current.citizen() is None:
        return False
    return assurance.meets(sessions_current.sso_session().level, assurance.DEFAULT_LEVEL)


def needs_two_factors(destination: str | None) -> None:
    """/authorize sends the citizen to log in for ``destination``, a request that needs both
    factors (None: nothing known). The password step then goes straight on to the second,
    as /authorize would send it there; /authorize still checks it all when the login
    returns to it."""
    if destination is None or len(destination) > redirects.MAX_NEXT_LENGTH:
        # Longer is no login's destination (redirects.safe_next): not kept in the cookie.
        session.pop(_TWO_FACTORS_FOR, None)
    else:
        session[_TWO_FACTORS_FOR] = destination


def after_password(destination: str) -> str:
    """Where the password step leads: for a request /authorize noted as needing both
    factors, the second step (the address /authorize would send it to, a request less);
    else ``destination``, which asks for more if it needs it."""
    if session.get(_TWO_FACTORS_FOR) == destination:
        return url_for("auth.second_factor", next=destination)
    return destination
