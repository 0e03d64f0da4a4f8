"""The order state machine (domain/orders.py): forward-only transitions and the events they announce."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from domain.orders import FINAL, HistoryEntry, Order, OrderStatus, decide, evolve
from streams.commands import CancelOrder, ExpireOrder, OrderNotified, PlaceOrder
from streams.events import (
    Contact, FailureReason, InventoryFailed, InventoryReleased, InventoryReserved, Line, Message,
    OrderConfirmed, OrderFailed, OrderPlaced, Payment, PaymentConfirmed, PaymentFailed,
)

ORDER_ID = "order-1"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)


def at(seconds: int) -> datetime:
    """A fixed instant ``seconds`` after T0, so history timestamps are checkable."""
    return T0 + timedelta(seconds=seconds)


def place_cmd(order_id: str = ORDER_ID) -> PlaceOrder:
    """Ravi's iPhone 15 + Laptop order, as the create view sends it."""
    items = (
        Line(sku="IPHONE-15", name="iPhone 15", unit_price_paise=79_900_00, quantity=1),
        Line(sku="LAPTOP", name="Laptop", unit_price_paise=64_990_00, quantity=2),
    )
    return PlaceOrder(order_id=order_id, user_id="ravi", items=items,
                      total_paise=sum(l.line_total_paise for l in items),
                      payment=Payment(vpa="ravi@okhdfc"), contact=Contact(email="ravi@example.com"))


def paid(order_id: str = ORDER_ID) -> PaymentConfirmed:
    return PaymentConfirmed(order_id=order_id, payment_id=f"pay-{order_id}", amount_paise=1, gateway_ref="g-1")


def declined(reason: FailureReason, order_id: str = ORDER_ID) -> PaymentFailed:
    return PaymentFailed(order_id=order_id, payment_id=f"pay-{order_id}", amount_paise=1, reason=reason)


def created() -> Order:
    order = evolve(None, place_cmd(), at(0))
    assert order is not None
    return order


def reserved() -> Order:
    order = evolve(created(), InventoryReserved(order_id=ORDER_ID), at(1))
    assert order is not None and order.status is OrderStatus.INVENTORY_RESERVED
    return order


def confirmed() -> Order:
    order = evolve(reserved(), paid(), at(2))
    assert order is not None and order.status is OrderStatus.CONFIRMED
    return order


def failed_out_of_stock() -> Order:
    order = evolve(created(), InventoryFailed(order_id=ORDER_ID, short_skus=("LAPTOP",)), at(1))
    assert order is not None and order.status is OrderStatus.FAILED
    return order


# --- evolve -------------------------------------------------------------------------------------------------

def test_place_order_creates_created_order_with_one_history_entry() -> None:
    """PlaceOrder is the only input that brings an order into existence, at CREATED."""
    cmd = place_cmd()
    order = evolve(None, cmd, at(0))
    assert order is not None
    assert order.order_id == ORDER_ID and order.user_id == "ravi"
    assert order.status is OrderStatus.CREATED and order.reason is None
    assert order.items == cmd.items and order.total_paise == 79_900_00 + 2 * 64_990_00
    assert order.payment == cmd.payment and order.contact == cmd.contact
    assert order.history == (HistoryEntry(status=OrderStatus.CREATED, at=at(0)),)
    assert order.created_at == order.updated_at == at(0)
    assert order.version == 1
    assert not order.is_final


def test_repeat_place_order_returns_the_identical_object() -> None:
    """A redelivered PlaceOrder must not reset an order that already moved on."""
    order = reserved()
    again = evolve(order, place_cmd(), at(10))
    assert again is order
    assert again.status is OrderStatus.INVENTORY_RESERVED


@pytest.mark.parametrize("msg", [
    InventoryReserved(order_id=ORDER_ID),
    InventoryFailed(order_id=ORDER_ID),
    InventoryReleased(order_id=ORDER_ID),
    PaymentConfirmed(order_id=ORDER_ID, payment_id="p", amount_paise=1, gateway_ref="g"),
    PaymentFailed(order_id=ORDER_ID, payment_id="p", amount_paise=1, reason=FailureReason.PAYMENT_DECLINED),
])
def test_outcome_for_unknown_order_creates_nothing(msg: Message) -> None:
    """Only PlaceOrder creates an order; a stray outcome must not invent one."""
    assert evolve(None, msg, at(0)) is None


