"""The order service's views: create (a command on the log), read and watch (answered by the owner).

Reading is routed to the worker that owns the order (:func:`web.base.routed_read`), which
waits a bounded time for an order whose command it has not folded yet; watching is the
order's event stream (:mod:`web.order_stream`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faust.web import Request, Response

from adapters.services import service_client
from domain.errors import UnknownOrder
from domain.orders import Order
from streams.commands import PlaceOrder
from streams.topics import ORDER_COMMANDS
from tables.model_table import ModelTable
from tables.orders import OrderWaiters
from web.base import ApiView, routed_read
from web.order_stream import register_order_stream

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["order_body", "register_order_views"]


def order_body(order: Order) -> dict[str, Any]:
    """The public JSON of an order (DESIGN.md ``GET /orders/{order_id}``)."""
    return {
        "order_id": order.order_id, "user_id": order.user_id, "status": order.status.value,
        "reason": order.reason.value if order.reason else None, "note": order.note,
        "items": [{**line.model_dump(), "line_total_paise": line.line_total_paise} for line in order.items],
        "total_paise": order.total_paise,
        "shipping_address": order.shipping_address.model_dump() if order.shipping_address else None,
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

    async def read_or_wait(order_id: str) -> Order | None:
        """The order, waiting a bounded time for one whose command its owner has not folded yet."""
        order = orders.get(order_id)
        if order is None:
            await waiters.wait(order_id, app.settings.order_read_wait_s)
            order = orders.get(order_id)
        return order

    @routed_read(app, "/orders/{order_id}", orders, "order_id")
    async def read_order(request: Request, order_id: str) -> dict[str, Any]:
        """The order; ``?wait=0`` answers at once, without waiting for an order not stored yet."""
        wait = request.query.get("wait", "1") != "0"
        order = await read_or_wait(order_id) if wait else orders.get(order_id)
        if order is None:
            raise UnknownOrder(f"no order {order_id}", {"order_id": order_id})
        return order_body(order)

    register_order_stream(app, orders, waiters, service_client(app), read=read_or_wait, body=order_body)
