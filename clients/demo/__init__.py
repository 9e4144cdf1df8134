"""Demo relying parties: small real services built on Authlib's Flask client."""
