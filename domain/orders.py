"""The order state machine: evolve folds inputs into an order, decide says what to emit.

Transitions only move forward, so an event delivered twice (or late, after a final
status) leaves the order as it was: that is what makes the order agent idempotent.

A final order is owed a notification until the notification service has accepted it
(``notification_pending``); the order service's relay hands it on off the order's
partition, and ``OrderNotified`` records the acceptance. That bookkeeping is no step of
the order: no event, no history entry, no new version.

A step is stored before it is announced, so a crash can lose an announcement but never
announce a step it then forgets (and decides differently when its inputs are read again in
another order). What an order may still owe is read off its status (``announcement_owed``),
so the owner announces it again after every recovery; :func:`announcement` gives the same
events, ids included, every time, so a repeat is known for one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Any, Union

from pydantic import BaseModel, ConfigDict

from streams.commands import CancelOrder, ExpireOrder, OrderNotified, PlaceOrder
from streams.events import (
    Address, Contact, FailureReason, InventoryFailed, InventoryReleased, InventoryReserved, Line,
    Message, OrderConfirmed, OrderFailed, OrderPlaced, Payment, PaymentConfirmed, PaymentFailed,
)

__all__ = ["OrderStatus", "FINAL", "HistoryEntry", "Order", "OrderInput", "evolve", "decide", "announcement"]


class OrderStatus(str, Enum):
    CREATED = "CREATED"
    INVENTORY_RESERVED = "INVENTORY_RESERVED"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"


FINAL = frozenset({OrderStatus.CONFIRMED, OrderStatus.FAILED})


class HistoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: OrderStatus
    at: datetime


class Order(BaseModel):
    """An order as the order service keeps it; ``version`` orders its mirror writes."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    user_id: str
    status: OrderStatus
    reason: FailureReason | None = None
    items: tuple[Line, ...]
    total_paise: int
    payment: Payment
    contact: Contact
    shipping_address: Address | None = None  # None for an order placed before the checkout carried it
    history: tuple[HistoryEntry, ...]
    created_at: datetime
    updated_at: datetime
    version: int = 1
    note: str | None = None  # an operator's words, when one cancelled it
    # True from the final status until the notification service accepted it. An order stored
    # before this field existed reads False: it was notified inline then (or the try is long
    # lost), and a restart must not mail every past shopper again.
    notification_pending: bool = False

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    @property
    def announcement_owed(self) -> bool:
        """True while the announcement of this order's status may not have been made: the owner stores
        a step, then announces it, and moves on (or hands a final order's notification on) only after.
        So a CREATED order may owe its OrderPlaced, a final one its outcome until it was notified."""
        return self.status is OrderStatus.CREATED or (self.is_final and self.notification_pending)

    def moved_to(self, status: OrderStatus, at: datetime, reason: FailureReason | None = None) -> "Order":
        """This order with one more step of history; a final step makes it owed a notification."""
        return self.model_copy(update={
            "status": status, "reason": reason, "updated_at": at, "version": self.version + 1,
            "history": (*self.history, HistoryEntry(status=status, at=at)),
            "notification_pending": status in FINAL,
        })

    def notified(self) -> "Order":
        """This order with its notification accepted. The same version: nothing anyone reads of the
        order changed (its mirror row, its page and its live stream stay as they are)."""
        return self.model_copy(update={"notification_pending": False})


OrderInput = Union[PlaceOrder, ExpireOrder, CancelOrder, OrderNotified, InventoryReserved, InventoryFailed,
                   InventoryReleased, PaymentConfirmed, PaymentFailed]


def evolve(order: Order | None, msg: Message, now: datetime) -> Order | None:
    """The order after ``msg``; the same order (identical object) when ``msg`` changes nothing."""
    if isinstance(msg, PlaceOrder):
        if order is not None:
            return order  # the same command again: the order exists already
        return Order(
            order_id=msg.order_id, user_id=msg.user_id, status=OrderStatus.CREATED,
            items=msg.items, total_paise=msg.total_paise, payment=msg.payment, contact=msg.contact,
            shipping_address=msg.shipping_address,
            history=(HistoryEntry(status=OrderStatus.CREATED, at=now),), created_at=now, updated_at=now,
        )
    if isinstance(msg, OrderNotified):
        # only a final order is owed one; a repeat or a late acceptance changes nothing
        return order.notified() if order is not None and order.notification_pending else order
    if order is None or order.is_final:
        return order
    if isinstance(msg, ExpireOrder):
        return order.moved_to(OrderStatus.FAILED, now, FailureReason.TIMED_OUT)
    if isinstance(msg, CancelOrder):
        return order.moved_to(OrderStatus.FAILED, now, FailureReason.CANCELLED).model_copy(update={"note": msg.note})
    if isinstance(msg, InventoryReserved) and order.status is OrderStatus.CREATED:
        return order.moved_to(OrderStatus.INVENTORY_RESERVED, now)
    if isinstance(msg, InventoryFailed):
        return order.moved_to(OrderStatus.FAILED, now, msg.reason)
    if isinstance(msg, (PaymentConfirmed, PaymentFailed)):
        # Payment is only attempted after InventoryReserved, but the two arrive on different
        # topics and may be read in either order: a payment outcome implies the reservation.
        if order.status is OrderStatus.CREATED:
            order = order.moved_to(OrderStatus.INVENTORY_RESERVED, now)
        if isinstance(msg, PaymentConfirmed):
            return order.moved_to(OrderStatus.CONFIRMED, now)
        return order.moved_to(OrderStatus.FAILED, now, msg.reason)
    return order


def decide(before: Order | None, after: Order | None) -> list[Message]:
    """The public events a transition from ``before`` to ``after`` announces."""
    if after is None or after is before or (before is not None and before.status is after.status):
        return []
    return announcement(after)


def announcement(order: Order) -> list[Message]:
    """The public events that announce ``order``'s status (none for INVENTORY_RESERVED): the same events,
    with the same ids and times, however often they are asked for."""
    name = f"urn:megatron:order:{order.order_id}:{order.status.value}"
    common: dict[str, Any] = {"event_id": uuid.uuid5(uuid.NAMESPACE_URL, name).hex, "occurred_at": order.updated_at,
                              "order_id": order.order_id, "user_id": order.user_id, "items": order.items}
    if order.status is OrderStatus.CREATED:
        return [OrderPlaced(**common, total_paise=order.total_paise, payment=order.payment, contact=order.contact,
                            shipping_address=order.shipping_address)]
    if order.status is OrderStatus.CONFIRMED:
        return [OrderConfirmed(**common, total_paise=order.total_paise)]
    if order.status is OrderStatus.FAILED:
        assert order.reason is not None
        return [OrderFailed(**common, reason=order.reason)]
    return []
