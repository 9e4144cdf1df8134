"""The citizen's own pages: overview and active sessions."""
