"""The consent broker: release policy, consent grants, the access ledger (issue 6)."""
