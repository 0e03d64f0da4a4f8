"""When to charge an order, how to retry a gateway that does not answer, and what its answers mean.

The payment service hears ``OrderPlaced`` (amount, VPA) and ``InventoryReserved`` (go
ahead), in either order; it charges once both are in, under one payment id, which is
also the idempotency key the UPI gateway sees, so a retry never charges twice. A
gateway that does not answer is retried with backoff until the payment's deadline;
then its status is asked for before giving up, so a late approval is never lost.

:func:`decide` is the whole policy as a decider: from the payment, one input (an order
or inventory event, ``RetryPayment``, or a gateway's answer, ``GatewayAnswered``) and the
time, it gives the next payment and the effects to carry out, as data (:data:`Effect`):
call the gateway, emit an event, store the payment. The agent only carries them out, so
the gateway's calls run off the partition's path and their answers come back as inputs.

At most one gateway call is awaited per payment (``awaiting``, numbered by ``calls``); an
answer to any other call (late, repeated, superseded) changes nothing. The payment is
stored before its call starts, with a time to check back past the call's timeout
(``retry_at``): a call whose answer never comes (a crash, a lost record) is made again
by the retry sweep under the same idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import ClassVar, Optional, Union

from pydantic import BaseModel, ConfigDict

from streams.commands import GatewayAnswered, RetryPayment
from streams.events import (
    FailureReason, InventoryReserved, Message, OrderFailed, OrderPlaced, PaymentConfirmed, PaymentFailed,
)

__all__ = ["Attempt", "PaymentStatus", "PaymentState", "GatewayAnswer", "CallKind", "evolve", "ready_to_charge",
           "attempt", "retry_later", "retry_due", "due_at", "deadline_passed", "settle", "backoff", "needs_refund",
           "must_ask_first", "refunded", "charge_unknown", "decide", "Decision", "Effect", "GatewayCall", "Charge",
           "AskStatus", "Cancel", "Refund", "Emit", "Store"]


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
    """What the gateway said to a call: it approved what was asked, declined it, voided it (a payment
    with no answer yet, cancelled: it can never be approved), or did not answer."""

    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    VOIDED = "VOIDED"
    TIMEOUT = "TIMEOUT"


class CallKind(str, Enum):
    """The gateway calls the payment service makes; the values are ``GatewayAnswered.call``."""

    CHARGE = "charge"
    STATUS = "status"
    CANCEL = "cancel"
    REFUND = "refund"


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
    #: gateway calls made for this payment (any kind); the last one's number
    calls: int = 0
    #: the kind of call number ``calls`` whose answer the payment waits for (None: none)
    awaiting: CallKind | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_PAYMENT

    def _with(self, now: datetime, **update: object) -> "PaymentState":
        return self.model_copy(update={**update, "updated_at": now, "version": self.version + 1})


# --- effects: what the agent carries out, in the order given ---------------------------------------


@dataclass(frozen=True)
class GatewayCall:
    """A call to the UPI gateway under the payment's idempotency key; ``number`` comes back with its answer."""

    kind: ClassVar[CallKind]
    order_id: str
    payment_id: str
    number: int


@dataclass(frozen=True)
class Charge(GatewayCall):
    kind: ClassVar[CallKind] = CallKind.CHARGE
    vpa: str
    amount_paise: int


@dataclass(frozen=True)
class AskStatus(GatewayCall):
    kind: ClassVar[CallKind] = CallKind.STATUS


@dataclass(frozen=True)
class Cancel(GatewayCall):
    """Void the payment at the gateway, so it can never be approved after it was given up."""

    kind: ClassVar[CallKind] = CallKind.CANCEL


@dataclass(frozen=True)
class Refund(GatewayCall):
    kind: ClassVar[CallKind] = CallKind.REFUND


@dataclass(frozen=True)
class Emit:
    """Announce ``event`` on ``payment-events``."""

    event: Message


@dataclass(frozen=True)
class Store:
    """Write the payment to its table (and the retry index)."""

    state: PaymentState


#: a gateway call (:class:`Charge`, :class:`AskStatus`, :class:`Cancel`, :class:`Refund`), an event or a write
Effect = Union[GatewayCall, Emit, Store]
#: the payment after an input (``None``: no payment) and what to do about it
Decision = tuple[Optional[PaymentState], list[Effect]]

_CALLS: dict[CallKind, type[GatewayCall]] = {CallKind.CHARGE: Charge, CallKind.STATUS: AskStatus,
                                             CallKind.CANCEL: Cancel, CallKind.REFUND: Refund}


