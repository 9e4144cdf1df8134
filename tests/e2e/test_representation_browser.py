"""Acting for someone else in real Chromium (docs/representation.md): a parent logs in at the
demo tax authority for her child, both logs show it, ending the custody ends the choice; two
adults give, accept, use and end a mandate on the portal, in Danish and in English; the page
where the citizen chooses whom they log in as is axe-clean in both languages.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import expect

from clients.claims import CPR_CLAIM
from demo import citizens as demo
from demo import registry as demo_registry
from tests.a11y.test_axe import FAILING_IMPACTS, axe_violations, describe
from tests.conftest import CitizenActions, sql
from tests.e2e.conftest import DemoService, claims_shown, csp_violations, log_in_as_demo
from tests.e2e.test_demo_services import integrate

pytestmark = pytest.mark.e2e

CHILD = "Emil Demo-Jensen"
PARENT = "Ida Demo-Jensen"


@pytest.fixture
def representation_site(live_server):
    """A live Tillid with keys and the demo data, the demo citizen's custody of her son
    left in force (unlike `demo_site`), and a function that serves the demo tax authority
    (registered as `demo load` does, accepting representation) on a free port."""
    app, issuer = live_server
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    assert runner.invoke(args=["demo", "load", "--citizens", "0"]).exit_code == 0
    servers, tokens = [], []

    def serve(ui_locales: str) -> str:
        served = DemoService(app, issuer, demo_registry.TAX, ui_locales=ui_locales)
        # What the service's Authlib client fetched at the token endpoint, kept for the test
        # (the service itself shows the claims, never the tokens).
        client = served.app.extensions["authlib.integrations.flask_client"].create_client("tillid")
        fetch = client.fetch_access_token

        def keep(**params):
            tokens.append(fetch(**params))
            return tokens[-1]

        client.fetch_access_token = keep
        servers.append(served.start())
        return served.url

    serve.tokens = tokens
    yield app, issuer, serve
    for served in servers:
        served.stop()


def assert_axe_clean(page, where: str) -> None:
    failing = [line for v in axe_violations(page) if v["impact"] in FAILING_IMPACTS
               for line in describe(where, v)]  # fmt: skip
    assert not failing, "serious or critical axe violations:\n" + "\n".join(failing)


def _mandates_of(app, cpr_digits: str) -> dict:
    listed = app.test_cli_runner().invoke(args=["mandates", "list", "--cpr", cpr_digits])
    assert listed.exit_code == 0, listed.output
    return json.loads(listed.stdout)


def test_a_parent_acts_for_her_child_at_the_tax_authority_and_both_logs_show_it(
    representation_site, page
):
    app, issuer, serve = representation_site
    violations = csp_violations(page)
    tax = serve("en")
    page.goto(tax)
    page.get_by_role("link", name="Log in with Tillid").click()
    log_in_as_demo(page)

    # The chooser: herself (the default) or her son, in her custody.
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Who are you logging in as at Skattestyrelsen (demo) e2e?"
    )
    myself = page.get_by_role("radio", name=f"Myself ({PARENT})")
    expect(myself).to_be_checked()
    son = page.get_by_role("radio", name=re.compile(CHILD))
    expect(page.locator("#act-for")).to_contain_text("your child, in your custody")
    expect(page.locator("input[name=act_for]")).to_have_count(2)
    assert_axe_clean(page, f"the chooser (en, {page.url})")
    page.locator("#act-for label", has_text=CHILD).click()  # the radio is styled: its label
    expect(son).to_be_checked()
    page.get_by_role("button", name="Continue").click()

    # The notice: what the authority receives is his, and she acts for him.
    expect(page.locator("#acting-for")).to_contain_text(f"You are acting for {CHILD}")
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("received")
    assert page.url.startswith(tax)
    received = claims_shown(page)
    assert received["name"] == CHILD
    assert received[CPR_CLAIM] == demo.DEMO_CHILD_CPR
    assert received["act"].startswith("sub: ") and received["act"] != f"sub: {received['sub']}"
    assert "custody" in received["representation"]
    expect(page.locator("#userinfo [data-claim=name]")).to_have_text(CHILD)
    assert violations == []

    # Both logs: hers says she acted for him, verified; his (no account) names her.
    integrate(app)
    page.goto(f"{issuer}/me/access-log")
    acted = page.locator("#access-log > li").filter(has_text=f"You acted for {CHILD}")
    expect(acted).to_have_count(2)  # the login (ID token) and the service's userinfo call
    for index in range(2):
        expect(acted.nth(index)).to_contain_text("Verified: this entry is in Tillid's signed log")
    childs = sql(app, "SELECT l.channel, l.representation FROM ledger_entry l"
                      " JOIN citizen c ON c.id = l.citizen_id"
                      " WHERE c.given_name = 'Emil' AND l.channel <> 'mandate'")  # fmt: skip
    # (His log also has the custody, made by the register: a `mandate` entry.)
    assert sorted(row["channel"] for row in childs) == ["login", "userinfo"]
    for row in childs:
        said = row["representation"]
        said = json.loads(said) if isinstance(said, str) else said
        assert said["role"] == "principal" and said["agent"] == PARENT
        assert said["origin"] == "custody"
    verified = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert verified.exit_code == 0, verified.output

    # The operator ends the custody: the access token the service got in that login stops
    # at once, and her next login there is her own, with no choice.
    (token,) = serve.tokens
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(f"{issuer}/userinfo", headers=bearer, timeout=10).status_code == 200
    (custody,) = _mandates_of(app, demo.DEMO_CHILD_CPR)["given"]
    ended = app.test_cli_runner().invoke(args=["mandates", "end", "--id", custody["id"]])
    assert ended.exit_code == 0, ended.output
    refused = requests.get(f"{issuer}/userinfo", headers=bearer, timeout=10)
    assert refused.status_code == 401, refused.text
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert "refresh_token" not in token  # its scope has no offline_access (see tests/mandates)
    page.goto(f"{tax}/login")
    expect(page.get_by_role("heading", level=1)).to_contain_text("will receive your information")
    expect(page.locator("#act-for")).to_have_count(0)
    expect(page.locator("#acting-for")).to_have_count(0)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("received")
    received = claims_shown(page)
    assert received["name"] == PARENT and "act" not in received


# Two adults: Alma gives Bent a mandate. Valid, distinct CPR numbers, not the demo's.
ALMA_CPR, BENT_CPR = "0101900001", "0202850002"


def _in_days(days: int) -> str:
    today = dt.datetime.now(ZoneInfo("Europe/Copenhagen")).date()
    return (today + dt.timedelta(days=days)).isoformat()


def _log_in(page, actions: CitizenActions, username: str) -> None:
    """On Tillid's login page, in whatever language: password, then the app's code."""
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill("correct horse battery")
    page.locator("input[name=password]").press("Enter")
    page.locator("input[name=otp]").fill(actions.totp_code(username))
    page.locator("input[name=otp]").press("Enter")


def _confirm_if_asked(page, actions: CitizenActions, username: str) -> None:
    """The fresh-second-factor confirmation, when Tillid asks for it (a login more than a
    few minutes old): the app's code again."""
    page.wait_for_load_state()
    if "/me/security/confirm" in page.url:
        page.locator("input[name=otp]").fill(actions.totp_code(username))
        page.locator("input[name=otp]").press("Enter")


