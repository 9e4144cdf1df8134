"""Fault tests: real Redis, PostgreSQL and gunicorn processes, stopped, killed and restarted."""
