"""The inventory service's tables: stock per SKU with the holds beside it, reservations per order.

Each is its catalog entry (:mod:`tables.catalog`); the stock's mirror rows are mapped in :mod:`tables.rows`.
The holds are entries of the stock table (keyed SKU/order_id), not a table of their own: a stock
command writes its SKU's level, then the order's hold, and one changelog partition keeps that order
through a crash (two changelogs did not: a level could survive without its hold, and the command
read again took its units twice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.stock import Hold, Reservation, StockLevel, is_hold_key
from tables.catalog import RESERVATIONS, STOCK
from tables.model_table import ModelTable, model_table
from tables.rows import STOCK_MIRROR, stock_rows  # still importable from here

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["stock_rows", "STOCK_MIRROR", "stock_table", "holds_table", "reservations_table"]


def stock_table(app: "ServiceApp") -> ModelTable[StockLevel]:
    return model_table(app, STOCK)


def holds_table(stock: ModelTable[StockLevel]) -> ModelTable[Hold]:
    """The holds, in the stock table."""
    return stock.view(Hold, is_hold_key)


def reservations_table(app: "ServiceApp") -> ModelTable[Reservation]:
    return model_table(app, RESERVATIONS)
