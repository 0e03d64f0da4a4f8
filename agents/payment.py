"""Payment service: charges an order over UPI once its stock is reserved, and says how it went.

It hears ``OrderPlaced`` (amount, VPA) and ``InventoryReserved`` (go ahead) keyed by
``order_id``; the attempt is stored once the gateway has answered. A gateway that does
not answer is retried with backoff, under the same idempotency key, by ``RetryPayment``
commands that a sweep sends when a retry falls due; at the deadline the gateway is
asked for the payment's status before the payment is given up. A payment cancelled
because its order failed is checked with the gateway too, since a worker killed mid-call
may have charged it without a trace here; an approval found then is refunded.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from config.app import create_app
from domain.payment import (
    GatewayAnswer, PaymentState, PaymentStatus, attempt, charge_unknown, evolve, must_ask_first, needs_refund,
    ready_to_charge, refunded, retry_due, retry_later, settle,
)
from streams.commands import RetryPayment
from streams.events import Message, utcnow
from streams.topics import INVENTORY_EVENTS, ORDER_EVENTS, PAYMENT_COMMANDS, PAYMENT_EVENTS
from tables.due import DueIndex
from tables.payments import payments_table
from web.clients import UpiClient
from web.payment import register_payment_views
from web.ops import register_ops_views

log = logging.getLogger(__name__)

app = create_app("payment")
payments = payments_table(app)
retries = DueIndex(payments, lambda p: p.retry_at if p.status is PaymentStatus.PENDING or needs_refund(p) else None)
upi = UpiClient(app)


@app.agent(app.topics_of(ORDER_EVENTS, INVENTORY_EVENTS, PAYMENT_COMMANDS))
async def pay(stream):  # type: ignore[no-untyped-def]
    """For each order or inventory event: fold it in; charge once both facts are in; retry when due."""
    async for event in app.each(stream):
        await handle(event)


async def handle(event: Message) -> None:
    before = payments.get(event.order_id)
    if isinstance(event, RetryPayment):
        if retry_due(before, utcnow()):
            assert before is not None
            await (refund(before) if needs_refund(before) else charge(before))
        return
    state = evolve(before, event, utcnow())
    if state is None or state is before:
        return
    if charge_unknown(before, state):
        await ask_after_cancel(state)
    elif ready_to_charge(state):
        await charge(state)
    elif needs_refund(state):
        await refund(state)
    else:
        if state.status is PaymentStatus.PENDING and state.order_failed:
            state = state.model_copy(update={"retry_at": utcnow()})  # the order failed mid-payment: settle it now
        store(state)


def store(state: PaymentState) -> None:
    payments.put(state.order_id, state)
    retries.update(state.order_id, state)


async def charge(state: PaymentState) -> None:
    """One call to the gateway; past the deadline (or once the order failed) its status decides.

    The attempt is not stored before the call: if this worker dies mid-call, the event that
    triggered it is read again and the call repeated under the same idempotency key, so the
    gateway answers the same and nothing is charged twice.
    """
    s = app.settings
    assert state.vpa is not None and state.amount_paise is not None
    if must_ask_first(state, utcnow()):
        answer, ref = await upi.status(state.payment_id)
        if answer is GatewayAnswer.TIMEOUT:
            await upi.cancel(state.payment_id)  # so it can never be approved after we gave up
    else:
        state = attempt(state, utcnow(), s.payment_deadline_s, check_after_s=2 * s.upi_timeout_s)
        answer, ref = await upi.charge(state.payment_id, state.order_id, state.vpa, state.amount_paise)
        if answer is GatewayAnswer.TIMEOUT:
            state = retry_later(state, utcnow(), s.payment_retry_base_s)
            store(state)
            log.info("payment %s: no answer from the gateway, retry at %s", state.payment_id, state.retry_at)
            return
    await conclude(state, answer, ref)


async def conclude(state: PaymentState, answer: GatewayAnswer, ref: str | None) -> None:
    """The gateway's answer settles the payment and is announced; an approval for a failed order is refunded."""
    state, outcome = settle(state, answer, ref, utcnow())
    await app.emit(PAYMENT_EVENTS, outcome)
    log.info("payment %s for order %s: %s", state.payment_id, state.order_id, state.status.value)
    if needs_refund(state):  # approved, but the order failed meanwhile
        await refund(state)
        return
    store(state)


async def ask_after_cancel(state: PaymentState) -> None:
    """The order failed before this worker saw its payment made; a predecessor may have made it."""
    answer, ref = await upi.status(state.payment_id)
    if answer is GatewayAnswer.APPROVED:
        log.warning("payment %s: approved at the gateway for failed order %s; refunding", state.payment_id,
                    state.order_id)
        await conclude(attempt(state, utcnow(), app.settings.payment_deadline_s), answer, ref)
        return
    if answer is GatewayAnswer.TIMEOUT:
        await upi.cancel(state.payment_id)  # unknown there, or still in flight: void it (a no-op if unknown)
    store(state)


async def refund(state: PaymentState) -> None:
    """The order failed after its payment was approved: the shopper gets the money back."""
    try:
        await upi.refund(state.payment_id)
    except Exception as exc:  # the gateway is away: the sweep tries again
        log.warning("payment %s: refund not done yet (%s), will retry", state.payment_id, exc)
        store(state.model_copy(update={"retry_at": utcnow()}))
        return
    state, outcome = refunded(state, utcnow())
    await app.emit(PAYMENT_EVENTS, outcome)
    store(state)
    log.info("payment %s refunded: order %s failed after approval", state.payment_id, state.order_id)


@app.timer(interval=app.settings.sweep_interval_s)
async def sweep_retries() -> None:
    """Send RetryPayment for every retry that fell due in this worker's partitions, once the backlog
    that could still settle one has been read (``config.backlog``)."""
    if not app.caught_up:
        return
    for order_id in retries.take_due(utcnow(), snooze=timedelta(seconds=5 * app.settings.sweep_interval_s)):
        await app.emit(PAYMENT_COMMANDS, RetryPayment(order_id=order_id))


register_ops_views(app)
register_payment_views(app, payments)
