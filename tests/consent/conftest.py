"""The OIDC helpers serve the ledger tests too: releases happen through real code flows."""

from tests.oidc.conftest import oidc  # noqa: F401 (a fixture)
