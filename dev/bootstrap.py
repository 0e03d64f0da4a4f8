"""Prepare a broker and MySQL for the platform: topics, mirror schema, seed stock. Safe to re-run.

Every topic is created explicitly, with the partition count the apps use, before any
worker starts: Tansu auto-creates topics with its own count, and a source topic and
its table's changelog that disagree crash the agent (``PartitionsMismatch``).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys

from config.kafka import create_topics, send_messages
from config.settings import SERVICES, Settings, get_settings
from domain.catalog import PRODUCTS
from streams.commands import SetStock
from streams.topics import STOCK_COMMANDS, all_topic_names
from tables.schema import migrate

__all__ = ["platform_topics", "bootstrap", "seed_stock"]

log = logging.getLogger("megatron.bootstrap")


def platform_topics() -> list[str]:
    """Catalog and dead-letter topics plus every table changelog of every service."""
    names = all_topic_names()
    for service in SERVICES:
        app = importlib.import_module(f"agents.{service}").app
        names += [table.changelog_topic.get_topic_name() for table in app.tables.values()]
    return names


async def seed_stock(settings: Settings) -> int:
    """Initial stock per catalog product; a SKU that has stock already keeps it."""
    await send_messages(settings, STOCK_COMMANDS, [
        SetStock(order_id=f"seed-{p.sku}", sku=p.sku, on_hand=p.initial_stock, only_if_new=True) for p in PRODUCTS])
    return len(PRODUCTS)


async def bootstrap(settings: Settings) -> None:
    names = platform_topics()
    created, wrong = await create_topics(settings, names, settings.topic_partitions)
    if wrong:
        raise SystemExit(f"topics with a partition count other than {settings.topic_partitions}: {', '.join(wrong)}")
    log.info("topics: %d created, %d present", len(created), len(names) - len(created))
    applied = await migrate(settings)
    log.info("mysql: %s", ", ".join(applied) if applied else "schema up to date")
    log.info("stock: %d products seeded (existing stock kept)", await seed_stock(settings))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    asyncio.run(bootstrap(get_settings()))


if __name__ == "__main__":
    main()
