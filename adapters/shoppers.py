"""The gateway's state in Redis: Idempotency-Keys, sign-in codes, shoppers by email, orders by shopper,
and the rate limits (counted by the ``limits`` library, a kept implementation of sliding windows).

Every Redis failure is raised as :class:`~domain.errors.DependencyUnavailable`, which the API
answers 503: a checkout whose key cannot be claimed is not taken, so nothing is half-written.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any, Callable, Literal

from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from mode import Service

from adapters.redis_client import connect, unavailable_as
from config.settings import Settings

__all__ = ["ShopperStore", "KeyRecord", "ClaimOutcome", "Claim"]


#: replace the record only if it is still the one read (a takeover of an abandoned checkout)
_COMPARE_AND_SET = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""


#: the words the API answered when this was a ConnectionError, so clients see no change
_redis_errors = unavailable_as("a dependency did not answer", "the session store (Redis) cannot be reached: ")


@dataclass(frozen=True)
class KeyRecord:
    """What an Idempotency-Key holds: the request it was first used for, its order id and its answer."""

    fingerprint: str
    order_id: str
    state: Literal["in_flight", "open", "done"]
    lease_until: float
    answer: dict[str, Any] | None = None

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str) -> "KeyRecord":
        return cls(**json.loads(raw))


class ClaimOutcome(Enum):
    RUN = "run"            # this request places the order (the record is ours, in flight)
    REPLAY = "replay"      # the first request finished: answer what it answered
    IN_FLIGHT = "in_flight"  # the first request is still running: 409
    MISMATCH = "mismatch"  # the key was used for another body: 422


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    record: KeyRecord


class ShopperStore(Service):
    """The gateway's Redis connection and what it keeps there."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self._redis = connect(settings)
        self._cas = self._redis.register_script(_COMPARE_AND_SET)
        storage = RedisStorage("async+" + settings.redis_url, implementation="redispy",
                               key_prefix=f"{settings.redis_key_prefix}:limits", socket_timeout=2,
                               socket_connect_timeout=2)
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._limits: dict[str, list[RateLimitItem]] = {}

    async def on_stop(self) -> None:
        await self._redis.aclose()

    def _key(self, *parts: str) -> str:
        return ":".join((self.settings.redis_key_prefix, *parts))

    @staticmethod
    def _digest(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    # --- Idempotency-Key ---------------------------------------------------------------

    def _idem_key(self, user_id: str, key: str) -> str:
        return self._key("idem", user_id, self._digest(key))

    @_redis_errors
    async def claim(self, user_id: str, key: str, fingerprint: str, order_id: str, lease_s: float) -> Claim:
        """Take the shopper's key for this request, or say why not (Stripe's semantics).

        The first request stores its fingerprint and a new order id. A request that finds
        the key abandoned (its first request failed, or its gateway died mid-way) runs
        again with the same order id, so it can never place a second order.
        """
        now = time.time()
        ttl = self.settings.idempotency_ttl_s
        mine = KeyRecord(fingerprint, order_id, "in_flight", now + lease_s)
        raw = await self._redis.set(self._idem_key(user_id, key), mine.dumps(), nx=True, ex=ttl, get=True)
        if raw is None:
            return Claim(ClaimOutcome.RUN, mine)
        found = KeyRecord.loads(raw)
        if found.fingerprint != fingerprint:
            return Claim(ClaimOutcome.MISMATCH, found)
        if found.state == "done":
            return Claim(ClaimOutcome.REPLAY, found)
        if found.state == "in_flight" and found.lease_until > now:
            return Claim(ClaimOutcome.IN_FLIGHT, found)
        taken = replace(found, state="in_flight", lease_until=now + lease_s)
        if await self._cas(keys=[self._idem_key(user_id, key)], args=[raw, taken.dumps(), ttl]):
            return Claim(ClaimOutcome.RUN, taken)
        return Claim(ClaimOutcome.IN_FLIGHT, found)  # another request took it over first

    @_redis_errors
    async def finish(self, user_id: str, key: str, record: KeyRecord, answer: dict[str, Any]) -> None:
        """Keep the answer for the key's lifetime and list the order among the shopper's, in one step."""
        done = replace(record, state="done", answer=answer)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._idem_key(user_id, key), done.dumps(), ex=self.settings.idempotency_ttl_s)
            pipe.zadd(self._key("orders", user_id), {record.order_id: time.time()})
            await pipe.execute()

    @_redis_errors
    async def release(self, user_id: str, key: str, record: KeyRecord) -> None:
        """The request failed: the next one with this key runs again, with the same order id."""
        opened = replace(record, state="open", lease_until=0.0)
        await self._redis.set(self._idem_key(user_id, key), opened.dumps(), ex=self.settings.idempotency_ttl_s)

    # --- orders by shopper ---------------------------------------------------------------

    @_redis_errors
    async def order_ids(self, user_id: str, limit: int) -> list[str]:
        """The shopper's order ids, newest first."""
        return list(await self._redis.zrevrange(self._key("orders", user_id), 0, limit - 1))

    # --- sign-in by email ----------------------------------------------------------------

    @_redis_errors
    async def put_code(self, email: str, digest: str) -> None:
        """Keep a new code's digest; a code asked for again replaces the older one."""
        key = self._key("signin", self._digest(email))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"digest": digest, "tries": 0})
            pipe.expire(key, self.settings.signin_code_ttl_s)
            await pipe.execute()

    @_redis_errors
    async def use_code(self, email: str, matches: Callable[[str], bool]) -> bool:
        """True once for the right code: a try is counted before it is checked, the code is void after
        too many tries, and a right one is deleted as it is used (single use, even when raced)."""
        key = self._key("signin", self._digest(email))
        tries = await self._redis.hincrby(key, "tries", 1)
        digest = await self._redis.hget(key, "digest")
        if digest is None:  # none asked, expired or used (the counter just made is thrown away)
            await self._redis.delete(key)
            return False
        if tries > self.settings.signin_code_attempts:
            await self._redis.delete(key)
            return False
        if not matches(digest):
            return False
        return bool(await self._redis.delete(key))

    @_redis_errors
    async def shopper_for_email(self, email: str, new_id: str) -> str:
        """The shopper this email belongs to, made ``new_id`` the first time it signs in."""
        raw = await self._redis.set(self._key("shopper", "email", self._digest(email)), new_id, nx=True, get=True)
        return new_id if raw is None else str(raw)

    # --- rate limits ---------------------------------------------------------------------

    @_redis_errors
    async def over_limit(self, spec: str, *identity: str) -> float | None:
        """``None`` while ``identity`` is within every window of ``spec``; else seconds until it is again."""
        items = self._limits.get(spec)
        if items is None:
            items = self._limits[spec] = parse_many(spec)
        for item in items:
            if not await self._limiter.hit(item, *identity):
                stats = await self._limiter.get_window_stats(item, *identity)
                return max(1.0, stats.reset_time - time.time())
        return None

    @_redis_errors
    async def ping(self) -> bool:
        return bool(await self._redis.ping())
