"""When to charge and what the gateway's answer means (domain/payment.py): its pieces, then the decider."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from domain.payment import (
    AskStatus, Attempt, CallKind, Cancel, Charge, Decision, Effect, Emit, GatewayAnswer, GatewayCall, PaymentState,
    PaymentStatus, Refund, Store, attempt, backoff, charge_unknown, deadline_passed, decide, due_at, evolve,
    ready_to_charge, must_ask_first, needs_refund, refunded, retry_due, retry_later, settle,
)
from streams.commands import GatewayAnswered, RetryPayment
from streams.events import (
    Contact, FailureReason, InventoryFailed, InventoryReserved, Line, Message, OrderConfirmed, OrderFailed,
    OrderPlaced, Payment, PaymentConfirmed, PaymentFailed,
)

ORDER_ID = "order-7"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
ITEMS = (Line(sku="IPHONE-15", name="iPhone 15", unit_price_paise=79_900_00, quantity=1),)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def placed() -> OrderPlaced:
    return OrderPlaced(order_id=ORDER_ID, user_id="ravi", items=ITEMS, total_paise=79_900_00,
                       payment=Payment(vpa="ravi@okhdfc"), contact=Contact(email="ravi@example.com"))


def reserved() -> InventoryReserved:
    return InventoryReserved(order_id=ORDER_ID)


def order_failed(reason: FailureReason = FailureReason.OUT_OF_STOCK) -> OrderFailed:
    return OrderFailed(order_id=ORDER_ID, user_id="ravi", items=ITEMS, reason=reason)


def fold(*msgs: Message) -> PaymentState | None:
    state: PaymentState | None = None
    for i, m in enumerate(msgs):
        state = evolve(state, m, at(i))
    return state


def ready_state() -> PaymentState:
    state = fold(placed(), reserved())
    assert state is not None and ready_to_charge(state)
    return state


@pytest.mark.parametrize("first,second", [(placed, reserved), (reserved, placed)])
def test_placed_and_reserved_in_either_order_make_it_ready(first: object, second: object) -> None:
    """The payment service hears both facts on different topics; order must not matter."""
    half = fold(first())  # type: ignore[operator]
    assert half is not None and half.status is PaymentStatus.WAITING
    assert not ready_to_charge(half)
    state = evolve(half, second(), at(5))  # type: ignore[operator]
    assert state is not None
    assert ready_to_charge(state)
    assert state.order_id == ORDER_ID and state.payment_id == f"pay-{ORDER_ID}"
    assert state.amount_paise == 79_900_00 and state.vpa == "ravi@okhdfc" and state.user_id == "ravi"
    assert state.reserved and state.status is PaymentStatus.WAITING and state.attempts == ()
    assert state.version == 2


def test_only_placed_is_not_ready() -> None:
    """No charge before stock is held."""
    state = fold(placed())
    assert state is not None and state.amount_paise == 79_900_00 and not state.reserved
    assert not ready_to_charge(state)


def test_only_reserved_is_not_ready() -> None:
    """No charge without the amount and VPA from OrderPlaced."""
    state = fold(reserved())
    assert state is not None and state.reserved and state.amount_paise is None
    assert not ready_to_charge(state)


def test_nothing_known_is_not_ready() -> None:
    assert not ready_to_charge(None)


@pytest.mark.parametrize("msg", [order_failed(), InventoryFailed(order_id=ORDER_ID),
                                 PaymentConfirmed(order_id=ORDER_ID, payment_id="p", amount_paise=1,
                                                  gateway_ref="g")])
def test_other_events_do_not_start_a_payment(msg: Message) -> None:
    """Only OrderPlaced or InventoryReserved open a payment record."""
    assert evolve(None, msg, at(0)) is None


def test_repeat_events_change_nothing() -> None:
    """Redelivered OrderPlaced / InventoryReserved return the identical state."""
    state = ready_state()
    assert evolve(state, placed(), at(9)) is state
    assert evolve(state, reserved(), at(9)) is state


def test_attempt_records_a_pending_attempt_before_the_call() -> None:
    """The attempt is stored before calling the gateway so a crash mid-call is retried."""
    state = ready_state()
    after = attempt(state, at(10), 60.0)
    assert after.status is PaymentStatus.PENDING
    assert after.attempts == (Attempt(number=1, status=PaymentStatus.PENDING, at=at(10)),)
    assert after.version == state.version + 1 and after.updated_at == at(10)
    assert after.payment_id == state.payment_id  # the idempotency key the gateway sees never changes


def test_a_timed_out_attempt_is_retried_later_under_the_same_payment_id() -> None:
    """No answer: the attempt is closed TIMEOUT, a retry falls due after the backoff, same payment id."""
    first = attempt(ready_state(), at(10), 60.0)
    assert not ready_to_charge(first), "a PENDING payment is retried by the sweep, not by any event"
    waiting = retry_later(first, at(12), 0.5)
    assert waiting.attempts[-1].status is PaymentStatus.TIMEOUT
    assert not retry_due(waiting, at(12)) and retry_due(waiting, at(13))
    second = attempt(waiting, at(13), 60.0)
    assert [a.number for a in second.attempts] == [1, 2]
    assert second.payment_id == first.payment_id
    assert second.deadline_at == first.deadline_at == at(70), "the deadline counts from the first attempt"
    assert not deadline_passed(second, at(69)) and deadline_passed(second, at(70))


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff(n, 0.5) for n in (1, 2, 3, 4, 5, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_approval_after_the_order_failed_is_announced_then_refunded() -> None:
    """A late approval for an order that failed meanwhile must not leave a charged shopper."""
    state = evolve(attempt(ready_state(), at(10), 60.0), order_failed(FailureReason.TIMED_OUT), at(11))
    assert state is not None and state.order_failed and state.status is PaymentStatus.PENDING
    assert must_ask_first(state, at(11)), "no new charge for a failed order: ask what happened"
    confirmed, event = settle(state, GatewayAnswer.APPROVED, "ref", at(12))
    assert isinstance(event, PaymentConfirmed) and needs_refund(confirmed)
    back, refund_event = refunded(confirmed, at(13))
    assert back.status is PaymentStatus.REFUNDED and not needs_refund(back)
    assert isinstance(refund_event, PaymentFailed) and refund_event.reason is FailureReason.TIMED_OUT


def test_settle_approved_confirms_and_announces_payment_confirmed() -> None:
    """APPROVED: CONFIRMED state, the attempt closed with the gateway ref, PaymentConfirmed out."""
    state = attempt(ready_state(), at(10), 60.0)
    after, event = settle(state, GatewayAnswer.APPROVED, "upi-ref-1", at(11))
    assert after.status is PaymentStatus.CONFIRMED and after.gateway_ref == "upi-ref-1" and after.reason is None
    assert after.attempts == (Attempt(number=1, status=PaymentStatus.CONFIRMED, gateway_ref="upi-ref-1", at=at(11)),)
    assert not ready_to_charge(after)
    assert isinstance(event, PaymentConfirmed)
    assert (event.order_id, event.payment_id, event.amount_paise, event.gateway_ref) == (
        ORDER_ID, f"pay-{ORDER_ID}", 79_900_00, "upi-ref-1")


@pytest.mark.parametrize("answer,reason", [
    (GatewayAnswer.DECLINED, FailureReason.PAYMENT_DECLINED),
    (GatewayAnswer.TIMEOUT, FailureReason.PAYMENT_TIMEOUT),
])
def test_settle_failure_answers_map_to_reasons(answer: GatewayAnswer, reason: FailureReason) -> None:
    """DECLINED and TIMEOUT fail the payment with the public reason the order will carry."""
    state = attempt(ready_state(), at(10), 60.0)
    ref = "upi-ref-2" if answer is GatewayAnswer.DECLINED else None
    after, event = settle(state, answer, ref, at(11))
    assert after.status is PaymentStatus.FAILED and after.reason is reason
    assert after.attempts[-1].status is PaymentStatus.FAILED and after.attempts[-1].gateway_ref == ref
    assert not ready_to_charge(after)
    assert isinstance(event, PaymentFailed)
    assert event.reason is reason and event.amount_paise == 79_900_00 and event.gateway_ref == ref
    assert event.payment_id == f"pay-{ORDER_ID}"


def test_settle_closes_only_the_last_attempt() -> None:
    """Earlier attempts keep their record; only the one that got an answer is closed."""
    state = attempt(attempt(ready_state(), at(10), 60.0), at(20), 60.0)
    after, _ = settle(state, GatewayAnswer.APPROVED, "r", at(21))
    assert [a.status for a in after.attempts] == [PaymentStatus.PENDING, PaymentStatus.CONFIRMED]


def test_order_failed_before_charge_cancels_and_is_never_ready() -> None:
    """An order that fails first (out of stock, timed out) is never charged, even if reserved arrives late."""
    state = fold(placed(), order_failed(FailureReason.TIMED_OUT))
    assert state is not None
    assert state.status is PaymentStatus.CANCELLED and state.reason is FailureReason.TIMED_OUT
    assert not ready_to_charge(state)
    late = evolve(state, reserved(), at(9))
    assert late is not None and late.reserved
    assert late.status is PaymentStatus.CANCELLED
    assert not ready_to_charge(late)


def test_order_failed_after_charge_started_does_not_cancel() -> None:
    """Once the gateway has been called the outcome must be recorded, not overwritten."""
    state = attempt(ready_state(), at(10), 60.0)
    after = evolve(state, order_failed(FailureReason.TIMED_OUT), at(11))
    assert after is not None and after.status is PaymentStatus.PENDING and after.order_failed


def test_a_cancelled_payment_with_both_facts_in_is_checked_with_the_gateway_once() -> None:
    """A predecessor killed mid-call may have charged it: its attempt is stored only after the answer."""
    cancelled = fold(placed(), order_failed(FailureReason.TIMED_OUT))
    assert cancelled is not None and not charge_unknown(None, cancelled)  # never reserved: never charged
    late = evolve(cancelled, reserved(), at(9))
    assert late is not None and charge_unknown(cancelled, late)
    assert evolve(late, reserved(), at(10)) is late  # a redelivery folds to the same state: no second check


def test_a_payment_cancelled_before_reservation_is_not_checked() -> None:
    state = fold(reserved(), order_failed(FailureReason.TIMED_OUT))  # no amount: nothing could be charged
    assert state is not None and state.status is PaymentStatus.CANCELLED
    assert not charge_unknown(None, state)


def test_an_attempt_on_record_is_settled_by_the_sweep_not_by_the_check() -> None:
    pending = attempt(ready_state(), at(10), 60.0)
    after = evolve(pending, order_failed(FailureReason.TIMED_OUT), at(11))
    assert after is not None and not charge_unknown(pending, after)


# --- the decider: the whole policy, its effects as data ---------------------------------------------

POLICY = {"deadline_s": 60.0, "retry_base_s": 0.5, "upi_timeout_s": 2.0}
CHECK_AFTER = timedelta(seconds=2 * POLICY["upi_timeout_s"])


def step(state: PaymentState | None, msg: Message, seconds: float) -> Decision:
    return decide(state, msg, T0 + timedelta(seconds=seconds), **POLICY)


def answer(state: PaymentState, result: GatewayAnswer, ref: str | None = None) -> GatewayAnswered:
    """The gateway's answer to the call ``state`` awaits."""
    assert state.awaiting is not None
    return GatewayAnswered(order_id=ORDER_ID, call=state.awaiting.value, number=state.calls, answer=result.value,
                           gateway_ref=ref)


