"""Credential offers for the pre-authorized code flow (idp/wallet/offers.py): the offer object
and its URI as OpenID4VCI 1.0 §4.1 writes them, and redemption: once, with the transaction
code, three wrong codes and it is dead, never more than three compared however many race.
On the embedded store, on Redis (TEST_REDIS_URL) and on a Redis Cluster (marked `cluster`)."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from idp.authenticators import assurance
from idp.core.extensions import store
from idp.wallet import offers
from idp.wallet.configurations import PID_SD_JWT

pytestmark = pytest.mark.cluster

AUTH_TIME = 1_700_000_000


def _create(app, citizen_id: str = "citizen-1") -> offers.Offer:
    with app.app_context():
        return offers.create(citizen_id, [PID_SD_JWT], level=assurance.HIGH, auth_time=AUTH_TIME)


def _redeem(app, code: str, tx_code: str | None) -> offers.Redeemed:
    with app.app_context():
        return offers.redeem(code, tx_code)


def _wrong(tx_code: str) -> str:
    return f"{(int(tx_code) + 1) % 10**6:06d}"


def test_an_offer_is_the_credential_offer_of_openid4vci(app):
    made = _create(app)
    assert made.expires_in == 300
    assert len(made.pre_authorized_code) >= 43  # 256 bits in base64url
    assert made.tx_code.isdigit() and len(made.tx_code) == 6
    assert made.offer == {
        "credential_issuer": "http://localhost:5000",
        "credential_configuration_ids": ["eu.europa.ec.eudi.pid.1"],
        "grants": {
            "urn:ietf:params:oauth:grant-type:pre-authorized_code": {
                "pre-authorized_code": made.pre_authorized_code,
                "tx_code": {
                    "input_mode": "numeric",
                    "length": 6,
                    "description": offers.TX_CODE_DESCRIPTION,
                },
            }
        },
    }
    assert offers.GRANT_TYPE == "urn:ietf:params:oauth:grant-type:pre-authorized_code"
    # The URI carries the offer by value, as compact JSON, every reserved character encoded.
    parts = urlsplit(made.uri)
    assert made.uri.startswith("openid-credential-offer://?credential_offer=%7B%22")
    assert parts.scheme == "openid-credential-offer"
    assert json.loads(parse_qs(parts.query)["credential_offer"][0]) == made.offer
    assert len(offers.TX_CODE_DESCRIPTION) <= 300  # §4.1.1


def test_codes_are_fresh_and_the_store_holds_neither_code(app):
    first, second = _create(app), _create(app)
    assert first.pre_authorized_code != second.pre_authorized_code
    with app.app_context():
        dump = b""
        for key in store.redis.scan_iter(match=store.key("*")):
            dump += key + b"".join(k + v for k, v in store.redis.hgetall(key).items())
            assert 0 < store.redis.ttl(key) <= 300
    for made in (first, second):
        assert made.pre_authorized_code.encode() not in dump
        assert made.tx_code.encode() not in dump


def test_an_offer_is_redeemed_once(app):
    made = _create(app, "citizen-7")
    redeemed = _redeem(app, made.pre_authorized_code, made.tx_code)
    assert redeemed == offers.Redeemed(
        citizen_id="citizen-7",
        configuration_ids=[PID_SD_JWT],
        level=assurance.HIGH,
        auth_time=AUTH_TIME,
    )
    with pytest.raises(offers.InvalidCode):  # replayed
        _redeem(app, made.pre_authorized_code, made.tx_code)


def test_an_unknown_code_is_invalid_with_or_without_a_transaction_code(app):
    for tx_code in ("123456", None, ""):
        with pytest.raises(offers.InvalidCode):
            _redeem(app, "not-a-code", tx_code)
    assert issubclass(offers.InvalidCode, ValueError)


def test_a_wrong_transaction_code_does_not_spend_the_offer(app):
    made = _create(app)
    with pytest.raises(offers.WrongTxCode):
        _redeem(app, made.pre_authorized_code, _wrong(made.tx_code))
    with pytest.raises(offers.WrongTxCode):
        _redeem(app, made.pre_authorized_code, _wrong(_wrong(made.tx_code)))
    assert _redeem(app, made.pre_authorized_code, made.tx_code).citizen_id == "citizen-1"


def test_a_missing_transaction_code_is_refused_and_not_counted(app):
    made = _create(app)
    for _ in range(offers.MAX_TX_TRIES + 1):
        with pytest.raises(offers.WrongTxCode):
            _redeem(app, made.pre_authorized_code, None)
    assert _redeem(app, made.pre_authorized_code, made.tx_code).citizen_id == "citizen-1"


def test_three_wrong_transaction_codes_kill_the_offer(app):
    made = _create(app)
    guess = made.tx_code
    for _ in range(offers.MAX_TX_TRIES):
        guess = _wrong(guess)
        with pytest.raises(offers.WrongTxCode):
            _redeem(app, made.pre_authorized_code, guess)
    with pytest.raises(offers.InvalidCode):  # the right code comes too late
        _redeem(app, made.pre_authorized_code, made.tx_code)
    with app.app_context():
        assert not list(store.redis.scan_iter(match=store.key("wallet-offer", "*")))


def test_racing_redemptions_one_wins_and_no_more_than_three_guesses_are_compared(app):
    """Twelve requests at once with the right code: one offer, one winner. Then twenty
    guesses at once: at most three are compared (each try is counted before it is)."""
    for _ in range(5):  # a race is won differently each time
        made = _create(app)
        outcomes = _race(app, [(made.pre_authorized_code, made.tx_code)] * 12)
        assert outcomes.count("redeemed") == 1, outcomes
        assert outcomes.count("invalid") == 11

    made = _create(app)
    guesses = [f"{n:06d}" for n in range(20) if f"{n:06d}" != made.tx_code][:19]
    outcomes = _race(app, [(made.pre_authorized_code, g) for g in guesses])
    assert outcomes.count("wrong") <= offers.MAX_TX_TRIES
    assert outcomes.count("redeemed") == 0
    with pytest.raises(offers.InvalidCode):
        _redeem(app, made.pre_authorized_code, made.tx_code)


def _race(app, attempts: list[tuple[str, str]]) -> list[str]:
    start = threading.Barrier(len(attempts))
    outcomes: list[str] = []

    def attempt(code: str, tx_code: str) -> None:
        start.wait()
        try:
            _redeem(app, code, tx_code)
            outcomes.append("redeemed")
        except offers.WrongTxCode:
            outcomes.append("wrong")
        except offers.InvalidCode:
            outcomes.append("invalid")

    threads = [threading.Thread(target=attempt, args=pair) for pair in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == len(attempts)
    return outcomes


def test_an_expired_offer_is_invalid(make_app):
    """WALLET_OFFER_SECONDS shortens the lifetime (the store's own expiry ends the offer)."""
    app = make_app(WALLET_OFFER_SECONDS=1)
    made = _create(app)
    assert made.expires_in == 1
    time.sleep(1.3)
    with pytest.raises(offers.InvalidCode):
        _redeem(app, made.pre_authorized_code, made.tx_code)
