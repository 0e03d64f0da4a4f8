"""Notification service: tells the shopper the result by email and SMS, and logs it as events.

Its REST view (called by the order service) puts a ``NotifyOrder`` command on the
log and answers 202; this agent delivers it, once per status and channel.
"""

from __future__ import annotations

import logging

from adapters.senders import EmailSender, sms_sender, worth_sending_again
from config.app import create_app
from domain.notifications import Sent, compose, delivery_key
from domain.privacy import mask_recipient, mask_text
from streams.commands import NotifyOrder
from streams.events import NotificationFailed, NotificationSent
from streams.topics import NOTIFICATION_COMMANDS, NOTIFICATION_EVENTS
from tables.notifications import sent_table
from web.notification import register_notification_views
from web.ops import register_ops_views

log = logging.getLogger(__name__)

app = create_app("notification")
sent = sent_table(app)
email = app.add_dependency(EmailSender(app.settings))
sms = app.add_dependency(sms_sender(app.settings))


@app.agent(app.catalog_topic(NOTIFICATION_COMMANDS))
async def deliver(stream):  # type: ignore[no-untyped-def]
    """For each NotifyOrder: send what was not sent yet, announce each delivery."""
    await app.process(stream, handle)


async def handle(command: NotifyOrder) -> None:
    record = sent.get(command.order_id) or Sent()
    subject, body, text = compose(command)
    email_id = f"{command.order_id}.{delivery_key(command, 'email').replace(':', '.').lower()}"
    deliveries = [("email", command.contact.email,
                   lambda: email.send(command.contact.email, subject, body, message_id=email_id))]
    if command.contact.phone:
        deliveries.append(("sms", command.contact.phone, lambda: sms.send(command.contact.phone or "", text)))
    for channel, recipient, send in deliveries:
        key = delivery_key(command, channel)
        if key in record.keys:
            continue
        error = await app.retried(send, lambda exc, retry, delay: log.warning(
            "order %s: %s to %s failed: %s; retry %d of %d in %.1fs", command.order_id, channel,
            mask_recipient(recipient), failure(exc), retry, app.settings.handler_retries, delay),
            worth_sending_again)
        if error is not None:  # tried again while that could help (make chaos, seed 1: one SMTP timeout, no email)
            log.warning("order %s: %s to %s failed: %s", command.order_id, channel, mask_recipient(recipient),
                        failure(error))
            await app.emit(NOTIFICATION_EVENTS, NotificationFailed(
                order_id=command.order_id, channel=channel, recipient=recipient,
                error=str(error) or type(error).__name__))
            continue
        # announced, then recorded: a crash between re-sends this one (same Message-ID) rather than
        # keep it sent and never announced (make chaos, seed 1: an email with no NotificationSent)
        await app.emit(NOTIFICATION_EVENTS, NotificationSent(order_id=command.order_id, channel=channel,
                                                             recipient=recipient, status=command.status))
        record = Sent(keys=record.keys | {key})
        sent.put(command.order_id, record)  # at once: a crash now re-sends only what follows


def failure(exc: Exception) -> str:
    """The error for the log, masked: an SMTP error names the recipient."""
    return mask_text(str(exc) or type(exc).__name__)


register_ops_views(app)
register_notification_views(app, sent, email)