def calls_in(effects: list[Effect]) -> list[GatewayCall]:
    return [e for e in effects if isinstance(e, GatewayCall)]


def emitted(effects: list[Effect]) -> list[Message]:
    return [e.event for e in effects if isinstance(e, Emit)]


def stored(state: PaymentState | None, effects: list[Effect]) -> PaymentState:
    """The decision stores exactly the state it returns, once, before any call it makes."""
    writes = [i for i, e in enumerate(effects) if isinstance(e, Store)]
    assert len(writes) == 1 and state is not None and effects[writes[0]] == Store(state), effects
    assert all(i > writes[0] for i, e in enumerate(effects) if isinstance(e, GatewayCall)), "stored before the call"
    assert all(i < writes[0] for i, e in enumerate(effects) if isinstance(e, Emit)), "emitted before the store"
    return state


def charging() -> PaymentState:
    """Both facts in: stored awaiting charge number 1."""
    half, _ = step(None, placed(), 0)
    state, effects = step(half, reserved(), 1)
    return stored(state, effects)


def silent_until_deadline() -> PaymentState:
    """A charge that never gets an answer, retried until the deadline, now asking for the status."""
    state = charging()
    t = 1.0
    while state.awaiting is CallKind.CHARGE:
        state, _ = step(state, answer(state, GatewayAnswer.TIMEOUT), t + 2)
        if state.awaiting is None:
            t = (state.retry_at - T0).total_seconds()  # type: ignore[operator]
            state, _ = step(state, RetryPayment(order_id=ORDER_ID), t)
    assert state.awaiting is CallKind.STATUS
    return state


