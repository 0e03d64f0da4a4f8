"""The payment service's gateway calls run beside the partition (adapters/upi.py's GatewayCalls).

A silent gateway must hold only its own order's call: the calls run concurrently up to a
bound, each answer is handed on as ``GatewayAnswered``, a newer call for an order replaces
the one still running, and an answer the broker refuses for a moment is handed on again.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import pytest

from adapters.upi import GatewayCalls
from domain.payment import AskStatus, Charge, GatewayCall
from streams.commands import GatewayAnswered


class FakeGateway:
    """Stands in for UpiClient.carry_out: approves at once, except the orders told to hang."""

    def __init__(self) -> None:
        self.hang: set[str] = set()
        self.started: list[tuple[str, int]] = []
        self.running = 0
        self.most_running = 0
        self.release = asyncio.Event()

    async def carry_out(self, call: GatewayCall) -> GatewayAnswered:
        self.started.append((call.order_id, call.number))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if call.order_id in self.hang:
                await self.release.wait()
            else:
                await asyncio.sleep(0)
        finally:
            self.running -= 1
        return GatewayAnswered(order_id=call.order_id, call=call.kind.value, number=call.number,
                               answer="APPROVED", gateway_ref=f"ref-{call.order_id}")


def charge(order_id: str, number: int = 1) -> Charge:
    return Charge(order_id=order_id, payment_id=f"pay-{order_id}", number=number, vpa="ravi@okhdfc",
                  amount_paise=100)


async def until(check: Any, timeout: float = 2.0) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.005)
    await asyncio.wait_for(wait(), timeout)


def recorder() -> tuple[list[GatewayAnswered], Callable[[GatewayAnswered], Awaitable[None]]]:
    """The answers handed on, and the callback that hands them on."""
    answers: list[GatewayAnswered] = []

    async def answered(answer: GatewayAnswered) -> None:
        answers.append(answer)

    return answers, answered


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


async def test_a_silent_call_holds_only_its_own_order(gateway: FakeGateway) -> None:
    answers, answered = recorder()
    calls = GatewayCalls(gateway, answered, calls_in_flight=4)  # type: ignore[arg-type]
    gateway.hang.add("silent")
    calls.submit(charge("silent"))
    for i in range(5):
        calls.submit(charge(f"instant-{i}"))
    await until(lambda: len(answers) == 5)
    assert sorted(a.order_id for a in answers) == [f"instant-{i}" for i in range(5)]
    assert calls.in_flight == 1  # the silent one, still waiting for its answer
    gateway.release.set()
    await until(lambda: len(answers) == 6)
    assert answers[-1].order_id == "silent" and calls.in_flight == 0


async def test_calls_in_flight_are_bounded(gateway: FakeGateway) -> None:
    answers, answered = recorder()
    calls = GatewayCalls(gateway, answered, calls_in_flight=3)  # type: ignore[arg-type]
    gateway.hang.update(f"o{i}" for i in range(10))
    for i in range(10):
        calls.submit(charge(f"o{i}"))
    await until(lambda: len(gateway.started) == 3)
    await asyncio.sleep(0.05)
    assert gateway.running == 3 and len(gateway.started) == 3  # the others wait for a slot
    gateway.release.set()
    await until(lambda: len(answers) == 10)
    assert gateway.most_running == 3


async def test_a_newer_call_for_an_order_replaces_the_running_one(gateway: FakeGateway) -> None:
    answers, answered = recorder()
    calls = GatewayCalls(gateway, answered, calls_in_flight=4)  # type: ignore[arg-type]
    gateway.hang.add("o1")
    calls.submit(charge("o1", number=1))
    await until(lambda: gateway.running == 1)
    gateway.hang.discard("o1")
    calls.submit(AskStatus(order_id="o1", payment_id="pay-o1", number=2))
    await until(lambda: len(answers) == 1)
    await asyncio.sleep(0.05)
    assert [(a.call, a.number) for a in answers] == [("status", 2)]  # the first call's answer never comes
    assert calls.in_flight == 0


async def test_an_answer_the_broker_refuses_for_a_moment_is_handed_on_again(gateway: FakeGateway) -> None:
    tries: list[GatewayAnswered] = []

    async def answered(answer: GatewayAnswered) -> None:
        tries.append(answer)
        if len(tries) < 3:
            raise OSError("broker away")

    calls = GatewayCalls(gateway, answered, calls_in_flight=1)  # type: ignore[arg-type]
    calls.submit(charge("o1"))
    await until(lambda: len(tries) == 3, timeout=5)
    assert len(gateway.started) == 1  # the gateway was called once; only the answer was sent again
    assert {t.number for t in tries} == {1}
