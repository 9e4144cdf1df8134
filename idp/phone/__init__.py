"""Logging in with the phone: the phone app (/app), the browser's side of a login (/login/app),
and the requests between them (also those of CIBA)."""