def test_both_facts_in_store_a_pending_attempt_then_charge() -> None:
    """The attempt is written before the call, with a check-back time past the call's timeout."""
    half, effects = step(None, placed(), 0)
    assert half is not None and effects == [Store(half)] and calls_in(effects) == []
    state, effects = step(half, reserved(), 1)
    stored(state, effects)
    assert state is not None and state.status is PaymentStatus.PENDING and state.awaiting is CallKind.CHARGE
    assert state.retry_at == at(1) + CHECK_AFTER and state.deadline_at == at(61)
    assert calls_in(effects) == [Charge(order_id=ORDER_ID, payment_id=f"pay-{ORDER_ID}", number=1,
                                        vpa="ravi@okhdfc", amount_paise=79_900_00)]
    assert emitted(effects) == []


@pytest.mark.parametrize("result,event_type,status", [
    (GatewayAnswer.APPROVED, PaymentConfirmed, PaymentStatus.CONFIRMED),
    (GatewayAnswer.DECLINED, PaymentFailed, PaymentStatus.FAILED),
])
def test_a_charge_answered_is_announced_then_stored(result: GatewayAnswer, event_type: type, status: PaymentStatus
                                                    ) -> None:
    state = charging()
    after, effects = step(state, answer(state, result, "upi-ref"), 2)
    stored(after, effects)
    assert after is not None and after.status is status and after.awaiting is None
    assert [type(e) for e in emitted(effects)] == [event_type] and calls_in(effects) == []
    assert retry_due(after, at(10_000)) is False, "nothing left for the sweep"


