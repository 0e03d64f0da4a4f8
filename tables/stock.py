"""The inventory service's tables: stock and holds per SKU, reservations per order.

Each is its catalog entry (:mod:`tables.catalog`); the stock's mirror rows are mapped in :mod:`tables.rows`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.stock import Hold, Reservation, StockLevel
from tables.catalog import HOLDS, RESERVATIONS, STOCK
from tables.model_table import ModelTable, model_table
from tables.rows import STOCK_MIRROR, stock_rows  # still importable from here

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["stock_rows", "STOCK_MIRROR", "stock_table", "holds_table", "reservations_table"]


def stock_table(app: "ServiceApp") -> ModelTable[StockLevel]:
    return model_table(app, STOCK)


def holds_table(app: "ServiceApp") -> ModelTable[Hold]:
    return model_table(app, HOLDS)


def reservations_table(app: "ServiceApp") -> ModelTable[Reservation]:
    return model_table(app, RESERVATIONS)
