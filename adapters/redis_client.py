"""The one way a worker opens Redis: pooled, with timeouts, reconnecting after a Redis restart."""

from __future__ import annotations

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.settings import Settings

__all__ = ["connect"]


def connect(settings: Settings) -> "redis.Redis":
    """A client whose pooled connection that died with a Redis restart is replaced on the next call."""
    return redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True,
                          retry=Retry(ExponentialBackoff(cap=0.5), 2),
                          retry_on_error=[RedisConnectionError, RedisTimeoutError])