def test_a_silent_charge_is_retried_after_the_backoff_under_the_same_key() -> None:
    state = charging()
    waiting, effects = step(state, answer(state, GatewayAnswer.TIMEOUT), 3)
    stored(waiting, effects)
    assert waiting is not None and waiting.awaiting is None and calls_in(effects) == []
    assert waiting.attempts[-1].status is PaymentStatus.TIMEOUT and waiting.retry_at == at(3) + timedelta(seconds=0.5)
    assert step(waiting, RetryPayment(order_id=ORDER_ID), 3) == (waiting, []), "not due yet"
    again, effects = step(waiting, RetryPayment(order_id=ORDER_ID), 4)
    stored(again, effects)
    [call] = calls_in(effects)
    assert isinstance(call, Charge) and call.payment_id == f"pay-{ORDER_ID}" and call.number == 2
    assert again is not None and [a.number for a in again.attempts] == [1, 2]


def test_at_the_deadline_the_status_is_asked_then_the_payment_voided_and_failed() -> None:
    state = silent_until_deadline()
    assert state.deadline_at is not None and len(state.attempts) >= 2
    cancelling, effects = step(state, answer(state, GatewayAnswer.TIMEOUT), 100)
    stored(cancelling, effects)
    assert [type(c) for c in calls_in(effects)] == [Cancel] and emitted(effects) == []
    assert cancelling is not None
    asking, effects = step(cancelling, answer(cancelling, GatewayAnswer.TIMEOUT), 101)  # no answer to the cancel
    stored(asking, effects)
    assert asking is not None and asking.status is PaymentStatus.PENDING and emitted(effects) == []
    assert asking.awaiting is CallKind.CANCEL and asking.retry_at is not None and asking.retry_at > at(101)
    again, effects = step(asking, RetryPayment(order_id=ORDER_ID), 120)
    assert [type(c) for c in calls_in(effects)] == [Cancel] and again is not None
    failed, effects = step(again, answer(again, GatewayAnswer.VOIDED), 121)
    stored(failed, effects)
    [event] = emitted(effects)
    assert isinstance(event, PaymentFailed) and event.reason is FailureReason.PAYMENT_TIMEOUT
    assert failed is not None and failed.status is PaymentStatus.FAILED and calls_in(effects) == []


