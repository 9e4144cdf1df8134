"""The citizen's mandate pages (issue 22, item 2), through HTTP: Anna gives Bo a mandate, Bo
sees it waiting and accepts it, both see it in force, and either ends it; every refusal is a
field error or a 404 page, and writes nothing."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import CitizenActions, assert_field_error, csrf_token, login, sql
from tests.mandates.portal_helpers import (
    ANNA_CPR,
    CARL_CPR,
    PASSWORD,
    act,
    age_second_factor,
    give,
    grant_form,
    in_days,
    mandate_rows,
    mandates_on_page,
    person,
    service,
)

MISMATCH = "The CPR number and the name do not match a person."


def test_grant_accept_and_end_by_the_principal(app, anna, bo):
    tax = service(app, "Skattestyrelsen (test)")
    answer = give(anna.client, covers="chosen", client_ids=[tax],
                  attributes=["name", "address"])  # fmt: skip
    assert answer.status_code == 303 and answer.headers["Location"] == "/me/mandates"
    (row,) = mandate_rows(app)
    assert row["origin"] == "granted" and row["accepted_at"] is None
    (agent,) = sql(app, "SELECT id FROM citizen WHERE username = 'bonielsen'")
    assert agent["id"] == row["agent_id"]

    given = anna.client.get("/me/mandates").text
    assert "You gave Bo Nielsen a mandate" in given  # the flash
    assert "Waiting for Bo Nielsen to accept it" in given
    assert "Skattestyrelsen (test)" in given and "Your address" in given
    assert mandates_on_page(anna.client) == [(row["id"], "waiting")]

    held = bo.client.get("/me/mandates").text
    assert "Anna Jensen" in held and "Given to you" in held
    assert "Waiting for you to accept it" in held
    assert mandates_on_page(bo.client) == [(row["id"], "waiting")]
    # The principal has nothing to accept: her own mandate's acceptance is a 404.
    assert anna.client.get(f"/me/mandates/{row['id']}/accept").status_code == 404

    accepted = act(bo.client, row["id"], "accept")
    assert accepted.status_code == 303
    assert mandate_rows(app)[0]["accepted_at"] is not None
    assert mandates_on_page(bo.client) == [(row["id"], "in_force")]
    assert mandates_on_page(anna.client) == [(row["id"], "in_force")]
    # Accepting again is harmless, and the page no longer offers it.
    assert bo.client.get(f"/me/mandates/{row['id']}/accept").status_code == 303

    ended = act(anna.client, row["id"], "end")
    assert ended.status_code == 303
    (row,) = mandate_rows(app)
    assert row["ended_at"] is not None and row["ended_by"] == "principal"
    assert mandates_on_page(bo.client) == [(row["id"], "ended")]
    assert "by Anna Jensen" in bo.client.get("/me/mandates").text
    assert "Ended" in anna.client.get("/me/mandates").text


def test_the_agent_ends_it_and_ending_twice_is_harmless(app, anna, bo):
    assert give(anna.client).status_code == 303
    (row,) = mandate_rows(app)
    act(bo.client, row["id"], "accept")
    page = bo.client.get(f"/me/mandates/{row['id']}/end")  # the agent's own confirmation
    token = csrf_token(page)
    assert bo.client.post(f"/me/mandates/{row['id']}/end",
                          data={"csrf_token": token}).status_code == 303  # fmt: skip
    first = mandate_rows(app)[0]
    assert first["ended_by"] == "agent"
    # Again (another tab): nothing changes, the page says so.
    again = bo.client.post(f"/me/mandates/{row['id']}/end", data={"csrf_token": token})
    assert again.status_code == 303
    assert "had ended already" in bo.client.get("/me/mandates").text
    assert mandate_rows(app)[0]["ended_at"] == first["ended_at"]
    # An ended mandate can no longer be accepted, nor ended from the page.
    assert bo.client.get(f"/me/mandates/{row['id']}/end").status_code == 303
    late = bo.client.post(f"/me/mandates/{row['id']}/accept", data={"csrf_token": token})
    assert late.status_code == 303
    assert mandate_rows(app)[0]["accepted_at"] is not None  # from before; never re-accepted
    assert mandates_on_page(anna.client) == [(row["id"], "ended")]


def test_the_agent_declines_a_waiting_mandate(app, anna, bo):
    give(anna.client)
    (row,) = mandate_rows(app)
    assert act(bo.client, row["id"], "end").status_code == 303
    (row,) = mandate_rows(app)
    assert row["accepted_at"] is None and row["ended_by"] == "agent"
    token = csrf_token(bo.client.get("/me/mandates/new"))
    assert bo.client.post(f"/me/mandates/{row['id']}/accept",
                          data={"csrf_token": token}).status_code == 303  # fmt: skip
    assert mandate_rows(app)[0]["accepted_at"] is None


@pytest.mark.parametrize(
    ("fields", "field_id", "message"),
    [
        ({"agent_name": "Bo Hansen"}, "agent_name", MISMATCH),
        ({"agent_name": "  bo   NIELSEN "}, None, None),  # case and spacing do not matter
        ({"agent_cpr": "0404704444"}, "agent_name", MISMATCH),  # nobody: the same message
        ({"agent_cpr": "123"}, "agent_cpr", "Enter a CPR number of 10 digits"),
        ({"agent_cpr": "", "agent_name": ""}, "agent_cpr", "Enter the CPR number"),
        ({"agent_cpr": "010190-0001", "agent_name": "Anna Jensen"}, "agent_cpr",
         "You cannot give a mandate to yourself."),
        ({"attributes": None}, "attributes", "Choose at least one piece of information"),
        ({"attributes": ["name", "shoe_size"]}, "attributes",
         "Choose among the pieces of information listed."),
        ({"valid_until": in_days(-1)}, "valid_until", "The end date must be today or later."),
        ({"valid_until": in_days(5 * 366 + 5)}, "valid_until",
         "A mandate can last five years at the most."),
        ({"valid_until": None}, "valid_until", "Enter the date the mandate ends."),
        ({"valid_until": "31/12/2027"}, "valid_until", "is not a date"),
        ({"covers": None}, "covers", "Choose what the mandate covers."),
        ({"covers": "wallet"}, "covers", "Choose what the mandate covers."),
        # No service accepts representation here: "the services I choose" is no choice.
        ({"covers": "chosen"}, "covers", "Choose what the mandate covers."),
    ],
)  # fmt: skip
def test_refusals_show_at_the_field_and_write_nothing(app, anna, bo, fields, field_id, message):
    answer = give(anna.client, **fields)
    if field_id is None:
        assert answer.status_code == 303
        assert len(mandate_rows(app)) == 1
        return
    assert answer.status_code == 400
    assert_field_error(answer, field_id, message)
    assert mandate_rows(app) == []


def test_today_and_five_years_on_are_the_limits(app, anna, bo):
    assert give(anna.client, valid_until=in_days(0)).status_code == 303
    today = mandate_rows(app)[0]
    assert "to and including" in anna.client.get("/me/mandates").text
    five_years = give(anna.client, valid_until=in_days(5 * 365))
    assert five_years.status_code == 303
    assert len(mandate_rows(app)) == 2 and today["valid_until"] is not None


def test_only_services_that_accept_representation(app, anna, bo):
    tax = service(app, "Skattestyrelsen (test)")
    bank = service(app, "Banken (test)", kind="private_service", accepts=False)
    page = anna.client.get("/me/mandates/new").text
    assert "Skattestyrelsen (test)" in page and "Banken (test)" not in page
    answer = give(anna.client, covers="chosen", client_ids=[tax, bank])  # by hand
    assert answer.status_code == 400
    assert_field_error(answer, "client_ids", "Choose among the services listed")
    answer = give(anna.client, covers="chosen", client_ids=None)
    assert_field_error(answer, "client_ids", "Choose at least one service.")
    assert mandate_rows(app) == []
    # Public authorities only: no service named, the kind kept.
    assert give(anna.client, covers="public_authority", client_ids=[bank]).status_code == 303
    (row,) = mandate_rows(app)
    assert row["service_kind"] == "public_authority"
    assert sql(app, "SELECT client_ids FROM mandate")[0]["client_ids"] in ([], "[]")
    assert "Public authorities" in bo.client.get("/me/mandates").text


def test_a_password_only_session_never_gives_a_mandate(app, bo):
    """Anna has no second factor: her login is the password alone, below NSIS Substantial.
    The form is never shown to her, and a form sent anyway gives nothing."""
    anna = CitizenActions(app, app.test_client())
    anna.create(username="anna", cpr=ANNA_CPR, totp=False)
    login(anna.client, "anna", PASSWORD)
    shown = anna.client.get("/me/mandates/new")
    assert shown.status_code == 302
    assert urlsplit(shown.headers["Location"]).path != "/me/mandates/new"
    # A CSRF token from a page this session may open (adding a first authenticator).
    token = csrf_token(anna.client.get("/me/security/totp"))
    sent = anna.client.post("/me/mandates/new", data={**grant_form(), "csrf_token": token})
    assert sent.status_code in (302, 303)
    assert mandate_rows(app) == []
    assert anna.client.get("/me/mandates").status_code == 302


def test_password_step_alone_of_a_citizen_with_a_code(app, bo):
    """Anna has an authenticator app but stopped after her password."""
    anna = CitizenActions(app, app.test_client())
    anna.create(username="anna", cpr=ANNA_CPR)
    assert login(anna.client, "anna", PASSWORD).status_code == 302
    token = csrf_token(anna.client.get("/login/code"))
    sent = anna.client.post("/me/mandates/new", data={**grant_form(), "csrf_token": token})
    assert sent.status_code in (302, 303)
    assert urlsplit(sent.headers["Location"]).path == "/login/code"
    assert mandate_rows(app) == []


def test_a_stale_second_factor_is_confirmed_first(app, anna, bo):
    """Ten minutes after the login (past FRESH_SECOND_FACTOR_SECONDS) the form is sent to
    confirm the second factor first, and nothing is given until it is."""
    token = csrf_token(anna.client.get("/me/mandates/new"))
    age_second_factor(app, anna.client, 10 * 60)
    for answer in (anna.client.get("/me/mandates/new"),
                   anna.client.post("/me/mandates/new",
                                    data={**grant_form(), "csrf_token": token})):  # fmt: skip
        assert answer.status_code == 303
        location = urlsplit(answer.headers["Location"])
        assert location.path == "/me/security/confirm"
        assert parse_qs(location.query)["next"] == ["/me/mandates/new"]
    assert mandate_rows(app) == []
    page = anna.client.get("/me/security/confirm?next=/me/mandates/new")
    confirmed = anna.client.post("/me/security/confirm", data={
        "csrf_token": csrf_token(page), "otp": anna.totp_code("anna"), "next": "/me/mandates/new",
    })  # fmt: skip
    assert confirmed.status_code == 303 and confirmed.headers["Location"] == "/me/mandates/new"
    assert give(anna.client).status_code == 303
    assert len(mandate_rows(app)) == 1


def test_missing_csrf_token_changes_nothing(app, anna, bo):
    assert anna.client.post("/me/mandates/new", data=grant_form()).status_code == 400
    assert mandate_rows(app) == []
    give(anna.client)
    (row,) = mandate_rows(app)
    assert bo.client.post(f"/me/mandates/{row['id']}/accept").status_code == 400
    assert anna.client.post(f"/me/mandates/{row['id']}/end").status_code == 400
    (row,) = mandate_rows(app)
    assert row["accepted_at"] is None and row["ended_at"] is None


def test_another_citizens_mandate_is_a_404(app, anna, bo):
    carl = person(app, "carl", CARL_CPR, "Carl", "Berg")
    give(anna.client)
    (row,) = mandate_rows(app)
    token = csrf_token(carl.client.get("/me/mandates/new"))
    for action in ("accept", "end"):
        assert carl.client.get(f"/me/mandates/{row['id']}/{action}").status_code == 404
        answer = carl.client.post(f"/me/mandates/{row['id']}/{action}", data={"csrf_token": token})
        assert answer.status_code == 404
        assert "<h1" in answer.text  # a readable page
    for bad in ("0" * 32, "nope", "x" * 300):
        assert carl.client.get(f"/me/mandates/{bad}/end").status_code == 404
    # The principal accepting her own mandate: a 404 too, nothing acted on.
    token = csrf_token(anna.client.get("/me/mandates/new"))
    assert anna.client.post(f"/me/mandates/{row['id']}/accept",
                            data={"csrf_token": token}).status_code == 404  # fmt: skip
    (row,) = mandate_rows(app)
    assert row["accepted_at"] is None and row["ended_at"] is None
    assert mandates_on_page(carl.client) == []


def test_an_expired_mandate_cannot_be_accepted(app, anna, bo):
    give(anna.client)
    (row,) = mandate_rows(app)
    sql(app, "UPDATE mandate SET valid_until = :past WHERE id = :id",
        past=row["valid_from"], id=row["id"])  # fmt: skip
    assert mandates_on_page(bo.client) == [(row["id"], "expired")]
    assert bo.client.get(f"/me/mandates/{row['id']}/accept").status_code == 303
    token = csrf_token(bo.client.get("/me/mandates/new"))
    bo.client.post(f"/me/mandates/{row['id']}/accept", data={"csrf_token": token})
    assert mandate_rows(app)[0]["accepted_at"] is None
    assert "Expired" in anna.client.get("/me/mandates").text
    # The registry refuses it too, whoever calls it (it took one past its end date before).
    from idp.citizens.models import Citizen
    from idp.core.extensions import db
    from idp.mandates import service as mandates

    with app.app_context():
        agent = db.session.get(Citizen, row["agent_id"])
        with pytest.raises(mandates.MandateRefused):
            mandates.accept(agent, row["id"])
    assert mandate_rows(app)[0]["accepted_at"] is None


def test_custody_and_guardianship_are_shown_and_not_ended_here(app, anna, bo):
    """What others hold for the citizen: a parent's custody, a guardianship; neither is
    ended from the portal (the register, the authority end them)."""
    from idp.citizens.models import Citizen
    from idp.core.extensions import db
    from idp.mandates import service as mandates

    authority = service(app, "Familieretshuset (test)")
    with app.app_context():
        a = db.session.scalar(db.select(Citizen).where(Citizen.username == "anna"))
        b = db.session.scalar(db.select(Citizen).where(Citizen.username == "bonielsen"))
        guardianship = mandates.appoint(a, b, attributes=["name"], appointed_by=authority).id
    page = anna.client.get("/me/mandates").text
    assert "Guardianship appointed by Familieretshuset (test)" in page
    assert "until it is ended" in page
    assert f"/me/mandates/{guardianship}/end" not in page
    assert anna.client.get(f"/me/mandates/{guardianship}/end").status_code == 303
    token = csrf_token(anna.client.get("/me/mandates/new"))
    refused = anna.client.post(f"/me/mandates/{guardianship}/end", data={"csrf_token": token})
    assert refused.status_code == 409 and "authority that appointed it" in refused.text
    assert mandate_rows(app)[0]["ended_at"] is None
    assert mandates_on_page(bo.client) == [(guardianship, "in_force")]


def test_the_pages_in_danish(app, anna, bo):
    anna.client.get("/language/da")
    page = anna.client.get("/me/mandates/new").text
    assert "Giv en anden fuldmagt" in page
    answer = give(anna.client, agent_name="Bo Hansen")
    assert_field_error(answer, "agent_name", "CPR-nummeret og navnet passer ikke")
    assert 'id="mandates-link"' in anna.client.get("/me").text
