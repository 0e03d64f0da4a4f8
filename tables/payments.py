"""The payment service's table: one :class:`~domain.payment.PaymentState` per order, a mirror row per attempt."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.payment import PaymentState
from tables.mirror import MirrorSpec, Row
from tables.model_table import ModelTable, model_table

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["payment_rows", "PAYMENTS_MIRROR", "payments_table"]


def payment_rows(state: PaymentState) -> list[Row]:
    return [Row("payments", ("payment_id", "attempt"), {
        "payment_id": state.payment_id, "attempt": a.number, "order_id": state.order_id,
        "status": a.status.value, "amount_paise": state.amount_paise or 0, "vpa": state.vpa or "",
        "gateway_ref": a.gateway_ref, "reason": state.reason.value if state.reason else None,
        "created_at": state.created_at.replace(tzinfo=None), "updated_at": a.at.replace(tzinfo=None),
        "version": state.version,
    }) for a in state.attempts]


PAYMENTS_MIRROR = MirrorSpec("payment_db", payment_rows)


def payments_table(app: "ServiceApp") -> ModelTable[PaymentState]:
    return model_table(app, "payments", PaymentState, help="Payment of each order: attempts and outcome.",
                           mirror=PAYMENTS_MIRROR)
