"""CPU per render of the log page's template alone, 20 fake verified entries, no database:

    python render.py CODE_DIR [profile]

(CODE_DIR: a copy of the app with its compiled catalogue; `profile` adds cProfile's top.)"""

import base64
import cProfile
import datetime as dt
import pstats
import secrets
import sys
import time

sys.path.insert(0, sys.argv[1])
from flask import render_template, request

from clients.claims import CITIZEN_CLAIMS
from consent import legal_basis
from consent.ledger.models import Channel, LedgerEntry
from idp.account import access_summary
from idp.app import create_app

app = create_app({
    "TESTING": True, "SECRET_KEY": secrets.token_urlsafe(32), "SQLALCHEMY_DATABASE_URI": "sqlite://",
    "TILLID_DATA_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "ISSUER": "http://localhost:5000", "DEFAULT_LANGUAGE": "en", "RATELIMIT_ENABLED": False,
})  # fmt: skip
now = dt.datetime.now(dt.UTC)
entries = [
    LedgerEntry(id=10_000_000 + n, citizen_id="c", client_id="bench", client_name="Bench",
                client_kind="public_authority", channel="login",
                attributes=["given_name", "family_name", "address"], purpose="Benchmarking",
                legal_basis="public_task", released_at=now - dt.timedelta(hours=n), leaf_index=n)
    for n in range(20)
]  # fmt: skip
summary = access_summary.Summary(
    first_day=now.date(), last_day=now.date(), timezone="Europe/Copenhagen",
    services=[access_summary.ServiceCount("bench", "Bench", "public_authority", 5000, 0)],
    attributes=[access_summary.AttributeCount(a, 5000, 1)
                for a in ("given_name", "family_name", "address")],
    lines=[access_summary.AttributeCount(a, 5000, 1) for a in ("name", "address")],
)  # fmt: skip


def render() -> str:
    return render_template(
        "account/access_log.html", summary=summary,
        service_chart=access_summary.chart([(s.name, s.releases) for s in summary.services]),
        attribute_chart=access_summary.attribute_chart(summary),
        summary_links=access_summary.entries_link, summary_line_label=access_summary.line_label,
        services_in_words=access_summary.services_in_words(summary),
        attributes_in_words=access_summary.attributes_in_words(summary),
        chart_width=access_summary.CHART_WIDTH, bases=legal_basis.explanations(),
        basis_anchor=legal_basis.anchor, entries=[(e, True) for e in entries], total=5000,
        filters=request.args, filter_errors={}, page=1, pages=250,
        services=[("bench", "Bench")], attributes=sorted(CITIZEN_CLAIMS),
        channels=[c.value for c in Channel],
    )  # fmt: skip


with app.test_request_context("/me/access-log"):
    render()  # compiles the templates
    started = time.process_time()
    for _ in range(200):
        render()
    print(f"{1000 * (time.process_time() - started) / 200:.2f} ms CPU per render")
    if len(sys.argv) > 2:
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [render() for _ in range(100)])
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
