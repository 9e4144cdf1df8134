"""A sensitive change in real Chromium after the citizen left the computer for a while: the
change asks to confirm it is them (the app's code), then goes back to where they were, and
works; nothing changed before the confirmation."""

from __future__ import annotations

import hashlib
import json
import time

import pyotp
from playwright.sync_api import expect

from demo import citizens as demo
from idp.core.extensions import store
from tests.conftest import sql
from tests.e2e.conftest import add_authenticator, csp_violations, log_in_as_demo


def _left_alone(app, page, seconds: int = 60 * 60) -> None:
    """The session's last second factor ``seconds`` ago (as the store holds it)."""
    (cookie,) = [c for c in page.context.cookies() if c["name"].endswith("tillid_sso")]
    with app.app_context():
        key = store.key("sso", hashlib.sha256(cookie["value"].encode()).hexdigest())
        held = json.loads(store.redis.get(key))
        held["second_factor_at"] -= seconds
        store.redis.set(key, json.dumps(held), ex=store.redis.ttl(key))


def _passkeys(app) -> int:
    return len(sql(app, "SELECT id FROM authenticator WHERE kind = 'webauthn'"))


def test_adding_a_passkey_after_a_while_asks_to_confirm_first(demo_site, page):
    app, base_url = demo_site
    violations = csp_violations(page)
    add_authenticator(page)
    page.goto(f"{base_url}/me/security/passkey")
    log_in_as_demo(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a passkey")
    _left_alone(app, page)  # the page stayed open while the citizen was away

    page.get_by_label("Name for a new passkey").fill("Min laptop")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    assert _passkeys(app) == 0, "nothing is added before the confirmation"
    # The code of the next time step (accepted, one step either side): the login's is spent.
    next_step = int(time.time() // 30) + 1
    code = pyotp.TOTP(demo.DEMO_TOTP_SECRET).generate_otp(next_step)
    page.get_by_label("Code from your authenticator app").fill(code)
    page.get_by_role("button", name="Confirm", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Add a passkey")
    page.get_by_label("Name for a new passkey").fill("Min laptop")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("status")).to_contain_text("Your passkey “Min laptop” is set up.")
    assert _passkeys(app) == 1
    assert violations == []
