"""The short-lived store: Redis, or in development an in-process fakeredis with the same API."""

from __future__ import annotations

import fakeredis
import redis
from flask import Flask, current_app


class Store:
    """Holds one Redis client per app; keys are namespaced by ``STORE_KEY_PREFIX``."""

    def init_app(self, app: Flask) -> None:
        url = app.config["REDIS_URL"]
        if url:
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        else:
            # One private server per app: the embedded store lives and dies with the process.
            client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
        app.extensions["tillid_store"] = client
        app.extensions["tillid_store_prefix"] = app.config["STORE_KEY_PREFIX"]

    @property
    def embedded(self) -> bool:
        return not current_app.config["REDIS_URL"]

    @property
    def redis(self) -> redis.Redis:
        return current_app.extensions["tillid_store"]

    def key(self, *parts: str) -> str:
        return current_app.extensions["tillid_store_prefix"] + ":".join(parts)
