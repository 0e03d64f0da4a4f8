"""The payment service's view: one order's payment and its attempts, from the worker that owns it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faust.web import Request

from domain.errors import NotFound
from domain.payment import PaymentState
from tables.model_table import ModelTable
from web.base import routed_read

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["register_payment_views"]


def register_payment_views(app: "ServiceApp", payments: ModelTable[PaymentState]) -> None:
    @routed_read(app, "/payments/{order_id}", payments, "order_id")
    async def payment(request: Request, order_id: str) -> dict[str, Any]:
        """The order's payment and its attempts."""
        state = payments.get(order_id)
        if state is None:
            raise NotFound(f"no payment for order {order_id}", {"order_id": order_id})
        return state.model_dump(mode="json")
