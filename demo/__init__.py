"""The demo: fictitious citizens and two demo services (a tax authority and a bank, real relying
parties on Authlib's Flask client), loaded and served by the `flask demo` commands."""
