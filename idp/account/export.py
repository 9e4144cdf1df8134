"""Everything Tillid holds about a citizen, for them to take away (GDPR Art. 15 and 20):
one JSON document, or the same as CSV files in a ZIP archive."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from flask import current_app

from consent.ledger import queries
from idp.account import access_log, api, my_data
from idp.citizens.models import Citizen
from idp.core.dbtypes import utcnow

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def document(citizen: Citizen) -> dict:
    return {
        "exported_at": utcnow().isoformat(),
        "issuer": current_app.config["ISSUER"],
        "data": my_data.as_json(citizen, full_cpr=True),
        "access_log": [
            access_log.entry_json(entry, verified=None)
            for entry in queries.every_entry_of(citizen.id)
        ],
        "consents": api.consents_json(citizen.id),
        "authenticators": api.authenticators_json(citizen.id),
        "sessions": api.sessions_json(citizen.id),
    }


def _cell(value) -> str:
    """Spreadsheet-safe text: lists joined, and a leading formula character defused (a
    service's name or purpose is free text that a spreadsheet must not run)."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _flatten(row: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _csv(rows: list[dict]) -> str:
    flat = [_flatten(row) for row in rows]
    columns = list(dict.fromkeys(column for row in flat for column in row))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in flat:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue()


def csv_archive(citizen: Citizen) -> bytes:
    """One CSV per part of the document (UTF-8 with a BOM, so spreadsheets read it right)."""
    full = document(citizen)
    parts = {
        "data.csv": [
            {**attribute, "source": full["data"]["sources"][attribute["source"]]["name"]}
            for attribute in full["data"]["attributes"]
        ],
        "access_log.csv": full["access_log"],
        "consents.csv": [
            {**consent, "attributes": [a["name"] for a in consent["attributes"]]}
            for consent in full["consents"]
        ],
        "authenticators.csv": full["authenticators"],
        "sessions.csv": full["sessions"],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in parts.items():
            archive.writestr(name, "\ufeff" + _csv(rows))
    return buffer.getvalue()
