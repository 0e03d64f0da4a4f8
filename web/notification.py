"""The notification service's views: accept a NotifyOrder onto the log (202); mail a sign-in code; what was sent."""

from __future__ import annotations

import logging
import secrets
import smtplib
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response

from adapters.senders import EmailSender
from domain.notifications import Sent
from domain.privacy import mask_email
from domain.sessions import SignInCode, signin_message
from streams.commands import NotifyOrder
from streams.topics import NOTIFICATION_COMMANDS
from tables.model_table import ModelTable
from web.base import ApiView, routed_read

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["register_notification_views"]

log = logging.getLogger(__name__)


def register_notification_views(app: "ServiceApp", sent: ModelTable[Sent], email: EmailSender) -> None:
    @app.page("/notifications")
    class Notify(ApiView):
        async def post(self, request: Request, **kwargs: Any) -> Response:
            command = await self.body(request, NotifyOrder)
            await app.emit(NOTIFICATION_COMMANDS, command)
            return self.json({"order_id": command.order_id, "accepted": True}, status=202)

    @app.page("/signin-codes")
    class MailCode(ApiView):
        async def post(self, request: Request, **kwargs: Any) -> Response:
            """Mail a sign-in code now. Not through the log: a one-time secret has no place on a topic
            kept for replays, and a code that is late is useless anyway (the shopper asks again)."""
            command = await self.body(request, SignInCode)
            subject, body = signin_message(command)
            try:
                await email.send(command.email, subject, body, message_id=f"signin.{secrets.token_hex(12)}")
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code < 500:
                    raise  # the mail server is busy: 503, the shopper asks again
                # refused for good (no such mailbox): the gateway answers as for any email
                log.warning("sign-in code to %s refused by the mail server: %s", mask_email(command.email),
                            exc.smtp_code)
                return self.json({"sent": False}, status=202)
            return self.json({"sent": True}, status=202)

    @routed_read(app, "/notifications/{order_id}", sent, "order_id")
    async def delivered(request: Request, order_id: str) -> dict[str, Any]:
        """What was sent of the order, by status and channel."""
        record = sent.get(order_id) or Sent()
        return {"order_id": order_id, "sent": sorted(record.keys)}
