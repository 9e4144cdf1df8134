"""The relying-party registry through `flask clients …`."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import text

from clients import service
from clients.claims import CPR_CLAIM
from idp.core.extensions import db

TAX = [
    "--name", "Skattestyrelsen", "--kind", "public_authority",
    "--redirect-uri", "https://skat.example/callback",
    "--post-logout-redirect-uri", "https://skat.example/bye",
    "--scope", "openid profile cpr address",
    "--legal-basis", "public_task", "--purpose", "To assess your income tax",
]  # fmt: skip


def clients(runner, *args, ok=True):
    result = runner.invoke(args=["clients", *args])
    if ok:
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    return result.output


def test_create_prints_the_id_and_a_256_bit_secret_once(app, runner):
    created = clients(runner, "create", *TAX)
    assert created.keys() == {"client_id", "client_secret"}
    assert len(created["client_secret"]) >= 43  # 32 bytes, base64url
    shown = clients(runner, "show", created["client_id"])
    assert created["client_secret"] not in json.dumps(shown)
    with app.app_context():
        (stored,) = db.session.execute(text("SELECT secret_digest FROM client")).one()
    assert stored == hashlib.sha256(created["client_secret"].encode()).hexdigest()


def test_show_gives_the_whole_registration_with_each_claims_basis_and_purpose(runner):
    client_id = clients(runner, "create", *TAX)["client_id"]
    shown = clients(runner, "show", client_id)
    assert shown["name"] == "Skattestyrelsen" and shown["kind"] == "public_authority"
    assert shown["redirect_uris"] == ["https://skat.example/callback"]
    assert shown["post_logout_redirect_uris"] == ["https://skat.example/bye"]
    assert shown["grant_types"] == ["authorization_code"]
    assert shown["token_endpoint_auth_method"] == "client_secret_basic"
    assert shown["id_token_signed_response_alg"] == "RS256"
    assert shown["sector_identifier"] == "skat.example"
    assert set(shown["claims"]) == {"given_name", "family_name", "name", CPR_CLAIM, "address"}
    assert shown["claims"][CPR_CLAIM] == {
        "legal_basis": "public_task",
        "purpose": "To assess your income tax",
    }
    assert [c["client_id"] for c in clients(runner, "list")] == [client_id]


def test_per_claim_legal_bases_from_a_file(runner, tmp_path):
    registration = {
        "name": "Nordbank",
        "kind": "private_service",
        "redirect_uris": ["https://bank.example/cb", "https://bank.example/cb2"],
        "scope": "openid profile age offline_access",
        "grant_types": ["authorization_code", "refresh_token"],
        "id_token_signed_response_alg": "ES256",
        "legal_basis": "contract",
        "purpose": "To open your account",
        "claims": {"age_over_18": {"legal_basis": "consent", "purpose": "Only adults may"}},
    }
    path = tmp_path / "bank.json"
    path.write_text(json.dumps(registration))
    client_id = clients(runner, "create", "--from-file", str(path))["client_id"]
    shown = clients(runner, "show", client_id)
    assert shown["claims"]["age_over_18"] == {
        "legal_basis": "consent",
        "purpose": "Only adults may",
    }
    assert shown["claims"]["name"]["legal_basis"] == "contract"
    assert shown["id_token_signed_response_alg"] == "ES256"
    # Options override the file:
    other = clients(runner, "create", "--from-file", str(path), "--name", "Sydbank")
    assert clients(runner, "show", other["client_id"])["name"] == "Sydbank"


def test_a_private_service_can_never_receive_the_cpr_number(app, runner, tmp_path):
    args = [a if a != "public_authority" else "private_service" for a in TAX]
    assert "may not receive the CPR number" in clients(runner, "create", *args, ok=False)
    path = tmp_path / "sneaky.json"
    path.write_text(
        json.dumps(
            {
                "name": "Sneaky",
                "kind": "private_service",
                "redirect_uris": ["https://s.example/cb"],
                "scope": "openid",
                "claims": {CPR_CLAIM: {"legal_basis": "consent", "purpose": "x"}},
            }
        )
    )
    assert "not brought by the scopes" in clients(
        runner, "create", "--from-file", str(path), ok=False
    )
    assert clients(runner, "list") == []


def test_the_cpr_number_needs_a_basis_in_law(runner):
    args = [a if a != "public_task" else "consent" for a in TAX]
    assert "legal basis in law" in clients(runner, "create", *args, ok=False)


def _without(args, option):
    i = args.index(option)
    return args[:i] + args[i + 2 :]


def _with(args, option, value):
    if option in args:
        i = args.index(option)
        return [*args[: i + 1], value, *args[i + 2 :]]
    return [*args, option, value]


REFUSALS = {
    "no name": (lambda a: _without(a, "--name"), "name: is required"),
    "no kind": (lambda a: _without(a, "--kind"), "kind"),
    "no redirect uri": (lambda a: _without(a, "--redirect-uri"), "the code flow needs"),
    "http redirect": (
        lambda a: _with(a, "--redirect-uri", "http://skat.example/cb"),
        "plain http only on localhost",
    ),
    "fragment": (lambda a: _with(a, "--redirect-uri", "https://skat.example/cb#x"), "fragment"),
    "userinfo": (
        lambda a: _with(a, "--redirect-uri", "https://user:pw@skat.example/cb"),
        "user information",
    ),
    "wildcard": (lambda a: _with(a, "--redirect-uri", "https://*.skat.example/cb"), "wildcards"),
    "relative": (lambda a: _with(a, "--redirect-uri", "/callback"), "absolute"),
    "javascript": (lambda a: _with(a, "--redirect-uri", "javascript:alert(1)"), "absolute"),
    "unknown scope": (lambda a: _with(a, "--scope", "openid shoe_size"), "scope"),
    "no openid": (lambda a: _with(a, "--scope", "profile"), "openid scope"),
    "offline without refresh": (
        lambda a: _with(a, "--scope", "openid offline_access"),
        "refresh_token grant",
    ),
    "no legal basis": (lambda a: _without(a, "--legal-basis"), "legal basis"),
    "no purpose": (lambda a: _without(a, "--purpose"), "purpose"),
    "private_key_jwt without keys": (
        lambda a: _with(a, "--auth-method", "private_key_jwt"),
        "public keys",
    ),
    "public client with client_credentials": (
        lambda a: [*_with(a, "--auth-method", "none"), "--grant-type", "client_credentials"],
        "client_credentials and CIBA need client authentication",
    ),
    "refresh without code": (
        lambda a: [*_without(a, "--redirect-uri"), "--grant-type", "refresh_token"],
        "refresh_token needs authorization_code",
    ),
    "control character": (lambda a: _with(a, "--name", "Skat\x1b[31m"), "control"),
}


@pytest.mark.parametrize("case", list(REFUSALS), ids=list(REFUSALS))
def test_create_refuses_a_bad_registration_and_stores_nothing(runner, case):
    change, message = REFUSALS[case]
    assert message in clients(runner, "create", *change(list(TAX)), ok=False)
    assert clients(runner, "list") == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"name": "x", "colour": "blue"}', "unknown fields: colour"),
        ('{"name": "x", "kind": "public_authority", "redirect_uris": "https://a/cb"}', "list"),
    ],
)
def test_create_refuses_a_bad_file(runner, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert message in clients(runner, "create", "--from-file", str(path), ok=False)


def test_a_client_credentials_service_needs_no_redirect_uri(runner):
    created = clients(
        runner, "create", "--name", "Ledger reporter", "--kind", "public_authority",
        "--grant-type", "client_credentials", "--scope", "",
    )  # fmt: skip
    shown = clients(runner, "show", created["client_id"])
    assert shown["grant_types"] == ["client_credentials"]
    assert shown["sector_identifier"] == f"client:{created['client_id']}"


def test_a_public_client_has_no_secret(runner):
    created = clients(runner, "create", *TAX, "--auth-method", "none")
    assert created["client_secret"] is None
    assert "uses no secret" in clients(runner, "rotate-secret", created["client_id"], ok=False)


def test_rotate_secret_replaces_the_old_one(app, runner):
    created = clients(runner, "create", *TAX)
    rotated = clients(runner, "rotate-secret", created["client_id"])
    assert rotated["client_secret"] != created["client_secret"]
    with app.app_context():
        client = service.get(created["client_id"])
        assert service.check_secret(client, rotated["client_secret"])
        assert not service.check_secret(client, created["client_secret"])


def test_disable_stops_the_secret_from_working(app, runner):
    created = clients(runner, "create", *TAX)
    disabled = clients(runner, "disable", created["client_id"])
    assert disabled["disabled_at"]
    assert clients(runner, "list")[0]["enabled"] is False
    with app.app_context():
        assert not service.check_secret(service.get(created["client_id"]), created["client_secret"])


@pytest.mark.parametrize("command", ["show", "rotate-secret", "disable"])
def test_an_unknown_client_is_a_clear_error(runner, command):
    assert "no client" in clients(runner, command, "nope", ok=False)