def test_inventory_reserved_moves_created_to_inventory_reserved() -> None:
    """Step 5 of the flow: stock held for every line."""
    before = created()
    after = evolve(before, InventoryReserved(order_id=ORDER_ID), at(1))
    assert after is not None
    assert after.status is OrderStatus.INVENTORY_RESERVED and after.reason is None
    assert [h.status for h in after.history] == [OrderStatus.CREATED, OrderStatus.INVENTORY_RESERVED]
    assert after.history[-1].at == at(1) and after.updated_at == at(1) and after.created_at == at(0)
    assert after.version == before.version + 1


def test_repeat_inventory_reserved_changes_nothing() -> None:
    """A redelivered InventoryReserved is a no-op (same object, no extra history)."""
    order = reserved()
    assert evolve(order, InventoryReserved(order_id=ORDER_ID), at(5)) is order


def test_inventory_failed_fails_the_order_out_of_stock() -> None:
    """Step 5 failure: the order is FAILED with reason OUT_OF_STOCK."""
    after = failed_out_of_stock()
    assert after.reason is FailureReason.OUT_OF_STOCK
    assert after.is_final
    assert [h.status for h in after.history] == [OrderStatus.CREATED, OrderStatus.FAILED]
    assert after.version == 2


def test_inventory_released_changes_nothing() -> None:
    """InventoryReleased is the compensation's echo, not an order transition."""
    order = reserved()
    assert evolve(order, InventoryReleased(order_id=ORDER_ID), at(5)) is order


def test_payment_confirmed_confirms_a_reserved_order() -> None:
    """Step 7: payment after reservation makes the order CONFIRMED."""
    before = reserved()
    after = evolve(before, paid(), at(2))
    assert after is not None
    assert after.status is OrderStatus.CONFIRMED and after.reason is None and after.is_final
    assert [h.status for h in after.history] == [
        OrderStatus.CREATED, OrderStatus.INVENTORY_RESERVED, OrderStatus.CONFIRMED]
    assert after.version == 3


def test_payment_confirmed_read_before_inventory_reserved_implies_the_reservation() -> None:
    """The two outcomes come on different topics; a payment read first must not strand the order.

    The order passes through INVENTORY_RESERVED (recorded in history) to CONFIRMED, and the
    late InventoryReserved is then a no-op.
    """
    before = created()
    after = evolve(before, paid(), at(1))
    assert after is not None
    assert after.status is OrderStatus.CONFIRMED and after.reason is None
    assert [h.status for h in after.history] == [
        OrderStatus.CREATED, OrderStatus.INVENTORY_RESERVED, OrderStatus.CONFIRMED]
    assert after.version == before.version + 2
    out = decide(before, after)
    assert len(out) == 1 and isinstance(out[0], OrderConfirmed)
    assert evolve(after, InventoryReserved(order_id=ORDER_ID), at(2)) is after


@pytest.mark.parametrize("reason", [FailureReason.PAYMENT_DECLINED, FailureReason.PAYMENT_TIMEOUT])
def test_payment_failed_fails_a_reserved_order_with_the_payment_reason(reason: FailureReason) -> None:
    """The order carries the payment's reason so the shopper is told why."""
    after = evolve(reserved(), declined(reason), at(2))
    assert after is not None
    assert after.status is OrderStatus.FAILED and after.reason is reason
    assert after.history[-1] == HistoryEntry(status=OrderStatus.FAILED, at=at(2))


def test_payment_failed_read_before_inventory_reserved_fails_with_the_payment_reason() -> None:
    """A payment failure read before the reservation still fails the order, with the payment's reason."""
    before = created()
    after = evolve(before, declined(FailureReason.PAYMENT_DECLINED), at(1))
    assert after is not None
    assert after.status is OrderStatus.FAILED and after.reason is FailureReason.PAYMENT_DECLINED
    assert [h.status for h in after.history] == [
        OrderStatus.CREATED, OrderStatus.INVENTORY_RESERVED, OrderStatus.FAILED]
    out = decide(before, after)
    assert len(out) == 1 and isinstance(out[0], OrderFailed) and out[0].reason is FailureReason.PAYMENT_DECLINED


