"""The short-lived store: Redis, a Redis Cluster, or in development an in-process fakeredis
with the same API.

On a cluster every command must name keys of one hash slot. Tillid's code keeps to that:
each command names one key, except where keys that belong together share a hash tag
(``store.tag``), so they land in one slot. Pipelines say whether they need MULTI/EXEC:
a transaction only over keys of one slot, else ``transaction=False``, which on a cluster
sends each command to its own node.
"""

from __future__ import annotations

import fakeredis
import redis
from flask import Flask, current_app
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException

from idp.core.config import ConfigurationError, redis_cluster

# A store that hangs (accepts, never answers) costs a request 5 s, then a 503.
TIMEOUTS = {"socket_timeout": 5, "socket_connect_timeout": 5}


def _cluster_client(options: dict) -> RedisCluster:
    nodes = options["startup_nodes"]
    startup = [ClusterNode(host, port) for host, port in nodes]
    credentials = {k: v for k, v in options.items() if k != "startup_nodes"}
    try:
        # The client learns the slot map from the first node that answers.
        return RedisCluster(startup_nodes=startup, **credentials, **TIMEOUTS)
    except (redis.RedisError, RedisClusterException) as exc:
        where = ", ".join(f"{host}:{port}" for host, port in nodes)
        raise ConfigurationError(
            f"REDIS_URL: no Redis Cluster answered at {where} ({type(exc).__name__}: {exc})"
        ) from None


# Registered scripts by client (id, and the client itself: an id is reused once freed).
_scripts: dict[int, tuple[object, dict[str, object]]] = {}


class Store:
    """Holds one Redis client per app; keys are namespaced by ``STORE_KEY_PREFIX``."""

    def init_app(self, app: Flask) -> None:
        url = app.config["REDIS_URL"]
        cluster = redis_cluster(url)
        if cluster:
            client = _cluster_client(cluster)
        elif url:
            client = redis.Redis.from_url(url, **TIMEOUTS)
        else:
            # One private server per app: the embedded store lives and dies with the process.
            client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
        app.extensions["tillid_store"] = client
        app.extensions["tillid_store_prefix"] = app.config["STORE_KEY_PREFIX"]

    @property
    def embedded(self) -> bool:
        return not current_app.config["REDIS_URL"]

    @property
    def redis(self) -> redis.Redis | RedisCluster:
        return current_app.extensions["tillid_store"]

    def script(self, source: str):
        """A Lua script registered with the app's client, once per client: called with keys
        and args, it sends EVALSHA (EVAL the first time a server lacks it)."""
        client = self.redis
        kept = _scripts.get(id(client))
        if kept is None or kept[0] is not client:
            kept = (client, {})
            _scripts[id(client)] = kept
        registered = kept[1].get(source)
        if registered is None:
            registered = kept[1][source] = client.register_script(source)
        return registered

    def key(self, *parts: str) -> str:
        return current_app.extensions["tillid_store_prefix"] + ":".join(parts)

    @staticmethod
    def tag(value: str) -> str:
        """A key part that is the key's hash tag: keys with the same tag share a cluster slot
        (only the first ``{...}`` of a key counts, so a key takes at most one)."""
        return "{" + value + "}"
