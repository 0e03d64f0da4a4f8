"""Order service: stores orders, folds inventory and payment outcomes into them, announces the result.

The only writer of ``order-events``. One agent owns the ``orders`` table and reads
the three topics keyed by ``order_id`` (commands, inventory and payment events), so
every change of an order happens in the partition that owns it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from config.app import create_app
from domain.orders import Order, decide, evolve
from streams.commands import ExpireOrder, NotifyOrder
from streams.events import Message, utcnow
from streams.topics import INVENTORY_EVENTS, ORDER_COMMANDS, ORDER_EVENTS, PAYMENT_EVENTS
from tables.due import DueIndex
from tables.orders import orders_table
from web.clients import ServiceClient
from web.orders import OrderWaiters, register_order_views
from web.ops import register_ops_views

log = logging.getLogger(__name__)

app = create_app("orders")
orders = orders_table(app)
deadlines = DueIndex(orders, lambda o: None if o.is_final else
                     o.created_at + timedelta(seconds=app.settings.order_deadline_s))
waiters = OrderWaiters()
notifications = ServiceClient(app, "notification")


@app.agent(app.topics_of(ORDER_COMMANDS, INVENTORY_EVENTS, PAYMENT_EVENTS))
async def fold_orders(stream):  # type: ignore[no-untyped-def]
    """For each command or outcome: evolve the order, announce the transition, store it."""
    async for msg in app.each(stream):
        await handle(msg)


async def handle(msg: Message) -> None:
    before = orders.get(msg.order_id)
    after = evolve(before, msg, utcnow())
    if after is None or after is before:
        return  # a repeat or a late event: nothing changes, nothing is sent again
    await app.emit(ORDER_EVENTS, *decide(before, after))  # before the store: a crash re-sends, never loses
    if after.is_final:
        await notify(after)
    orders.put(after.order_id, after)
    deadlines.update(after.order_id, after)
    waiters.wake(after.order_id)
    app.metrics.orders(after.status.value, after.reason.value if after.reason else "").inc()
    log.info("order %s %s%s", after.order_id, after.status.value, f" ({after.reason.value})" if after.reason else "")


async def notify(order: Order) -> None:
    """Ask the notification service to tell the shopper; its failure never fails the order."""
    command = NotifyOrder(order_id=order.order_id, user_id=order.user_id, status=order.status.value,
                          reason=order.reason, total_paise=order.total_paise, items=order.items,
                          contact=order.contact, shipping_address=order.shipping_address)
    try:
        await notifications.post("/notifications", command.model_dump(mode="json"))
    except Exception as exc:
        log.warning("order %s: notification not accepted: %s", order.order_id, exc)


@app.timer(interval=app.settings.sweep_interval_s)
async def sweep_deadlines() -> None:
    """Fail (TIMED_OUT) every order of this worker's partitions that passed its deadline, once the
    backlog that could still settle one has been read (``config.backlog``)."""
    if not app.caught_up:
        return
    for order_id in deadlines.take_due(utcnow(), snooze=timedelta(seconds=5 * app.settings.sweep_interval_s)):
        await app.emit(ORDER_COMMANDS, ExpireOrder(order_id=order_id))


register_ops_views(app)
register_order_views(app, orders, waiters)
