"""The inventory service's tables: stock and holds per SKU, reservations per order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.stock import Hold, Reservation, StockLevel
from streams.events import utcnow
from tables.mirror import MirrorSpec, Row
from tables.model_table import ModelTable, model_table

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["stock_rows", "STOCK_MIRROR", "stock_table", "holds_table", "reservations_table"]


def stock_rows(level: StockLevel) -> list[Row]:
    return [Row("stock", ("sku",), {
        "sku": level.sku, "on_hand": level.on_hand, "reserved": level.reserved,
        "updated_at": utcnow().replace(tzinfo=None), "version": level.version,
    })]


STOCK_MIRROR = MirrorSpec("inventory_db", stock_rows)


def stock_table(app: "ServiceApp") -> ModelTable[StockLevel]:
    return model_table(app, "stock", StockLevel, help="Units on hand and reserved, by SKU.", mirror=STOCK_MIRROR)


def holds_table(app: "ServiceApp") -> ModelTable[Hold]:
    return model_table(app, "holds", Hold, help="What each order holds of each SKU, keyed SKU/order_id.")


def reservations_table(app: "ServiceApp") -> ModelTable[Reservation]:
    return model_table(app, "reservations", Reservation, help="Per-SKU answers gathered per order_id.")