@pytest.mark.parametrize("language", ["da", "en"])
def test_two_adults_give_accept_use_and_end_a_mandate(representation_site, browser, language):
    app, issuer, serve = representation_site
    actions = CitizenActions(app, app.test_client())
    actions.create(username="alma", cpr=ALMA_CPR, given_name="Alma", family_name="Holm")
    actions.create(username="bent", cpr=BENT_CPR, given_name="Bent", family_name="Krog")
    tax = serve(language)
    alma_context = browser.new_context(locale=language)
    bent_context = browser.new_context(locale=language)
    alma, bent = alma_context.new_page(), bent_context.new_page()
    try:
        # Alma gives Bent a mandate for public authorities: his CPR number and name, her
        # name and CPR number, until a month from now.
        alma.goto(f"{issuer}/me/mandates/new")
        _log_in(alma, actions, "alma")
        _confirm_if_asked(alma, actions, "alma")
        alma.wait_for_url("**/me/mandates/new")
        expect(alma.locator("html")).to_have_attribute("lang", language)
        alma.locator("input[name=agent_cpr]").fill("020285-0002")
        alma.locator("input[name=agent_name]").fill("Bent Krog")
        alma.locator("input[name=covers][value=public_authority]").check()
        alma.locator("input[name=attributes][value=name]").check()
        alma.locator(f"input[name=attributes][value='{CPR_CLAIM}']").check()
        alma.locator("input[name=valid_until]").fill(_in_days(30))
        alma.locator("form[action$='/me/mandates/new'] button[type=submit]").click()
        _confirm_if_asked(alma, actions, "alma")
        alma.wait_for_url("**/me/mandates")
        given = alma.locator("#given [data-mandate-id]")
        expect(given).to_have_count(1)
        expect(given).to_contain_text("Bent Krog")
        mandate_id = given.get_attribute("data-mandate-id")

        # Bent accepts it on his own mandate page.
        bent.goto(f"{issuer}/me/mandates")
        _log_in(bent, actions, "bent")
        bent.wait_for_url("**/me/mandates")
        held = bent.locator(f"#held [data-mandate-id='{mandate_id}']")
        expect(held).to_contain_text("Alma Holm")
        held.locator("a[href$='/accept']").click()
        bent.wait_for_url("**/accept")
        bent.locator("form[action$='/accept'] button[type=submit]").click()
        bent.wait_for_url("**/me/mandates")
        expect(held).to_have_attribute("data-status", "in_force")

        # At the tax authority he chooses Alma, is told he acts for her, and it receives her.
        bent.goto(tax)
        bent.locator("a[href='/login']").click()  # logged in at Tillid already
        expect(bent.locator("#act-for")).to_be_visible()
        expect(bent.locator("html")).to_have_attribute("lang", language)
        expect(bent.locator("#act-for")).to_contain_text("Alma Holm")
        assert_axe_clean(bent, f"the chooser ({language}, {bent.url})")
        bent.locator(f"label[for='act-for-{mandate_id}']").click()
        expect(bent.locator(f"input[name=act_for][value='{mandate_id}']")).to_be_checked()
        bent.locator("#act-for button[type=submit]:not([name])").click()
        expect(bent.locator("#acting-for")).to_contain_text("Alma Holm")
        bent.locator("button[name=decision][value=allow]").click()
        expect(bent.locator("#id-token")).to_be_visible()
        received = claims_shown(bent)
        assert received["name"] == "Alma Holm" and received[CPR_CLAIM] == ALMA_CPR
        assert "act" in received and "granted" in received["representation"]

        # Alma ends it; Bent's next login there is his own, with no choice offered.
        alma.goto(f"{issuer}/me/mandates")
        alma.locator(f"#given [data-mandate-id='{mandate_id}'] a[href$='/end']").click()
        _confirm_if_asked(alma, actions, "alma")
        alma.wait_for_url("**/end")
        alma.locator("form[action$='/end'] button[type=submit]").click()
        alma.wait_for_url("**/me/mandates")
        expect(
            alma.locator(f"[data-mandate-id='{mandate_id}'][data-status=in_force]")
        ).to_have_count(0)
        bent.goto(f"{tax}/login")
        expect(bent.locator("button[name=decision][value=allow]")).to_be_visible()
        expect(bent.locator("#act-for")).to_have_count(0)
        expect(bent.locator("#acting-for")).to_have_count(0)
        bent.locator("button[name=decision][value=allow]").click()
        expect(bent.locator("#id-token")).to_be_visible()
        received = claims_shown(bent)
        assert received["name"] == "Bent Krog" and "act" not in received
    finally:
        alma_context.close()
        bent_context.close()
