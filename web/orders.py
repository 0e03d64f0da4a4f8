"""The order service's views: create (a command on the log) and read (routed to the owner)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response

from domain.orders import Order
from streams.commands import PlaceOrder
from streams.topics import ORDER_COMMANDS
from tables.model_table import ModelTable
from web.base import ApiView
from web.errors import UnknownOrder

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["OrderWaiters", "order_body", "register_order_views"]


class OrderWaiters:
    """Lets a read wait, bounded, for an order its owner has not stored yet."""

    def __init__(self) -> None:
        self._events: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def wake(self, order_id: str) -> None:
        event = self._events.pop(order_id, None)
        if event is not None:
            event.set()

    async def wait(self, order_id: str, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._events[order_id].wait(), timeout)
        except asyncio.TimeoutError:
            self._events.pop(order_id, None)


def order_body(order: Order) -> dict[str, Any]:
    """The public JSON of an order (DESIGN.md ``GET /orders/{order_id}``)."""
    return {
        "order_id": order.order_id, "user_id": order.user_id, "status": order.status.value,
        "reason": order.reason.value if order.reason else None,
        "items": [{**line.model_dump(), "line_total_paise": line.line_total_paise} for line in order.items],
        "total_paise": order.total_paise,
        "history": [{"status": h.status.value, "at": h.at.isoformat()} for h in order.history],
        "created_at": order.created_at.isoformat(), "updated_at": order.updated_at.isoformat(),
    }


def register_order_views(app: "ServiceApp", orders: ModelTable[Order], waiters: OrderWaiters) -> None:
    @app.page("/orders")
    class CreateOrder(ApiView):
        async def post(self, request: Request, **kwargs: Any) -> Response:
            """202 once the broker holds the PlaceOrder command: the log is the store."""
            command = await self.body(request, PlaceOrder)
            await app.emit(ORDER_COMMANDS, command)
            return self.json({"order_id": command.order_id, "status": "CREATED"}, status=202)

    @app.page("/orders/{order_id}")
    class ReadOrder(ApiView):
        @app.table_route(table=orders.table, match_info="order_id")
        async def get(self, request: Request, order_id: str) -> Response:
            order = orders.get(order_id)
            wait = request.query.get("wait", "1") != "0"
            if order is None and wait:
                await waiters.wait(order_id, app.settings.order_read_wait_s)
                order = orders.get(order_id)
            if order is None:
                raise UnknownOrder(f"no order {order_id}", {"order_id": order_id})
            return self.json(order_body(order))
