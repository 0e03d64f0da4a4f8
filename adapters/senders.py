"""Email over SMTP and pluggable SMS senders, each a :class:`mode.Service` of the notification worker."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage
from typing import Any

from mode import Service

from config.settings import Settings
from domain.privacy import mask_phone, mask_text

__all__ = ["EmailSender", "SmsSender", "LogSmsSender", "sms_sender", "worth_sending_again"]

log = logging.getLogger("megatron.sms")


def worth_sending_again(exc: Exception) -> bool:
    """A send that may succeed if tried again: no answer in time, a connection refused or dropped, an SMTP
    4xx. A 5xx or a refused recipient is the server's final word."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, OSError)  # TimeoutError, ConnectionError, SMTPServerDisconnected


class EmailSender(Service):
    """Sends one email per call over SMTP, off the event loop, with a timeout."""

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.settings = settings

    def _send(self, message: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.http_timeout_s) as smtp:
            smtp.send_message(message)

    async def send(self, to: str, subject: str, body: str, message_id: str) -> None:
        """``message_id`` is the same for every attempt at one delivery: a copy sent again after a
        crash (at-least-once) carries the Message-ID of the first, and mailboxes drop it."""
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = f"<{message_id}@{self.settings.mail_from.rpartition('@')[2]}>"
        message.set_content(body)
        await asyncio.wait_for(asyncio.to_thread(self._send, message), self.settings.http_timeout_s)


class SmsSender(Service):
    """Sends one SMS per call, with a timeout: a provider that does not answer fails the delivery
    (it is announced as failed) instead of holding the notification agent."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings

    async def send(self, phone: str, text: str) -> None:
        await asyncio.wait_for(self._send(phone, text), self.settings.http_timeout_s)

    async def _send(self, phone: str, text: str) -> None:
        """Hand the message to the provider (each sender its own)."""
        raise NotImplementedError


class LogSmsSender(SmsSender):
    """Development SMS: one log line per message (grep the notification log). The number is masked
    to its last 4 digits like every phone in a log line; the text is the order's, masked as free text."""

    async def _send(self, phone: str, text: str) -> None:
        log.info("SMS to %s: %s", mask_phone(phone), mask_text(text))


def sms_sender(settings: Settings) -> SmsSender:
    """The SMS sender named by ``SMS_SENDER``; only ``log`` exists today."""
    if settings.sms_sender == "log":
        return LogSmsSender(settings)
    raise ValueError(f"unknown SMS_SENDER {settings.sms_sender!r} (known: log)")
