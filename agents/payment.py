"""Payment service: charges an order over UPI once its stock is reserved, and says how it went.

It hears ``OrderPlaced`` (amount, VPA) and ``InventoryReserved`` (go ahead) keyed by
``order_id``, and its own commands: ``RetryPayment`` from the retry sweep, and
``GatewayAnswered``, the outcome of a gateway call. The policy is ``domain.payment.decide``;
this module only carries its effects out: events are emitted (acknowledged by the broker),
then the payment is stored, then a gateway call is started in the background
(``adapters.upi.GatewayCalls``, at most ``PAYMENT_CALLS_IN_FLIGHT`` at once). The agent
never waits for the gateway, so a silent gateway delays only its own order.

A call's outcome comes back as ``GatewayAnswered`` keyed by the order on ``payment-commands``,
so it is folded in the partition that owns the payment, by whichever worker owns it then
(after a rebalance, the new owner). The payment is stored, awaiting that call, before the
call starts, with a time to check back past the call's timeout: an answer that never comes
(this worker crashed or stopped mid-call) makes the sweep send ``RetryPayment`` and the call
is made again under the same idempotency key, so nothing is charged twice.
"""

from __future__ import annotations

import logging

from adapters.upi import GatewayCalls, UpiClient
from config.app import create_app
from domain.payment import CallKind, Effect, Emit, GatewayCall, PaymentState, PaymentStatus, Store, decide, due_at
from streams.commands import GatewayAnswered, RetryPayment
from streams.events import Message, utcnow
from streams.topics import INVENTORY_EVENTS, ORDER_EVENTS, PAYMENT_COMMANDS, PAYMENT_EVENTS
from tables.due import DueIndex
from tables.payments import payments_table
from web.ops import register_ops_views
from web.payment import register_payment_views

log = logging.getLogger(__name__)

app = create_app("payment")
payments = payments_table(app)
retries = DueIndex(payments, due_at)


async def report(answer: GatewayAnswered) -> None:
    """Hand a call's outcome to the partition that owns its payment (this worker's or, after a rebalance,
    another's)."""
    await app.emit(PAYMENT_COMMANDS, answer)


calls = app.add_dependency(GatewayCalls(UpiClient(app.settings, app.metrics), report,
                                        calls_in_flight=app.settings.payment_calls_in_flight))


@app.agent(app.topics_of(ORDER_EVENTS, INVENTORY_EVENTS, PAYMENT_COMMANDS))
async def pay(stream):  # type: ignore[no-untyped-def]
    """For each order or inventory event and each command: decide, then carry the effects out."""
    await app.process(stream, handle)


async def handle(event: Message) -> None:
    s = app.settings
    _, effects = decide(payments.get(event.order_id), event, utcnow(), deadline_s=s.payment_deadline_s,
                        retry_base_s=s.payment_retry_base_s, upi_timeout_s=s.upi_timeout_s)
    for effect in effects:
        await carry_out(effect)


async def carry_out(effect: Effect) -> None:
    """One effect, in the order decided: events before the write (a crash re-sends, never loses), the
    write before the call (a crash mid-call leaves the payment due for a retry)."""
    if isinstance(effect, Emit):
        await app.emit(PAYMENT_EVENTS, effect.event)
    elif isinstance(effect, Store):
        state = effect.state
        payments.put(state.order_id, state)
        retries.update(state.order_id, state)
        log_stored(state)
    elif isinstance(effect, GatewayCall):
        calls.submit(effect)


def log_stored(state: PaymentState) -> None:
    """One line per payment settled, retry put off or refund started; none for other calls (the next
    write tells how they went)."""
    if state.awaiting is CallKind.REFUND:
        log.warning("payment %s: approved for failed order %s; refunding", state.payment_id, state.order_id)
    elif state.awaiting is not None:
        return
    elif state.is_final:
        log.info("payment %s for order %s: %s%s", state.payment_id, state.order_id, state.status.value,
                 f" ({state.reason.value})" if state.reason else "")
    elif state.status is PaymentStatus.PENDING:
        log.info("payment %s: no answer from the gateway, retry at %s", state.payment_id, state.retry_at)


# every payment of this worker's partitions whose retry or check-back time came is looked at again
retries.sweep(app, PAYMENT_COMMANDS, lambda order_id: RetryPayment(order_id=order_id))

register_ops_views(app)
register_payment_views(app, payments)
