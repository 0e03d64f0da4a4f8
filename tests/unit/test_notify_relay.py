"""The notification relay (adapters/notify_relay.py) against a fake notification service: it tries
every owed key until accepted, backs off per key, bounds its calls, and stops only when told.

Real time with short pauses; every wait is on a condition with a bound. Where a test shows that
something does *not* happen again, it waits for a refused witness key until the witness's own tries
span more than the longest pause: by then the thing that must not happen would have happened.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable

import pytest

from adapters.notify_relay import NotifyRelay, Payload, backoff
from config.settings import Settings

FIRST_S = 0.01
MAX_S = 0.08


def payload(key: str, status: str = "CONFIRMED") -> Payload:
    return {"order_id": key, "status": status}


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Until ``check()`` holds; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.002)


class FakeNotificationService:
    """Records every post; refuses the keys in ``down`` and the first ``failures[key]`` posts of a key;
    holds every call while ``gate`` is closed."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, Payload]] = []
        self.down: set[str] = set()
        self.failures: dict[str, int] = {}
        self.gate = asyncio.Event()
        self.gate.set()
        self.hung: set[str] = set()  # keys whose calls never end
        self.open = 0
        self.most_open = 0

    async def post(self, body: Payload) -> dict[str, object]:
        key = str(body["order_id"])
        self.calls.append((time.monotonic(), body))
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await self.gate.wait()
            if key in self.hung:
                await asyncio.Event().wait()
            if key in self.down or self.failures.get(key, 0) > 0:
                self.failures[key] = self.failures.get(key, 0) - 1
                raise ConnectionRefusedError(f"notification service down for {key}")
            return {"order_id": key, "accepted": True}
        finally:
            self.open -= 1

    def posts(self, key: str) -> list[float]:
        return [at for at, body in self.calls if body["order_id"] == key]


async def outlast_the_longest_pause(service: FakeNotificationService, relay: NotifyRelay) -> None:
    """Until the relay itself has shown that more than ``MAX_S`` went by: a refused witness key's tries
    span more than that (every key's next try is due within ``MAX_S``)."""
    service.down.add("witness")
    relay.submit("witness", payload("witness"))
    await until(lambda: len(posts := service.posts("witness")) > 1 and posts[-1] - posts[0] > MAX_S)
    relay.settle("witness")


