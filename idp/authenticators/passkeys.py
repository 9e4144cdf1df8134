"""WebAuthn passkeys and security keys (py_webauthn): registration and login ceremonies.

Every ceremony's challenge is random, single use, five minutes, kept in the store under the
browser's own ceremony id (in its signed session cookie), so a challenge fetched in one
browser is useless in another. Origin and RP ID must match exactly; user verification
(a biometric or PIN) is required.
"""

from __future__ import annotations

import secrets
from typing import NamedTuple
from urllib.parse import urlsplit

from flask import current_app, session
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidCBORData,
    InvalidJSONStructure,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp.authenticators import assurance
from idp.authenticators.models import Authenticator, AuthenticatorKind
from idp.citizens.models import Citizen, CitizenStatus
from idp.core.dbtypes import utcnow
from idp.core.extensions import db, store

CHALLENGE_SECONDS = 5 * 60
RP_NAME = "Tillid"
_CEREMONY = "webauthn_ceremony"  # the browser's ceremony id, in Flask's signed session
_KNOWN_TRANSPORTS = {t.value for t in AuthenticatorTransport}
_REFUSALS = (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
    InvalidJSONStructure,
    InvalidCBORData,
    KeyError,
    TypeError,
    ValueError,
)


class PasskeyRefused(Exception):
    """The ceremony failed; the message (lazy: read it in the citizen's language) is for the
    citizen."""


def rp_id() -> str:
    return current_app.config["WEBAUTHN_RP_ID"] or urlsplit(current_app.config["ISSUER"]).hostname


def expected_origin() -> str:
    configured = current_app.config["WEBAUTHN_ORIGIN"]
    if configured:
        return configured
    issuer = urlsplit(current_app.config["ISSUER"])
    return f"{issuer.scheme}://{issuer.netloc}"


def _challenge_key(purpose: str) -> str:
    ceremony = session.get(_CEREMONY)
    if ceremony is None:
        ceremony = session[_CEREMONY] = secrets.token_urlsafe(16)
    return store.key("webauthn-challenge", purpose, ceremony)


def _remember(purpose: str, challenge: bytes) -> None:
    store.redis.set(_challenge_key(purpose), challenge, ex=CHALLENGE_SECONDS)


def _take(purpose: str) -> bytes:
    challenge = store.redis.getdel(_challenge_key(purpose))
    if challenge is None:
        raise PasskeyRefused(
            _l("The request has expired or was started in another browser. Try again.")
        )
    return challenge


def passkeys_of(
    citizen_id: str, kind: AuthenticatorKind = AuthenticatorKind.WEBAUTHN
) -> list[Authenticator]:
    """The citizen's unblocked WebAuthn credentials of ``kind`` (passkeys, or phones)."""
    return list(
        db.session.scalars(
            select(Authenticator).where(
                Authenticator.citizen_id == citizen_id,
                Authenticator.kind == kind,
                Authenticator.suspect_at.is_(None),
            )
        )
    )


def _descriptor(credential: Authenticator) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(
        id=credential.credential_id,
        transports=[AuthenticatorTransport(t) for t in credential.transports or []],
    )


def _descriptors(citizen_id: str) -> list[PublicKeyCredentialDescriptor]:
    return [_descriptor(p) for p in passkeys_of(citizen_id)]


def registration_options(citizen: Citizen, *, purpose: str = "register",
                         discoverable: bool = True) -> str:  # fmt: skip
    """Options to make a credential for ``citizen``: a passkey (discoverable, so it logs in
    without a user ID), or a phone's approval key (``discoverable=False``: it is used only
    by Tillid's app, which names it, and never turns up in a passkey login)."""
    if citizen.webauthn_user_handle is None:
        citizen.webauthn_user_handle = secrets.token_bytes(32)
        db.session.commit()
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name=RP_NAME,
        user_id=citizen.webauthn_user_handle,
        user_name=citizen.username,
        user_display_name=citizen.full_name,
        timeout=CHALLENGE_SECONDS * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED
            if discoverable
            else ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(citizen.id),
    )
    _remember(purpose, options.challenge)
    return options_to_json(options)


def register(
    citizen: Citizen,
    credential: dict,
    name: str,
    *,
    purpose: str = "register",
    kind: AuthenticatorKind = AuthenticatorKind.WEBAUTHN,
    bound_level: str = assurance.SUBSTANTIAL,
) -> Authenticator:
    """Check a registration and keep the credential, bound to ``bound_level``: the level of
    the session that enrolled it, which a login with it never exceeds."""
    challenge = _take(purpose)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
            require_user_verification=True,
        )
    except _REFUSALS as exc:
        raise PasskeyRefused(_l("The passkey was not accepted: %(reason)s", reason=exc)) from None
    transports = (credential.get("response") or {}).get("transports") or []
    passkey = Authenticator(
        citizen_id=citizen.id,
        kind=kind,
        name=name,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=str(verified.aaguid),
        transports=[t for t in transports if t in _KNOWN_TRANSPORTS],
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backup_state=verified.credential_backed_up,
        confirmed_at=utcnow(),
        last_used_at=utcnow(),
        bound_level=bound_level,
    )
    db.session.add(passkey)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise PasskeyRefused(_l("This passkey is already registered.")) from None
    return passkey


