"""The short-lived store on a Redis Cluster: configuration, hash tags, and a whole flow.

The login, token and phone-approval tests marked ``cluster`` run on the cluster as well
(tests/conftest.py); there a DEL over keys of two slots fails the test, which redis-py would
otherwise split quietly into one command per slot.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from redis.cluster import RedisCluster
from redis.crc import key_slot

from idp.app import create_app
from idp.auth import lockout
from idp.core.config import ConfigurationError, redis_cluster
from idp.core.extensions import store
from idp.phone import requests as phone_requests
from tests.conftest import CLUSTER, CitizenActions, base_config, cluster_client, csrf_token, login
from tests.idp.test_phone_requests import _authority, _bc_authorize, _csrf, _phone, _poll
from tests.oidc.conftest import Flow, register

CLUSTER_URL = "redis+cluster://10.0.0.1:7000,10.0.0.2:7001/"


# --- configuration ---------------------------------------------------------------------


def test_a_cluster_url_names_its_startup_nodes():
    assert redis_cluster(CLUSTER_URL) == {"startup_nodes": [("10.0.0.1", 7000), ("10.0.0.2", 7001)]}
    assert redis_cluster("redis+cluster://[::1]:7000") == {"startup_nodes": [("::1", 7000)]}
    assert redis_cluster("redis+cluster://:s3cret@h:7000/0") == {
        "startup_nodes": [("h", 7000)],
        "password": "s3cret",
    }
    assert redis_cluster("redis+cluster://tillid:s3cret@h:7000,h:7001")["username"] == "tillid"
    for single in (None, "", "redis://h:6379/0", "rediss://h:6380/0", "unix:///run/redis.sock"):
        assert redis_cluster(single) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://", "'' is not a host:port of a cluster node"),
        ("redis+cluster://h:7000,h", "'h' is not a host:port of a cluster node"),
        ("redis+cluster://h:7000,h:port", "'h:port' is not a host:port of a cluster node"),
        ("redis+cluster://h:70000", "'h:70000' is not a host:port of a cluster node"),
        ("redis+cluster://h:7000/3", "a Redis Cluster has only database 0, not '3'"),
        ("redis+cluster://h:7000/?ssl=true", "a cluster URL takes no options"),
        ("rediss+cluster://h:7000", "REDIS_URL must be a URL that starts with redis://"),
        ("http://:s3cret@h:7000", "not http://"),
        ("h:6379", "REDIS_URL must be a URL that starts with redis://, rediss://, unix:// or "
                   "redis+cluster://"),
    ],
)  # fmt: skip
def test_a_bad_redis_url_is_a_clear_startup_error(url, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)) as refused:
        create_app(base_config(REDIS_URL=url))
    assert "s3cret" not in str(refused.value)  # a password is never repeated back


def test_a_hash_tag_in_the_key_prefix_is_refused_on_a_cluster():
    with pytest.raises(ConfigurationError, match="TILLID_STORE_PREFIX cannot contain"):
        create_app(base_config(REDIS_URL=CLUSTER_URL, STORE_KEY_PREFIX="{tillid}:"))


def test_an_unreachable_cluster_is_a_clear_startup_error():
    with pytest.raises(ConfigurationError, match=r"no Redis Cluster answered at 127\.0\.0\.1:1"):
        create_app(base_config(REDIS_URL="redis+cluster://127.0.0.1:1/"))


# --- hash tags -------------------------------------------------------------------------


def test_keys_that_belong_together_share_a_slot(app):
    """Computed like a cluster client does, so this holds without a cluster too."""
    with app.app_context():
        failures, until = lockout._keys("anna")
        request = [phone_requests._key("req-1", *part) for part in ((), ("answer",), ("nonce",))]
        citizen = [phone_requests._pending_key("c-1"), phone_requests._citizen_key("x", "c-1")]
        for together in ([failures, until], request, citizen):
            assert len({key_slot(key.encode()) for key in together}) == 1, together
            assert all(key.startswith(app.config["STORE_KEY_PREFIX"]) for key in together)
        # Another request's keys are placed independently of this one's.
        assert key_slot(phone_requests._key("req-1").encode()) != key_slot(
            phone_requests._key("req-2").encode()
        )


# --- on the cluster --------------------------------------------------------------------


def _keys_by_slot(url: str, prefix: str) -> dict[str, tuple[int, str]]:
    """Every key of this test on the cluster: its slot and the node holding it."""
    client = cluster_client(url)
    try:
        found = {}
        for node in client.get_primaries():
            for key in client.scan_iter(match=prefix + "*", target_nodes=node):
                found[key.decode()] = (client.keyslot(key), node.name)
        return found
    finally:
        client.close()


def test_a_whole_day_on_the_cluster_needs_no_cross_slot_command(make_app):
    app = make_app(CLUSTER)
    assert isinstance(app.extensions["tillid_store"], RedisCluster)
    assert app.config["RATELIMIT_STORAGE_URI"] == app.config["REDIS_URL"]
    client = app.test_client()
    assert client.get("/readyz").json["checks"]["store"] == "ok"
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    citizens = CitizenActions(app, client)
    cpr = citizens.next_cpr()
    anna = citizens.create(username="anna", cpr=cpr)

    # Failed logins count in the store; a good one (password + TOTP) clears both keys.
    assert login(client, "anna", "wrong password").status_code == 401
    digest = hashlib.sha256(b"anna").hexdigest()
    counted = _keys_by_slot(app.config["REDIS_URL"], app.config["STORE_KEY_PREFIX"])
    assert [key for key in counted if digest in key]
    assert citizens.login().status_code == 302
    with app.app_context():
        assert not store.redis.exists(*lockout._keys("anna"))

    # The code flow, refresh, introspection and revocation.
    service = register(app, scope="openid profile offline_access",
                       extra=["--grant-type", "authorization_code",
                              "--grant-type", "refresh_token"])  # fmt: skip
    flow = Flow(app, client, service)
    tokens = flow.tokens()
    auth = (service.client_id, service.client_secret)
    refreshed = client.post("/token", auth=auth, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})  # fmt: skip
    assert refreshed.status_code == 200, refreshed.json
    access = refreshed.json["access_token"]
    assert client.post("/introspect", data={"token": access}, auth=auth).json["active"]
    assert client.post("/revoke", data={"token": access}, auth=auth).status_code == 200
    assert client.post("/introspect", data={"token": access}, auth=auth).json == {"active": False}

    # A phone request through CIBA: waited on, polled too fast, rejected on the phone.
    _, app_key = _phone(app, anna["id"])
    phone = app.test_client()
    phone.set_cookie("tillid_app", app_key)
    authority = _authority(runner)
    started = _bc_authorize(client, authority, login_hint=cpr)
    assert started.status_code == 200, started.json
    auth_req_id = started.json["auth_req_id"]
    assert _poll(client, authority, auth_req_id).json["error"] == "authorization_pending"
    assert _poll(client, authority, auth_req_id).json["error"] == "slow_down"
    options = phone.post(f"/app/api/requests/{auth_req_id}/options", json={},
                         headers={"X-CSRFToken": _csrf(phone)})  # fmt: skip
    assert options.status_code == 200
    rejected = phone.post(f"/app/api/requests/{auth_req_id}/reject", json={},
                          headers={"X-CSRFToken": _csrf(phone)})  # fmt: skip
    assert rejected.status_code == 200
    assert _poll(client, authority, auth_req_id).json["error"] == "access_denied"

    # What the flow left on the cluster: spread over the nodes, each group in one slot.
    keys = _keys_by_slot(app.config["REDIS_URL"], app.config["STORE_KEY_PREFIX"])
    assert len({node for _, node in keys.values()}) > 1, keys
    request_keys = [key for key in keys if auth_req_id in key]
    assert {"answer", "nonce"} <= {key.rsplit(":", 1)[1] for key in request_keys}
    assert any(":ciba-poll:" in key for key in request_keys)
    citizen_keys = [key for key in keys if "{" + anna["id"] + "}" in key]
    assert len(citizen_keys) >= 2, citizen_keys  # recent starts and rejections
    for group in (request_keys, citizen_keys):
        assert len({keys[key][0] for key in group}) == 1, group

    # Log out everywhere: the sessions and their index, each deleted in its own slot.
    page = client.get("/me/sessions")
    ended = client.post("/me/sessions/end-all", data={"csrf_token": csrf_token(page)})
    assert ended.headers["Location"] == "/logged-out"
    assert client.get("/me").status_code == 302
    left = _keys_by_slot(app.config["REDIS_URL"], app.config["STORE_KEY_PREFIX"])
    assert not [key for key in left if ":sso" in key]