@pytest.mark.parametrize("call", [CallKind.STATUS, CallKind.CANCEL])
def test_an_approval_found_when_giving_up_confirms(call: CallKind) -> None:
    """The gateway decided late (the status says so, or the cancel finds it approved): the money moved."""
    state = silent_until_deadline()
    if call is CallKind.CANCEL:
        state, _ = step(state, answer(state, GatewayAnswer.TIMEOUT), 100)
    after, effects = step(state, answer(state, GatewayAnswer.APPROVED, "late-ref"), 101)
    stored(after, effects)
    assert [type(e) for e in emitted(effects)] == [PaymentConfirmed]
    assert after is not None and after.status is PaymentStatus.CONFIRMED and after.gateway_ref == "late-ref"


def test_a_charge_unanswered_past_the_deadline_asks_at_once() -> None:
    state = charging()
    after, effects = step(state, answer(state, GatewayAnswer.TIMEOUT), 61)
    stored(after, effects)
    assert [type(c) for c in calls_in(effects)] == [AskStatus]


def test_an_approval_for_an_order_that_failed_meanwhile_is_announced_then_refunded() -> None:
    state = charging()
    failing, effects = step(state, order_failed(FailureReason.TIMED_OUT), 2)
    assert failing is not None and effects == [Store(failing)], "the charge in flight settles it"
    refunding, effects = step(failing, answer(failing, GatewayAnswer.APPROVED, "ref"), 3)
    stored(refunding, effects)
    assert [type(e) for e in emitted(effects)] == [PaymentConfirmed]
    assert [type(c) for c in calls_in(effects)] == [Refund] and refunding is not None
    assert refunding.awaiting is CallKind.REFUND and needs_refund(refunding)
    back, effects = step(refunding, answer(refunding, GatewayAnswer.APPROVED), 4)
    stored(back, effects)
    [event] = emitted(effects)
    assert isinstance(event, PaymentFailed) and event.reason is FailureReason.TIMED_OUT
    assert back is not None and back.status is PaymentStatus.REFUNDED and not retry_due(back, at(10_000))


@pytest.mark.parametrize("result", [GatewayAnswer.DECLINED, GatewayAnswer.TIMEOUT])
def test_a_refund_not_done_is_tried_again_until_it_goes_through(result: GatewayAnswer) -> None:
    """Refused or unanswered: due at the next sweep, made again, and again, under the same key."""
    state, _ = step(charging(), order_failed(FailureReason.TIMED_OUT), 2)
    assert state is not None
    state, _ = step(state, answer(state, GatewayAnswer.APPROVED, "ref"), 3)
    for t in (4, 5, 6):
        assert state is not None and state.awaiting is CallKind.REFUND
        later, effects = step(state, answer(state, result), t)
        stored(later, effects)
        assert later is not None and emitted(effects) == [] and calls_in(effects) == []
        assert needs_refund(later) and retry_due(later, at(t))
        state, effects = step(later, RetryPayment(order_id=ORDER_ID), t)
        [call] = calls_in(effects)
        assert isinstance(call, Refund) and call.number == later.calls + 1


def test_the_order_failing_after_the_charge_was_approved_is_refunded() -> None:
    state = charging()
    confirmed, _ = step(state, answer(state, GatewayAnswer.APPROVED, "ref"), 2)
    after, effects = step(confirmed, order_failed(FailureReason.TIMED_OUT), 3)
    stored(after, effects)
    assert [type(c) for c in calls_in(effects)] == [Refund]


