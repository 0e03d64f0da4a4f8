"""One log line per handled event, so an operator can follow one order through all six services;
and the filter that keeps personal data out of every log line of every process.

``LOG_FORMAT=json`` makes each line a JSON object (``jq`` and log shippers read it);
the default is ``key=value`` text. Both carry ``order_id``, ``event_id``, topic and partition:
``grep <order_id> var/log/*.log`` shows the order's way through the platform. The event line
writes only those fields, the event's ``type``, the offset and the handling time: never the
event's payload (VPA, contact, address stay out of it by construction).

Personal data (DESIGN.md: VPA, email, phone, address) is masked where it is logged (the SMS
sender, the notification agent); :class:`PersonalDataFilter`, installed on every root handler
of every process (:func:`install_personal_data_filter`), masks whatever a log line still
carries, ours or a library's (an SMTP error naming its recipient, a traceback).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from domain.privacy import mask_text

__all__ = ["event_logger", "log_event", "PersonalDataFilter", "install_personal_data_filter",
           "configure_process_logging"]


class PersonalDataFilter(logging.Filter):
    """Masks emails/VPAs and phone numbers in a record's message, ``fields`` and traceback.

    A filter on a handler (not on a logger) sees every record the handler writes, also those
    propagated from other loggers. It never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as logging does
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {k: mask_text(v) if isinstance(v, str) else v for k, v in fields.items()}
        if record.exc_info and not record.exc_text:
            # formatters use this cached text instead of formatting the exception again
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


_FILTER = PersonalDataFilter()


def _add_filter(handler: logging.Handler) -> None:
    if not any(isinstance(f, PersonalDataFilter) for f in handler.filters):
        handler.addFilter(_FILTER)


def install_personal_data_filter(*loggers: logging.Logger) -> None:
    """Put the filter on every handler of the root logger (and of ``loggers``); safe to call again.

    Call it after whatever configures logging: Faust's worker replaces the root handlers when
    it starts (``ServiceApp.on_first_start`` calls this afterwards)."""
    for logger in (logging.getLogger(), *loggers):
        for handler in logger.handlers:
            _add_filter(handler)


def configure_process_logging(level: int = logging.INFO) -> None:
    """Logging of a small process that is not a Faust worker (the UPI simulator, the mail sink):
    one stderr handler on the root logger, with the personal data filter."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_personal_data_filter()


class _EventFormatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {"ts": self.formatTime(record), "level": record.levelname.lower(),
                                  "msg": record.getMessage(), **getattr(record, "fields", {})}
        if self.as_json:
            return json.dumps(fields, default=str)
        return " ".join(f"{k}={v}" for k, v in fields.items())


def event_logger(service: str, log_format: str) -> logging.Logger:
    """The per-event logger of a service, with its own handler and format (and the personal data filter:
    it does not propagate to the root handlers)."""
    logger = logging.getLogger(f"megatron.events.{service}")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(_EventFormatter(log_format == "json"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    install_personal_data_filter(logger)
    return logger


def log_event(logger: logging.Logger, service: str, topic: str, partition: int, offset: int, event: Any,
              seconds: float) -> None:
    """Where an event was handled and how long it took; ids only, never the payload."""
    logger.info("handled", extra={"fields": {
        "service": service, "topic": topic, "partition": partition, "offset": offset,
        "type": getattr(event, "type", ""), "order_id": getattr(event, "order_id", ""),
        "event_id": getattr(event, "event_id", ""), "ms": round(seconds * 1000, 2)}})