# --- the pieces of the policy ------------------------------------------------------------------------


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

    The attempt is stored before the call, but its changelog record can be lost with a worker
    killed mid-call, leaving no trace of a charge that went through. Its successor may then
    read the order's failure before the reservation (two topics) and cancel a payment that
    was in fact approved.
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
    return state._with(now, retry_at=now + delay, awaiting=None,
                       attempts=_close_attempt(state, PaymentStatus.TIMEOUT, None, now))


def due_at(state: PaymentState) -> datetime | None:
    """When the retry sweep must look at the payment again: a PENDING one at its retry or check-back
    time, one awaiting a call's answer at its check-back time, an approval still to refund at once."""
    if state.awaiting is not None or state.status is PaymentStatus.PENDING:
        return state.retry_at
    if needs_refund(state):
        return state.retry_at or state.updated_at
    return None


def retry_due(state: PaymentState | None, now: datetime) -> bool:
    """A PENDING payment whose check-back time came, or an approved one still to refund."""
    if state is None:
        return False
    due = due_at(state)
    return due is not None and due <= now


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
                            retry_at=None, awaiting=None),
                PaymentConfirmed(order_id=state.order_id, payment_id=state.payment_id,
                                 amount_paise=state.amount_paise, gateway_ref=gateway_ref))
    reason = FailureReason.PAYMENT_DECLINED if answer is GatewayAnswer.DECLINED else FailureReason.PAYMENT_TIMEOUT
    attempts = _close_attempt(state, PaymentStatus.FAILED, gateway_ref, now)
    return (state._with(now, status=PaymentStatus.FAILED, reason=reason, gateway_ref=gateway_ref, attempts=attempts,
                        retry_at=None, awaiting=None),
            PaymentFailed(order_id=state.order_id, payment_id=state.payment_id,
                          amount_paise=state.amount_paise, reason=reason, gateway_ref=gateway_ref))


def needs_refund(state: PaymentState) -> bool:
    """Charged, but the order failed anyway (its deadline passed first): give the money back."""
    return state.status is PaymentStatus.CONFIRMED and state.order_failed


def refunded(state: PaymentState, now: datetime) -> tuple[PaymentState, Message]:
    assert state.amount_paise is not None
    reason = FailureReason.TIMED_OUT
    return (state._with(now, status=PaymentStatus.REFUNDED, reason=reason, retry_at=None, awaiting=None,
                        attempts=_close_attempt(state, PaymentStatus.REFUNDED, state.gateway_ref, now)),
            PaymentFailed(order_id=state.order_id, payment_id=state.payment_id, amount_paise=state.amount_paise,
                          reason=reason, gateway_ref=state.gateway_ref))


# --- the decider ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Policy:
    deadline_s: float
    retry_base_s: float
    upi_timeout_s: float

    @property
    def check_after_s(self) -> float:
        """How long an awaited answer may take before its call counts as lost: well past the call's timeout."""
        return 2 * self.upi_timeout_s


def decide(state: PaymentState | None, msg: Message, now: datetime, *, deadline_s: float, retry_base_s: float,
           upi_timeout_s: float) -> Decision:
    """The payment after ``msg`` and the effects to carry out, in order (emit, store, call).

    ``deadline_s``: how long to keep retrying a silent gateway (from the first attempt);
    ``retry_base_s``: the first retry's delay (:func:`backoff`); ``upi_timeout_s``: how long one
    gateway call may take, so an answer not back well after it counts as lost. No effects and
    the identical state: nothing to do (a repeat, a late or stale input).
    """
    policy = _Policy(deadline_s, retry_base_s, upi_timeout_s)
    if isinstance(msg, GatewayAnswered):
        return _answered(state, msg, now, policy)
    if isinstance(msg, RetryPayment):
        return _retry(state, now, policy)
    after = evolve(state, msg, now)
    if after is None or after is state:
        return state, []
    if charge_unknown(state, after):
        return _call(after, CallKind.STATUS, now, policy)  # a predecessor may have charged it
    if ready_to_charge(after):
        return _next_try(after, now, policy)
    if needs_refund(after) and after.awaiting is None:
        return _call(after, CallKind.REFUND, now, policy)
    if after.status is PaymentStatus.PENDING and after.order_failed and after.awaiting is None:
        return _call(after, CallKind.STATUS, now, policy)  # the order failed between tries: settle it now
    return after, [Store(after)]  # a call in flight is settled by its answer


