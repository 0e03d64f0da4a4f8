"""The payment service's table: one :class:`~domain.payment.PaymentState` per order, a mirror row per attempt.

The table is the catalog's entry :data:`tables.catalog.PAYMENTS`; its rows are mapped in :mod:`tables.rows`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.payment import PaymentState
from tables.catalog import PAYMENTS
from tables.model_table import ModelTable, model_table
from tables.rows import PAYMENTS_MIRROR, payment_rows  # still importable from here

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["payment_rows", "PAYMENTS_MIRROR", "payments_table"]


def payments_table(app: "ServiceApp") -> ModelTable[PaymentState]:
    return model_table(app, PAYMENTS)
