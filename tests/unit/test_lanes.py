"""Partition lanes (config/lanes.py): order within a partition, partitions side by side, stale records dropped."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from config.lanes import Lanes

@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    stale: bool = False


@dataclass
class Harness:
    """A handler that records what it handled, and can be held on chosen records until released."""

    handled: list[tuple[int, int]] = field(default_factory=list)
    acked: list[tuple[int, int]] = field(default_factory=list)
    held: dict[tuple[int, int], asyncio.Event] = field(default_factory=dict)
    fail_on: tuple[int, int] | None = None

    def hold(self, partition: int, offset: int) -> asyncio.Event:
        self.held[(partition, offset)] = event = asyncio.Event()
        return event

    async def handle(self, r: Record) -> None:
        gate = self.held.get((r.partition, r.offset))
        if gate is not None:
            await gate.wait()
        if (r.partition, r.offset) == self.fail_on:
            raise RuntimeError(f"handler failed on {r}")
        self.handled.append((r.partition, r.offset))

    async def done(self, r: Record) -> None:
        self.acked.append((r.partition, r.offset))

    def lanes(self, depth: int = 100) -> Lanes[Record]:
        return Lanes(self.handle, self.done, lambda r: not r.stale, lambda r: r.partition, depth)


async def settle(until: object, tries: int = 200) -> None:
    """Let the lanes run until ``until()`` holds (a bounded number of loop turns, no sleeps)."""
    for _ in range(tries):
        if until():  # type: ignore[operator]
            return
        await asyncio.sleep(0)
    raise AssertionError("the lanes did not get there")


async def test_a_partition_held_up_does_not_hold_up_the_others_and_keeps_its_own_order() -> None:
    h = Harness()
    release = h.hold(0, 1)
    lanes = h.lanes()
    for r in [Record(0, 1), Record(1, 1), Record(0, 2), Record(1, 2), Record(2, 1), Record(0, 3)]:
        await lanes.put(r)
    await settle(lambda: len(h.handled) == 3)
    assert h.handled == [(1, 1), (1, 2), (2, 1)]  # partition 0 waits on its first record, the others go on
    assert (0, 2) not in h.acked and (0, 3) not in h.acked
    release.set()
    await settle(lambda: len(h.handled) == 6)
    assert [o for p, o in h.handled if p == 0] == [1, 2, 3]
    assert sorted(h.acked) == sorted(h.handled)  # each acknowledged once handled
    await lanes.close()


async def test_a_record_a_rebalance_made_stale_is_acknowledged_and_not_handled() -> None:
    h = Harness()
    lanes = h.lanes()
    for r in [Record(0, 1), Record(0, 2, stale=True), Record(0, 3)]:
        await lanes.put(r)
    await settle(lambda: len(h.acked) == 3)
    assert h.handled == [(0, 1), (0, 3)]
    assert h.acked == [(0, 1), (0, 2), (0, 3)]
    await lanes.close()


async def test_put_waits_while_its_lane_is_full_and_not_for_another_lane() -> None:
    h = Harness()
    release = h.hold(0, 1)
    lanes = h.lanes(depth=1)
    await lanes.put(Record(0, 1))
    await settle(lambda: lanes.pending() == 0)  # taken by the lane, held in the handler
    await lanes.put(Record(0, 2))  # fills the lane
    await lanes.put(Record(1, 1))  # another lane: no wait
    third = asyncio.ensure_future(lanes.put(Record(0, 3)))
    await settle(lambda: h.handled == [(1, 1)])
    assert not third.done()
    release.set()
    await asyncio.wait_for(third, 5)
    await settle(lambda: len(h.handled) == 4)
    assert [o for p, o in h.handled if p == 0] == [1, 2, 3]
    await lanes.close()


async def test_a_lane_that_fails_fails_the_next_put() -> None:
    h = Harness(fail_on=(0, 1))
    lanes = h.lanes()
    await lanes.put(Record(0, 1))
    await settle(lambda: lanes.pending() == 0)
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="handler failed"):
        await lanes.put(Record(0, 2))
    assert (0, 1) not in h.acked  # not acknowledged: read again by whoever owns the partition next
    await lanes.close()


async def test_a_lane_that_fails_while_put_waits_on_it_fails_that_put() -> None:
    h = Harness(fail_on=(0, 0))
    release = h.hold(0, 0)
    lanes = h.lanes(depth=1)
    await lanes.put(Record(0, 0))
    await settle(lambda: lanes.pending() == 0)
    await lanes.put(Record(0, 1))  # the lane is full now
    waiting = asyncio.ensure_future(lanes.put(Record(0, 2)))
    await asyncio.sleep(0)
    assert not waiting.done()
    release.set()  # the held record fails: no room will ever come
    with pytest.raises(RuntimeError, match="handler failed"):
        await asyncio.wait_for(waiting, 5)
    assert h.acked == []
    await lanes.close()


async def test_close_acknowledges_unhandled_what_was_in_hand_or_queued() -> None:
    """Left unacknowledged, a record would count as in an agent's hands for ever: the delivery guard
    re-reads a partition's next record only once nobody holds it, and a rebalance waits for it."""
    h = Harness()
    h.hold(0, 1)
    lanes = h.lanes()
    for r in [Record(0, 0), Record(0, 1), Record(0, 2), Record(1, 1)]:
        await lanes.put(r)
    await settle(lambda: lanes.pending() == 1 and len(h.handled) == 2)
    await lanes.close()
    assert h.handled == [(0, 0), (1, 1)]
    assert sorted(h.acked) == [(0, 0), (0, 1), (0, 2), (1, 1)]


def test_lag_counts_records_read_ahead_into_a_lane_and_not_yet_handled() -> None:
    """/metrics lag: Faust's read offset runs ahead of what the lanes handled; the guard's handled offset does not."""
    from types import SimpleNamespace

    from faust.types import TP

    from config.app import ServiceApp
    from config.delivery import DeliveryGuard

    guard = DeliveryGuard(track_handled=True)
    src, idle = TP("order-commands", 0), TP("order-commands", 1)  # idle: never started, Faust's offset counts
    guard.start(src, 10)
    for offset in (10, 11):
        guard.handled(src, offset)
    ends = {src: 20, idle: 5}
    consumer = SimpleNamespace(guard=guard, assignment=lambda: [src, idle], highwater=ends.get,
                               _read_offset={src: 18, idle: 4})  # read up to 18; handled up to 11
    app = SimpleNamespace(agents=[object()], consumer=consumer)
    assert ServiceApp.consumer_lags(app) == {(src.topic, 0): 8, (idle.topic, 1): 0}  # type: ignore[arg-type]
