"""Plain aiokafka clients for everything that is not a Faust worker (bootstrap, CLI, tests, bench).

They use the workers' producer settings (acks=all, the same linger and batch size) and
create topics with the replication the settings ask for. :func:`read_to_end` is the one way
to read a slice of the log (the tests, ``megatron replay``/``report``/``mirror-rebuild``, the
dead letters) and :func:`partition_counts` the one look at what partitions topics have
(the bootstrap, ``megatron topics-check``).
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Iterable, Mapping

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from config.settings import Settings
from streams.events import Message
from streams.topics import TopicSpec

__all__ = ["bootstrap_servers", "producer", "consumer", "admin_client", "topic_partitions", "partition_counts",
           "create_topics", "align_topic_configs", "read_to_end", "read_records", "read_topic_records", "send_messages", "committed_offsets",
           "STALL_TIMEOUT_S"]

#: A partition short of its end offset that gives no record for this long: the read gives up.
STALL_TIMEOUT_S = 30.0


def bootstrap_servers(settings: Settings) -> str:
    """``host:port`` list from ``KAFKA_BROKER`` (``kafka://a:9092;b:9092`` or a bare list)."""
    raw = settings.kafka_broker
    hosts = raw.split("://", 1)[1] if "://" in raw else raw
    return ",".join(h.strip().rstrip("/") for h in hosts.replace(";", ",").split(",") if h.strip())


def producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(settings), acks="all", linger_ms=settings.producer_linger_ms,
        max_batch_size=settings.producer_max_batch_size,
    )


def consumer(settings: Settings, *topics: str, group_id: str | None = None) -> AIOKafkaConsumer:
    """A consumer from offset 0 that joins no group: with no ``group_id`` it commits nothing, so no
    running service notices it; with one (and ``assign()``) it can read and commit that group's offsets."""
    return AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap_servers(settings), group_id=group_id, enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def topic_partitions(c: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic``, [] if the broker has no such topic. A consumer that subscribes to
    nothing learns no topic's metadata at start on Apache Kafka, so it is asked for once here."""
    partitions = c.partitions_for_topic(topic)
    if not partitions:
        await c._client.force_metadata_update()
        partitions = c.partitions_for_topic(topic)
    return [TopicPartition(topic, p) for p in sorted(partitions or ())]


@asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    """An admin client of the broker, started, and closed on the way out."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(settings))
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def partition_counts(settings: Settings, names: Iterable[str]) -> dict[str, int]:
    """How many partitions each of ``names`` has on the broker; a topic it does not have is left out.

    The one check of the partition counts (the bootstrap's ``create_topics``, ``megatron topics-check``):
    a source topic and its table's changelog that disagree crash the agent (``PartitionsMismatch``)."""
    wanted = list(names)
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        present = [n for n in wanted if n in existing]
        described = await admin.describe_topics(present) if present else []
    return {meta["topic"]: len(meta.get("partitions", [])) for meta in described}


async def create_topics(settings: Settings, names: list[str], partitions: int,
                        configs: dict[str, dict[str, str]] | None = None) -> tuple[list[str], dict[str, int]]:
    """Create missing topics (with per-topic configs); returns ``(created, wrong)`` where ``wrong``
    maps existing topics with another partition count to the count they have."""
    configs = configs or {}
    counts = await partition_counts(settings, names)
    missing = [n for n in names if n not in counts]
    if missing:
        replicas = settings.topic_replication_factor
        isr = {"min.insync.replicas": str(settings.topic_min_insync_replicas)}
        async with admin_client(settings) as admin:
            try:
                await admin.create_topics([NewTopic(n, partitions, replicas, topic_configs={**isr, **configs.get(n, {})})
                                           for n in missing])
            except TopicAlreadyExistsError:
                pass
    return missing, {topic: count for topic, count in counts.items() if count != partitions}


async def align_topic_configs(settings: Settings, configs: dict[str, dict[str, str]]) -> list[str]:
    """Give existing topics the configs they would be created with; returns the topics changed.

    A topic created by an older bootstrap keeps its configs until told (a changelog created before
    its segments rolled by age is never compacted). Kafka's AlterConfigs replaces a topic's whole
    set, so it is sent with everything the platform sets: ``min.insync.replicas`` and ``configs``."""
    isr = {"min.insync.replicas": str(settings.topic_min_insync_replicas)}
    wanted = {name: {**isr, **config} for name, config in configs.items()}
    counts = await partition_counts(settings, wanted)
    present = [name for name in wanted if name in counts]
    if not present:
        return []
    async with admin_client(settings) as admin:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, dict.fromkeys(wanted[name])) for name in present])
        have = {resource[3]: {entry[0]: entry[1] for entry in resource[4]}
                for response in responses for resource in response.resources}
        stale = [name for name in present if any(have.get(name, {}).get(k) != v for k, v in wanted[name].items())]
        if stale:
            for response in await admin.alter_configs(
                    [ConfigResource(ConfigResourceType.TOPIC, name, wanted[name]) for name in stale]):
                refused = [f"{r[3]}: {r[1] or r[0]}" for r in response.resources if r[0]]
                if refused:
                    raise RuntimeError("the broker refused topic configs: " + "; ".join(refused))
    return stale


