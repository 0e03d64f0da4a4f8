"""When to charge an order, and what the gateway's answer means.

The payment service hears both ``OrderPlaced`` (amount, VPA) and ``InventoryReserved``
(go ahead), in either order; it charges once both are in, under one payment id,
which is also the idempotency key the UPI gateway sees, so a retry never charges twice.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from pydantic import BaseModel, ConfigDict

from streams.events import (
    FailureReason, InventoryReserved, Message, OrderFailed, OrderPlaced, PaymentConfirmed, PaymentFailed,
)

__all__ = ["Attempt", "PaymentStatus", "PaymentState", "GatewayAnswer", "evolve", "ready_to_charge", "attempt", "settle"]


class PaymentStatus(str, Enum):
    WAITING = "WAITING"      # heard one of placed / reserved
    PENDING = "PENDING"      # gateway called, no answer recorded yet
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"  # the order failed before it was charged


class GatewayAnswer(str, Enum):
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    TIMEOUT = "TIMEOUT"


class Attempt(BaseModel):
    """One call (or retry) to the gateway under the payment's idempotency key."""

    model_config = ConfigDict(frozen=True)

    number: int
    status: PaymentStatus
    gateway_ref: str | None = None
    at: datetime


class PaymentState(BaseModel):
    """One order's payment; mirrored as a row of ``payment_db.payments``."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    payment_id: str
    status: PaymentStatus = PaymentStatus.WAITING
    user_id: str | None = None
    amount_paise: int | None = None
    vpa: str | None = None
    reserved: bool = False
    attempts: tuple[Attempt, ...] = ()
    gateway_ref: str | None = None
    reason: FailureReason | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 1

    def _with(self, now: datetime, **update: object) -> "PaymentState":
        return self.model_copy(update={**update, "updated_at": now, "version": self.version + 1})


def evolve(state: PaymentState | None, msg: Message, now: datetime) -> PaymentState | None:
    """Fold an order or inventory event into the payment of that order."""
    if state is None:
        if not isinstance(msg, (OrderPlaced, InventoryReserved)):
            return None
        state = PaymentState(order_id=msg.order_id, payment_id=f"pay-{msg.order_id}",
                             created_at=now, updated_at=now, version=0)
    if isinstance(msg, OrderPlaced) and state.amount_paise is None:
        return state._with(now, user_id=msg.user_id, amount_paise=msg.total_paise, vpa=msg.payment.vpa)
    if isinstance(msg, InventoryReserved) and not state.reserved:
        return state._with(now, reserved=True)
    if isinstance(msg, OrderFailed) and state.status is PaymentStatus.WAITING:
        return state._with(now, status=PaymentStatus.CANCELLED, reason=msg.reason)
    return state


def ready_to_charge(state: PaymentState | None) -> bool:
    """Both facts are in and no answer is recorded (PENDING again after a crash: retry, same key)."""
    return (state is not None and state.reserved and state.amount_paise is not None
            and state.status in (PaymentStatus.WAITING, PaymentStatus.PENDING))


def attempt(state: PaymentState, now: datetime) -> PaymentState:
    """Recorded before the gateway is called, so a crash mid-call is retried, not forgotten."""
    number = len(state.attempts) + 1
    return state._with(now, status=PaymentStatus.PENDING,
                       attempts=(*state.attempts, Attempt(number=number, status=PaymentStatus.PENDING, at=now)))


def _close_attempt(state: PaymentState, status: PaymentStatus, gateway_ref: str | None,
                   now: datetime) -> tuple[Attempt, ...]:
    if not state.attempts:
        return ()
    last = state.attempts[-1].model_copy(update={"status": status, "gateway_ref": gateway_ref, "at": now})
    return (*state.attempts[:-1], last)


def settle(state: PaymentState, answer: GatewayAnswer, gateway_ref: str | None,
           now: datetime) -> tuple[PaymentState, Message]:
    """The final payment state and the event that announces it."""
    assert state.amount_paise is not None
    if answer is GatewayAnswer.APPROVED:
        assert gateway_ref is not None
        attempts = _close_attempt(state, PaymentStatus.CONFIRMED, gateway_ref, now)
        return (state._with(now, status=PaymentStatus.CONFIRMED, gateway_ref=gateway_ref, attempts=attempts),
                PaymentConfirmed(order_id=state.order_id, payment_id=state.payment_id,
                                 amount_paise=state.amount_paise, gateway_ref=gateway_ref))
    reason = FailureReason.PAYMENT_DECLINED if answer is GatewayAnswer.DECLINED else FailureReason.PAYMENT_TIMEOUT
    attempts = _close_attempt(state, PaymentStatus.FAILED, gateway_ref, now)
    return (state._with(now, status=PaymentStatus.FAILED, reason=reason, gateway_ref=gateway_ref, attempts=attempts),
            PaymentFailed(order_id=state.order_id, payment_id=state.payment_id,
                          amount_paise=state.amount_paise, reason=reason, gateway_ref=gateway_ref))
