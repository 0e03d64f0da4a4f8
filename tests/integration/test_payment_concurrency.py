"""A silent UPI gateway delays only its own order: the payment service calls the gateway off the partition's path.

Shoppers whose payer never answers (``timeout@upi``) are placed first, several on every
payment partition, and their charges are at the gateway; then shoppers who pay at once
check out on the same partitions. If a silent call held its partition, the payment
service would hear those orders only after it gave up, at least ``UPI_TIMEOUT_S`` later;
it must pay them at its usual latency, while the silent ones are still being retried.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from aiokafka.partitioner import murmur2

from config.settings import Settings
from tests.helpers import Shopper, eventually, read_topic
from tests.integration.test_failures import assert_invariants, ledger_entry, set_stock, settled_stock

pytestmark = pytest.mark.integration

SKU = "LAPTOP"
SILENT_PER_PARTITION = 3
INSTANT_PER_PARTITION = 2


def partition_of(order_id: str, partitions: int) -> int:
    """The partition of an order's records (and so of its payment): the producer's default partitioner."""
    return (murmur2(order_id.encode()) & 0x7FFFFFFF) % partitions


async def place_until(http: aiohttp.ClientSession, settings: Settings, vpa: str, per_partition: int,
                      limit: int = 80) -> dict[str, Shopper]:
    """Orders paid from ``vpa``, placed a few at a time until every partition has ``per_partition``
    (order ids are the server's, so where one lands is known only once it is placed)."""
    partitions = settings.topic_partitions
    placed: dict[str, Shopper] = {}
    counts: Counter[int] = Counter()

    async def one() -> tuple[str, Shopper]:
        shopper = Shopper(http, settings)
        status, cart = await shopper.set_line(SKU, 1)
        assert status == 200, cart
        status, body = await shopper.checkout(vpa)
        assert status == 202, body
        return str(body["order_id"]), shopper

    while any(counts[p] < per_partition for p in range(partitions)):
        assert len(placed) < limit, f"{limit} orders did not cover every partition: {counts}"
        batch = dict(await asyncio.gather(*(one() for _ in range(partitions))))
        placed.update(batch)
        counts.update(partition_of(oid, partitions) for oid in batch)
    return placed


def at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


async def test_instant_payers_are_paid_at_their_usual_latency_beside_silent_ones(
        settings: Settings, http: aiohttp.ClientSession) -> None:
    before = await settled_stock(settings, http, SKU)
    before = await set_stock(settings, http, SKU, before[SKU][0] + 100)  # enough for every order here

    silent = await place_until(http, settings, "timeout@upi", SILENT_PER_PARTITION)
    # every silent charge has reached the gateway, which will never answer it
    await eventually(lambda: asyncio.gather(*(ledger_entry(http, settings, oid) for oid in silent)),
                     lambda entries: all(e.get("status") == "PENDING" for e in entries), timeout=30)

    instant = await place_until(http, settings, "ravi@okhdfc", INSTANT_PER_PARTITION)
    confirmed = await asyncio.gather(*(shopper.final_order(oid) for oid, shopper in instant.items()))
    assert [o["status"] for o in confirmed] == ["CONFIRMED"] * len(instant), confirmed

    # how long the payment service took from hearing the reservation to announcing the payment
    reserved = {e["order_id"]: at(e) for e in await read_topic(settings, "inventory-events")
                if e["type"] == "InventoryReserved" and e["order_id"] in instant}
    paid = {e["order_id"]: at(e) for e in await read_topic(settings, "payment-events")
            if e["type"] == "PaymentConfirmed" and e["order_id"] in instant}
    took = {oid: (paid[oid] - reserved[oid]).total_seconds() for oid in instant}
    # A silent call holding its partition would keep the instant payers behind it for the rest of that
    # call, up to UPI_TIMEOUT_S each: the typical one would wait half of it, and some a whole one. One
    # payer's scheduling hiccup on a loaded machine is neither, so the typical payer is judged against
    # half the timeout and every payer against the whole.
    typical = statistics.median(took.values())
    assert typical < settings.upi_timeout_s / 2, f"the median payer was paid {typical:.3f}s after its reservation"
    slow = {oid: round(s, 3) for oid, s in took.items() if s >= settings.upi_timeout_s}
    assert not slow, f"paid a whole UPI_TIMEOUT_S after the reservation (of {len(instant)}): {slow}"

    # the silent ones were still being tried meanwhile, and end as a payment that timed out, voided
    failed = await asyncio.gather(*(shopper.final_order(oid, timeout=60) for oid, shopper in silent.items()))
    assert {(o["status"], o["reason"]) for o in failed} == {("FAILED", "PAYMENT_TIMEOUT")}, failed
    last_paid = max(paid.values())
    for order in failed:
        assert datetime.fromisoformat(order["history"][-1]["at"]) > last_paid, "a silent payment ended first"
    assert {(await ledger_entry(http, settings, oid))["status"] for oid in silent} == {"VOIDED"}
    await assert_invariants(settings, http, [*silent, *instant], before)