def test_the_order_failing_between_tries_asks_the_gateway_at_once() -> None:
    state = charging()
    waiting, _ = step(state, answer(state, GatewayAnswer.TIMEOUT), 3)
    after, effects = step(waiting, order_failed(FailureReason.TIMED_OUT), 3.1)
    stored(after, effects)
    assert [type(c) for c in calls_in(effects)] == [AskStatus], "no new charge for a failed order"
    assert after is not None
    settled, effects = step(after, answer(after, GatewayAnswer.DECLINED, "r"), 3.2)
    assert [type(e) for e in emitted(effects)] == [PaymentFailed]


@pytest.mark.parametrize("kind", list(CallKind))
def test_a_call_whose_answer_never_comes_is_made_again_after_its_check_back_time(kind: CallKind) -> None:
    """A worker killed mid-call (or its answer record lost): the sweep's RetryPayment makes the call
    again under the same idempotency key; a lost charge counts as one timed-out attempt."""
    state = charging().model_copy(update={"awaiting": kind})
    if kind is CallKind.REFUND:
        state = state.model_copy(update={"status": PaymentStatus.CONFIRMED, "order_failed": True})
    assert state.retry_at is not None
    assert step(state, RetryPayment(order_id=ORDER_ID), (state.retry_at - T0).total_seconds() - 0.1) == (state, [])
    after, effects = step(state, RetryPayment(order_id=ORDER_ID), (state.retry_at - T0).total_seconds())
    stored(after, effects)
    [call] = calls_in(effects)
    assert call.kind is kind and call.number == state.calls + 1 and call.payment_id == state.payment_id
    if kind is CallKind.CHARGE:
        assert after is not None and [a.status for a in after.attempts] == [PaymentStatus.TIMEOUT,
                                                                             PaymentStatus.PENDING]


def test_answers_not_awaited_change_nothing() -> None:
    """Stale (an earlier call), repeated (folded already), of another kind, after it settled, or for no
    payment at all: the identical state and no effect."""
    state = charging()
    superseded, _ = step(state, RetryPayment(order_id=ORDER_ID), 10)
    assert superseded is not None and superseded.calls == 2
    assert step(superseded, answer(state, GatewayAnswer.APPROVED, "old"), 11) == (superseded, [])
    wrong_kind = GatewayAnswered(order_id=ORDER_ID, call="refund", number=2, answer="APPROVED")
    assert step(superseded, wrong_kind, 11) == (superseded, [])
    settled, _ = step(superseded, answer(superseded, GatewayAnswer.DECLINED, "r"), 12)
    assert settled is not None and settled.status is PaymentStatus.FAILED
    for late in (answer(superseded, GatewayAnswer.DECLINED, "r"), answer(superseded, GatewayAnswer.APPROVED, "x")):
        assert step(settled, late, 13) == (settled, []), "folded once: a repeat or a late change of mind is dropped"
    assert step(None, answer(state, GatewayAnswer.APPROVED, "r"), 13) == (None, [])


def test_a_redelivered_input_decides_the_same_call_again() -> None:
    """A crash before the write: the input is read again and the same call (same number, same key) made."""
    half, _ = step(None, placed(), 0)
    first, first_effects = step(half, reserved(), 1)
    again, again_effects = step(half, reserved(), 1)
    assert first == again and calls_in(first_effects) == calls_in(again_effects)
    assert step(first, reserved(), 2) == (first, []), "after the write: a repeat does nothing"


def test_a_cancelled_payment_is_checked_then_voided_and_stays_due_until_checked() -> None:
    """charge_unknown: the check is stored awaited, so a crash mid-check is checked again."""
    cancelled, _ = step(step(None, placed(), 0)[0], order_failed(FailureReason.TIMED_OUT), 1)
    checking, effects = step(cancelled, reserved(), 2)
    stored(checking, effects)
    assert checking is not None and checking.status is PaymentStatus.CANCELLED
    assert [type(c) for c in calls_in(effects)] == [AskStatus] and retry_due(checking, checking.retry_at)
    voiding, effects = step(checking, answer(checking, GatewayAnswer.TIMEOUT), 3)  # unknown there
    assert [type(c) for c in calls_in(effects)] == [Cancel] and voiding is not None
    asking, effects = step(voiding, answer(voiding, GatewayAnswer.TIMEOUT), 4)  # no answer: it may not be void
    assert asking is not None and asking.awaiting is CallKind.CANCEL and retry_due(asking, at(100))
    done, effects = step(asking, answer(asking, GatewayAnswer.VOIDED), 5)
    stored(done, effects)
    assert done is not None and done.status is PaymentStatus.CANCELLED and emitted(effects) == []
    assert not retry_due(done, at(10_000))


