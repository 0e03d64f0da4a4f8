"""The payment service's view: one order's payment and its attempts, from the worker that owns it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faust.web import Request, Response

from domain.payment import PaymentState
from tables.model_table import ModelTable
from web.base import ApiView
from web.errors import NotFound

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["register_payment_views"]


def register_payment_views(app: "ServiceApp", payments: ModelTable[PaymentState]) -> None:
    @app.page("/payments/{order_id}")
    class PaymentView(ApiView):
        @app.table_route(table=payments.table, match_info="order_id")
        async def get(self, request: Request, order_id: str) -> Response:
            state = payments.get(order_id)
            if state is None:
                raise NotFound(f"no payment for order {order_id}", {"order_id": order_id})
            body: dict[str, Any] = state.model_dump(mode="json")
            return self.json(body)
