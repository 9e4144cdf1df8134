"""Second factors: TOTP, recovery codes (and WebAuthn passkeys)."""
