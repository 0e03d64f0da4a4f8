"""The inventory service's view: one SKU's stock, answered by the worker that owns the SKU."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faust.web import Request, Response

from domain.catalog import BY_SKU
from domain.stock import Hold, StockLevel, hold_key
from tables.model_table import ModelTable
from web.base import ApiView
from web.errors import NotFound, UnknownSku

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["register_inventory_views", "stock_body"]


def stock_body(level: StockLevel) -> dict[str, Any]:
    return {"sku": level.sku, "on_hand": level.on_hand, "reserved": level.reserved, "available": level.available}


def register_inventory_views(app: "ServiceApp", stock: ModelTable[StockLevel], holds: ModelTable[Hold]) -> None:
    @app.page("/stock/{sku}")
    class StockView(ApiView):
        @app.table_route(table=stock.table, match_info="sku")
        async def get(self, request: Request, sku: str) -> Response:
            level = stock.get(sku)
            if level is None:
                if sku not in BY_SKU:
                    raise UnknownSku(f"no product {sku}", {"sku": sku})
                level = StockLevel(sku=sku)
            return self.json(stock_body(level))

    @app.page("/stock/{sku}/holds/{order_id}")
    class HoldView(ApiView):
        # holds live in their SKU's partition: route by the SKU, as the stock table does
        @app.table_route(table=stock.table, match_info="sku")
        async def get(self, request: Request, sku: str, order_id: str) -> Response:
            hold = holds.get(hold_key(sku, order_id))
            if hold is None:
                raise NotFound(f"order {order_id} holds nothing of {sku}", {"sku": sku, "order_id": order_id})
            return self.json({"sku": sku, "order_id": order_id, **hold.model_dump(mode="json")})
