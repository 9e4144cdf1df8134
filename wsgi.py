"""What gunicorn and `flask --app wsgi` load."""

from idp import create_app

app = create_app()
