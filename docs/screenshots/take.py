"""`make screenshots`: the main pages in Danish and English, at a phone's width and a
desktop's, photographed by Chromium into docs/screenshots/ (full pages, device scale 1).

It starts a throwaway Tillid (a temporary instance directory, SQLite, the embedded store,
keys, the demo citizen and the demo services), has the demo citizen log in for real (so the
access log holds real entries), and walks the same tour of pages as the accessibility
checks (tests/a11y/tour.py), the demo bank's pages included. CHROMIUM_PATH names the
browser (default /usr/bin/chromium).

    .venv/bin/python docs/screenshots/take.py [--only login,consent]
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import secrets
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.a11y import tour  # noqa: E402

# The pages photographed (tour stop names); the README shows login, consent and access-log.
# "service" and "service-received" are the demo bank's own pages, before and after its login.
PHOTOGRAPHED = ("login", "login-error", "second-factor", "phone-wait", "phone-app", "me",
                "access-log", "consents", "security", "consent", "notice", "error-404",
                "session-warning", "service", "service-received", "service-error",
                "service-login", "access-log-error", "withdraw-consent", "change-password",
                "forgot", "forgot-prove", "new-recovery-codes", "recovery-codes", "confirm",
                "error-400")  # fmt: skip
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip


def build_app(instance: Path):
    """A Tillid of its own in ``instance``: a migrated SQLite file, the embedded store."""
    os.environ["TILLID_INSTANCE_PATH"] = str(instance)
    from flask_migrate import upgrade

    from idp.app import create_app

    app = create_app({
        "SECRET_KEY": secrets.token_urlsafe(32),
        "TILLID_DATA_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'tillid.db'}",
        "REDIS_URL": None,
        "LOG_LEVEL": "WARNING",
        **tour.CONFIG,
    })  # fmt: skip
    with app.app_context():
        upgrade()
    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated stop names (default: the usual set)")
    parser.add_argument("--out", default=str(HERE), help="where the PNGs go")
    args = parser.parse_args()
    wanted = set(args.only.split(",")) if args.only else set(PHOTOGRAPHED)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logging.disable(logging.INFO)

    from playwright.sync_api import sync_playwright

    chromium_path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    written = []
    with tempfile.TemporaryDirectory(prefix="tillid-screenshots-") as instance:
        app = build_app(Path(instance))
        with tour.serve(app) as site, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path,
                                                 args=CHROMIUM_ARGS)  # fmt: skip
            phone = tour.new_phone(browser)
            tour.prepare(browser, site, phone)
            for language in tour.LANGUAGES:
                for width_name, width in tour.WIDTHS.items():
                    for stop, page in tour.visit(browser, site, phone, language, width):
                        if stop not in wanted:
                            continue
                        path = out / f"{stop}-{language}-{width_name}.png"
                        page.screenshot(path=str(path), full_page=True, animations="disabled")
                        written.append(path.name)
                        print(f"  {path.relative_to(out.parent.parent) if out == HERE else path}")
            browser.close()
    missing = wanted - {name.rsplit("-", 2)[0] for name in written}
    if missing:
        print(f"the tour never reached: {', '.join(sorted(missing))}", file=sys.stderr)
        return 1
    print(f"{len(written)} screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
