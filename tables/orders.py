"""The order service's table: one :class:`~domain.orders.Order` per ``order_id``, mirrored to ``orders_db``,
and who waits on its changes.

The table is the catalog's entry :data:`tables.catalog.ORDERS`; its rows are mapped in :mod:`tables.rows`.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from domain.orders import Order
from tables.catalog import ORDERS
from tables.model_table import ModelTable, model_table
from tables.rows import ORDERS_MIRROR, SHIP_COLUMNS, order_rows  # still importable from here

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["SHIP_COLUMNS", "order_rows", "ORDERS_MIRROR", "orders_table", "OrderWaiters"]


def orders_table(app: "ServiceApp") -> ModelTable[Order]:
    return model_table(app, ORDERS)


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
