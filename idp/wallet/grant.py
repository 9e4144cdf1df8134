"""The pre-authorized code grant (OpenID4VCI 1.0 section 3.5 and 6.1): a wallet redeems the
code of a credential offer the citizen made in the portal (idp/wallet/offers.py), with the
transaction code the portal showed them, for a DPoP-bound access token to the credential
endpoint. Registered on the authorization server with the other grants (init_app)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, UnauthorizedClientError
from authlib.oauth2.rfc6749.grants import BaseGrant, TokenEndpointMixin

from clients.models import ClientKind
from clients.service import PRE_AUTHORIZED_GRANT
from idp.authenticators import assurance
from idp.citizens.models import Citizen, CitizenStatus
from idp.core.extensions import db
from idp.oidc import dpop, tokens
from idp.oidc.scopes import grantable_scopes
from idp.oidc.server import authorization
from idp.wallet import offers


class PreAuthorizedCodeGrant(BaseGrant, TokenEndpointMixin):
    GRANT_TYPE = PRE_AUTHORIZED_GRANT
    # A wallet is a public client; Tillid takes no anonymous token request (OpenID4VCI 1.0
    # 6.1 allows one): the client_id says which wallet received the PID, for the ledger.
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def validate_token_request(self):
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE) or client.client.kind != ClientKind.WALLET:
            raise UnauthorizedClientError(f"This client may not use {self.GRANT_TYPE}.")
        form = self.request.payload.data
        if not form.get("pre-authorized_code"):
            raise InvalidRequestError("Send the pre-authorized_code of the credential offer.")
        if not form.get("tx_code"):
            raise InvalidRequestError("Send the tx_code the citizen was shown with the offer.")
        self.request.client = client

    def create_token_response(self):
        client = self.request.client.client
        # Before the code is redeemed: a request without the key's proof spends nothing.
        jkt = dpop.token_binding(client)
        form = self.request.payload.data
        try:
            redeemed = offers.redeem(form["pre-authorized_code"], form["tx_code"])
        except offers.WrongTxCode:
            raise InvalidGrantError("The tx_code is not the one shown with the offer.") from None
        except offers.InvalidCode:
            unknown = "The pre-authorized code is unknown, expired or used."
            raise InvalidGrantError(unknown) from None
        citizen = db.session.get(Citizen, redeemed.citizen_id)
        if citizen is None or citizen.status != CitizenStatus.ACTIVE:
            raise InvalidGrantError("The offer's citizen can no longer be issued credentials.")
        if not assurance.meets(redeemed.level, assurance.HIGH):
            raise InvalidGrantError("The offer was not made after a login at High.")
        scope = grantable_scopes(
            client, None, grant=self.GRANT_TYPE, granted=" ".join(redeemed.configuration_ids)
        )
        if not scope:
            raise InvalidGrantError("This wallet is not registered for the offered credentials.")
        token = tokens.issue_access_token(client, citizen, " ".join(scope), jkt=jkt)
        token["authorization_details"] = [
            {
                "type": "openid_credential",
                "credential_configuration_id": configuration,
                "credential_identifiers": [configuration],
            }
            for configuration in scope
        ]
        return 200, token, self.TOKEN_RESPONSE_HEADER


def init_app() -> None:
    authorization.register_grant(PreAuthorizedCodeGrant)
