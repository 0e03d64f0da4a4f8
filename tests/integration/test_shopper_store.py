"""The gateway's Redis store (adapters/shoppers.py) against a real Redis: Idempotency-Key claims,
sign-in codes and rate limits, each race decided by Redis, not by the caller."""

from __future__ import annotations

import asyncio
import uuid
from typing import AsyncIterator

import pytest

from adapters.shoppers import ClaimOutcome, ShopperStore
from config.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(stores: Settings) -> AsyncIterator[ShopperStore]:
    s = ShopperStore(stores.model_copy(update={"redis_key_prefix": f"store-test-{uuid.uuid4().hex[:8]}",
                                               "signin_code_attempts": 3}))
    yield s
    await s.on_stop()


async def test_a_key_runs_once_then_replays(store: ShopperStore) -> None:
    first = await store.claim("u-1", "k", "fp", "order-a", lease_s=30)
    assert first.outcome is ClaimOutcome.RUN and first.record.order_id == "order-a"
    assert (await store.claim("u-1", "k", "fp", "order-b", 30)).outcome is ClaimOutcome.IN_FLIGHT
    assert (await store.claim("u-1", "k", "other", "order-b", 30)).outcome is ClaimOutcome.MISMATCH
    await store.finish("u-1", "k", first.record, {"order_id": "order-a", "status": "CREATED"})
    again = await store.claim("u-1", "k", "fp", "order-c", 30)
    assert again.outcome is ClaimOutcome.REPLAY and again.record.answer == {"order_id": "order-a", "status": "CREATED"}
    assert (await store.claim("u-1", "k", "other", "order-c", 30)).outcome is ClaimOutcome.MISMATCH
    assert await store.order_ids("u-1", 10) == ["order-a"]
    # the same key of another shopper is his own
    assert (await store.claim("u-2", "k", "fp", "order-d", 30)).outcome is ClaimOutcome.RUN


async def test_a_failed_or_abandoned_request_runs_again_with_the_same_order_id(store: ShopperStore) -> None:
    first = await store.claim("u-1", "k", "fp", "order-a", lease_s=30)
    await store.release("u-1", "k", first.record)
    retry = await store.claim("u-1", "k", "fp", "order-b", 30)
    assert retry.outcome is ClaimOutcome.RUN and retry.record.order_id == "order-a"
    # a lease that ran out (the gateway died mid-checkout) is taken over, still with the same id
    await store.release("u-1", "k", retry.record)
    dead = await store.claim("u-1", "k", "fp", "order-c", lease_s=0)
    assert dead.outcome is ClaimOutcome.RUN
    taken = await store.claim("u-1", "k", "fp", "order-d", 30)
    assert taken.outcome is ClaimOutcome.RUN and taken.record.order_id == "order-a"


async def test_fifty_racing_claims_let_exactly_one_run(store: ShopperStore) -> None:
    claims = await asyncio.gather(*(store.claim("u-1", "k", "fp", f"order-{i}", 30) for i in range(50)))
    assert [c.outcome for c in claims].count(ClaimOutcome.RUN) == 1
    # and racing takeovers of an abandoned key: one wins
    winner = next(c for c in claims if c.outcome is ClaimOutcome.RUN)
    await store.release("u-1", "k", winner.record)
    claims = await asyncio.gather(*(store.claim("u-1", "k", "fp", f"order-x{i}", 30) for i in range(50)))
    runs = [c for c in claims if c.outcome is ClaimOutcome.RUN]
    assert len(runs) == 1 and runs[0].record.order_id == winner.record.order_id


async def test_a_code_is_single_use_and_dies_after_its_tries(store: ShopperStore) -> None:
    await store.put_code("r@example.in", "right")
    assert not await store.use_code("r@example.in", lambda d: d == "wrong")
    assert await store.use_code("r@example.in", lambda d: d == "right")
    assert not await store.use_code("r@example.in", lambda d: d == "right"), "used"
    await store.put_code("r@example.in", "right")
    for _ in range(3):
        assert not await store.use_code("r@example.in", lambda d: False)
    assert not await store.use_code("r@example.in", lambda d: d == "right"), "void after 3 wrong tries"
    assert not await store.use_code("nobody@example.in", lambda d: True), "none asked"


async def test_racing_uses_of_one_code_sign_in_once(store: ShopperStore) -> None:
    await store.put_code("r@example.in", "right")
    results = await asyncio.gather(*(store.use_code("r@example.in", lambda d: d == "right") for _ in range(3)))
    assert results.count(True) == 1


async def test_an_email_is_one_shopper(store: ShopperStore) -> None:
    assert await store.shopper_for_email("r@example.in", "u-first") == "u-first"
    assert await store.shopper_for_email("r@example.in", "u-second") == "u-first"


async def test_rate_limit_counts_per_identity(store: ShopperStore) -> None:
    assert [await store.over_limit("3/minute", "shopper", "a") for _ in range(3)] == [None] * 3
    retry_after = await store.over_limit("3/minute", "shopper", "a")
    assert retry_after is not None and 1 <= retry_after <= 60
    assert await store.over_limit("3/minute", "shopper", "b") is None
