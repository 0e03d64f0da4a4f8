"""What a worker's source partitions held when they were assigned, until it has handled that.

A timer that decides from a table (an order's deadline, a payment's retry) must not act on
a partition whose backlog is still unread: after a restart the table can be behind what the
worker already announced before it died (an order emitted CONFIRMED, then killed before
its table write), and the backlog holds the input that brings the table back. Seen on
Apache Kafka in the crash test: a restarted order worker expired such an order while the
PaymentConfirmed that had confirmed it waited in its backlog, so the order went
CONFIRMED -> FAILED. So the sweeps wait until every source partition has been handled up to
its end offset at assignment (later records are live traffic, as for any worker).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

__all__ = ["Backlog"]


class Backlog:
    """Per source partition, the end offset at the last assignment that is not handled yet.

    How far a partition is handled is not kept here: the caller knows (the delivery guard's
    handled offsets, the committed offsets) and is asked in :meth:`caught_up`."""

    def __init__(self) -> None:
        self._owed: dict[Hashable, int] = {}
        self._generation = 0
        self._known = True  # the ends of the current assignment are known

    def reassigning(self) -> int:
        """A new assignment whose end offsets are being asked: not caught up until they are known."""
        self._generation += 1
        self._known = False
        return self._generation

    def assigned(self, ends: Mapping[Hashable, int], generation: int | None = None) -> None:
        """The assignment ``generation`` (default: the current one) held records up to ``ends``
        (exclusive); an answer for an older assignment is dropped."""
        if generation is not None and generation != self._generation:
            return
        self._owed = {tp: end for tp, end in ends.items() if end > 0}
        self._known = True

    def caught_up(self, done: Callable[[Hashable], int | None]) -> bool:
        """True once every partition is done (every record below ``done(tp)`` handled or committed)
        up to its end at assignment."""
        if not self._known:
            return False
        for tp in [tp for tp, end in self._owed.items() if (done(tp) or 0) >= end]:
            del self._owed[tp]
        return not self._owed

    def holds(self, tp: Hashable, offset: int) -> bool:
        """True if the record at ``offset`` of ``tp`` was there when the partition was assigned (or the
        ends are still being asked): a worker before this one may have handled it, and died before
        the changelog had what it wrote (see :meth:`config.app.ServiceApp.replaying`)."""
        if not self._known:
            return True
        end = self._owed.get(tp)
        return end is not None and offset < end

    def __len__(self) -> int:
        return len(self._owed)
