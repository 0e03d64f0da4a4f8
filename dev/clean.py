"""``make clean``: forget a platform's state outside var/ (its mirror databases and carts).

The bench and tests call :func:`forget` on their isolated platforms too. ``make clean``
refuses while the platform still runs: pulling the broker's log from under it would
leave tables and mirror ahead of an empty log.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable

from yarl import URL

from config.settings import Settings, get_settings
from tables.schema import drop_databases

__all__ = ["forget", "main"]


async def forget(settings: Settings, log: Callable[[str], None] = print) -> None:
    """Drop the platform's MySQL databases and Redis keys (bounded scans); a store that is not
    there is said, not raised: its data is either gone with var/ or not this platform's."""
    try:
        await asyncio.wait_for(drop_databases(settings), 10)
    except Exception as exc:
        log(f"note: mirror databases not dropped ({settings.mysql_host}:{settings.mysql_port}: {exc})")
    try:
        import redis.asyncio as redis

        client = redis.from_url(settings.redis_url, socket_timeout=2)
        try:
            keys = [k async for k in client.scan_iter(match=f"{settings.redis_key_prefix}:*", count=1000)][:1_000_000]
            for i in range(0, len(keys), 1000):
                await client.delete(*keys[i:i + 1000])
        finally:
            await client.aclose()
    except Exception as exc:
        log(f"note: carts not deleted ({settings.redis_url}: {exc})")


def _listening(url: str) -> bool:
    u = URL(url)
    try:
        with socket.create_connection((u.host or "127.0.0.1", u.port or 80), timeout=0.5):
            return True
    except OSError:
        return False


def main() -> int:
    s = get_settings()
    if _listening(s.gateway_url) or _listening(s.kafka_broker.split(";")[0].split(",")[0]):
        print(f"make clean: the platform still runs (gateway {s.gateway_url} or broker {s.kafka_broker} "
              "answers); stop `make run` first", file=sys.stderr)
        return 1
    asyncio.run(forget(s))
    print("make clean: mirror databases and carts dropped; var/ goes next")
    return 0


if __name__ == "__main__":
    sys.exit(main())
