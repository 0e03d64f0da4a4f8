"""One log line per handled event, so an operator can follow one order through all six services.

``LOG_FORMAT=json`` makes each line a JSON object (``jq`` and log shippers read it);
the default is ``key=value`` text. Both carry ``order_id``, ``event_id``, topic and partition:
``grep <order_id> var/log/*.log`` shows the order's way through the platform.
"""

from __future__ import annotations

import json
import logging
from typing import Any

__all__ = ["event_logger", "log_event"]


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
    """The per-event logger of a service, with its own handler and format."""
    logger = logging.getLogger(f"megatron.events.{service}")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(_EventFormatter(log_format == "json"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def log_event(logger: logging.Logger, service: str, topic: str, partition: int, offset: int, event: Any,
              seconds: float) -> None:
    logger.info("handled", extra={"fields": {
        "service": service, "topic": topic, "partition": partition, "offset": offset,
        "type": getattr(event, "type", ""), "order_id": getattr(event, "order_id", ""),
        "event_id": getattr(event, "event_id", ""), "ms": round(seconds * 1000, 2)}})
