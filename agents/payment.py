"""Payment service: charges an order over UPI once its stock is reserved, and says how it went.

It hears ``OrderPlaced`` (amount, VPA) and ``InventoryReserved`` (go ahead) on two
topics keyed by ``order_id``; the attempt is stored before the gateway is called,
so a crash mid-call retries under the same idempotency key and never charges twice.
"""

from __future__ import annotations

import logging

from config.app import create_app
from domain.payment import GatewayAnswer, PaymentState, attempt, evolve, ready_to_charge, settle
from streams.events import Message, utcnow
from streams.topics import INVENTORY_EVENTS, ORDER_EVENTS, PAYMENT_EVENTS
from tables.payments import payments_table
from web.clients import UpiClient

log = logging.getLogger(__name__)

app = create_app("payment")
payments = payments_table(app)
upi = UpiClient(app)


@app.agent(app.topics_of(ORDER_EVENTS, INVENTORY_EVENTS))
async def pay(stream):  # type: ignore[no-untyped-def]
    """For each order or inventory event: fold it in, and charge once both facts are in."""
    async for event in app.each(stream):
        await handle(event)


async def handle(event: Message) -> None:
    before = payments.get(event.order_id)
    state = evolve(before, event, utcnow())
    if state is None:
        return
    if ready_to_charge(state):
        await charge(state)
    elif state is not before:
        payments.put(state.order_id, state)


async def charge(state: PaymentState) -> None:
    state = attempt(state, utcnow())
    payments.put(state.order_id, state)
    assert state.vpa is not None and state.amount_paise is not None
    answer, ref = await upi.charge(state.payment_id, state.order_id, state.vpa, state.amount_paise)
    state, outcome = settle(state, GatewayAnswer(answer), ref, utcnow())
    await app.emit(PAYMENT_EVENTS, outcome)
    payments.put(state.order_id, state)
    log.info("payment %s for order %s: %s", state.payment_id, state.order_id, answer)
