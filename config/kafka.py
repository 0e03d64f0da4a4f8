"""Plain aiokafka clients for everything that is not a Faust worker (bootstrap, CLI, tests, bench).

They follow the same Tansu rules as the workers: one record per produce batch
(so end offsets stay exact) and a short fetch wait.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from yarl import URL

from config.settings import Settings

__all__ = ["bootstrap_servers", "producer", "consumer", "create_topics"]


def bootstrap_servers(settings: Settings) -> str:
    """``host:port`` list from ``KAFKA_BROKER`` (``kafka://a:9092;b:9092`` or a bare list)."""
    raw = settings.kafka_broker
    hosts = raw.split("://", 1)[1] if "://" in raw else raw
    return ",".join(h.strip().rstrip("/") for h in hosts.replace(";", ",").split(",") if h.strip())


def producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(settings), acks="all", linger_ms=0,
        max_batch_size=1 if settings.one_record_per_batch else 16384,
    )


def consumer(settings: Settings, *topics: str) -> AIOKafkaConsumer:
    """A group-less consumer from offset 0: reads, commits nothing, no running service notices it."""
    return AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap_servers(settings), group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )


async def create_topics(settings: Settings, names: list[str], partitions: int) -> tuple[list[str], list[str]]:
    """Create missing topics; returns ``(created, wrong)`` where wrong have another partition count."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            try:
                await admin.create_topics([NewTopic(n, partitions, 1) for n in missing])
            except TopicAlreadyExistsError:
                pass
        wrong = []
        present = [n for n in names if n in existing]
        if present:
            for meta in (await admin.describe_topics(present)):
                if len(meta.get("partitions", [])) != partitions:
                    wrong.append(meta["topic"])
        return missing, wrong
    finally:
        await admin.close()
