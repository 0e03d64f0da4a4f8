"""The checkout's invariants, checked from the outside: one place for failure tests, chaos and load runs.

Given the orders a run placed and the stock before it, :func:`violations` reads the
services' own answers (orders, stock), the payment gateway's ledger and the MySQL
mirror, and lists every broken rule (an empty list means all hold):
- every order reached a final status, and its history has no status twice and moves forward;
- a FAILED order has a known reason, a CONFIRMED one none;
- money: a CONFIRMED order was charged exactly once, its total; a FAILED one holds no charge
  (declined, voided or refunded);
- stock: on hand went down by exactly the units of confirmed orders, nothing stays reserved,
  nothing is negative, in the inventory service and in ``inventory_db.stock``;
- the mirror: ``orders_db.orders`` has each order with its final status.

:func:`check` names the rule each finding breaks (:data:`INVARIANTS`), so a chaos run counts
violations per invariant; :func:`violations` is the same findings as plain lines.
:func:`skipped_records` reads the workers' logs instead: every record of a topic a service
reads was handled (or dead-lettered) by one of its workers, with no offset left out;
:func:`unnotified` reads ``notification-events``: every final order had its email;
:func:`contradicted` reads ``order-events``: no order was announced CONFIRMED and FAILED (the
shopper told both), nor anything but the status it ended with.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from dataclasses import dataclass

import aiohttp

from aiokafka import TopicPartition

from config.kafka import committed_offsets, read_records, read_topic_records
from config.settings import SERVICES, Settings
from domain.catalog import PRODUCTS
from streams.events import FailureReason
from streams.topics import ORDER_COMMANDS
from tables.schema import connect

__all__ = ["stock_levels", "violations", "check", "skipped_records", "unnotified", "contradicted", "Violation",
           "INVARIANTS"]

#: every invariant a run is judged by, by name, with what it says (the chaos report prints them all)
INVARIANTS: dict[str, str] = {
    "lost": "no accepted order lost (the order service knows every order it accepted)",
    "duplicate": "no duplicate order for one Idempotency-Key",
    "final": "every accepted order final within the bound after healing",
    "history": "history only forward, no status twice, a FAILED order with its reason",
    "announced": "each order announced one outcome on order-events, the one it ended with",
    "double_charge": "no double charge (a CONFIRMED order charged once, its total)",
    "uncharged": "no CONFIRMED order without its charge",
    "failed_charged": "no charge kept on a FAILED order",
    "oversell": "no oversell: on hand went down by exactly the units confirmed, nothing left reserved",
    "negative": "no negative stock",
    "mirror": "mirror equal to the services (stock and order status in MySQL)",
    "skipped": "no skipped record (every offset of every topic read was handled)",
    "notified": "every final order told the shopper by email",
}


@dataclass(frozen=True)
class Violation:
    """One broken rule: which invariant (a key of :data:`INVARIANTS`) and what was seen."""

    invariant: str
    text: str

    def __str__(self) -> str:
        return self.text

ORDER = ["CREATED", "INVENTORY_RESERVED", "CONFIRMED", "FAILED"]
Stock = dict[str, tuple[int, int]]  # sku -> (on_hand, reserved)


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url, timeout=aiohttp.ClientTimeout(total=10)) as r:
        return r.status, await r.json(content_type=None)


async def stock_levels(settings: Settings, http: aiohttp.ClientSession) -> Stock:
    """On hand and reserved per catalog SKU, as the inventory service answers."""
    base = settings.service_url("inventory")
    answers = await asyncio.gather(*(_get(http, f"{base}/stock/{p.sku}") for p in PRODUCTS))
    return {p.sku: (body["on_hand"], body["reserved"]) for p, (_, body) in zip(PRODUCTS, answers)}


async def _mysql(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql)
            return list(await cur.fetchall())
    finally:
        conn.close()


def _history_problems(order: dict[str, Any]) -> list[Violation]:
    statuses = [h["status"] for h in order["history"]]
    oid = order["order_id"]
    out = []
    if len(set(statuses)) != len(statuses):
        out.append(Violation("history", f"order {oid}: a status twice in history {statuses}"))
    if statuses[:1] != ["CREATED"] or [ORDER.index(s) for s in statuses] != sorted(ORDER.index(s) for s in statuses):
        out.append(Violation("history", f"order {oid}: history out of order {statuses}"))
    if statuses[-1] != order["status"]:
        out.append(Violation("history", f"order {oid}: status {order['status']} but history ends {statuses[-1]}"))
    if order["status"] == "FAILED" and order["reason"] not in FailureReason.__members__:
        out.append(Violation("history", f"order {oid}: FAILED with reason {order['reason']!r}"))
    if order["status"] == "CONFIRMED" and order["reason"] is not None:
        out.append(Violation("history", f"order {oid}: CONFIRMED with reason {order['reason']!r}"))
    return out


async def violations(settings: Settings, http: aiohttp.ClientSession, order_ids: list[str],
                     stock_before: Stock) -> list[str]:
    """Every broken invariant for these orders, given the stock before they were placed."""
    return [v.text for v in await check(settings, http, order_ids, stock_before)]


async def check(settings: Settings, http: aiohttp.ClientSession, order_ids: list[str],
                stock_before: Stock) -> list[Violation]:
    """:func:`violations`, each finding with the invariant it breaks."""
    out: list[Violation] = []
    base = settings.service_url("orders")
    answers = await asyncio.gather(*(_get(http, f"{base}/orders/{oid}?wait=0") for oid in order_ids))
    orders = []
    unknown = [oid for oid, (status, _) in zip(order_ids, answers) if status != 200]
    waiting = await unread_orders(settings, unknown) if unknown else {}
    for oid, (status, body) in zip(order_ids, answers):
        if status != 200 and oid in waiting:
            out.append(Violation("final", f"order {oid}: not read yet by the order service ({waiting[oid]})"))
        elif status != 200:
            out.append(Violation("lost", f"order {oid}: GET answered {status} {body}"))
        elif body["status"] not in ("CONFIRMED", "FAILED"):
            out.append(Violation("final", f"order {oid}: not final ({body['status']})"))
        else:
            orders.append(body)
            out += _history_problems(body)

    _, ledger = await _get(http, f"{settings.upi_gateway_url}/v1/payments")
    charges: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for payment in ledger:
        if payment.get("status") == "APPROVED":
            charges[payment.get("order_id") or ""].append(payment)
    for order in orders:
        oid, held = order["order_id"], charges.get(order["order_id"], [])
        amounts = [p["amount_paise"] for p in held]
        if order["status"] == "CONFIRMED" and amounts != [order["total_paise"]]:
            out.append(Violation("double_charge" if held else "uncharged",
                                 f"order {oid}: CONFIRMED but charged {amounts}"))
        if order["status"] == "FAILED" and held:
            out.append(Violation("failed_charged",
                                 f"order {oid}: FAILED but still charged {[p['payment_id'] for p in held]}"))

    sold: Counter[str] = Counter()
    for order in orders:
        if order["status"] == "CONFIRMED":
            for line in order["items"]:
                sold[line["sku"]] += line["quantity"]
    after = await stock_levels(settings, http)
    mirrored = {sku: (on_hand, reserved) for sku, on_hand, reserved in await _mysql(
        settings, f"SELECT sku, on_hand, reserved FROM `{settings.database('inventory_db')}`.stock")}
    for sku, (on_hand_before, reserved_before) in stock_before.items():
        expected = (on_hand_before - sold[sku], reserved_before)
        if after[sku] != expected:
            out.append(Violation("oversell", f"stock {sku}: (on_hand, reserved) {after[sku]}, expected {expected}"))
        if mirrored.get(sku) != after[sku]:
            out.append(Violation("mirror", f"stock {sku}: mirror has {mirrored.get(sku)}, service {after[sku]}"))
        if min(after[sku]) < 0:
            out.append(Violation("negative", f"stock {sku}: negative {after[sku]}"))

    if orders:
        ids = ", ".join(f"'{o['order_id']}'" for o in orders)
        rows = dict(await _mysql(settings, f"SELECT order_id, status FROM `{settings.database('orders_db')}`.orders "
                                           f"WHERE order_id IN ({ids})"))
        for order in orders:
            if rows.get(order["order_id"]) != order["status"]:
                out.append(Violation("mirror", f"order {order['order_id']}: mirror has {rows.get(order['order_id'])}, "
                                               f"service {order['status']}"))
    return out


_HANDLED = re.compile(r"msg=handled service=(\S+) topic=(\S+) partition=(\d+) offset=(\d+)")
_DEAD_LETTER = re.compile(r"dead letter from (\S+)\[(\d+)\]@(\d+)")


def _ranges(offsets: list[int]) -> str:
    spans: list[list[int]] = []
    for o in offsets:
        if spans and o == spans[-1][1] + 1:
            spans[-1][1] = o
        else:
            spans.append([o, o])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in spans)


def skipped_records(log_dir: Path) -> list[str]:
    """Offsets a service never handled below the highest one it did, from its workers' logs.

    For a platform whose consumer groups read every topic from its start (tests, chaos and
    load runs): each worker logs one line per record it handled or dead-lettered, and a
    worker restarted in place appends to the same log, so a hole is a record skipped.
    """
    seen: dict[tuple[str, str, int], set[int]] = defaultdict(set)
    for log in sorted(log_dir.glob("*.log")):
        worker_of = log.stem.split("-")[0]
        if worker_of not in SERVICES:
            continue
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{") and '"handled"' in line:
                try:
                    f = json.loads(line)
                    seen[(f["service"], f["topic"], int(f["partition"]))].add(int(f["offset"]))
                except (ValueError, KeyError):
                    pass
            elif (m := _HANDLED.search(line)) is not None:
                seen[(m[1], m[2], int(m[3]))].add(int(m[4]))
            elif (m := _DEAD_LETTER.search(line)) is not None:
                seen[(worker_of, m[1], int(m[2]))].add(int(m[3]))
    out = []
    for (service, topic, partition), offsets in sorted(seen.items()):
        holes = sorted(set(range(max(offsets) + 1)) - offsets)
        if holes:
            out.append(f"{service} never handled {topic}[{partition}] offsets {_ranges(holes)}")
    return out


async def unread_orders(settings: Settings, order_ids: list[str]) -> dict[str, str]:
    """Of ``order_ids``, those whose ``PlaceOrder`` is on ``order-commands`` past the order service's
    committed offset, with where it waits: accepted and kept, only not read yet. Such an order is not
    lost but late (the ``final`` invariant); an order with no ``PlaceOrder`` there, or one read and
    still unknown, is lost."""
    wanted, found = set(order_ids), {}
    topic = ORDER_COMMANDS.name
    for r in await read_records(settings, topic):
        oid = (r.key or b"").decode()
        if oid in wanted and oid not in found and b'"PlaceOrder"' in (r.value or b""):
            found[oid] = (r.partition, r.offset)
    committed = await committed_offsets(settings, f"{settings.app_id_prefix}-orders", [topic])
    return {oid: f"its PlaceOrder at {topic}[{p}]@{o}, the order service committed up to {done}"
            for oid, (p, o) in found.items()
            if o >= (done := committed.get(TopicPartition(topic, p), 0))}


async def _events(settings: Settings, topic: str) -> list[dict[str, Any]]:
    """Every record of ``topic`` that is a JSON object (anything else is skipped)."""
    out = []
    for _, value in await read_topic_records(settings, topic):
        try:
            event = json.loads(value)
        except ValueError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out


async def unnotified(settings: Settings, final_order_ids: list[str]) -> list[str]:
    """Final orders with no email sent (``NotificationSent`` on ``notification-events``)."""
    emailed = {event.get("order_id") for event in await _events(settings, "notification-events")
               if event.get("type") == "NotificationSent" and event.get("channel") == "email"}
    return [f"order {oid}: final, but no email sent" for oid in final_order_ids if oid not in emailed]


#: the public event that announces each final status
OUTCOMES = {"OrderConfirmed": "CONFIRMED", "OrderFailed": "FAILED"}


async def contradicted(settings: Settings, final_status: dict[str, str]) -> list[str]:
    """Final orders (id -> status) whose announced outcomes on ``order-events`` are two, or not that status.

    The order service's own history is rebuilt from its table, so a state lost in a crash and decided
    again differently leaves no trace there; the topic keeps what the shoppers and the services were told."""
    announced: dict[str, set[str]] = defaultdict(set)
    for event in await _events(settings, "order-events"):
        if event.get("type") in OUTCOMES:
            announced[event.get("order_id")].add(OUTCOMES[event["type"]])
    return [f"order {oid}: announced {sorted(announced.get(oid, set()))}, ended {status}"
            for oid, status in final_status.items() if announced.get(oid, set()) != {status}]
