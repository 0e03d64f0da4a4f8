"""A worker that stood still longer than its group session holds its agents until the group has rebalanced.

A worker that did not run for longer than ``BROKER_SESSION_TIMEOUT`` (SIGSTOP, a paused VM, a swap
storm) has lost its partitions to another worker, and learns it only at its next heartbeat. Until then
its agents would go on with the records in their buffers and write changelog records to partitions
another worker now owns: a late write from the old owner can land after the new owner's and be what
the next recovery reads. Kafka fences such a zombie only with transactions; at-least-once, the worker
fences itself. :class:`StallWatch` notices the gap (a ticker, and the agent itself before each record),
and :meth:`StallWatch.wait_until_safe` holds the record until the next rebalance completes, after
which the worker hands on only records of partitions it still owns, read again from their committed
offsets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

__all__ = ["StallWatch"]

log = logging.getLogger(__name__)


class StallWatch:
    """Whether this process may have lost its group membership by standing still; see the module."""

    def __init__(self, session_timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.session_timeout_s = session_timeout_s
        self._clock = clock
        self.last_seen = clock()
        self._rejoined = asyncio.Event()
        self._rejoined.set()
        self.stalls = 0
        self.armed = False  # from :meth:`run` on: start-up and recovery are no stall

    @property
    def held(self) -> bool:
        """A stall was seen and the group has not rebalanced since."""
        return not self._rejoined.is_set()

    def tick(self) -> None:
        """The process runs now: a gap since the last tick longer than the session is a stall."""
        now = self._clock()
        gap = now - self.last_seen
        self.last_seen = now
        if self.armed and gap > self.session_timeout_s:
            self.stalls += 1
            log.warning("this worker stood still for %.1fs (its group session is %.1fs): its partitions may "
                        "belong to another worker now; agents wait for the rebalance", gap, self.session_timeout_s)
            self._rejoined.clear()

    async def rejoined(self, *args: object, **kwargs: object) -> None:
        """A rebalance completed (connect to ``app.on_rebalance_complete``): the assignment is current."""
        self._rejoined.set()

    async def wait_until_safe(self, patience_s: float) -> bool:
        """Before handling a record: True if it had to wait for a rebalance (the record may be stale),
        False at once when no stall was seen. After ``patience_s`` without a rebalance it goes on."""
        self.tick()  # a stall the ticker has not seen yet: this may be the first thing run after it
        if not self.held:
            return False
        try:
            await asyncio.wait_for(self._rejoined.wait(), patience_s)
        except asyncio.TimeoutError:
            log.warning("no rebalance %.1fs after a stall: going on with the partitions assigned", patience_s)
            self._rejoined.set()
        return True

    async def run(self, interval_s: float = 0.25) -> None:
        """Tick until cancelled."""
        self.last_seen, self.armed = self._clock(), True
        while True:
            await asyncio.sleep(interval_s)
            self.tick()
