"""The mandate tests' fixtures: two citizens, each logged in at a browser of their own, and
the OpenID Connect tests' `oidc`, for logging in for someone else."""

import pytest

from tests.mandates.portal_helpers import ANNA_CPR, BO_CPR, person
from tests.oidc.conftest import oidc  # noqa: F401 (a fixture: the citizen Anna logged in)


@pytest.fixture
def anna(app):
    return person(app, "anna", ANNA_CPR, "Anna", "Jensen")


@pytest.fixture
def bo(app):
    return person(app, "bonielsen", BO_CPR, "Bo", "Nielsen")
