"""The saga under failure: out of stock, declined, timed out, races, stuck orders, bad records, crashes.

Every scenario ends with the same invariant check (``dev/invariants.py``): final status
for all, history moving forward, charged exactly when confirmed, stock conserved, mirror agreeing.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import pytest

from config.kafka import producer, read_topic_records, send_messages
from config.settings import Settings
from dev.invariants import Stock, skipped_records, stock_levels, violations
from dev.mail_sink import read_mail
from dev.platform import Platform
from streams.commands import SetStock
from streams.topics import STOCK_COMMANDS
from tests.helpers import Megatron, Shopper, eventually, read_topic, service_down

pytestmark = pytest.mark.integration


async def settled_stock(settings: Settings, http: aiohttp.ClientSession, *skus: str) -> Stock:
    """Stock of ``skus`` once nothing is held any more (earlier orders have committed or released)."""
    levels = await eventually(lambda: stock_levels(settings, http),
                              lambda s: all(s[k][1] == 0 for k in skus), timeout=30)
    return {k: levels[k] for k in skus}


async def set_stock(settings: Settings, http: aiohttp.ClientSession, sku: str, on_hand: int) -> Stock:
    await send_messages(settings, STOCK_COMMANDS, [SetStock(order_id=f"test-{uuid.uuid4().hex}", sku=sku,
                                                            on_hand=on_hand)])
    levels = await eventually(lambda: stock_levels(settings, http), lambda s: s[sku][0] == on_hand)
    return {sku: levels[sku]}


async def assert_invariants(settings: Settings, http: aiohttp.ClientSession, order_ids: list[str],
                            before: Stock, timeout: float = 30) -> None:
    """The invariants hold once the compensations and the mirror have caught up, and no
    service skipped a record of the topics it reads (from the workers' logs)."""
    problems = await eventually(lambda: violations(settings, http, order_ids, before), lambda v: v == [],
                                timeout=timeout, interval=0.25)
    assert problems == []
    assert skipped_records(settings.log_dir) == []


async def types_for(settings: Settings, topic: str, order_id: str) -> list[str]:
    return [e["type"] for e in await read_topic(settings, topic) if e.get("order_id") == order_id]


async def test_out_of_stock_fails_releases_and_charges_nothing(settings: Settings, http: aiohttp.ClientSession) -> None:
    before = {**await settled_stock(settings, http, "PIXEL-8"), **await set_stock(settings, http, "GALAXY-S24", 2)}
    shopper = Shopper(http, settings)
    await shopper.set_line("PIXEL-8", 1)
    await shopper.set_line("GALAXY-S24", 3)
    status, placed = await shopper.checkout()
    assert status == 202
    order = await shopper.final_order(placed["order_id"])
    assert (order["status"], order["reason"]) == ("FAILED", "OUT_OF_STOCK")
    assert [h["status"] for h in order["history"]] == ["CREATED", "FAILED"]
    await eventually(lambda: types_for(settings, "inventory-events", order["order_id"]),
                     lambda t: t == ["InventoryFailed", "InventoryReleased"])
    assert await types_for(settings, "payment-events", order["order_id"]) == [], "no payment attempted"
    await assert_invariants(settings, http, [order["order_id"]], before)


async def test_declined_payment_fails_releases_keeps_cart_and_tells_the_shopper(
        settings: Settings, http: aiohttp.ClientSession) -> None:
    before = await settled_stock(settings, http, "PIXEL-8")
    shopper = Shopper(http, settings)
    await shopper.set_line("PIXEL-8", 2)
    status, placed = await shopper.checkout("declined@upi")
    order = await shopper.final_order(placed["order_id"])
    assert (order["status"], order["reason"]) == ("FAILED", "PAYMENT_DECLINED")
    assert [h["status"] for h in order["history"]] == ["CREATED", "INVENTORY_RESERVED", "FAILED"]
    await assert_invariants(settings, http, [order["order_id"]], before)
    _, cart = await shopper.call("GET", f"/cart/{shopper.user_id}")
    assert [(i["sku"], i["quantity"]) for i in cart["items"]] == [("PIXEL-8", 2)], "kept for a retry"
    mail = await eventually(lambda: asyncio.to_thread(read_mail, settings.mail_dir,
                                                      f"{shopper.user_id}@customers.megatron.store"), bool)
    assert "declined" in mail[0]


async def test_payment_timeout_retries_then_fails_and_voids(settings: Settings, http: aiohttp.ClientSession) -> None:
    before = await settled_stock(settings, http, "PIXEL-8")
    shopper = Shopper(http, settings)
    await shopper.set_line("PIXEL-8", 1)
    status, placed = await shopper.checkout("timeout@upi")
    order = await shopper.final_order(placed["order_id"], timeout=30)
    assert (order["status"], order["reason"]) == ("FAILED", "PAYMENT_TIMEOUT")
    payment = await ledger_entry(http, settings, order["order_id"])
    assert payment["status"] == "VOIDED", "given up: it can never be approved later"
    assert payment["requests"] >= 2, "retried under the same idempotency key before giving up"
    await assert_invariants(settings, http, [order["order_id"]], before)


async def ledger_entry(http: aiohttp.ClientSession, settings: Settings, order_id: str) -> dict[str, Any]:
    async with http.get(f"{settings.upi_gateway_url}/v1/payments/pay-{order_id}") as r:
        return dict(await r.json())


async def test_race_for_the_last_units(settings: Settings, http: aiohttp.ClientSession) -> None:
    """50 shoppers, 10 units: exactly 10 confirmed, 40 out of stock, never below zero."""
    await settled_stock(settings, http, "MACBOOK-AIR")
    before = await set_stock(settings, http, "MACBOOK-AIR", 10)
    shoppers = [Shopper(http, settings) for _ in range(50)]
    await asyncio.gather(*(s.set_line("MACBOOK-AIR", 1) for s in shoppers))
    placed = await asyncio.gather(*(s.checkout() for s in shoppers))
    assert all(status == 202 for status, _ in placed), placed
    orders = await asyncio.gather(*(s.final_order(p["order_id"], timeout=60) for s, (_, p) in zip(shoppers, placed)))
    outcomes = sorted((o["status"], o["reason"]) for o in orders)
    assert outcomes.count(("CONFIRMED", None)) == 10
    assert outcomes.count(("FAILED", "OUT_OF_STOCK")) == 40
    await assert_invariants(settings, http, [o["order_id"] for o in orders], before)
    assert (await stock_levels(settings, http))["MACBOOK-AIR"] == (0, 0)


async def test_stuck_order_times_out_with_compensation(platform: Platform, settings: Settings,
                                                       http: aiohttp.ClientSession) -> None:
    """Payment service down: the order's deadline fails it TIMED_OUT and releases its stock."""
    before = await settled_stock(settings, http, "GALAXY-S24")
    async with service_down(platform, "payment"):
        shopper = Shopper(http, settings)
        await shopper.set_line("GALAXY-S24", 1)
        _, placed = await shopper.checkout()
        order = await shopper.final_order(placed["order_id"], timeout=settings.order_deadline_s + 15)
        assert (order["status"], order["reason"]) == ("FAILED", "TIMED_OUT")
        held = await stock_levels(settings, http)
        await eventually(lambda: stock_levels(settings, http), lambda s: s["GALAXY-S24"] == before["GALAXY-S24"])
        assert held["GALAXY-S24"][0] == before["GALAXY-S24"][0]
    # the payment service, back, must not charge a failed order (or must refund it)
    await assert_invariants(settings, http, [order["order_id"]], before)


async def test_a_charge_made_by_a_worker_that_died_unrecorded_is_refunded(
        platform: Platform, settings: Settings, http: aiohttp.ClientSession, megatron: Megatron) -> None:
    """The gateway approved a charge, the payment worker died before storing it, the order failed.

    The charge is made here as the dying worker made it (same payment id, amount and VPA), with
    the payment and inventory services down; the order is then cancelled. The payment worker
    comes back first and cancels the payment; the reservation it hears afterwards makes it ask
    the gateway, find the approval and refund it (the order seen in the crash test).
    """
    before = await settled_stock(settings, http, "PIXEL-8")
    async with service_down(platform, "inventory"):
        async with service_down(platform, "payment"):
            shopper = Shopper(http, settings)
            await shopper.set_line("PIXEL-8", 1)
            _, placed = await shopper.checkout("ravi@okhdfc")
            oid = placed["order_id"]
            order = await shopper.order(oid)
            body = {"order_id": oid, "vpa": "ravi@okhdfc", "amount_paise": order["total_paise"]}
            async with http.post(f"{settings.upi_gateway_url}/v1/payments/pay-{oid}", json=body) as r:
                assert (await r.json())["status"] == "APPROVED"
            await megatron.json("order-cancel", oid, "--reason", "shopper gave up")

        async def payment() -> Any:
            async with http.get(f"{settings.service_url('payment')}/payments/{oid}") as r:
                return await r.json()
        cancelled = await eventually(payment, lambda p: p.get("status") == "CANCELLED")
        assert not cancelled["reserved"], "inventory is down: the reservation comes after the cancellation"
    await assert_invariants(settings, http, [oid], before)  # a FAILED order holds no charge
    async with http.get(f"{settings.upi_gateway_url}/v1/payments/pay-{oid}") as r:
        assert (await r.json())["status"] == "REFUNDED"


async def test_malformed_record_goes_to_dead_letters_and_is_redriven(
        settings: Settings, http: aiohttp.ClientSession, megatron: Megatron) -> None:
    key = f"bad-{uuid.uuid4().hex[:8]}"
    p = producer(settings)
    await p.start()
    try:
        await p.send_and_wait("inventory-events", key=key.encode(), value=b'{"type": "InventoryReserved"')
    finally:
        await p.stop()
    letters = await eventually(
        lambda: read_topic_records(settings, "inventory-events.dlq"),
        lambda rs: any(k == key for k, _ in rs))
    letter = json.loads(next(v for k, v in letters if k == key))
    assert letter["topic"] == "inventory-events" and letter["value"] == '{"type": "InventoryReserved"'
    assert letter["error"] and letter["service"] in ("orders", "payment")
    # the agents went on: a checkout still confirms
    shopper = Shopper(http, settings)
    await shopper.set_line("IPHONE-15", 1)
    _, placed = await shopper.checkout()
    assert (await shopper.final_order(placed["order_id"]))["status"] == "CONFIRMED"
    # the operator sees it, and re-drives it (still bad, so it comes back to the DLQ once more)
    listed = await megatron.json("dlq-list", "--topic", "inventory-events")
    assert any(row["key"] == key for row in listed)
    redriven = await megatron.json("dlq-redrive", "--topic", "inventory-events")
    assert [r["result"] for r in redriven if r["key"] == key].count("sent") == 1
    again = await megatron.json("dlq-redrive", "--topic", "inventory-events")
    assert not [r for r in again if r["key"] == key and r["result"] == "sent" and r["offset"] == letter["offset"]]
