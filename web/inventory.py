"""The inventory service's views: one SKU's stock and what an order holds of it, answered by the worker
that owns the SKU."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faust.web import Request

from domain.catalog import BY_SKU
from domain.errors import NotFound, UnknownSku
from domain.stock import Hold, StockLevel, hold_key
from tables.model_table import ModelTable
from web.base import routed_read

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["register_inventory_views", "stock_body"]


def stock_body(level: StockLevel) -> dict[str, Any]:
    return {"sku": level.sku, "on_hand": level.on_hand, "reserved": level.reserved, "available": level.available}


def register_inventory_views(app: "ServiceApp", stock: ModelTable[StockLevel], holds: ModelTable[Hold]) -> None:
    @routed_read(app, "/stock/{sku}", stock, "sku")
    async def stock_level(request: Request, sku: str) -> dict[str, Any]:
        """A SKU's stock; a catalog SKU never stocked yet has none."""
        level = stock.get(sku)
        if level is None:
            if sku not in BY_SKU:
                raise UnknownSku(f"no product {sku}", {"sku": sku})
            level = StockLevel(sku=sku)
        return stock_body(level)

    # holds live in their SKU's partition: routed by the SKU, as the stock table is
    @routed_read(app, "/stock/{sku}/holds/{order_id}", stock, "sku")
    async def stock_hold(request: Request, sku: str, order_id: str) -> dict[str, Any]:
        """What an order holds of a SKU."""
        hold = holds.get(hold_key(sku, order_id))
        if hold is None:
            raise NotFound(f"order {order_id} holds nothing of {sku}", {"sku": sku, "order_id": order_id})
        return {"sku": sku, "order_id": order_id, **hold.model_dump(mode="json")}
