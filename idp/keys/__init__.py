"""Token-signing keys: generation, encryption at rest, rotation with a grace period, JWKS."""
