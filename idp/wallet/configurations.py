"""The credentials Tillid issues to wallets (OpenID4VCI 1.0 "credential configurations"): their
identifiers, which are also the scopes a wallet asks for them by."""

from __future__ import annotations

from clients.claims import PID_MDOC_SCOPE, PID_SD_JWT_SCOPE

# The PID as an SD-JWT VC (ARF annex 3.01; vct urn:eudi:pid:1).
PID_SD_JWT = PID_SD_JWT_SCOPE
# The PID as an ISO/IEC 18013-5 mdoc, of the PID's doctype (idp/wallet/mdoc.py).
PID_MDOC = PID_MDOC_SCOPE
PID_DOCTYPE = "eu.europa.ec.eudi.pid.1"

FORMATS = {PID_SD_JWT: "dc+sd-jwt", PID_MDOC: "mso_mdoc"}
