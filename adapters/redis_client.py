"""The one way a worker opens Redis: pooled, with timeouts, reconnecting after a Redis restart."""

from __future__ import annotations

from functools import wraps
from typing import Awaitable, Callable, ParamSpec, TypeVar

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.settings import Settings
from domain.errors import DependencyUnavailable

__all__ = ["connect", "unavailable_as"]

P = ParamSpec("P")
T = TypeVar("T")


def connect(settings: Settings) -> "redis.Redis":
    """A client whose pooled connection that died with a Redis restart is replaced on the next call."""
    return redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True,
                          retry=Retry(ExponentialBackoff(cap=0.5), 2),
                          retry_on_error=[RedisConnectionError, RedisTimeoutError])


def unavailable_as(message: str, error: str = "") -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Raise a Redis failure of the wrapped call as :class:`DependencyUnavailable` (a 503 the client
    may retry) with ``message``; ``error`` prefixes the Redis error in its details."""
    def wrap(fun: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @wraps(fun)
        async def call(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return await fun(*args, **kwargs)
            except (RedisError, OSError) as exc:
                raise DependencyUnavailable(message, {"error": f"{error}{exc}"}) from None
        return call
    return wrap
