"""The order service's table: one :class:`~domain.orders.Order` per ``order_id``, mirrored to ``orders_db``."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from domain.orders import Order
from streams.events import Address
from tables.mirror import MirrorSpec, Row
from tables.model_table import ModelTable, model_table

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["SHIP_COLUMNS", "order_rows", "ORDERS_MIRROR", "orders_table", "OrderWaiters"]


#: ``orders`` columns of the delivery address (migration 0002), by the address field each holds
SHIP_COLUMNS: dict[str, str] = {f"ship_{field}": field for field in ("name", "line", "city", "state", "pincode", "phone")}


def _ship_columns(address: Address | None) -> dict[str, str | None]:
    """One column per field, so analysts group by ``ship_state`` or ``ship_pincode`` in plain SQL;
    all NULL for an order placed before the checkout carried an address."""
    values = address.model_dump() if address is not None else {}
    return {column: values.get(field) for column, field in SHIP_COLUMNS.items()}


def order_rows(order: Order) -> list[Row]:
    """``orders`` and ``order_items`` rows of one order at its version."""
    rows = [Row("orders", ("order_id",), {
        "order_id": order.order_id, "user_id": order.user_id, "status": order.status.value,
        "reason": order.reason.value if order.reason else None, "total_paise": order.total_paise,
        "vpa": order.payment.vpa, "created_at": order.created_at.replace(tzinfo=None),
        "updated_at": order.updated_at.replace(tzinfo=None), **_ship_columns(order.shipping_address),
        "version": order.version,
    })]
    if order.version == 1:  # lines never change after the order is placed
        rows += [Row("order_items", ("order_id", "sku"), {
            "order_id": order.order_id, "sku": line.sku, "name": line.name,
            "unit_price_paise": line.unit_price_paise, "quantity": line.quantity,
            "line_total_paise": line.line_total_paise, "version": 1,
        }) for line in order.items]
    return rows


ORDERS_MIRROR = MirrorSpec("orders_db", order_rows)


def orders_table(app: "ServiceApp") -> ModelTable[Order]:
    return model_table(app, "orders", Order, help="Orders by order_id: status, lines, history.",
                           mirror=ORDERS_MIRROR)


class OrderWaiters:
    """Wakes whoever waits on an order when its owner stores a change.

    The order agent calls :meth:`wake` after every stored change. A read waits once
    (:meth:`wait`, for an order not stored yet); a live stream subscribes
    (:meth:`subscribe`) and is woken on every change until it leaves.
    """

    def __init__(self) -> None:
        self._subscribers: defaultdict[str, set[asyncio.Event]] = defaultdict(set)

    def wake(self, order_id: str) -> None:
        for event in self._subscribers.get(order_id, ()):
            event.set()

    async def wait(self, order_id: str, timeout: float) -> None:
        """Until the next change of ``order_id`` or ``timeout`` seconds, whichever comes first."""
        with self.subscribe(order_id) as changed:
            try:
                await asyncio.wait_for(changed.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    @contextmanager
    def subscribe(self, order_id: str) -> Iterator[asyncio.Event]:
        """An event set on every change of ``order_id``; clear it before reading the order."""
        changed = asyncio.Event()
        self._subscribers[order_id].add(changed)
        try:
            yield changed
        finally:
            subscribers = self._subscribers.get(order_id)
            if subscribers is not None:
                subscribers.discard(changed)
                if not subscribers:
                    del self._subscribers[order_id]
