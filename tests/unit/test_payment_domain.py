"""When to charge and what the gateway's answer means (domain/payment.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from domain.payment import (
    Attempt, GatewayAnswer, PaymentState, PaymentStatus, attempt, backoff, charge_unknown, deadline_passed, evolve,
    ready_to_charge, must_ask_first, needs_refund, refunded, retry_due, retry_later, settle,
)
from streams.events import (
    Contact, FailureReason, InventoryFailed, InventoryReserved, Line, Message, OrderFailed, OrderPlaced,
    Payment, PaymentConfirmed, PaymentFailed,
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
