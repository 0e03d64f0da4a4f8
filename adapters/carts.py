"""Carts in Redis: one hash per shopper, SKU -> quantity (prices come from the catalog when read)."""

from __future__ import annotations

import asyncio
import logging

from mode import Service
from redis.exceptions import RedisError

from adapters.redis_client import connect, unavailable_as
from config.settings import Settings

__all__ = ["CartStore"]

log = logging.getLogger(__name__)

_unavailable = unavailable_as("the cart store (Redis) cannot be reached")

#: how long a cart remembers the orders it was emptied for: longer than order-events keeps a record
#: (Kafka's default retention, 7 days), so no redelivery outlives the memory of the first one
EMPTIED_FOR_S = 8 * 24 * 3600

#: take the lines out once per order: a redelivered or re-announced OrderConfirmed must not take out
#: the same SKUs the shopper put back in since
_REMOVE_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('HDEL', KEYS[1], unpack(ARGV, 2))
end
return -1
"""


class CartStore(Service):
    """The cart service's Redis connection; a Redis error is :class:`DependencyUnavailable`, a 503 the
    shopper can retry."""

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self._redis = connect(settings)
        self._remove_once = self._redis.register_script(_REMOVE_ONCE)

    def _key(self, user_id: str) -> str:
        return f"{self.settings.redis_key_prefix}:cart:{user_id}"

    async def on_stop(self) -> None:
        await self._redis.aclose()

    @_unavailable
    async def lines(self, user_id: str) -> dict[str, int]:
        """SKU -> quantity of the shopper's cart (empty when there is none)."""
        raw = await self._redis.hgetall(self._key(user_id))
        return {sku: int(qty) for sku, qty in raw.items()}

    @_unavailable
    async def set_quantity(self, user_id: str, sku: str, quantity: int) -> None:
        """Set one line; 0 removes it."""
        if quantity == 0:
            await self._redis.hdel(self._key(user_id), sku)
        else:
            await self._redis.hset(self._key(user_id), sku, quantity)

    async def remove(self, user_id: str, skus: list[str], order_id: str, patience_s: float = 60.0) -> bool:
        """Take the lines of order ``order_id`` out of a cart, once; True if this call took them out (False: taken
        out for that order before, or Redis stayed away). Waits, bounded, for Redis rather than dropping it."""
        delay, waited = 0.1, 0.0
        keys = [self._key(user_id), f"{self.settings.redis_key_prefix}:cart-emptied-for:{order_id}"]
        while True:
            try:
                return bool(await self._remove_once(keys=keys, args=[EMPTIED_FOR_S, *skus]) != -1)
            except (RedisError, OSError) as exc:
                if waited >= patience_s:
                    log.error("cart %s: lines %s not removed, Redis away for %.0fs: %s", user_id, skus, waited, exc)
                    return False
                await asyncio.sleep(delay)
                waited += delay
                delay = min(delay * 2, 5.0)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False
