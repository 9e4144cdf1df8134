"""Fault tests: real Redis, PostgreSQL and Tillid processes, stopped, killed and restarted."""
