"""The OpenID Connect tests' fixtures, for logging in for someone else."""

from tests.oidc.conftest import oidc  # noqa: F401 (a fixture: the citizen Anna logged in)