@pytest.mark.parametrize("final", [confirmed, failed_out_of_stock])
@pytest.mark.parametrize("late", [
    InventoryReserved(order_id=ORDER_ID),
    InventoryFailed(order_id=ORDER_ID),
    InventoryReleased(order_id=ORDER_ID),
    PaymentConfirmed(order_id=ORDER_ID, payment_id="p", amount_paise=1, gateway_ref="g"),
    PaymentFailed(order_id=ORDER_ID, payment_id="p", amount_paise=1, reason=FailureReason.PAYMENT_DECLINED),
    place_cmd(),
])
def test_events_after_a_final_status_change_nothing(final: object, late: Message) -> None:
    """A final status is final: late or duplicate events leave the identical order."""
    order = final()  # type: ignore[operator]
    assert order.status in FINAL
    assert evolve(order, late, at(99)) is order


# --- decide -------------------------------------------------------------------------------------------------

def test_decide_announces_order_placed_on_creation() -> None:
    """Step 4: creating the order publishes OrderPlaced with everything downstream needs."""
    after = created()
    out = decide(None, after)
    assert len(out) == 1 and isinstance(out[0], OrderPlaced)
    ev = out[0]
    assert ev.order_id == ORDER_ID and ev.user_id == "ravi"
    assert ev.items == after.items and ev.total_paise == after.total_paise
    assert ev.payment == after.payment and ev.contact == after.contact


def test_decide_announces_nothing_for_a_repeat_place_order() -> None:
    """The identical object back means no second OrderPlaced."""
    before = created()
    assert decide(before, evolve(before, place_cmd(), at(3))) == []


def test_decide_announces_nothing_for_no_order() -> None:
    """A stray outcome for an unknown order publishes nothing."""
    assert decide(None, evolve(None, InventoryReserved(order_id=ORDER_ID), at(0))) == []


def test_decide_announces_nothing_on_inventory_reserved() -> None:
    """INVENTORY_RESERVED is internal progress; the catalog has no order event for it."""
    before = created()
    assert decide(before, evolve(before, InventoryReserved(order_id=ORDER_ID), at(1))) == []


def test_decide_announces_order_confirmed_once() -> None:
    """CONFIRMED publishes exactly one OrderConfirmed; a repeat PaymentConfirmed publishes nothing."""
    before = reserved()
    after = evolve(before, paid(), at(2))
    out = decide(before, after)
    assert len(out) == 1 and isinstance(out[0], OrderConfirmed)
    assert out[0].order_id == ORDER_ID and out[0].user_id == "ravi"
    assert out[0].items == before.items and out[0].total_paise == before.total_paise
    assert decide(after, evolve(after, paid(), at(3))) == []


@pytest.mark.parametrize("before_fn,msg,reason", [
    (created, InventoryFailed(order_id=ORDER_ID), FailureReason.OUT_OF_STOCK),
    (reserved, declined(FailureReason.PAYMENT_DECLINED), FailureReason.PAYMENT_DECLINED),
    (reserved, declined(FailureReason.PAYMENT_TIMEOUT), FailureReason.PAYMENT_TIMEOUT),
])
def test_decide_announces_order_failed_once_with_reason(before_fn: object, msg: Message,
                                                        reason: FailureReason) -> None:
    """FAILED publishes exactly one OrderFailed carrying the reason; a repeat publishes nothing."""
    before = before_fn()  # type: ignore[operator]
    after = evolve(before, msg, at(2))
    out = decide(before, after)
    assert len(out) == 1 and isinstance(out[0], OrderFailed)
    assert out[0].reason is reason and out[0].order_id == ORDER_ID and out[0].items == before.items
    assert decide(after, evolve(after, msg, at(3))) == []


