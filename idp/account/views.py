"""Pages under /me: the citizen's overview and their SSO sessions."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, url_for
from flask_babel import gettext as _

from consent import disclosure, release
from idp.account import export, my_data
from idp.auth.forms import ConfirmForm
from idp.oidc import refresh
from idp.sessions import current, sessions
from idp.sessions.current import login_required

bp = Blueprint("account", __name__, url_prefix="/me")


@bp.get("")
@login_required
def me():
    citizen = current.citizen()
    held = my_data.attributes(citizen)
    by_source = {key: [a for a in held if a.source == key] for key in my_data.sources()}
    return render_template(
        "account/me.html", citizen=citizen, by_source=by_source, sources=my_data.sources()
    )


def _download(response: Response, filename: str) -> Response:
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/export.json")
@login_required
def export_json():
    """Everything Tillid holds about you (GDPR Art. 15 and 20), as one JSON document."""
    return _download(jsonify(export.document(current.citizen())), "tillid-my-data.json")


@bp.get("/export.zip")
@login_required
def export_csv():
    """The same as CSV files, one per part, in a ZIP archive."""
    archive = export.csv_archive(current.citizen())
    return _download(Response(archive, mimetype="application/zip"), "tillid-my-data-csv.zip")


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
        response = redirect(url_for("logout.logged_out"))
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
    response = redirect(url_for("logout.logged_out"))
    sessions.clear_cookie(response)
    return response


@bp.get("/consents")
@login_required
def consents():
    return render_template(
        "account/consents.html", services=disclosure.services_of(current.citizen().id)
    )


def _withdrawable(client_id: str) -> disclosure.ServiceConsent:
    """The citizen's consent to ``client_id``, if there is one to withdraw; else a 404."""
    service = disclosure.service_of(current.citizen().id, client_id)
    if service is None or not service.withdrawable:
        abort(404)
    return service


@bp.get("/consents/<client_id>/withdraw")
@login_required
def confirm_withdrawal(client_id: str):
    """Withdrawing asks first, naming the service and what it will no longer receive."""
    return render_template(
        "account/withdraw_consent.html", service=_withdrawable(client_id), form=ConfirmForm()
    )


@bp.post("/consents/<client_id>/withdraw")
@login_required
def withdraw_consent(client_id: str):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    service = _withdrawable(client_id)
    citizen = current.citizen()
    release.withdraw(citizen.id, client_id)
    # What the service holds on the strength of that consent stops working too.
    refresh.revoke_for(citizen.id, client_id)
    flash(_("Your consent to %(name)s is withdrawn. It must ask you again.", name=service.name))
    return redirect(url_for("account.consents"), 303)
