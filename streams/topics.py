"""The topic catalog as data: each topic's name, key, event types, writer and readers.

Agents, the bootstrap that creates topics, the README table and ``topics-check``
all read this one list; no other module spells a topic name. The tables and their
changelog topics are catalogued the same way in ``tables/catalog.py`` (there, not here:
``streams/`` imports nothing of the services). ``tests/unit/test_catalog.py`` checks
both catalogs against the agents as they are declared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from streams import commands, events

__all__ = ["TopicSpec", "CATALOG", "BY_NAME", "ORDER_EVENTS", "INVENTORY_EVENTS",
           "PAYMENT_EVENTS", "NOTIFICATION_EVENTS", "ORDER_COMMANDS", "STOCK_COMMANDS",
           "STOCK_RESULTS", "NOTIFICATION_COMMANDS", "PAYMENT_COMMANDS", "dlq_name", "all_topic_names"]


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the platform and who talks on it."""

    name: str
    value_type: Any
    key: str  # the event field whose bytes are the record key
    writer: str
    readers: tuple[str, ...]
    public: bool
    doc: str
    adapter: TypeAdapter[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "adapter", TypeAdapter(self.value_type))

    @property
    def event_types(self) -> tuple[str, ...]:
        """The ``type`` values this topic carries, for docs and checks."""
        schema = self.adapter.json_schema()
        models = [schema, *schema.get("$defs", {}).values()]
        return tuple(sorted(m["properties"]["type"]["const"] for m in models if "type" in m.get("properties", {})))


ORDER_EVENTS = TopicSpec(
    "order-events", events.OrderEvent, "order_id", "orders", ("inventory", "payment", "cart"), True,
    "Order lifecycle facts; only the order service writes here.")
INVENTORY_EVENTS = TopicSpec(
    "inventory-events", events.InventoryEvent, "order_id", "inventory", ("orders", "payment"), True,
    "Stock reserved, refused or released for a whole order.")
PAYMENT_EVENTS = TopicSpec(
    "payment-events", events.PaymentEvent, "order_id", "payment", ("orders",), True,
    "Outcome of the UPI payment of an order.")
NOTIFICATION_EVENTS = TopicSpec(
    "notification-events", events.NotificationEvent, "order_id", "notification", (), True,
    "Emails and SMS sent or failed, for logging and metrics.")
ORDER_COMMANDS = TopicSpec(
    "order-commands", commands.OrderCommand, "order_id", "orders", ("orders",), False,
    "PlaceOrder (create view), ExpireOrder (deadline sweep), CancelOrder (operators), OrderNotified (the "
    "notification relay) to the order's owner.")
PAYMENT_COMMANDS = TopicSpec(
    "payment-commands", commands.PaymentCommand, "order_id", "payment", ("payment",), False,
    "RetryPayment from the payment service's retry sweep and GatewayAnswered, a UPI call's outcome, to the "
    "partition owning the payment.")
NOTIFICATION_COMMANDS = TopicSpec(
    "notification-commands", commands.NotifyOrder, "order_id", "notification", ("notification",), False,
    "NotifyOrder from the notification service's REST view to its sending agent.")
STOCK_COMMANDS = TopicSpec(
    "stock-commands", commands.StockCommand, "sku", "inventory", ("inventory",), False,
    "An order's lines repartitioned by SKU (reserve, commit, release) and operator stock changes.")
STOCK_RESULTS = TopicSpec(
    "stock-results", commands.StockResult, "order_id", "inventory", ("inventory",), False,
    "Per-SKU answers keyed back by order, folded into one Inventory* event per order of two or more lines.")

CATALOG: tuple[TopicSpec, ...] = (
    ORDER_EVENTS, INVENTORY_EVENTS, PAYMENT_EVENTS, NOTIFICATION_EVENTS,
    ORDER_COMMANDS, PAYMENT_COMMANDS, NOTIFICATION_COMMANDS, STOCK_COMMANDS, STOCK_RESULTS,
)
BY_NAME: dict[str, TopicSpec] = {t.name: t for t in CATALOG}


def dlq_name(topic: str) -> str:
    """Dead-letter topic of ``topic``: records that did not validate, with the error."""
    return f"{topic}.dlq"


def all_topic_names() -> list[str]:
    """Every catalog and internal topic plus their dead-letter topics."""
    return [t.name for t in CATALOG] + [dlq_name(t.name) for t in CATALOG]


def markdown_table() -> str:
    """The README's topic table, from this catalog (``topics-check`` reads the same list)."""
    rows = ["| topic | event types | key | written by | read by | public |", "| --- | --- | --- | --- | --- | --- |"]
    for t in CATALOG:
        rows.append(f"| `{t.name}` | {', '.join(f'`{e}`' for e in t.event_types)} | `{t.key}` | {t.writer} | "
                    f"{', '.join(t.readers) or '(analysts)'} | {'yes' if t.public else 'internal'} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - documentation helper
    print(markdown_table())
