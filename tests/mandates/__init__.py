"""The mandate registry through the citizen's pages (issue 22)."""
