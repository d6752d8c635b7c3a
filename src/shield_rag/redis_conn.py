"""Redis connections with retries, shared by every service.

The package depends on ``redis[hiredis]``: redis-py then reads replies with hiredis' C parser
(it falls back to its pure-Python parser where hiredis is missing, with the same results)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shield_rag.settings import RedisSettings


def make_redis(settings: RedisSettings, *, max_connections: int = 200) -> Redis:
    """A client that retries a command a few times across a Redis restart."""
    return Redis.from_url(
        settings.url,
        decode_responses=False,
        socket_timeout=None,
        socket_connect_timeout=settings.socket_timeout,
        health_check_interval=15,
        max_connections=max_connections,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=5),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, ConnectionResetError],
    )