def test_a_cancelled_payment_found_approved_is_announced_and_refunded() -> None:
    cancelled, _ = step(step(None, placed(), 0)[0], order_failed(FailureReason.TIMED_OUT), 1)
    checking, _ = step(cancelled, reserved(), 2)
    assert checking is not None
    after, effects = step(checking, answer(checking, GatewayAnswer.APPROVED, "ref"), 3)
    stored(after, effects)
    assert [type(e) for e in emitted(effects)] == [PaymentConfirmed]
    assert [type(c) for c in calls_in(effects)] == [Refund]
    assert after is not None and [a.status for a in after.attempts] == [PaymentStatus.CONFIRMED]


@pytest.mark.parametrize("msg", [InventoryFailed(order_id=ORDER_ID),
                                 OrderConfirmed(order_id=ORDER_ID, user_id="ravi", items=ITEMS, total_paise=1)])
def test_inventory_refusal_and_order_confirmed_change_nothing(msg: Message) -> None:
    state = charging()
    assert step(state, msg, 2) == (state, [])
    assert step(None, msg, 2) == (None, [])


# --- the decider against a gateway, under every interleaving, loss, repeat and crash -----------------


class FakeGateway:
    """The simulator's ledger (dev/upi_gateway.py): idempotent by payment id; ``silent`` never answers a charge."""

    def __init__(self, outcome: str) -> None:
        self.outcome = outcome  # APPROVED, DECLINED or silent
        self.status: str | None = None
        self.charged_ids: set[str] = set()

    def call(self, call: GatewayCall) -> tuple[str, str | None]:
        """The answer as ``adapters.upi.UpiClient`` reads it: a decided or voided payment's status, else TIMEOUT."""
        if isinstance(call, Refund):
            if self.status not in ("APPROVED", "REFUNDED"):
                return "DECLINED", None  # refused
            self.status = "REFUNDED"
            return "APPROVED", None
        if isinstance(call, Charge):
            self.charged_ids.add(call.payment_id)
            if self.status is None:
                self.status = "PENDING" if self.outcome == "silent" else self.outcome
        elif isinstance(call, Cancel) and self.status in (None, "PENDING"):
            self.status = "VOIDED"
        if self.status == "VOIDED":
            return "VOIDED", None
        return (self.status, "ref") if self.status in ("APPROVED", "DECLINED") else ("TIMEOUT", None)


