"""What falls due when (order deadlines, payment retries), kept in memory and rebuilt from the table.

The due time is part of the owning table's value (an order's ``created_at``, a payment's
``retry_at``), so an index on disk would only repeat it, at two changelog records per order.
The index is rebuilt from the table's entries of this worker's partitions after every
recovery (start-up and rebalance), and the agent that owns a key schedules and cancels it.
A sweep timer (:meth:`DueIndex.sweep`, the one for every index) sends a command for each due
key back to that agent, which decides from the table; the commands are idempotent, so a stale
or repeated entry does no harm.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable, Generic, TypeVar

from pydantic import BaseModel

from streams.events import Message, utcnow
from streams.topics import TopicSpec
from tables.model_table import ModelTable

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["DueIndex"]

M = TypeVar("M", bound=BaseModel)


class DueIndex(Generic[M]):
    """Keys of ``table`` with a due time given by ``due_of`` (``None``: nothing due)."""

    def __init__(self, table: ModelTable[M], due_of: Callable[[M], datetime | None]) -> None:
        self.table = table
        self.due_of = due_of
        self._due: dict[str, datetime] = {}
        table.on_recover(self._rebuild)

    async def _rebuild(self, entries: list[tuple[str, M]]) -> None:
        self._due = {key: due for key, value in entries if (due := self.due_of(value)) is not None}

    def update(self, key: str, value: M) -> None:
        """Call after each write of ``key``: keeps the index in step with the value."""
        due = self.due_of(value)
        if due is None:
            self._due.pop(key, None)
        else:
            self._due[key] = due

    def take_due(self, now: datetime, snooze: timedelta) -> list[str]:
        """Keys due by ``now``, each put back ``snooze`` later in case its command gets lost."""
        keys = [key for key, at in self._due.items() if at <= now]
        for key in keys:
            self._due[key] = now + snooze
        return keys

    def sweep(self, app: "ServiceApp", topic: TopicSpec, command: Callable[[str], Message]) -> None:
        """Every ``SWEEP_INTERVAL_S``, send ``command(key)`` on ``topic`` for each key that fell due in
        this worker's partitions, once the backlog that could still settle one has been read
        (``config.backlog``); a key is due again five sweeps later in case its command got lost."""
        interval = app.settings.sweep_interval_s

        async def sweep_due() -> None:
            if not app.caught_up:
                return
            due = self.take_due(utcnow(), snooze=timedelta(seconds=5 * interval))
            if due:
                await app.emit(topic, *(command(key) for key in due))

        app.timer(interval=interval, name=f"sweep-{self.table.name}")(sweep_due)

    def __len__(self) -> int:
        return len(self._due)
