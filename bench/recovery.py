"""How long a worker takes to serve again after losing its disk, and what it had to read back.

SIGKILL, its RocksDB deleted (a lost machine), restarted: the time until ``/health`` answers 200
(partitions assigned, every table recovered from its changelog). Recovery reads each changelog
of the service to its end, so the time grows with what its tables were ever written unless
compaction and tombstones keep them to what open orders need: measured after N orders, this is
the figure that says whether state grows with history.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from bench.offsets import end_offsets
from bench.stack import Stack
from dev.platform import Platform
from tables.catalog import tables_of

__all__ = ["RECOVERED", "recover"]

#: the services whose tables grow with orders (orders, and stock, holds and reservations)
RECOVERED = ("orders", "inventory")


async def recover(stack: Stack, platform: Platform, service: str, orders_so_far: int,
                  log: Callable[[str], None]) -> dict[str, Any]:
    """Kill ``service``'s worker, wipe its data dir, restart it; seconds to ready and what it read back."""
    s = stack.settings
    changelogs = [t.changelog(s) for t in tables_of(service)]
    written = sum((await end_offsets(s, changelogs)).values())
    await asyncio.to_thread(platform.kill_and_wipe, service)
    started = time.monotonic()
    proc = platform.start_service(service)
    await asyncio.to_thread(platform.wait_ready, service, 600.0)
    seconds = round(time.monotonic() - started, 2)
    stack.pids[service] = proc.popen.pid
    log(f"  {service}: ready {seconds:g} s after its restart on an empty data dir "
        f"({written:,} changelog records written so far, {orders_so_far:,} orders)")
    return {"orders": orders_so_far, "seconds_to_ready": seconds, "changelog_records": written,
            "changelogs": changelogs}