def _call(state: PaymentState, kind: CallKind, now: datetime, policy: _Policy) -> Decision:
    """Await a new call of ``kind``: stored first, with a time to check back, then made."""
    number = state.calls + 1
    state = state._with(now, calls=number, awaiting=kind, retry_at=now + timedelta(seconds=policy.check_after_s))
    ids = {"order_id": state.order_id, "payment_id": state.payment_id, "number": number}
    if kind is CallKind.CHARGE:
        assert state.vpa is not None and state.amount_paise is not None
        call: GatewayCall = Charge(**ids, vpa=state.vpa, amount_paise=state.amount_paise)
    else:
        call = _CALLS[kind](**ids)
    return state, [Store(state), call]


def _next_try(state: PaymentState, now: datetime, policy: _Policy) -> Decision:
    """A payment with no call in flight goes on: past its deadline (or its order failed) the gateway
    is asked what happened; otherwise it is charged, one more attempt under the same key."""
    if must_ask_first(state, now):
        return _call(state, CallKind.STATUS, now, policy)
    return _call(attempt(state, now, policy.deadline_s, policy.check_after_s), CallKind.CHARGE, now, policy)


def _retry(state: PaymentState | None, now: datetime, policy: _Policy) -> Decision:
    """``RetryPayment``: the sweep says the payment's time came. An awaited answer that did not come
    in time is given up on (its call is lost: a crash, a rebalance, a record not sent) and the
    step made again; a PENDING payment between tries is tried again; an approval for a failed
    order is refunded again."""
    if state is None or not retry_due(state, now):
        return state, []  # a stale or repeated command
    lost = state.awaiting
    if lost is CallKind.CHARGE:
        return _next_try(retry_later(state, now, policy.retry_base_s), now, policy)
    if lost is not None:
        return _call(state, lost, now, policy)
    if needs_refund(state):
        return _call(state, CallKind.REFUND, now, policy)
    return _next_try(state, now, policy)


def _answered(state: PaymentState | None, msg: GatewayAnswered, now: datetime, policy: _Policy) -> Decision:
    """Fold the answer to the call the payment awaits; any other answer changes nothing."""
    if state is None or state.awaiting is None or msg.call != state.awaiting.value or msg.number != state.calls:
        return state, []
    answer, ref, kind = GatewayAnswer(msg.answer), msg.gateway_ref, state.awaiting
    if kind is CallKind.REFUND:
        if answer is GatewayAnswer.APPROVED:
            back, event = refunded(state, now)
            return back, [Emit(event), Store(back)]
        again = state._with(now, awaiting=None, retry_at=now)  # not done: the sweep tries again
        return again, [Store(again)]
    if state.status is PaymentStatus.CANCELLED:  # the check after a cancellation (charge_unknown)
        if answer is GatewayAnswer.APPROVED:
            return _conclude(attempt(state, now, policy.deadline_s), answer, ref, now, policy)
        if answer is GatewayAnswer.TIMEOUT and kind is CallKind.STATUS:
            return _call(state, CallKind.CANCEL, now, policy)  # unknown there, or in flight: void it
        if answer is GatewayAnswer.TIMEOUT:
            return _ask_again_later(state, now, policy)  # the cancel had no answer: it may not have voided
        done = state._with(now, awaiting=None, retry_at=None)
        return done, [Store(done)]
    if answer is not GatewayAnswer.TIMEOUT:
        return _conclude(state, answer, ref, now, policy)
    if kind is CallKind.CHARGE:
        waiting = retry_later(state, now, policy.retry_base_s)
        if must_ask_first(waiting, now):
            return _next_try(waiting, now, policy)  # no point waiting out a backoff: ask now
        return waiting, [Store(waiting)]
    if kind is CallKind.STATUS:
        return _call(state, CallKind.CANCEL, now, policy)  # so it can never be approved after we gave up
    # a cancel with no answer: the payment may stand approved there, so it is not given up yet (the
    # order times out on its own, and the approval found later is refunded); only VOIDED concludes it
    return _ask_again_later(state, now, policy)


def _ask_again_later(state: PaymentState, now: datetime, policy: _Policy) -> Decision:
    """The awaited call is made again after a backoff (the sweep's ``RetryPayment`` redoes it)."""
    waiting = state._with(now, retry_at=now + timedelta(seconds=backoff(state.calls, policy.retry_base_s)))
    return waiting, [Store(waiting)]


def _conclude(state: PaymentState, answer: GatewayAnswer, ref: str | None, now: datetime,
              policy: _Policy) -> Decision:
    """The gateway's answer settles the payment and is announced; an approval for a failed order is refunded."""
    settled, outcome = settle(state, answer, ref, now)
    if needs_refund(settled):
        settled, effects = _call(settled, CallKind.REFUND, now, policy)
        return settled, [Emit(outcome), *effects]
    return settled, [Emit(outcome), Store(settled)]
