"""In-order delivery: a worker hands its agents a partition's records without holes.

Faust (0.15.3) can skip records it never handed to an agent and then commit past them.
Seen here after a restart (``SIGKILL``, then the same data dir), in the payment worker:

1. recovery resumes the source partitions while the fetcher is already running, so a
   first fetch hands on records from wherever aiokafka stood (offset 563);
2. recovery's seek to the committed offset (522) runs at the same time; the records
   re-fetched from 522 are dropped as "already read", because Faust's read offset says 563;
3. when the seek returns, the read offset is 522 and the next record is 564: Faust counts
   523..564 as a gap, a gap counts as acknowledged, and the next commit passes records
   550..562 that no agent ever handled.

The same hole opens wherever a fetch hands on a record past the one expected. The guard
keeps, per partition, the next offset the agents must see. A record past it is held back
and the partition re-read from the expected offset (duplicates are fine: every handler is
idempotent). A gap still there after ``patience`` seconds is real (a compacted or
transactional topic on Apache Kafka, or records deleted by retention) and is let through.

A record can also be lost after it was handed on: a rebalance clears the agents' queues,
and Faust's commit (``min(acked) - committed > 1``) passes one offset nobody acknowledged.
So the head of each partition, the committed offset, must be acknowledged before a commit
moves on; a head that stays unacknowledged and is in no agent's hands for ``HEAD_PATIENCE``
patiences was dropped, and the partition is re-read from it. A worker whose agents handle a
partition in order (``config.lanes``) knows sooner: a record handled past an unhandled one means
that one is not coming in this read, so it is re-read at the next fetch if no agent holds it.

Faust's acknowledgements are not proof of handling either: on Apache Kafka the crash test
found commits past records that were acknowledged and never reached an agent. So a worker
whose agents report what they handled (``ServiceApp.each``) commits by that alone: per
partition, the offset below which every record was handled (:meth:`DeliveryGuard.handled`),
from the position the seek after an assignment put it at.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field

__all__ = ["DeliveryGuard", "Verdict", "HEAD_PATIENCE"]

HEAD_PATIENCE = 5  # patiences an unacknowledged head may wait in a queue before it counts as dropped


class Verdict(enum.Enum):
    DELIVER = "deliver"  # the expected record, or an older one Faust sorts out itself
    REREAD = "reread"  # records before this one are missing: seek back to ``expected``
    ACCEPT_GAP = "accept_gap"  # missing for longer than the patience: a real gap, go on


@dataclass
class DeliveryGuard:
    """Per-partition "next offset to hand on", kept across fetches, reset by seeks."""

    patience: float = 2.0
    clock: Callable[[], float] = time.monotonic
    _expected: dict[Hashable, int] = field(default_factory=dict)
    _missing_since: dict[Hashable, tuple[int, float]] = field(default_factory=dict)
    _blocked_since: dict[Hashable, tuple[int, float]] = field(default_factory=dict)
    heads_to_check: dict[Hashable, int] = field(default_factory=dict)  # blocked long enough: dropped?
    track_handled: bool = False  # the agents report each record they handled: commit by that
    _upto: dict[Hashable, int] = field(default_factory=dict)  # every record below this was handled
    _ahead: dict[Hashable, set[int]] = field(default_factory=dict)  # handled records past a hole
    _hole_reported: dict[Hashable, int] = field(default_factory=dict)  # hole put in heads_to_check once

    def expected(self, tp: Hashable) -> int | None:
        return self._expected.get(tp)

    def positioned(self, tp: Hashable, offset: int | None) -> None:
        """The consumer was sought to ``offset``.

        None means no committed offset: aiokafka then leaves the position where it was, so
        the worker still owes its agents what it expected (see :meth:`unknown` for a start).
        """
        if offset is None or offset < 0:
            return
        self._missing_since.pop(tp, None)
        self._expected[tp] = offset

    def unknown(self, tps: Iterable[Hashable]) -> list[Hashable]:
        """Of ``tps``, those with nothing expected yet: the caller positions them at the log's start."""
        return [tp for tp in tps if tp not in self._expected]

    def forget(self, tps: Iterable[Hashable]) -> None:
        """Partitions revoked: their next owner starts from the committed offset."""
        for tp in tps:
            self._expected.pop(tp, None)
            self._missing_since.pop(tp, None)
            self._blocked_since.pop(tp, None)
            self.heads_to_check.pop(tp, None)
            self._upto.pop(tp, None)
            self._ahead.pop(tp, None)
            self._hole_reported.pop(tp, None)

    def start(self, tp: Hashable, offset: int) -> None:
        """After an assignment's seek: ``tp`` is read from ``offset``, and nothing of it is handled yet."""
        self._upto[tp] = offset
        self._ahead[tp] = set()
        self._hole_reported.pop(tp, None)

    def handled(self, tp: Hashable, offset: int, until: int | None = None) -> None:
        """An agent handled the record at ``offset`` (or a real gap: every offset up to ``until``).

        Agents handle a partition's records in the order they were fetched, so one handled past a
        record not handled yet means that record was dropped on its way (the CI run of 2026-12-07:
        inventory-events[1]@73 never reached the order service's lane after a rebalance, 74 did; the
        head's patience re-read it 10 s later): its check is asked for at once, one time per hole."""
        upto = self._upto.get(tp)
        if upto is None:
            return
        ahead = self._ahead[tp]
        ahead.update(range(max(offset, upto), (until if until is not None else offset + 1)))
        while upto in ahead:
            ahead.discard(upto)
            upto += 1
        self._upto[tp] = upto
        if ahead and self._hole_reported.get(tp) != upto:
            self._hole_reported[tp] = upto
            self.heads_to_check[tp] = upto

    def handled_upto(self, tp: Hashable) -> int | None:
        """Where a commit of ``tp`` may go: below it every record was handled (None: not tracked)."""
        return self._upto.get(tp) if self.track_handled else None

    def handled_past_hole(self, tp: Hashable) -> bool:
        """Records past :meth:`handled_upto` were handled: the one at it is missing or still in hand."""
        return bool(self._ahead.get(tp))

    def check(self, tp: Hashable, offset: int) -> Verdict:
        """What to do with the record at ``offset`` of ``tp``, fetched just now."""
        expected = self._expected.get(tp)
        if expected is None or offset == expected:
            self._expected[tp] = offset + 1
            self._missing_since.pop(tp, None)
            return Verdict.DELIVER
        if offset < expected:
            return Verdict.DELIVER
        now = self.clock()
        first_offset, since = self._missing_since.setdefault(tp, (expected, now))
        if first_offset != expected:
            self._missing_since[tp] = (expected, now)
            since = now
        if now - since >= self.patience:
            self._expected[tp] = offset + 1
            self._missing_since.pop(tp, None)
            return Verdict.ACCEPT_GAP
        return Verdict.REREAD

    def head_blocked(self, tp: Hashable, head: int) -> bool:
        """A commit of ``tp`` waits for ``head``: True once it has waited long enough to re-read,
        and then ``head`` is put in :attr:`heads_to_check` (the clock starts again, so re-reads
        of one head are spaced out)."""
        now = self.clock()
        offset, since = self._blocked_since.setdefault(tp, (head, now))
        if offset != head:
            self._blocked_since[tp] = (head, now)
            return False
        if now - since >= HEAD_PATIENCE * self.patience:
            self._blocked_since[tp] = (head, now)
            self.heads_to_check[tp] = head
            return True
        return False

    def head_moved(self, tp: Hashable) -> None:
        self._blocked_since.pop(tp, None)
