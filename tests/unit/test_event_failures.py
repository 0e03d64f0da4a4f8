"""A handler that raises on one event: retried while the error is transient, then parked on the DLQ.

Faust's default acks such an event silently; ``ServiceApp.process`` must not. Driven through the
inventory service's ``split`` agent under Faust's ``test_context()``, its send to Kafka replaced.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable
from unittest import mock

import pytest

from domain.errors import DependencyUnavailable, ValidationFailed
from streams.events import Contact, Line, OrderPlaced, Payment
from streams.schema import DeadLetter
from streams.topics import ORDER_EVENTS, STOCK_COMMANDS

PLACED = OrderPlaced(order_id="o1", user_id="ravi", total_paise=7_990_000, payment=Payment(vpa="ravi@okaxis"),
                     items=(Line(sku="IPHONE-15", name="iPhone 15", unit_price_paise=7_990_000, quantity=1),),
                     contact=Contact(email="ravi@example.com"))


def counter(app: Any, name: str, topic: str) -> float:
    value = app.metrics.registry.get_sample_value(f"megatron_handler_{name}_total", {"topic": topic})
    return value or 0.0


@pytest.fixture
def inventory(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    import agents.inventory as inventory

    return inventory


def failing(errors: list[BaseException], sent: list[Any]) -> Callable[..., Any]:
    """An ``emit`` that raises each of ``errors`` in turn, then records what it is given."""

    async def emit(spec: Any, *events: Any) -> None:
        if errors:
            raise errors.pop(0)
        sent.extend((spec.name, e) for e in events)

    return emit


async def settled(done: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """``put`` returns once the stream took the event, not once the handler finished: wait for that."""
    async with asyncio.timeout(timeout_s):
        while not done():
            await asyncio.sleep(0.005)


async def run(inventory: Any, emit: Callable[..., Any], sent: list[Any], retries: int = 3) -> list[DeadLetter]:
    app = inventory.app
    letters: list[DeadLetter] = []

    async def park(letter: DeadLetter) -> None:
        letters.append(letter)

    quick = app.settings.model_copy(update={"handler_retries": retries, "handler_retry_base_s": 0.001})
    with mock.patch.object(app, "emit", emit), mock.patch.object(app, "dead_letter", park), \
            mock.patch.object(app, "settings", quick):
        async with inventory.split.test_context() as agent:
            await agent.put(PLACED, key=b"o1")
            await settled(lambda: bool(sent or letters))
    return letters


async def test_a_transient_failure_is_retried_and_the_event_handled_once(inventory: Any) -> None:
    sent: list[Any] = []
    before = counter(inventory.app, "retries", ORDER_EVENTS.name)
    letters = await run(inventory, failing([DependencyUnavailable("broker away"), ConnectionResetError()], sent), sent)
    assert letters == []
    assert [name for name, _ in sent] == [STOCK_COMMANDS.name]
    assert counter(inventory.app, "retries", ORDER_EVENTS.name) - before == 2


async def test_a_failure_past_the_bound_goes_to_the_dlq_with_the_error(inventory: Any) -> None:
    sent: list[Any] = []
    before = counter(inventory.app, "failures", ORDER_EVENTS.name)
    letters = await run(inventory, failing([DependencyUnavailable("still away")] * 3, sent), sent, retries=2)
    assert sent == []
    assert len(letters) == 1
    letter = letters[0]
    assert (letter.topic, letter.key) == (ORDER_EVENTS.name, "o1")
    assert "DependencyUnavailable: still away" in letter.error
    assert '"order_id":"o1"' in letter.value.replace(" ", "")  # the record itself, for a redrive
    assert counter(inventory.app, "failures", ORDER_EVENTS.name) - before == 1


async def test_an_error_that_is_not_transient_is_parked_at_once(inventory: Any) -> None:
    sent: list[Any] = []
    before = counter(inventory.app, "retries", ORDER_EVENTS.name)
    letters = await run(inventory, failing([ValidationFailed("a bug"), ValueError("never reached")], sent), sent)
    assert sent == []
    assert [letter.error for letter in letters] == ["handler failed: ValidationFailed: a bug"]
    assert counter(inventory.app, "retries", ORDER_EVENTS.name) == before


async def test_a_dead_letter_that_cannot_be_sent_is_tried_again_not_dropped(inventory: Any) -> None:
    app = inventory.app
    tries: list[DeadLetter] = []

    async def park(letter: DeadLetter) -> None:
        tries.append(letter)
        if len(tries) < 3:
            raise ConnectionRefusedError("broker away")

    quick = app.settings.model_copy(update={"handler_retries": 0, "handler_retry_base_s": 0.001})
    with mock.patch.object(app, "emit", failing([KeyError("bug")], [])), \
            mock.patch.object(app, "dead_letter", park), mock.patch.object(app, "settings", quick):
        async with inventory.split.test_context() as agent:
            await agent.put(PLACED, key=b"o1")
            await settled(lambda: len(tries) >= 3)
    assert len(tries) == 3 and tries[0] == tries[2]
