"""Print every event of the catalog topics (or the ones named) as JSON lines, from offset 0.

    python -m dev.replay                      # all public topics
    python -m dev.replay order-events payment-events

A plain aiokafka read: no consumer group, no commit; it stops at the end offsets
it saw when it started. (``megatron replay`` grows from this.)
"""

from __future__ import annotations

import asyncio
import sys

from config.kafka import read_topic_records
from config.settings import get_settings
from streams.topics import CATALOG


async def replay(topics: list[str]) -> None:
    settings = get_settings()
    for topic in topics:
        for _, value in await read_topic_records(settings, topic):
            sys.stdout.write(value.decode() + "\n")


def main() -> None:
    topics = sys.argv[1:] or [t.name for t in CATALOG if t.public]
    asyncio.run(replay(topics))


if __name__ == "__main__":
    main()
