"""Order service: stores orders, folds inventory and payment outcomes into them, announces the result.

The only writer of ``order-events``. One agent owns the ``orders`` table and reads
the three topics keyed by ``order_id`` (commands, inventory and payment events), so
every change of an order happens in the partition that owns it.

A final order is handed to the notification service (REST, as the flow says) by a relay
(``adapters.notify_relay``) off the agent's path: the partition never waits for that
service, and the relay tries until it has accepted. ``OrderNotified`` comes back through
``order-commands`` to the owner, which records it; what is still owed is read back from
the table after every recovery, so a crash or a rebalance hands it to the next owner.

A step is stored, and the broker has it, before it is announced. Announced first, a step a crash
lost was decided again from the inputs read in another order: chaos (seed 1) saw an order announced
CONFIRMED and then failed TIMED_OUT, with the ExpireOrder read before the PaymentConfirmed. What a
crash left unannounced is announced again after every recovery (``Order.announcement_owed``).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from functools import partial

from adapters.notify_relay import NotifyRelay, Payload
from adapters.services import service_client
from config.app import create_app
from domain.orders import Order, announcement, decide, evolve
from streams.commands import ExpireOrder, NotifyOrder, OrderNotified
from streams.events import Message, utcnow
from streams.topics import INVENTORY_EVENTS, ORDER_COMMANDS, ORDER_EVENTS, PAYMENT_EVENTS
from tables.due import DueIndex
from tables.orders import OrderWaiters, orders_table
from web.orders import register_order_views
from web.ops import register_ops_views

log = logging.getLogger(__name__)

app = create_app("orders")
orders = orders_table(app)
deadlines = DueIndex(orders, lambda o: None if o.is_final else
                     o.created_at + timedelta(seconds=app.settings.order_deadline_s))
waiters = OrderWaiters()
notifications = service_client(app).to("notification")


async def record_notified(order_id: str) -> None:
    """Tell the order's owner (this worker or, after a rebalance, another) that it was notified."""
    await app.emit(ORDER_COMMANDS, OrderNotified(order_id=order_id))


relay = app.add_dependency(NotifyRelay(app.settings, partial(notifications.post, "/notifications"),
                                       record_notified))


@app.agent(app.topics_of(ORDER_COMMANDS, INVENTORY_EVENTS, PAYMENT_EVENTS))
async def fold_orders(stream):  # type: ignore[no-untyped-def]
    """For each command or outcome: evolve the order, store the step, then announce it."""
    await app.process(stream, handle)


async def handle(msg: Message) -> None:
    before = orders.get(msg.order_id)
    after = evolve(before, msg, utcnow())
    if isinstance(msg, OrderNotified):
        relay.settle(msg.order_id)  # accepted, whatever the table says: an order owed one again is handed on anew
    if after is None or after is before:
        if before is not None and app.replaying():
            orders.put(before.order_id, before)  # found applied: perhaps in RocksDB only (ServiceApp.replaying)
        return  # a repeat or a late event: nothing changes, nothing is sent again
    events = decide(before, after)
    written = orders.put(after.order_id, after)
    if events:
        try:
            await written  # durable, then announced: a crash may leave it owed (announced on recovery), never undone
            await app.emit(ORDER_EVENTS, *events)
        except BaseException:
            forget(before, after)
            raise
    if after.notification_pending:
        relay.submit(after.order_id, notification(after))  # after the store: a crash leaves it owed in the table
    deadlines.update(after.order_id, after)
    waiters.wake(after.order_id)
    if before is not None and before.status is after.status:
        return  # only the notification's acceptance was recorded: no step to count or log
    app.metrics.orders(after.status.value, after.reason.value if after.reason else "").inc()
    log.info("order %s %s%s", after.order_id, after.status.value, f" ({after.reason.value})" if after.reason else "")


def forget(before: Order | None, after: Order) -> None:
    """Put back the entry a step that failed to be stored or announced replaced, so the retry of its
    record finds the step still to take and takes it whole (announcement, relay, deadline). Kept, the
    retry would see a repeat and drop them: the order would sit CREATED, unannounced, with no deadline
    until the next recovery. Whatever of the step reached the broker is owed, and announced again then."""
    if before is None:
        orders.delete(after.order_id)
    else:
        orders.put(before.order_id, before)


def notification(order: Order) -> Payload:
    """What the notification service is asked to tell the shopper of a final order: the same request
    on every try and after every recovery (its id and time come from the order), so the relay knows a
    repeat from a new request."""
    request_id = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:megatron:notify:{order.order_id}:{order.status.value}")
    command = NotifyOrder(event_id=request_id.hex, occurred_at=order.updated_at,
                          order_id=order.order_id, user_id=order.user_id, status=order.status.value,
                          reason=order.reason, total_paise=order.total_paise, items=order.items,
                          contact=order.contact, shipping_address=order.shipping_address)
    return command.model_dump(mode="json")


@orders.on_recover
async def owed_announcements(entries: list[tuple[str, Order]]) -> None:
    """After every recovery (start-up, crash, rebalance), before this worker's partitions are read again:
    announce what a crash may have left unannounced, then hand on the notifications they owe, so what
    another worker left undone is done here. A repeat carries the first one's event id."""
    owed = [order for _, order in entries if order.announcement_owed]
    relay.replace({order.order_id: notification(order) for order in owed if order.notification_pending})
    events = [event for order in owed for event in announcement(order)]

    def on_retry(exc: Exception, retry: int, delay: float) -> None:
        log.warning("%d owed announcements not sent (%s); retry %d of %d in %.1fs", len(events), exc, retry,
                    app.settings.handler_retries, delay)

    error = await app.retried(lambda: app.emit(ORDER_EVENTS, *events), on_retry)
    if error is not None:  # Faust drops what a recovery callback raises: say it here
        log.error("%d owed announcements not sent (%s); still owed in the table, sent at the next recovery",
                  len(events), error)


# every order of this worker's partitions that passed its deadline is failed (TIMED_OUT)
deadlines.sweep(app, ORDER_COMMANDS, lambda order_id: ExpireOrder(order_id=order_id))

register_ops_views(app)
register_order_views(app, orders, waiters)
