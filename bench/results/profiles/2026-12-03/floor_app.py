"""The floor: a bare Flask app answering a form POST with JSON (measure.py runs it under gunicorn
with gunicorn.conf.py's settings: one worker, four threads, SO_REUSEPORT)."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/token")
def token():
    return jsonify(grant_type=request.form.get("grant_type"), auth=bool(request.authorization))


@app.get("/ping")
def ping():
    return jsonify(status="ok")
