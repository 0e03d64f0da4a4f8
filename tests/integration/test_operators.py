"""Operators run, watch and mend the platform: the real ``megatron`` commands, metrics, logs, two workers."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from config.settings import Settings
from dev.broker import free_port
from dev.invariants import violations
from dev.platform import Platform
from tests.helpers import Megatron, Shopper, eventually, read_topic, service_down
from tests.integration.test_failures import assert_invariants, set_stock, settled_stock

pytestmark = pytest.mark.integration


async def confirmed_order(http: aiohttp.ClientSession, settings: Settings, sku: str = "IPHONE-15") -> dict:
    shopper = Shopper(http, settings)
    await shopper.set_line(sku, 1)
    _, placed = await shopper.checkout()
    return await shopper.final_order(placed["order_id"])


async def test_order_show_tells_the_whole_story(http: aiohttp.ClientSession, settings: Settings,
                                                 megatron: Megatron) -> None:
    order = await confirmed_order(http, settings)
    shown = await eventually(lambda: megatron.json("order-show", order["order_id"]),
                             lambda d: d["notifications"] and all(h["state"] == "COMMITTED" for h in d["holds"]))
    assert shown["order"]["status"] == "CONFIRMED"
    assert [h["status"] for h in shown["order"]["history"]] == ["CREATED", "INVENTORY_RESERVED", "CONFIRMED"]
    assert [a["status"] for a in shown["payment"]["attempts"]] == ["CONFIRMED"]
    assert [(h["sku"], h["quantity"]) for h in shown["holds"]] == [("IPHONE-15", 1)]
    assert "CONFIRMED:email" in shown["notifications"]
    code, out, err = await megatron.run("order-show", order["order_id"])
    assert code == 0 and "History" in out and "INVENTORY_RESERVED" in out, err


async def test_stuck_order_listed_and_cancelled_with_compensation(
        platform: Platform, http: aiohttp.ClientSession, settings: Settings, megatron: Megatron) -> None:
    before = await settled_stock(settings, http, "LAPTOP")
    async with service_down(platform, "payment"):
        shopper = Shopper(http, settings)
        await shopper.set_line("LAPTOP", 1)
        _, placed = await shopper.checkout()
        oid = placed["order_id"]
        await eventually(lambda: shopper.order(oid), lambda o: o["status"] == "INVENTORY_RESERVED")
        stuck = await eventually(lambda: megatron.json("orders-stuck", "--older-than", "1s"),
                                 lambda rows: any(r["order_id"] == oid for r in rows))
        assert [r["status"] for r in stuck if r["order_id"] == oid] == ["INVENTORY_RESERVED"]
        cancelled = await megatron.json("order-cancel", oid, "--reason", "customer called to cancel")
        assert [(c["status"], c["reason"], c["note"]) for c in cancelled] == [
            ("FAILED", "CANCELLED", "customer called to cancel")]
    events = [e for e in await read_topic(settings, "order-events") if e["order_id"] == oid]
    assert [(e["type"], e.get("reason")) for e in events] == [("OrderPlaced", None), ("OrderFailed", "CANCELLED")]
    await eventually(lambda: read_topic(settings, "inventory-events"),
                     lambda evs: [e["type"] for e in evs if e["order_id"] == oid] == ["InventoryReserved",
                                                                                      "InventoryReleased"])
    await assert_invariants(settings, http, [oid], before)
    code, _, err = await megatron.run("order-cancel", oid, "--reason", "again")
    assert code != 0 and "already FAILED" in err and len(err.strip().splitlines()) == 1


async def test_stock_set_and_show_through_the_owner(http: aiohttp.ClientSession, settings: Settings,
                                                    megatron: Megatron) -> None:
    await settled_stock(settings, http, "GALAXY-S24")
    [row] = await megatron.json("stock-set", "GALAXY-S24", "--on-hand", "40")
    assert (row["on_hand"], row["reserved"]) == (40, 0)
    [shown] = await megatron.json("stock-show", "GALAXY-S24")
    assert shown == {"sku": "GALAXY-S24", "on_hand": 40, "reserved": 0, "available": 40}
    assert len(await megatron.json("stock-show")) == 6
    sets = [e for e in await read_topic(settings, "stock-commands") if e["type"] == "SetStock"
            and e["sku"] == "GALAXY-S24" and e["on_hand"] == 40]
    assert sets, "the change went to the SKU's owner as an event"


@pytest.mark.parametrize("args, says", [
    (("order-show", "no-such-order"), "no order"),
    (("order-cancel", "no-such-order", "--reason", "x"), "no order"),
    (("stock-set", "GALAXY-S24", "--on-hand", "-3"), "0 or more"),
    (("stock-set", "NOKIA-3310", "--on-hand", "3"), "unknown SKU"),
    (("stock-show", "NOKIA-3310"), "unknown SKU"),
    (("orders-stuck", "--older-than", "5 minutes"), "bad duration"),
    (("dlq-list", "--topic", "no-such-topic"), "unknown topic"),
])
async def test_bad_input_is_one_line_and_non_zero(http: aiohttp.ClientSession, settings: Settings,
                                                  megatron: Megatron, args: tuple[str, ...], says: str) -> None:
    stock_before = await megatron.json("stock-show", "GALAXY-S24")
    code, out, err = await megatron.run(*args)
    assert code != 0
    assert says in err and len(err.strip().splitlines()) == 1, err
    assert await megatron.json("stock-show", "GALAXY-S24") == stock_before, "nothing changed"


async def test_topics_check(megatron: Megatron) -> None:
    rows = await megatron.json("topics-check")
    assert rows and all(r["state"] == "ok" for r in rows), [r for r in rows if r["state"] != "ok"]
    names = {r["topic"] for r in rows}
    assert {"order-events", "order-events.dlq", "stock-commands"} <= names
    assert any(n.endswith("-orders-orders-changelog") for n in names)


async def metrics(http: aiohttp.ClientSession, url: str) -> dict[tuple[str, tuple], float]:
    async with http.get(f"{url}/metrics") as r:
        text = await r.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    return sum(v for (n, lbls), v in samples.items()
               if n == name and all(dict(lbls).get(k) == val for k, val in labels.items()))


async def test_metrics_move_after_an_order(http: aiohttp.ClientSession, settings: Settings) -> None:
    orders_url, payment_url = settings.service_url("orders"), settings.service_url("payment")
    before_o, before_p = await metrics(http, orders_url), await metrics(http, payment_url)
    await confirmed_order(http, settings)
    after_o, after_p = await metrics(http, orders_url), await metrics(http, payment_url)
    assert total(after_o, "megatron_orders_total", status="CONFIRMED") > total(before_o, "megatron_orders_total",
                                                                               status="CONFIRMED")
    assert total(after_o, "megatron_events_in_total", topic="order-commands") > total(
        before_o, "megatron_events_in_total", topic="order-commands")
    assert total(after_o, "megatron_events_out_total", topic="order-events") > total(
        before_o, "megatron_events_out_total", topic="order-events")
    assert total(after_o, "megatron_handler_seconds_count") > total(before_o, "megatron_handler_seconds_count")
    assert total(after_p, "megatron_payment_gateway_seconds_count", call="charge") > total(
        before_p, "megatron_payment_gateway_seconds_count", call="charge")
    assert any(n == "megatron_consumer_lag" for n, _ in after_o), "lag per assigned partition"
    assert any(n == "megatron_mirror_lag_seconds_count" for n, _ in after_o)


async def test_one_order_can_be_followed_through_all_six_logs(http: aiohttp.ClientSession, settings: Settings) -> None:
    order = await confirmed_order(http, settings)
    oid = order["order_id"]

    def logs_with_order() -> set[str]:
        return {p.stem for p in settings.log_dir.glob("*.log") if oid in p.read_text(errors="replace")}

    found = await eventually(lambda: asyncio.to_thread(logs_with_order),
                             lambda s: {"gateway", "cart", "orders", "inventory", "payment", "notification"} <= s)
    assert len(found) >= 6


async def test_a_second_order_worker_joins_and_leaves_under_load(
        platform: Platform, http: aiohttp.ClientSession, settings: Settings) -> None:
    await settled_stock(settings, http, "REDMI-13C")
    before = await set_stock(settings, http, "REDMI-13C", 500)  # enough that none fails out of stock
    done: list[str] = []
    owners: dict[str, Shopper] = {}
    stop = asyncio.Event()

    async def load() -> None:
        while not stop.is_set() and len(done) < 200:
            shopper = Shopper(http, settings)
            await shopper.set_line("REDMI-13C", 1)
            placed = await shopper.checkout_until_accepted("ravi@upi", uuid.uuid4().hex)
            await shopper.final_order(placed["order_id"], timeout=60)
            owners[placed["order_id"]] = shopper
            done.append(placed["order_id"])

    loaders = [asyncio.create_task(load()) for _ in range(3)]
    second = {"ORDERS_URL": f"http://127.0.0.1:{free_port()}"}
    await eventually(lambda: asyncio.sleep(0, len(done)), lambda n: n >= 3, timeout=60)
    platform.start_service("orders", name="orders-2", extra_env=second)
    await asyncio.to_thread(platform.wait_ready, "orders-2")
    mark = len(done)
    await eventually(lambda: asyncio.sleep(0, len(done)), lambda n: n >= mark + 6, timeout=60)
    platform.stop_proc("orders-2")
    mark = len(done)
    await eventually(lambda: asyncio.sleep(0, len(done)), lambda n: n >= mark + 6, timeout=60)
    stop.set()
    await asyncio.gather(*loaders)
    problems = await violations(settings, http, done, before)
    if problems:  # compensation and the mirror may trail the last orders by a moment
        await assert_invariants(settings, http, done, before)
    statuses = [(await owners[oid].order(oid))["status"] for oid in done]
    assert statuses.count("CONFIRMED") == len(done)
