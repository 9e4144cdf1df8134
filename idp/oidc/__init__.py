"""The OpenID Connect provider, on Authlib: codes, tokens, claims, endpoints, discovery."""
