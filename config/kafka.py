"""Plain aiokafka clients for everything that is not a Faust worker (bootstrap, CLI, tests, bench).

They use the workers' producer settings (acks=all, the same linger and batch size) and
create topics with the replication the settings ask for.
"""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from config.settings import Settings
from streams.events import Message
from streams.topics import TopicSpec

__all__ = ["bootstrap_servers", "producer", "consumer", "topic_partitions", "create_topics", "read_topic_records",
           "send_messages", "committed_offsets"]


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


async def create_topics(settings: Settings, names: list[str], partitions: int,
                        configs: dict[str, dict[str, str]] | None = None) -> tuple[list[str], dict[str, int]]:
    """Create missing topics (with per-topic configs); returns ``(created, wrong)`` where ``wrong``
    maps existing topics with another partition count to the count they have."""
    configs = configs or {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            try:
                replicas = settings.topic_replication_factor
                isr = {"min.insync.replicas": str(settings.topic_min_insync_replicas)}
                await admin.create_topics([NewTopic(n, partitions, replicas, topic_configs={**isr, **configs.get(n, {})})
                                           for n in missing])
            except TopicAlreadyExistsError:
                pass
        wrong: dict[str, int] = {}
        present = [n for n in names if n in existing]
        if present:
            for meta in await admin.describe_topics(present):
                count = len(meta.get("partitions", []))
                if count != partitions:
                    wrong[meta["topic"]] = count
        return missing, wrong
    finally:
        await admin.close()


async def read_topic_records(settings: Settings, topic: str, timeout: float = 30.0) -> list[tuple[str, bytes]]:
    """Every ``(key, value)`` of ``topic`` from offset 0 up to the end offsets read at the start.

    Joins no consumer group and commits nothing, so a running service never notices.
    Records come partition by partition, each partition in offset order.
    """
    c = consumer(settings)
    await c.start()
    try:
        parts = await topic_partitions(c, topic)
        if not parts:
            raise LookupError(f"no topic {topic!r} on {settings.kafka_broker}")
        c.assign(parts)
        await c.seek_to_beginning(*parts)
        end = await c.end_offsets(parts)
        got: dict[TopicPartition, list[tuple[str, bytes]]] = {tp: [] for tp in parts}
        pending = {tp for tp in parts if end[tp] > 0}
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: end offsets {end} not reached in {timeout:.0f}s")
            batch = await c.getmany(*pending, timeout_ms=1000)
            for tp, records in batch.items():
                got[tp] += [((r.key or b"").decode(), r.value) for r in records if r.offset < end[tp]]
                if records and records[-1].offset + 1 >= end[tp]:
                    pending.discard(tp)
        return [record for tp in parts for record in got[tp]]
    finally:
        await c.stop()


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
