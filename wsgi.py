"""What serve.py's workers and `flask --app wsgi` load."""

from idp.app import create_app

app = create_app()
