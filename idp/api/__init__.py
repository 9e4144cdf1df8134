"""Tillid's JSON APIs for services, each behind the resource-server guard (idp/oidc/guard.py):
the authorities' attribute and report APIs (authority.py). The citizen's own /api/me lives
with the portal it twins (idp/account/api.py)."""
