"""The browser's SSO session: who is logged in, at which level, for how long, and the guard for
pages that need a login."""
