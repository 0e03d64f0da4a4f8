"""The order service's notification relay: final orders reach the notification service off the order's partition.

The order agent only records that an order is owed a notification
(``Order.notification_pending``) and gives the relay the payload; it never waits for
the notification service. The relay posts each payload (``post``, the REST call the
flow asks for), several at once up to a bound, and backs off per order, doubling up to
``NOTIFY_RETRY_MAX_S``, until the service has accepted. Then it reports the acceptance
(``accepted(key)``: the order service sends ``OrderNotified`` to the order's owner, which
records it in its own partition, where table writes belong).

The relay never decides on its own that a key is done, so nothing owed is dropped:
- :meth:`settle` (the owner recorded the acceptance) removes a key;
- :meth:`replace`, called after every table recovery (start-up, crash, rebalance) with
  what this worker's partitions still owe, drops what moved to another worker and adds
  what this one now owns;
- a key accepted but not settled within the longest pause is reported again (the
  record was lost, or the owner could not use it); the post is not repeated.
A crash loses only this memory: the table still owes the notification, and the
recovery gives it back. Posting twice is harmless: the notification service sends one
email per order, status and channel.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping

from mode import Service

from config.settings import Settings

__all__ = ["NotifyRelay", "Payload", "backoff", "CALLS_IN_FLIGHT", "FIRST_RETRY_S"]

log = logging.getLogger(__name__)

Payload = dict[str, Any]

#: posts one worker has open at once: a slow notification service holds this many calls, not the orders
CALLS_IN_FLIGHT = 16
#: pause after the first failed post; doubles per failure up to ``NOTIFY_RETRY_MAX_S``
FIRST_RETRY_S = 0.5
#: failed tries of one key that are logged as warnings: the first, then every tenth
WARN_EVERY = 10


def backoff(failures: int, first_s: float, max_s: float, jitter: float) -> float:
    """Pause before the next try after ``failures`` failed ones in a row (``failures >= 1``).

    Doubles from ``first_s`` up to ``max_s``; ``jitter`` in [0, 1] takes up to half of it off, so the
    orders that failed together (the service went away) do not all come back in the same instant."""
    full = min(max_s, first_s * 2 ** (failures - 1))
    return full * (1 - jitter / 2)


def describe(exc: BaseException) -> str:
    """One line for the log: the error's class and message, and the cause a service client gives."""
    text = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}".rstrip(": ")
    details = getattr(exc, "details", None)
    cause = details.get("error") or details.get("status") if isinstance(details, dict) else None
    return f"{text} ({cause})" if cause else text


@dataclass(eq=False)
class _Entry:
    """One key owed a notification, and how its tries went."""

    payload: Payload
    failures: int = 0  # failed tries in a row
    due: float = 0.0  # clock time of the next try
    accepted: bool = False  # the service took it; only the owner's record of that is missing


class NotifyRelay(Service):
    """Hands payloads to ``post`` until it succeeds, then to ``accepted``; never blocks a caller."""

    def __init__(self, settings: Settings, post: Callable[[Payload], Awaitable[Any]],
                 accepted: Callable[[str], Awaitable[None]], *, calls_in_flight: int = CALLS_IN_FLIGHT,
                 first_retry_s: float = FIRST_RETRY_S, jitter: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_s = settings.notify_retry_max_s
        self.first_s = min(first_retry_s, self.max_s)
        self.calls_in_flight = calls_in_flight
        self._post = post
        self._accepted = accepted
        self._jitter = jitter
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._queue: list[tuple[float, int, str]] = []  # (due, tie-break, key); stale rows are skipped
        self._seq = 0
        self._running: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()

    # --- what the order service tells it ------------------------------------------------------

    def submit(self, key: str, payload: Payload) -> None:
        """``key`` is owed a notification of ``payload``: try now unless it is already being handled."""
        entry = self._entries.get(key)
        if entry is not None and entry.payload == payload:
            return  # a repeat: its tries go on as they were
        self._add(key, payload)

    def settle(self, key: str) -> None:
        """The owner recorded the acceptance: nothing more to do for ``key`` (a call in flight may end)."""
        self._entries.pop(key, None)

    def replace(self, owed: Mapping[str, Payload]) -> None:
        """Exactly ``owed`` is owed now (this worker's partitions after a recovery); keys still owed keep
        their state, so a rebalance that leaves a partition here does not post it again."""
        for key in [k for k in self._entries if k not in owed]:
            del self._entries[key]
        for key, payload in owed.items():
            self.submit(key, payload)

    # --- what it reports -------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Keys owed a notification that the owner has not recorded as accepted yet."""
        return len(self._entries)

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    # --- the work --------------------------------------------------------------------------------

    def _add(self, key: str, payload: Payload) -> None:
        entry = self._entries[key] = _Entry(payload)
        self._schedule(key, entry, self._clock())

    def _schedule(self, key: str, entry: _Entry, due: float) -> None:
        entry.due = due
        self._seq += 1
        heapq.heappush(self._queue, (due, self._seq, key))
        self._wake.set()

    def _start_due(self) -> float | None:
        """Start the tries that are due, up to the bound (one step of the dispatcher); seconds until the
        next one (``None``: nothing waits on the clock, only on a call to end or a key to come)."""
        now = self._clock()
        while self._queue and len(self._running) < self.calls_in_flight:
            due, _, key = self._queue[0]
            entry = self._entries.get(key)
            if entry is None or entry.due != due or key in self._running:
                heapq.heappop(self._queue)  # settled, replaced or rescheduled since
                continue
            if due > now:
                return due - now
            heapq.heappop(self._queue)
            self._running[key] = asyncio.ensure_future(self._try(key, entry))
        return None

    async def _try(self, key: str, entry: _Entry) -> None:
        """One try: post (unless accepted already), then report the acceptance; reschedule either way
        while ``key`` is still owed."""
        try:
            if not entry.accepted:
                await self._post(entry.payload)
                entry.accepted = True
                if entry.failures:
                    log.info("notification of %s accepted after %d failed tries", key, entry.failures)
                entry.failures = 0
            await self._accepted(key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            entry.failures += 1
            pause = backoff(entry.failures, self.first_s, self.max_s, self._jitter())
            level = logging.WARNING if entry.failures == 1 or entry.failures % WARN_EVERY == 0 else logging.DEBUG
            log.log(level, "notification of %s %s (try %d): %s; again in %.1fs", key,
                    "not recorded" if entry.accepted else "not accepted", entry.failures,
                    describe(exc), pause)
        else:
            pause = self.max_s  # reported again only if the owner never records it
        finally:
            self._running.pop(key, None)
            self._wake.set()
        current = self._entries.get(key)
        if current is entry:
            self._schedule(key, entry, self._clock() + pause)
        elif current is not None:  # submitted anew while this try ran: its first try is due now
            self._schedule(key, current, self._clock())

    @Service.task
    async def _dispatch(self) -> None:
        while not self.should_stop:
            self._wake.clear()
            wait = self._start_due()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass

    async def on_stop(self) -> None:
        """Calls in flight end with the worker; what they carried is still owed in the table."""
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