def authentication_options(citizen: Citizen | None = None) -> str:
    """Options for a login: for ``citizen``'s passkeys only (username-first, step-up), or
    for any discoverable one (usernameless)."""
    options = generate_authentication_options(
        rp_id=rp_id(),
        timeout=CHALLENGE_SECONDS * 1000,
        allow_credentials=_descriptors(citizen.id) if citizen is not None else None,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    _remember("login", options.challenge)
    return options_to_json(options)


def approval_options(phone: Authenticator, challenge: bytes) -> str:
    """Options for an approval on a paired phone: its own credential, over ``challenge``
    (which the caller derives from the request being approved)."""
    options = generate_authentication_options(
        rp_id=rp_id(),
        challenge=challenge,
        timeout=CHALLENGE_SECONDS * 1000,
        allow_credentials=[_descriptor(phone)],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)


class PasskeyLogin(NamedTuple):
    """What a verified passkey login needs afterwards, read before its use was committed
    (a commit expires every loaded row: reading them again would cost a query each)."""

    citizen_id: str
    username: str | None
    status: CitizenStatus
    level: str
    amr: list[str]


def authenticate(credential: dict, citizen: Citizen | None = None) -> PasskeyLogin:
    """Check an assertion; who it logs in and at which level, or ``PasskeyRefused``."""
    challenge = _take("login")
    try:
        credential_id = base64url_to_bytes(credential["rawId"])
    except _REFUSALS:
        raise PasskeyRefused(_l("The passkey's answer could not be read.")) from None
    # The passkey and its citizen in one query.
    found = db.session.execute(
        select(Authenticator, Citizen)
        .join(Citizen, Citizen.id == Authenticator.citizen_id)
        .where(
            Authenticator.credential_id == credential_id,
            Authenticator.kind == AuthenticatorKind.WEBAUTHN,  # a phone's key approves only
        )
    ).first()
    passkey, owner = found if found is not None else (None, None)
    if passkey is None or not passkey.active or passkey.suspect_at is not None:
        raise PasskeyRefused(_l("This passkey is not registered with Tillid (or is blocked)."))
    if citizen is not None and passkey.citizen_id != citizen.id:
        raise PasskeyRefused(_l("This passkey belongs to someone else."))
    verify_assertion(passkey, credential, challenge)
    level, amr = login_level(passkey, owner)
    login = PasskeyLogin(owner.id, owner.username, owner.status, level, amr)
    db.session.commit()
    return login


def check_assertion(passkey: Authenticator, credential: dict, challenge: bytes) -> None:
    """Verify an assertion by ``passkey`` over ``challenge`` (user verified, exact origin
    and RP ID, counter moving on); record its use, or raise ``PasskeyRefused``."""
    verify_assertion(passkey, credential, challenge)
    db.session.commit()


def verify_assertion(passkey: Authenticator, credential: dict, challenge: bytes) -> None:
    """``check_assertion`` but for the commit of the passkey's use, which the caller makes
    (a refusal for a counter gone back is committed here: the passkey is then blocked)."""
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
            credential_public_key=passkey.public_key,
            credential_current_sign_count=0,  # checked below, after the signature
            require_user_verification=True,
        )
    except _REFUSALS as exc:
        raise PasskeyRefused(_l("The passkey was not accepted: %(reason)s", reason=exc)) from None
    previous = passkey.sign_count or 0
    if (verified.new_sign_count or previous) and verified.new_sign_count <= previous:
        # A correct signature with a counter that went back: likely a cloned key.
        passkey.suspect_at = utcnow()
        db.session.commit()
        raise PasskeyRefused(
            _l(
                "This passkey's counter went backwards, which a copied key would do. It is "
                "blocked; log in another way and check your passkeys."
            )
        )
    passkey.sign_count = verified.new_sign_count
    passkey.backup_state = verified.credential_backed_up
    passkey.last_used_at = utcnow()


def login_level(passkey: Authenticator, citizen: Citizen) -> tuple[str, list[str]]:
    """The NSIS level and RFC 8176 methods of a login with ``passkey`` (always verified).

    A device-bound key (not backup-eligible) is hardware-held ("hwk"); a synced one is
    software-held ("swk"). High needs the device-bound key and a citizen whose identity the
    activation letter proved; and never more than the level the passkey was enrolled at (a
    passkey added from a Substantial session logs in at Substantial)."""
    device_bound = not passkey.backup_eligible
    amr = ["hwk" if device_bound else "swk", "user", "mfa"]
    reaches = assurance.HIGH
    if not device_bound or citizen.identity_proofed_at is None:
        reaches = assurance.SUBSTANTIAL
    return assurance.lowest(reaches, passkey.bound_level), amr


def can_reach_high(citizen: Citizen) -> bool:
    return any(login_level(p, citizen)[0] == assurance.HIGH for p in passkeys_of(citizen.id))
