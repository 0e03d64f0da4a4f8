"""The cart service's Redis store (adapters/carts.py) against a real Redis."""

from __future__ import annotations

import uuid
from typing import AsyncIterator

import pytest

from adapters.carts import CartStore
from config.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def carts(stores: Settings) -> AsyncIterator[CartStore]:
    store = CartStore(stores.model_copy(update={"redis_key_prefix": f"cart-test-{uuid.uuid4().hex[:8]}"}))
    yield store
    await store.on_stop()


async def test_an_order_empties_its_lines_once(carts: CartStore) -> None:
    """A redelivered or re-announced OrderConfirmed must not take out what Ravi put back in after it."""
    await carts.set_quantity("ravi", "IPHONE-15", 1)
    await carts.set_quantity("ravi", "LAPTOP", 1)
    await carts.set_quantity("ravi", "PIXEL-8", 2)
    assert await carts.remove("ravi", ["IPHONE-15", "LAPTOP"], "order-1")
    assert await carts.lines("ravi") == {"PIXEL-8": 2}
    await carts.set_quantity("ravi", "IPHONE-15", 3)  # he wants three more
    assert not await carts.remove("ravi", ["IPHONE-15", "LAPTOP"], "order-1")  # the same order again
    assert await carts.lines("ravi") == {"PIXEL-8": 2, "IPHONE-15": 3}
    assert await carts.remove("ravi", ["IPHONE-15"], "order-2")  # another order does take them out
    assert await carts.lines("ravi") == {"PIXEL-8": 2}
