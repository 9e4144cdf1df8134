"""Pairwise subject identifiers: one `sub` per citizen and sector, uncorrelatable across sectors."""

from __future__ import annotations

import base64

from idp import crypto


def pairwise_sub(sector_identifier: str, citizen_id: str) -> str:
    digest = crypto.keyed_hash(f"{sector_identifier}\n{citizen_id}", "pairwise-sub")
    return base64.urlsafe_b64encode(bytes.fromhex(digest)).decode().rstrip("=")