class Owner:
    """The ``accepted`` callback: records what would be sent as OrderNotified; can fail a few times."""

    def __init__(self) -> None:
        self.reported: list[str] = []
        self.failures = 0

    async def accepted(self, key: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("broker away")
        self.reported.append(key)


@asynccontextmanager
async def running(service: FakeNotificationService, owner: Owner, **kwargs: object) -> AsyncIterator[NotifyRelay]:
    relay = NotifyRelay(Settings(notify_retry_max_s=MAX_S), service.post, owner.accepted,
                        first_retry_s=FIRST_S, jitter=lambda: 0.0, **kwargs)  # type: ignore[arg-type]
    await relay.start()
    try:
        yield relay
    finally:
        await relay.stop()


@pytest.fixture
def service() -> FakeNotificationService:
    return FakeNotificationService()


@pytest.fixture
def owner() -> Owner:
    return Owner()


def test_backoff_doubles_per_failure_up_to_the_longest_pause() -> None:
    assert [backoff(n, 0.5, 10.0, 0.0) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]


@pytest.mark.parametrize("jitter", [0.0, 0.3, 1.0])
def test_jitter_takes_at_most_half_off(jitter: float) -> None:
    for n in range(1, 8):
        full = backoff(n, 0.5, 10.0, 0.0)
        assert full / 2 <= backoff(n, 0.5, 10.0, jitter) <= full


async def test_tries_until_accepted_backing_off_then_reports_it(service: FakeNotificationService,
                                                                owner: Owner) -> None:
    service.failures["o1"] = 4
    async with running(service, owner) as relay:
        relay.submit("o1", payload("o1"))
        await until(lambda: owner.reported == ["o1"])
    posts = service.posts("o1")
    assert len(posts) == 5, "four refusals, then accepted, then not posted again"
    gaps = [b - a for a, b in zip(posts, posts[1:])]
    for gap, expected in zip(gaps, (backoff(n, FIRST_S, MAX_S, 0.0) for n in range(1, 5))):
        assert gap >= expected * 0.9, (gaps, "paused less than the backoff")
    assert backoff(4, FIRST_S, MAX_S, 0.0) == MAX_S, "the test reached the cap"


async def test_one_order_failing_does_not_hold_back_another(service: FakeNotificationService,
                                                            owner: Owner) -> None:
    service.down.add("bad")
    async with running(service, owner) as relay:
        relay.submit("bad", payload("bad"))
        await until(lambda: len(service.posts("bad")) >= 3)
        relay.submit("good", payload("good"))
        await until(lambda: owner.reported == ["good"])
        assert len(service.posts("good")) == 1, "its first try, at once, not at the other's backoff"
        assert "bad" in relay and "good" in relay, "both owed until the owner records the acceptance"


async def test_a_hung_call_holds_only_its_own_order(service: FakeNotificationService, owner: Owner) -> None:
    service.hung.add("stuck")
    async with running(service, owner) as relay:
        relay.submit("stuck", payload("stuck"))
        await until(lambda: relay.in_flight == 1)
        for key in ("a", "b", "c"):
            relay.submit(key, payload(key))
        await until(lambda: sorted(owner.reported) == ["a", "b", "c"])
        assert relay.in_flight == 1
    assert relay.in_flight == 0, "stopping the relay ends the call it had open"


async def test_calls_in_flight_are_bounded(service: FakeNotificationService, owner: Owner) -> None:
    service.gate.clear()
    keys = [f"o{i}" for i in range(10)]
    async with running(service, owner, calls_in_flight=3) as relay:
        for key in keys:
            relay.submit(key, payload(key))
        await until(lambda: service.open == 3)
        assert relay.in_flight == 3 and relay.pending == 10
        service.gate.set()
        await until(lambda: sorted(owner.reported) == sorted(keys))
    assert service.most_open == 3
    assert len(service.calls) == 10, "each posted once"


async def test_a_repeat_submit_does_not_post_again(service: FakeNotificationService, owner: Owner) -> None:
    service.gate.clear()
    async with running(service, owner) as relay:
        relay.submit("o1", payload("o1"))
        await until(lambda: service.open == 1)
        relay.submit("o1", payload("o1"))  # the same request while its call is open
        service.gate.set()
        await until(lambda: owner.reported == ["o1"])
        relay.submit("o1", payload("o1"))  # and once accepted
        relay.settle("o1")
    assert len(service.posts("o1")) == 1


async def test_a_new_request_for_a_key_is_posted_even_while_the_old_one_is_in_flight(
        service: FakeNotificationService, owner: Owner) -> None:
    service.gate.clear()
    async with running(service, owner) as relay:
        relay.submit("o1", payload("o1", "CONFIRMED"))
        await until(lambda: service.open == 1)
        relay.submit("o1", payload("o1", "FAILED"))
        service.gate.set()
        await until(lambda: [body["status"] for _, body in service.calls] == ["CONFIRMED", "FAILED"])


async def test_settle_stops_the_tries(service: FakeNotificationService, owner: Owner) -> None:
    service.down.add("o1")
    async with running(service, owner) as relay:
        relay.submit("o1", payload("o1"))
        await until(lambda: len(service.posts("o1")) >= 2)
        relay.settle("o1")
        tried = len(service.posts("o1"))
        await outlast_the_longest_pause(service, relay)
        assert len(service.posts("o1")) == tried
        assert "o1" not in relay and owner.reported == []


async def test_an_acceptance_not_recorded_is_reported_again_without_posting(
        service: FakeNotificationService, owner: Owner) -> None:
    """The OrderNotified got lost or its owner moved on: the relay says it again, and the shopper is
    not notified again for it."""
    async with running(service, owner) as relay:
        relay.submit("o1", payload("o1"))
        await until(lambda: owner.reported == ["o1", "o1"])
        relay.settle("o1")
        await outlast_the_longest_pause(service, relay)
    assert len(service.posts("o1")) == 1
    assert owner.reported == ["o1", "o1"], "settled: not reported again"


async def test_a_failed_report_is_tried_again_without_posting(service: FakeNotificationService,
                                                              owner: Owner) -> None:
    owner.failures = 2
    async with running(service, owner) as relay:
        relay.submit("o1", payload("o1"))
        await until(lambda: owner.reported == ["o1"])
    assert len(service.posts("o1")) == 1


async def test_replace_drops_what_moved_away_keeps_what_stayed_and_adds_what_came(
        service: FakeNotificationService, owner: Owner) -> None:
    """After a rebalance: another worker owns ``gone``; ``kept`` stays here, accepted already; ``came``
    was left unaccepted by the worker that owned it before."""
    service.down.add("gone")
    async with running(service, owner) as relay:
        relay.submit("gone", payload("gone"))
        relay.submit("kept", payload("kept"))
        await until(lambda: owner.reported == ["kept"] and len(service.posts("gone")) >= 2)
        relay.replace({"kept": payload("kept"), "came": payload("came")})
        tried = len(service.posts("gone"))
        await until(lambda: "came" in owner.reported)
        await outlast_the_longest_pause(service, relay)
        assert len(service.posts("gone")) == tried, "moved to another worker: not tried here any more"
        assert len(service.posts("kept")) == 1, "still owned here and accepted: not posted again"
        assert "gone" not in relay and "kept" in relay and "came" in relay and relay.pending == 2
