"""Logging in: credentials, lockout, SSO sessions, and the login/activation pages."""
