"""The relying-party registry: clients, their kind, sector and allowed attributes (issue 4)."""