def simulate(seed: int) -> None:
    """One payment from placed to settled, with the order service folding its outcome late (and maybe
    failing the order first by its own deadline, or out of stock), topics interleaved at random,
    gateway calls late, lost (made or not), answered twice or timed out after reaching the gateway
    (found by make chaos: a cancel that timed out was taken for a void), and the worker crashing (its write
    lost or kept, its input read again, its calls in flight gone)."""
    rng = random.Random(seed)
    policy = {"deadline_s": 10.0, "retry_base_s": 0.5, "upi_timeout_s": 1.0}
    gateway = FakeGateway(rng.choice(["APPROVED", "DECLINED", "silent"]))
    out_of_stock = rng.random() < 0.1
    order_fails_at = rng.uniform(0, 12) if rng.random() < 0.5 else None  # often while a call is out
    queues: dict[str, list[Message]] = {"order": [placed()], "inventory": [] if out_of_stock else [reserved()],
                                        "commands": []}
    to_orders: list[tuple[float, Message]] = []  # payment events on their way to the order service
    order_status: str | None = None
    if out_of_stock:
        order_status = "FAILED"
        queues["order"].append(order_failed(FailureReason.OUT_OF_STOCK))
    in_flight: list[tuple[float, GatewayCall, str]] = []  # (when, call, fate)
    late_from = rng.uniform(0, 12)  # a window in which the gateway acts on every call but answers none in time
    late_until = late_from + rng.uniform(1, 10) if rng.random() < 0.3 else late_from
    state: PaymentState | None = None
    now = 0.0

    def fail_order(reason: FailureReason) -> None:
        nonlocal order_status
        if order_status is None:
            order_status = "FAILED"
            queues["order"].append(order_failed(reason))

    def reach_gateway(call: GatewayCall, fate: str) -> None:
        if fate == "never made":
            return
        result, ref = gateway.call(call)
        if fate == "timed out" or late_from <= now < late_until:  # it reached the gateway, but the answer
            result, ref = "TIMEOUT", None                         # did not come back in time (a late fault)
        reply = GatewayAnswered(order_id=ORDER_ID, call=call.kind.value, number=call.number, answer=result,
                                gateway_ref=ref)
        if fate != "answer lost":
            queues["commands"].append(reply)
        if fate == "answered twice":
            queues["commands"].append(reply)

    for _ in range(5000):
        now += rng.uniform(0, 0.4)
        if order_fails_at is not None and now >= order_fails_at:
            fail_order(FailureReason.TIMED_OUT)
        for entry in [x for x in in_flight if x[0] <= now]:
            in_flight.remove(entry)
            reach_gateway(entry[1], entry[2])
        for when, event in [x for x in to_orders if x[0] <= now]:  # the order service: the first final status wins
            to_orders.remove((when, event))
            if isinstance(event, PaymentConfirmed) and order_status is None:
                order_status = "CONFIRMED"
            elif isinstance(event, PaymentFailed):
                fail_order(event.reason)
        if state is not None and retry_due(state, T0 + timedelta(seconds=now)) and not queues["commands"]:
            queues["commands"].append(RetryPayment(order_id=ORDER_ID))
        ready = [name for name, q in queues.items() if q]
        if not ready:
            if not in_flight and not to_orders and (state is None or due_at(state) is None):
                break
            continue
        name = rng.choice(ready)
        msg = queues[name].pop(0)
        before = state
        state, effects = decide(state, msg, T0 + timedelta(seconds=now), **policy)
        for effect in effects:
            if isinstance(effect, Emit):
                if isinstance(effect.event, PaymentConfirmed):
                    assert gateway.status in ("APPROVED", "REFUNDED"), "confirmed without a charge"
                to_orders.append((now + rng.uniform(0, 2.0), effect.event))
            elif isinstance(effect, GatewayCall):
                assert effect.payment_id == f"pay-{ORDER_ID}", "one idempotency key"
                fate = rng.choices(["answered", "answer lost", "never made", "answered twice", "timed out"],
                                   [80, 5, 5, 5, 5])[0]
                in_flight.append((now + rng.uniform(0, 3.0), effect, fate))  # sometimes past its check-back time
        if rng.random() < 0.1:  # crash: the input is read again, its write lost or kept, its calls gone
            queues[name].insert(0, msg)
            if rng.random() < 0.5:
                state = before
            for entry in [x for x in in_flight if rng.random() < 0.5]:
                in_flight.remove(entry)
                reach_gateway(entry[1], rng.choice(["answer lost", "never made"]))
    else:
        raise AssertionError(f"seed {seed}: did not settle: {state!r}")
    assert state is not None and state.is_final and state.awaiting is None, state
    assert gateway.charged_ids <= {f"pay-{ORDER_ID}"}
    if order_status == "CONFIRMED":
        assert gateway.status == "APPROVED" and state.status is PaymentStatus.CONFIRMED, "a confirmed order is paid"
    else:
        assert order_status == "FAILED", order_status
        assert gateway.status in (None, "DECLINED", "VOIDED", "REFUNDED"), "no charge kept on a failed order"


@pytest.mark.parametrize("seed", range(1000))
def test_no_double_charge_no_charge_kept_on_a_failed_order_no_confirmed_order_unpaid(seed: int) -> None:
    simulate(seed)
