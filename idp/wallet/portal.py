"""The citizen's wallet page under /me: the credentials issued to their wallets, revoking one,
and "Add to your wallet" (a credential offer for OpenID4VCI's pre-authorized code flow, shown
as a QR code, a same-device link and the transaction code). docs/wallet-portal.md."""

from __future__ import annotations

import segno
from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _

from idp.auth.forms import ConfirmForm
from idp.authenticators import assurance, passkeys
from idp.sessions import current
from idp.sessions.current import login_required
from idp.wallet import credentials, offers
from idp.wallet.configurations import FORMATS, PID_SD_JWT

bp = Blueprint("wallet_portal", __name__, url_prefix="/me/wallet")

FORMAT_NAMES = {FORMATS[PID_SD_JWT]: "SD-JWT VC", "mso_mdoc": "mdoc (ISO 18013-5)"}


@bp.get("")
@login_required
def page():
    return render_template(
        "wallet/credentials.html",
        issued=credentials.of_citizen(current.citizen().id),
        format_names=FORMAT_NAMES,
    )


def _own_or_404(entry_id: int) -> credentials.Issued:
    """Only the citizen's own credential: anyone else's id is the same 404 as none."""
    found = credentials.owned(current.citizen().id, entry_id)
    if found is None:
        abort(404)
    return found


@bp.get("/<int:entry_id>/revoke")
@login_required
def confirm_revocation(entry_id: int):
    """Revoking asks first: it cannot be undone."""
    issued = _own_or_404(entry_id)
    if issued.status != credentials.VALID:
        return redirect(url_for("wallet_portal.page"), 303)
    return render_template(
        "wallet/revoke.html", issued=issued, format_names=FORMAT_NAMES, form=ConfirmForm()
    )


@bp.post("/<int:entry_id>/revoke")
@login_required
def revoke(entry_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    issued = _own_or_404(entry_id)
    if credentials.revoke(issued):
        flash(_("The credential is revoked. Services that check it now see it as no longer valid."))
    else:  # revoked already (another tab, the operator): nothing more to do
        flash(_("The credential was already revoked."))
    return redirect(url_for("wallet_portal.page"), 303)


def _cannot_offer():
    """Why this session may not have an offer made, as a response; None if it may.

    The PID is issued at NSIS High only: a session below it is sent to prove it (the step-up
    the authorization endpoint uses), then comes back to the offer page; a citizen with no
    way to reach High is told what they need. A registry record the PID cannot be made from
    is said here too, before the wallet would meet it."""
    citizen = current.citizen()
    if not citizen.place_of_birth or not citizen.nationalities:
        return render_template("wallet/cannot_add.html", reason="registry"), 409
    if assurance.meets(current.sso_session().level, assurance.HIGH):
        return None
    if not passkeys.can_reach_high(citizen):
        return render_template("wallet/cannot_add.html", reason="high"), 403
    return redirect(
        url_for("auth.second_factor", next=url_for("wallet_portal.offer_page"), need="high"), 303
    )


@bp.get("/offer")
@login_required
def offer_page():
    refused = _cannot_offer()
    if refused is not None:
        return refused
    return render_template("wallet/add.html", form=ConfirmForm())


@bp.post("/offer")
@login_required
def make_offer():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    refused = _cannot_offer()
    if refused is not None:
        return refused
    session = current.sso_session()
    offer = offers.create(
        current.citizen().id, [PID_SD_JWT], level=session.level, auth_time=int(session.auth_time)
    )
    response = make_response(
        render_template(
            "wallet/offer.html",
            offer=offer,
            qr=_qr_data_uri(offer.uri),
            minutes=max(1, offer.expires_in // 60),
        )
    )
    # A live code: never kept by a browser's or a proxy's cache, nor shown again by Back.
    response.headers["Cache-Control"] = "no-store"
    return response


def _qr_data_uri(uri: str) -> str:
    """The offer as a QR code, an SVG in a data: URI (the CSP allows data: images): the offer
    is shown once, so there is no address to fetch the image from again."""
    return segno.make(uri, error="m").svg_data_uri(scale=4, border=4)