@pytest.mark.parametrize("state", [reserved, confirmed, failed_out_of_stock])
def test_decide_same_status_is_silent_even_for_a_different_object(state: object) -> None:
    """decide compares statuses, so a rebuilt copy (e.g. re-read from a table) never re-announces."""
    order = state()  # type: ignore[operator]
    copy = Order.model_validate_json(order.model_dump_json())
    assert copy is not order and copy == order
    assert decide(order, copy) == []


def test_version_increments_by_one_per_transition_only() -> None:
    """The mirror orders writes by version: every real step +1, no-ops +0."""
    o1 = created()
    o2 = evolve(o1, InventoryReserved(order_id=ORDER_ID), at(1))
    o2b = evolve(o2, InventoryReserved(order_id=ORDER_ID), at(2))
    o3 = evolve(o2b, paid(), at(3))
    o3b = evolve(o3, declined(FailureReason.PAYMENT_DECLINED), at(4))
    assert o2 is not None and o2b is not None and o3 is not None and o3b is not None
    assert [o.version for o in (o1, o2, o2b, o3, o3b)] == [1, 2, 2, 3, 3]
    assert len(o3b.history) == 3


# --- the notification owed by a final order --------------------------------------------------------------

def notified(order_id: str = ORDER_ID) -> OrderNotified:
    return OrderNotified(order_id=order_id)


@pytest.mark.parametrize("final", [
    confirmed, failed_out_of_stock,
    lambda: evolve(reserved(), declined(FailureReason.PAYMENT_DECLINED), at(2)),
    lambda: evolve(created(), ExpireOrder(order_id=ORDER_ID), at(90)),
    lambda: evolve(reserved(), CancelOrder(order_id=ORDER_ID, note="asked"), at(5)),
])
def test_every_final_status_is_owed_a_notification(final: object) -> None:
    """Whatever made it final, the shopper is owed the news until the notification service took it."""
    order = final()  # type: ignore[operator]
    assert order is not None and order.is_final
    assert order.notification_pending


@pytest.mark.parametrize("state", [created, reserved])
def test_an_order_on_its_way_is_owed_nothing(state: object) -> None:
    assert not state().notification_pending  # type: ignore[operator]


@pytest.mark.parametrize("final", [confirmed, failed_out_of_stock])
def test_order_notified_records_the_acceptance_and_nothing_else(final: object) -> None:
    """No step of the order: same status, history, version and public body, no event to announce."""
    before = final()  # type: ignore[operator]
    after = evolve(before, notified(), at(50))
    assert after is not None and after is not before
    assert not after.notification_pending
    assert after.model_dump(exclude={"notification_pending"}) == before.model_dump(exclude={"notification_pending"})
    assert decide(before, after) == []


def test_a_repeat_order_notified_changes_nothing() -> None:
    once = evolve(confirmed(), notified(), at(50))
    assert once is not None
    assert evolve(once, notified(), at(51)) is once


@pytest.mark.parametrize("state", [created, reserved])
def test_an_early_order_notified_changes_nothing(state: object) -> None:
    """Only a final order is owed a notification: an acceptance for anything else is stale."""
    order = state()  # type: ignore[operator]
    assert evolve(order, notified(), at(5)) is order


def test_order_notified_for_an_unknown_order_creates_nothing() -> None:
    assert evolve(None, notified(), at(5)) is None


def test_events_after_the_notification_change_nothing() -> None:
    """Notified is still final: late outcomes leave it, and it is not owed a notification again."""
    order = evolve(confirmed(), notified(), at(50))
    assert order is not None
    for late in (paid(), declined(FailureReason.PAYMENT_DECLINED), ExpireOrder(order_id=ORDER_ID), place_cmd()):
        assert evolve(order, late, at(60)) is order


def test_an_order_stored_before_the_flag_existed_is_owed_nothing() -> None:
    """A final order written by the previous release has no flag: it was notified inline then, so a
    restart must not mail every past shopper again."""
    stored = confirmed().model_dump(mode="json")
    del stored["notification_pending"]
    old = Order.model_validate(stored)
    assert old.is_final and not old.notification_pending
    assert evolve(old, notified(), at(50)) is old
