"""Prepare a broker and MySQL for the platform: topics, mirror schema, seed stock. Safe to re-run.

Every topic is created explicitly, with the partition count, replication and config the
apps use, before any worker starts: the brokers do not auto-create topics (a typo fails
loudly), and a source topic and its table's changelog that disagree crash the agent
(``PartitionsMismatch``).
"""

from __future__ import annotations

import asyncio
import logging
import sys

from config.kafka import align_topic_configs, create_topics, send_messages
from config.settings import Settings, get_settings
from domain.catalog import PRODUCTS
from streams.commands import SetStock
from streams.topics import STOCK_COMMANDS, all_topic_names
from tables.catalog import changelog_topics
from tables.schema import migrate

__all__ = ["platform_topics", "bootstrap", "seed_stock"]

log = logging.getLogger("megatron.bootstrap")


def platform_topics(settings: Settings) -> dict[str, dict[str, str]]:
    """Every topic the platform uses, with its config: catalog and dead-letter topics keep their
    history (never deleted by age: analysts replay them); table changelogs (from the table
    catalog, so no service's app is imported) are compacted, and so restored in about one record
    per key: their segments roll after ``CHANGELOG_SEGMENT_MS`` (Kafka compacts only rolled
    segments, and a segment rolls at 1 GiB or 7 days by default), and the cleaner takes a log
    once a tenth of it is not yet compacted (half by default)."""
    topics = {name: {"retention.ms": "-1"} for name in all_topic_names()}
    compacted = {"cleanup.policy": "compact", "segment.ms": str(settings.changelog_segment_ms),
                 "min.cleanable.dirty.ratio": "0.1"}
    topics.update({name: dict(compacted) for name in changelog_topics(settings)})
    return topics


async def seed_stock(settings: Settings) -> int:
    """Initial stock per catalog product; a SKU that has stock already keeps it."""
    await send_messages(settings, STOCK_COMMANDS, [
        SetStock(order_id=f"seed-{p.sku}", sku=p.sku, on_hand=p.initial_stock, only_if_new=True) for p in PRODUCTS])
    return len(PRODUCTS)


async def bootstrap(settings: Settings) -> None:
    topics = platform_topics(settings)
    names = list(topics)
    created, wrong = await create_topics(settings, names, settings.topic_partitions, topics)
    if wrong:
        raise SystemExit(f"topics with a partition count other than {settings.topic_partitions}: "
                         + ", ".join(f"{t} ({n})" for t, n in wrong.items()))
    aligned = await align_topic_configs(settings, {n: c for n, c in topics.items() if n not in created})
    log.info("topics: %d created, %d present (%d given their current configs)", len(created),
             len(names) - len(created), len(aligned))
    applied = await migrate(settings)
    log.info("mysql: %s", ", ".join(applied) if applied else "schema up to date")
    log.info("stock: %d products seeded (existing stock kept)", await seed_stock(settings))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    asyncio.run(bootstrap(get_settings()))


if __name__ == "__main__":
    main()
