"""Faust's table manager, without the second it sleeps before a worker can join its group.

``faust.tables.TableManager.on_start`` (0.15.3) waits 1.0 s before it registers the tables'
changelog channels, and the conductor waits for that before the consumer subscribes: every
worker start, and so every restart after a crash, is a second later than it need be (``make
chaos`` measures restart to serving against a 5 s target). Every table here is declared when its
service module is imported, before the worker starts, so there is nothing to wait for; a table
declared later still gets its channel at the next rebalance (``TableManager.on_rebalance``).
"""

from __future__ import annotations

import asyncio

from faust.tables import TableManager as FaustTableManager

__all__ = ["TableManager"]


class TableManager(FaustTableManager):
    async def on_start(self) -> None:
        await asyncio.sleep(0)  # what the agents' start-up scheduled runs first, as after Faust's sleep
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()
