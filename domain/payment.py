"""When to charge an order, how to retry a gateway that does not answer, and what its answers mean.

The payment service hears ``OrderPlaced`` (amount, VPA) and ``InventoryReserved`` (go
ahead), in either order; it charges once both are in, under one payment id, which is
also the idempotency key the UPI gateway sees, so a retry never charges twice. A
gateway that does not answer is retried with backoff until the payment's deadline;
then its status is asked for before giving up, so a late approval is never lost.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum

from pydantic import BaseModel, ConfigDict

from streams.events import (
    FailureReason, InventoryReserved, Message, OrderFailed, OrderPlaced, PaymentConfirmed, PaymentFailed,
)

__all__ = ["Attempt", "PaymentStatus", "PaymentState", "GatewayAnswer", "evolve", "ready_to_charge",
           "attempt", "retry_later", "retry_due", "deadline_passed", "settle", "backoff", "needs_refund", "must_ask_first",
           "refunded", "charge_unknown"]


class PaymentStatus(str, Enum):
    WAITING = "WAITING"      # heard one of placed / reserved
    PENDING = "PENDING"      # gateway called, no final answer yet
    TIMEOUT = "TIMEOUT"      # (an attempt's status) the gateway did not answer in time
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"  # the order failed before it was charged
    REFUNDED = "REFUNDED"    # approved after the order had failed: the money goes back


FINAL_PAYMENT = frozenset({PaymentStatus.CONFIRMED, PaymentStatus.FAILED, PaymentStatus.CANCELLED,
                           PaymentStatus.REFUNDED})


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
    """One order's payment; mirrored as one ``payment_db.payments`` row per attempt."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    payment_id: str
    status: PaymentStatus = PaymentStatus.WAITING
    user_id: str | None = None
    amount_paise: int | None = None
    vpa: str | None = None
    reserved: bool = False
    order_failed: bool = False
    attempts: tuple[Attempt, ...] = ()
    gateway_ref: str | None = None
    reason: FailureReason | None = None
    deadline_at: datetime | None = None
    retry_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 1

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_PAYMENT

    def _with(self, now: datetime, **update: object) -> "PaymentState":
        return self.model_copy(update={**update, "updated_at": now, "version": self.version + 1})


def backoff(attempts: int, base_s: float) -> float:
    """Seconds before the next try: base, 2x base, 4x base ... at most 8 s."""
    return min(base_s * 2 ** max(attempts - 1, 0), 8.0)


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
    if isinstance(msg, OrderFailed) and not state.order_failed:
        if state.status is PaymentStatus.WAITING:
            return state._with(now, status=PaymentStatus.CANCELLED, reason=msg.reason, order_failed=True)
        return state._with(now, order_failed=True)  # a charge in flight is refunded if it is approved
    return state


def ready_to_charge(state: PaymentState | None) -> bool:
    """Both facts are in and no call was made yet (WAITING); a PENDING one is retried by the sweep."""
    return (state is not None and state.reserved and state.amount_paise is not None
            and state.status is PaymentStatus.WAITING and not state.order_failed)


def charge_unknown(before: PaymentState | None, after: PaymentState) -> bool:
    """Cancelled with both facts in and no call on record: ask the gateway, once.

    An attempt is stored after the gateway answers, so a worker killed mid-call leaves no
    trace of a charge that went through. Its successor may then read the order's failure
    before the reservation (two topics) and cancel a payment that was in fact approved.
    """
    def both_facts_cancelled(state: PaymentState | None) -> bool:
        return (state is not None and state.status is PaymentStatus.CANCELLED and state.reserved
                and state.amount_paise is not None and not state.attempts)
    return both_facts_cancelled(after) and not both_facts_cancelled(before)