async def read_to_end(c: AIOKafkaConsumer, start: Mapping[TopicPartition, int], end: Mapping[TopicPartition, int],
                      stall_timeout_s: float = STALL_TIMEOUT_S) -> AsyncIterator[ConsumerRecord]:
    """Every record of each partition of ``start`` from its start offset up to (not including) its
    ``end`` offset: partition after partition in the order given, each in offset order.

    The end offsets are the caller's (taken when it began), so a read is a snapshot while the
    services keep writing; a partition is done once the consumer's position reaches its end,
    which also steps over records a reader never sees (transaction markers). The consumer is
    assigned one partition at a time and joins no group by reading. A partition that gives no
    record for ``stall_timeout_s`` before its end raises :class:`TimeoutError`.
    """
    for tp, first in start.items():
        last = end[tp]
        if first >= last:
            continue
        c.assign([tp])
        c.seek(tp, first)
        stalled_since = time.monotonic()
        while await c.position(tp) < last:
            batch = (await c.getmany(tp, timeout_ms=1000, max_records=500)).get(tp, [])
            if not batch:
                if time.monotonic() - stalled_since > stall_timeout_s:
                    raise TimeoutError(f"{tp.topic}[{tp.partition}]: stuck at offset {await c.position(tp)} "
                                       f"before its end {last} for {stall_timeout_s:.0f}s")
                continue
            stalled_since = time.monotonic()
            records = [r for r in batch if r.offset < last]
            for r in records:
                yield r
            if len(records) < len(batch):
                break


async def read_records(settings: Settings, topic: str, timeout: float = STALL_TIMEOUT_S) -> list[ConsumerRecord]:
    """Every record of ``topic`` from its start up to the end offsets read at the start
    (:func:`read_to_end`; ``timeout`` is how long a partition may give nothing before its end).

    Joins no consumer group and commits nothing, so a running service never notices.
    Records come partition by partition, each partition in offset order.
    """
    c = consumer(settings)
    await c.start()
    try:
        parts = await topic_partitions(c, topic)
        if not parts:
            raise LookupError(f"no topic {topic!r} on {settings.kafka_broker}")
        begin = await c.beginning_offsets(parts)
        end = await c.end_offsets(parts)
        start = {tp: begin[tp] for tp in parts}  # in partition order
        return [r async for r in read_to_end(c, start, end, timeout)]
    finally:
        await c.stop()


async def read_topic_records(settings: Settings, topic: str, timeout: float = STALL_TIMEOUT_S) -> list[tuple[str, bytes]]:
    """Every ``(key, value)`` of ``topic``, as :func:`read_records` reads them."""
    return [((r.key or b"").decode(), r.value) for r in await read_records(settings, topic, timeout)]


async def send_messages(settings: Settings, spec: TopicSpec, messages: list[Message]) -> None:
    """Send catalog messages keyed as the catalog says, each acknowledged by the broker."""
    p = producer(settings)
    await p.start()
    try:
        for message in messages:
            key = str(getattr(message, spec.key)).encode()
            await p.send_and_wait(spec.name, key=key, value=message.model_dump_json().encode())
    finally:
        await p.stop()


async def committed_offsets(settings: Settings, group: str, topics: list[str]) -> dict[TopicPartition, int]:
    """The offsets ``group`` has committed on ``topics`` (0 where none), read without joining it."""
    c = consumer(settings, group_id=group)
    await c.start()
    try:
        parts = [tp for t in topics for tp in await topic_partitions(c, t)]
        return {tp: (await c.committed(tp)) or 0 for tp in parts}
    finally:
        await c.stop()
