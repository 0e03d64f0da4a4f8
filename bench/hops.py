"""Where an order's time goes, hop by hop, from the records' own timestamps on the broker.

Every event and command of the catalog carries ``order_id`` and ``type``; its record's
timestamp is set by the producer when the service sends it. For each order of a phase,
each step (``topic Type``; the last record when a step has several, one per line) is
placed at its time since the order's first record. The median of those, step after
step, is the order's journey: the difference between two steps is the hop between them
(consume, handle, produce). Nothing here knows the flow: steps come from the records.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any

from aiokafka import TopicPartition

from bench.stats import summary
from config.kafka import consumer
from config.settings import Settings
from streams.topics import CATALOG

__all__ = ["catalog_ends", "journey"]


def _catalog_topics() -> list[str]:
    return [spec.name for spec in CATALOG]


async def catalog_ends(settings: Settings) -> dict[TopicPartition, int]:
    """End offsets of every catalog topic (events and commands, not changelogs)."""
    from bench.offsets import end_offsets

    return await end_offsets(settings, _catalog_topics())


async def _records(settings: Settings, start: dict[TopicPartition, int], end: dict[TopicPartition, int],
                   timeout: float = 30.0) -> list[tuple[str, int, bytes]]:
    """``(topic, timestamp ms, value)`` of the records between two sets of offsets."""
    parts = [tp for tp in end if end[tp] > start.get(tp, 0)]
    if not parts:
        return []
    c = consumer(settings)
    await c.start()
    try:
        c.assign(parts)
        for tp in parts:
            c.seek(tp, start.get(tp, 0))
        out: list[tuple[str, int, bytes]] = []
        pending = set(parts)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            batch = await c.getmany(*pending, timeout_ms=500)
            for tp, records in batch.items():
                out += [(tp.topic, r.timestamp, r.value) for r in records if r.offset < end[tp]]
                if records and records[-1].offset + 1 >= end[tp]:
                    pending.discard(tp)
        return out
    finally:
        await c.stop()


async def journey(settings: Settings, start: dict[TopicPartition, int], end: dict[TopicPartition, int],
                  order_ids: set[str], confirmed: set[str]) -> list[dict[str, Any]]:
    """The steps of the confirmed orders, in order of their median time since the order's first record."""
    steps: dict[str, dict[str, int]] = defaultdict(dict)  # order_id -> step -> last timestamp
    for topic, stamp, value in await _records(settings, start, end):
        try:
            event = json.loads(value)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("order_id") not in order_ids:
            continue
        step = f"{topic} {event.get('type', '?')}"
        seen = steps[event["order_id"]]
        seen[step] = max(stamp, seen.get(step, stamp))
    since_first: dict[str, list[float]] = defaultdict(list)
    for order_id, seen in steps.items():
        if order_id not in confirmed:
            continue
        first = min(seen.values())
        for step, stamp in seen.items():
            since_first[step].append(float(stamp - first))
    rows = [{"step": step, **{f"{k}_ms": v for k, v in summary(values).items() if k != "n"}, "n": len(values)}
            for step, values in since_first.items()]
    rows.sort(key=lambda r: (r["p50_ms"] if r["p50_ms"] is not None else 0.0, r["step"]))
    previous = 0.0
    for r in rows:
        r["hop_p50_ms"] = round((r["p50_ms"] or 0.0) - previous, 1)
        previous = r["p50_ms"] or 0.0
    return rows
