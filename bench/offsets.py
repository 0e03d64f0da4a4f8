"""Messages per order, from the broker's own offsets: end offsets count what was written, the
services' committed offsets count what their agents consumed.

With at-least-once (no transaction markers) ListOffsets(latest) on Apache Kafka is the exact
count of records written.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass

from aiokafka import TopicPartition

from config.kafka import committed_offsets, consumer
from config.settings import SERVICES, Settings
from streams.topics import CATALOG

__all__ = ["Snapshot", "end_offsets", "service_groups", "snapshot", "settle", "per_order"]

@dataclass
class Snapshot:
    ends: dict[TopicPartition, int]
    committed: dict[str, dict[TopicPartition, int]]  # group -> partition -> committed offset


def service_groups(settings: Settings) -> list[str]:
    """The consumer group of each service: its app id."""
    return [f"{settings.app_id_prefix}-{service}" for service in SERVICES]


async def end_offsets(settings: Settings, topics: list[str] | None = None) -> dict[TopicPartition, int]:
    """End offset of every partition of ``topics`` (default: every topic of the broker).

    The bench's own ceiling topics do not move while orders are counted, so they add nothing."""
    c = consumer(settings)
    await c.start()
    try:
        await c._client.force_metadata_update()
        names = topics if topics is not None else sorted(await c.topics())
        parts = [TopicPartition(t, p) for t in names for p in sorted(c.partitions_for_topic(t) or ())]
        return dict(await c.end_offsets(parts)) if parts else {}
    finally:
        await c.stop()


async def _committed(settings: Settings, topics: list[str]) -> dict[str, dict[TopicPartition, int]]:
    groups = service_groups(settings)
    answers = await asyncio.gather(*(committed_offsets(settings, g, topics) for g in groups))
    return dict(zip(groups, answers))


async def snapshot(settings: Settings) -> Snapshot:
    ends = await end_offsets(settings)
    topics = sorted({tp.topic for tp in ends})
    return Snapshot(ends, await _committed(settings, topics))


def _written(before: Snapshot, after: dict[TopicPartition, int]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for tp, end in after.items():
        out[tp.topic] += end - before.ends.get(tp, 0)
    return {t: n for t, n in sorted(out.items()) if n}


def _consumed(before: Snapshot, after: dict[str, dict[TopicPartition, int]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for group, offsets in after.items():
        per_topic: dict[str, int] = defaultdict(int)
        for tp, offset in offsets.items():
            per_topic[tp.topic] += offset - before.committed.get(group, {}).get(tp, 0)
        kept = {t: n for t, n in sorted(per_topic.items()) if n}
        if kept:
            out[group] = kept
    return out


def _readers(settings: Settings) -> dict[str, set[str]]:
    """Group -> the catalog topics it reads (the catalog says who reads what)."""
    out: dict[str, set[str]] = defaultdict(set)
    for spec in CATALOG:
        for reader in spec.readers:
            out[f"{settings.app_id_prefix}-{reader}"].add(spec.name)
    return out


async def settle(settings: Settings, before: Snapshot, quiet_s: float = 3.0, timeout: float = 30.0,
                 every_reader: bool = False) -> tuple[Snapshot, bool]:
    """Wait (bounded) until nothing more is written and every group has committed what it read.

    Done when the end offsets stayed the same for ``quiet_s`` (longer than Faust's commit
    interval, 2.8 s) and every partition that a group reads (by the catalog, or because its
    committed offset moved) is committed up to its end. Returns the last snapshot and whether
    it settled in time; the counts come from the offsets either way, never from the catalog.
    With ``every_reader`` every topic a group reads is checked, not only those written since
    ``before`` (to wait out a backlog written earlier).
    """
    readers = _readers(settings)
    deadline = time.monotonic() + timeout
    last_ends: dict[TopicPartition, int] | None = None
    quiet_since = time.monotonic()
    while True:
        ends = await end_offsets(settings)
        if ends != last_ends:
            last_ends, quiet_since = ends, time.monotonic()
        changed = sorted({tp.topic for tp, end in ends.items() if end != before.ends.get(tp, 0)}
                         | ({t for topics in readers.values() for t in topics} if every_reader else set()))
        committed = await _committed(settings, changed)
        caught_up = all(
            offset == ends.get(tp, offset)
            for group, offsets in committed.items() for tp, offset in offsets.items()
            if tp.topic in readers.get(group, ()) or offset != before.committed.get(group, {}).get(tp, 0))
        now = time.monotonic()
        if caught_up and now - quiet_since >= quiet_s:
            return Snapshot(ends, committed), True
        if now > deadline:
            return Snapshot(ends, committed), False
        await asyncio.sleep(0.5)


def per_order(before: Snapshot, after: Snapshot, orders: int) -> dict[str, object]:
    """Messages written per topic and consumed per group and topic, in total and per order."""
    written = _written(before, after.ends)
    consumed = _consumed(before, after.committed)
    total_written = sum(written.values())
    total_consumed = sum(n for topics in consumed.values() for n in topics.values())
    per = (lambda n: round(n / orders, 2)) if orders else (lambda n: None)
    return {
        "orders": orders,
        "written_total": total_written,
        "consumed_total": total_consumed,
        "written_per_order": per(total_written),
        "consumed_per_order": per(total_consumed),
        "written_by_topic": {t: {"total": n, "per_order": per(n)} for t, n in written.items()},
        "consumed_by_group": {g: {t: {"total": n, "per_order": per(n)} for t, n in topics.items()}
                              for g, topics in consumed.items()},
    }
