"""One Faust schema that validates every record in and out with the pydantic models.

Values are JSON; keys are raw UTF-8 bytes, identical on every topic and table that
shares them (Faust's JSON-encoded ``str`` keys misroute ``table_route``). A record
that does not validate is not raised inside the agent (that would ack and lose
it): it is handed on as a :class:`DeadLetter` for the agent to park on ``<topic>.dlq``.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

import faust
from faust.types import AppT, CodecArg, Message as FaustMessage
from pydantic import BaseModel, ValidationError

from streams.events import utcnow
from streams.topics import BY_NAME
from streams.upcasters import upcast

__all__ = ["CatalogSchema", "DeadLetter", "SCHEMA"]


class DeadLetter(BaseModel):
    """A record that failed validation, with where it came from and why."""

    topic: str
    partition: int
    offset: int
    key: str | None
    error: str
    value: str  # original bytes, decoded leniently
    failed_at: str
    service: str = ""  # the consumer that could not read it

    @property
    def order_id(self) -> str:
        return self.key or ""


def _upcast(topic: str, raw: Any) -> Any:
    """Bring an older ``schema_version`` to today's shape (:mod:`streams.upcasters`)."""
    return upcast(raw)


class CatalogSchema(faust.Schema):
    """Validates by the catalog entry of the record's topic."""

    def __init__(self) -> None:
        super().__init__(key_serializer="raw", value_serializer="raw")

    def loads_key(self, app: AppT, message: FaustMessage, *,
                  loads: Optional[Callable] = None, serializer: Optional[CodecArg] = None) -> Any:
        key = message.key
        return key.decode() if isinstance(key, bytes) else key

    def loads_value(self, app: AppT, message: FaustMessage, *,
                    loads: Optional[Callable] = None, serializer: Optional[CodecArg] = None) -> Any:
        spec = BY_NAME.get(message.topic)
        try:
            if spec is None:
                raise ValueError(f"topic {message.topic!r} is not in the catalog")
            return spec.adapter.validate_python(_upcast(spec.name, json.loads(message.value)))
        except (ValueError, ValidationError, TypeError, RecursionError) as exc:
            return DeadLetter(
                topic=message.topic, partition=message.partition, offset=message.offset,
                key=message.key.decode(errors="replace") if isinstance(message.key, bytes) else message.key,
                error=str(exc)[:2000], value=bytes(message.value or b"").decode(errors="replace"),
                failed_at=utcnow().isoformat(),
            )

    def dumps_key(self, app: AppT, key: Any, *, serializer: Optional[CodecArg] = None,
                  headers: Any) -> tuple[Any, Any]:
        return (key.encode() if isinstance(key, str) else key), headers

    def dumps_value(self, app: AppT, value: Any, *, serializer: Optional[CodecArg] = None,
                    headers: Any) -> tuple[Any, Any]:
        if isinstance(value, BaseModel):
            return value.model_dump_json().encode(), headers
        return value, headers


SCHEMA = CatalogSchema()
