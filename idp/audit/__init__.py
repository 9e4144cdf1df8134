"""The admin audit log: every operator command, who ran it, with what and how it ended."""
