"""A small table of keys that fall due at a time: order deadlines, payment retries.

The agent that owns a key schedules and cancels it (table writes belong to the
partition's agent); a sweep timer reads what is due in the partitions this worker
owns and sends a command back to that agent. The sweep only sends commands and
the commands are idempotent, so a sweep that runs twice does no harm.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from tables.model_table import ModelTable

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["Due", "DueIndex"]


class Due(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime


class DueIndex:
    """Keys with a due time, kept only while something is pending, so a sweep reads little."""

    def __init__(self, app: "ServiceApp", name: str, help: str) -> None:
        self.table = app.model_table(name, Due, help=help)

    def schedule(self, key: str, at: datetime) -> None:
        current = self.table.get(key)
        if current is None or current.at != at:
            self.table.put(key, Due(at=at))

    def cancel(self, key: str) -> None:
        if self.table.get(key) is not None:
            self.table.delete(key)

    def due(self, now: datetime) -> list[str]:
        """Keys due by ``now`` in the partitions this worker owns."""
        return [key for key, due in self.table.items() if due.at <= now]
