"""The citizen's security page, `/me/security`: their authenticators (apps, passkeys, phones),
recovery codes, and pairing a phone."""
