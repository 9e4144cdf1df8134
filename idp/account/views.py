"""Pages under /me: the citizen's overview and their SSO sessions."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from clients import service as client_registry
from consent import release
from idp.auth import current, sessions
from idp.auth.current import login_required
from idp.auth.forms import ConfirmForm
from idp.citizens import cpr
from idp.oidc import refresh

bp = Blueprint("account", __name__, url_prefix="/me")


@bp.get("")
@login_required
def me():
    citizen = current.citizen()
    return render_template("account/me.html", citizen=citizen, masked_cpr=cpr.masked(citizen.cpr))


@bp.get("/sessions")
@login_required
def session_list():
    return render_template(
        "account/sessions.html",
        sessions=sessions.list_for(current.citizen().id),
        this_session=current.sso_session().id_hash,
        form=ConfirmForm(),
    )


@bp.post("/sessions/<id_hash>/end")
@login_required
def end_session(id_hash: str):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    owned = {s.id_hash for s in sessions.list_for(current.citizen().id)}
    if id_hash not in owned:
        abort(404)
    sessions.end(id_hash)
    if id_hash == current.sso_session().id_hash:
        response = redirect(url_for("auth.logged_out"))
        sessions.clear_cookie(response)
        return response
    flash(_("The session has been logged out."))
    return redirect(url_for("account.session_list"))


@bp.post("/sessions/end-all")
@login_required
def end_all_sessions():
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    sessions.end_all(current.citizen().id)
    response = redirect(url_for("auth.logged_out"))
    sessions.clear_cookie(response)
    return response


@bp.get("/consents")
@login_required
def consents():
    grants = release.grants_of(current.citizen().id)
    names = {c.client_id: c for c in client_registry.all_clients()}
    return render_template(
        "account/consents.html",
        grants=[(grant, names.get(grant.client_id)) for grant in grants],
        form=ConfirmForm(),
    )


@bp.post("/consents/<client_id>/withdraw")
@login_required
def withdraw_consent(client_id: str):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    citizen = current.citizen()
    if not release.withdraw(citizen.id, client_id):
        abort(404)
    # What the service holds on the strength of that consent stops working too.
    refresh.revoke_for(citizen.id, client_id)
    flash(_("Your consent is withdrawn. The service must ask you again."))
    return redirect(url_for("account.consents"))