def attempt(state: PaymentState, now: datetime, deadline_s: float, check_after_s: float = 5.0) -> PaymentState:
    """Recorded before the gateway is called, with a time to check back: a crash mid-call is
    retried by the sweep (same idempotency key), never forgotten."""
    number = len(state.attempts) + 1
    return state._with(now, status=PaymentStatus.PENDING, retry_at=now + timedelta(seconds=check_after_s),
                       deadline_at=state.deadline_at or now + timedelta(seconds=deadline_s),
                       attempts=(*state.attempts, Attempt(number=number, status=PaymentStatus.PENDING, at=now)))


def retry_later(state: PaymentState, now: datetime, base_s: float) -> PaymentState:
    """The gateway did not answer: the attempt timed out, try again after a backoff."""
    delay = timedelta(seconds=backoff(len(state.attempts), base_s))
    return state._with(now, retry_at=now + delay,
                       attempts=_close_attempt(state, PaymentStatus.TIMEOUT, None, now))


def retry_due(state: PaymentState | None, now: datetime) -> bool:
    """A PENDING payment whose check-back time came, or an approved one still to refund."""
    if state is None:
        return False
    if needs_refund(state):
        return True
    return state.status is PaymentStatus.PENDING and state.retry_at is not None and state.retry_at <= now


def must_ask_first(state: PaymentState, now: datetime) -> bool:
    """Past the deadline, or the order failed meanwhile: ask the gateway what happened, charge no more."""
    return state.order_failed or deadline_passed(state, now)


def deadline_passed(state: PaymentState, now: datetime) -> bool:
    return state.deadline_at is not None and now >= state.deadline_at


def _close_attempt(state: PaymentState, status: PaymentStatus, gateway_ref: str | None,
                   now: datetime) -> tuple[Attempt, ...]:
    if not state.attempts:
        return ()
    last = state.attempts[-1].model_copy(update={"status": status, "gateway_ref": gateway_ref, "at": now})
    return (*state.attempts[:-1], last)


def settle(state: PaymentState, answer: GatewayAnswer, gateway_ref: str | None,
           now: datetime) -> tuple[PaymentState, Message]:
    """The gateway's answer as the payment's outcome and the event that announces it.

    An approval stands even if the order failed meanwhile: the money moved, so it is
    announced, and :func:`needs_refund` then gives it back.
    """
    assert state.amount_paise is not None
    if answer is GatewayAnswer.APPROVED:
        assert gateway_ref is not None
        attempts = _close_attempt(state, PaymentStatus.CONFIRMED, gateway_ref, now)
        return (state._with(now, status=PaymentStatus.CONFIRMED, gateway_ref=gateway_ref, attempts=attempts,
                            retry_at=None),
                PaymentConfirmed(order_id=state.order_id, payment_id=state.payment_id,
                                 amount_paise=state.amount_paise, gateway_ref=gateway_ref))
    reason = FailureReason.PAYMENT_DECLINED if answer is GatewayAnswer.DECLINED else FailureReason.PAYMENT_TIMEOUT
    attempts = _close_attempt(state, PaymentStatus.FAILED, gateway_ref, now)
    return (state._with(now, status=PaymentStatus.FAILED, reason=reason, gateway_ref=gateway_ref, attempts=attempts,
                        retry_at=None),
            PaymentFailed(order_id=state.order_id, payment_id=state.payment_id,
                          amount_paise=state.amount_paise, reason=reason, gateway_ref=gateway_ref))


def needs_refund(state: PaymentState) -> bool:
    """Charged, but the order failed anyway (its deadline passed first): give the money back."""
    return state.status is PaymentStatus.CONFIRMED and state.order_failed


def refunded(state: PaymentState, now: datetime) -> tuple[PaymentState, Message]:
    assert state.amount_paise is not None
    reason = FailureReason.TIMED_OUT
    return (state._with(now, status=PaymentStatus.REFUNDED, reason=reason,
                        attempts=_close_attempt(state, PaymentStatus.REFUNDED, state.gateway_ref, now)),
            PaymentFailed(order_id=state.order_id, payment_id=state.payment_id, amount_paise=state.amount_paise,
                          reason=reason, gateway_ref=state.gateway_ref))
