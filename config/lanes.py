"""Partition lanes: an agent's records handled in order within a partition, partitions side by side.

Faust hands an agent one stream over all the partitions it reads. Handled one record at a time, a
worker waited for every broker round trip of every record in turn: the order service awaits its
changelog's ack and then its announcement's (acks=all on three nodes), so it handled one record per
two round trips across all four partitions, and a partition whose leader was away (a broker killed,
until the controller fences it) stopped the other three. Chaos seed 5 (2026-12-07) saw
the order service read a PlaceOrder 6.5 minutes after it was accepted.

The design needs order only within a partition: every change of a key happens in its partition, and
co-partitioned topics (the order service's three, keyed by order id) share the partition's number.
So each partition number gets a lane, a queue and a task that handles its records one at a time, and
the stream is read ahead into the lanes. A record is acknowledged to Faust once its lane is done with
it, so a rebalance still waits for what is in hand (``Consumer.wait_empty``); a lane drops, acked and
unhandled, a record that a rebalance made stale (flow suspended, an older generation), as Faust's own
stream does with its buffer. Commits follow the handled offsets (``config.delivery``), which may
complete out of order across partitions and never within one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Lanes", "LANE_DEPTH"]

LANE_DEPTH = 1000  # records read ahead per partition before the stream waits for that lane

E = TypeVar("E")


class Lanes(Generic[E]):
    """One sequential lane per partition number; :meth:`put` returns once the record is queued."""

    def __init__(self, handle: Callable[[E], Awaitable[None]], done: Callable[[E], Awaitable[object]],
                 current: Callable[[E], bool], partition: Callable[[E], int], depth: int = LANE_DEPTH) -> None:
        self._handle = handle  # the record's work (retries and dead letters included)
        self._done = done  # acknowledge the record, handled or dropped
        self._current = current  # still worth handling: False once a rebalance made it stale
        self._partition = partition
        self._depth = depth
        self._queues: dict[int, asyncio.Queue[E]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._in_hand: dict[int, E] = {}

    async def put(self, record: E) -> None:
        """Queue ``record`` in its partition's lane; wait while that lane is full. A lane that failed
        raises its error here, so the agent fails as it did when it handled records itself."""
        number = self._partition(record)
        queue = self._queues.get(number)
        if queue is None:
            queue = self._queues[number] = asyncio.Queue(self._depth)
            self._tasks[number] = asyncio.ensure_future(self._run(number, queue))
        task = self._tasks[number]
        if task.done():
            task.result()
        try:
            queue.put_nowait(record)
            return
        except asyncio.QueueFull:
            pass
        putting = asyncio.ensure_future(queue.put(record))
        await asyncio.wait({putting, task}, return_when=asyncio.FIRST_COMPLETED)
        if not putting.done():
            putting.cancel()
            task.result()  # the lane failed while this waited: its error (the lane never ends otherwise)

    async def _run(self, number: int, queue: asyncio.Queue[E]) -> None:
        while True:
            record = self._in_hand[number] = await queue.get()
            if self._current(record):
                await self._handle(record)
            del self._in_hand[number]
            await self._done(record)

    def pending(self) -> int:
        """Records queued and not yet taken by their lane."""
        return sum(q.qsize() for q in self._queues.values())

    async def close(self) -> None:
        """Stop every lane (the agent stops or failed). What was in hand or queued is acknowledged and not
        handled: left unacknowledged it would count as in an agent's hands for ever, so a rebalance would
        wait for it and the delivery guard would never re-read it; acknowledged, the guard finds the
        partition's next record in nobody's hands and reads it again (``config.delivery``), and its
        commit never passes it, since only handled records move that."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        left = list(self._in_hand.values())
        for queue in self._queues.values():
            while not queue.empty():
                left.append(queue.get_nowait())
        self._tasks.clear()
        self._queues.clear()
        self._in_hand.clear()
        for record in left:
            await self._done(record)
