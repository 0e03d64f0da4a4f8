"""The invariant read off ``order-events``: one announced outcome per order, the one it ended with."""

from __future__ import annotations

import json
from typing import Any

import pytest

import dev.invariants as invariants
from config.settings import Settings


def record(kind: str, order_id: str) -> tuple[str, bytes]:
    return order_id, json.dumps({"type": kind, "order_id": order_id}).encode()


async def test_an_order_announced_confirmed_then_failed_is_a_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen in make chaos (seed 1): CONFIRMED and emailed, its state lost in a crash, then TIMED_OUT."""
    topic = [record("OrderPlaced", "a"), record("OrderConfirmed", "a"), record("OrderFailed", "a"),
             record("OrderPlaced", "b"), record("OrderConfirmed", "b"), record("OrderConfirmed", "b"),
             record("OrderFailed", "c"), record("OrderPlaced", "d")]

    async def read(settings: Settings, name: str) -> list[Any]:
        assert name == "order-events"
        return topic

    monkeypatch.setattr(invariants, "read_topic_records", read)
    found = await invariants.contradicted(Settings(), {"a": "FAILED", "b": "CONFIRMED", "c": "CONFIRMED",
                                                       "d": "FAILED"})
    assert found == ["order a: announced ['CONFIRMED', 'FAILED'], ended FAILED",
                     "order c: announced ['FAILED'], ended CONFIRMED",
                     "order d: announced [], ended FAILED"]
