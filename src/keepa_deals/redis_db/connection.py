"""The one way keepa-deals connects to Redis, for the budget and the runner locks alike."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from keepa_deals.errors import ConfigError

#: Seconds to connect, and to wait for any reply (a script runs in microseconds).
CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 2.0
#: A pooled connection idle this long is PINGed before use.
HEALTH_CHECK_INTERVAL_S = 15
#: One quick reconnect inside redis-py (a pooled connection that died with a
#: restart); the caller retries further (the TokenManager, then BudgetStoreUnavailable).
CLIENT_RETRIES = 1


def connect(url: str) -> redis.Redis:
    """A pooled client with bounded timeouts and a health check."""
    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_keepalive=True,
            health_check_interval=HEALTH_CHECK_INTERVAL_S,
            retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), CLIENT_RETRIES),
        )
    except ValueError as exc:
        # the URL may hold a password: never echo it
        raise ConfigError(
            "REDIS_URL is not a valid Redis URL (redis://[[user]:password@]host[:port][/db], "
            "rediss://… or unix://…)"
        ) from exc


def describe(client: redis.Redis) -> str:
    """host:port (or the socket path) of a client, never its credentials."""
    try:
        kw = client.connection_pool.connection_kwargs
    except AttributeError:
        return "redis"
    if kw.get("path"):
        return f"unix:{kw['path']}"
    return f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}"
