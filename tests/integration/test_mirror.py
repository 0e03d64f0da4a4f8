"""The MySQL mirror against the real MariaDB: batched, idempotent, never older over newer, nothing lost."""

from __future__ import annotations

import uuid
from typing import AsyncIterator

import pytest

from config.settings import Settings
from dev.broker import free_port
from domain.stock import StockLevel
from tables.mirror import MirrorUnavailable, MySQLMirror
from tables.schema import connect, migrate
from tables.stock import STOCK_MIRROR
from tests.helpers import query

pytestmark = pytest.mark.integration


@pytest.fixture
async def mirror_settings() -> AsyncIterator[Settings]:
    s = Settings(mysql_db_prefix=f"m{uuid.uuid4().hex[:8]}_")
    await migrate(s, ("inventory_db",))
    yield s
    conn = await connect(s)
    async with conn.cursor() as cur:
        await cur.execute(f"DROP DATABASE IF EXISTS `{s.database('inventory_db')}`")
    conn.close()


async def stock_rows(s: Settings) -> dict[str, tuple[int, int, int]]:
    rows = await query(s, f"SELECT sku, on_hand, reserved, version FROM `{s.database('inventory_db')}`.stock")
    return {r["sku"]: (r["on_hand"], r["reserved"], r["version"]) for r in rows}


async def test_newer_version_wins_in_any_order_and_twice(mirror_settings: Settings) -> None:
    mirror = MySQLMirror(mirror_settings, ("inventory_db",))
    v1, v2, v3 = (StockLevel(sku="A", on_hand=10, reserved=r, version=v) for r, v in ((0, 1), (2, 2), (1, 3)))
    mirror.enqueue(STOCK_MIRROR, v3)
    await mirror.flush()
    for older in (v1, v2, v3):  # a replay of older states, and the same state again
        mirror.enqueue(STOCK_MIRROR, older)
        await mirror.flush()
    await mirror.close()
    assert await stock_rows(mirror_settings) == {"A": (10, 1, 3)}


async def test_buffer_keeps_newest_per_key_and_writes_one_batch(mirror_settings: Settings) -> None:
    mirror = MySQLMirror(mirror_settings, ("inventory_db",))
    for version in range(1, 51):
        for sku in ("A", "B", "C"):
            mirror.enqueue(STOCK_MIRROR, StockLevel(sku=sku, on_hand=100 - version, version=version))
    assert mirror.backlog == 3
    assert await mirror.flush() == 3
    await mirror.close()
    assert await stock_rows(mirror_settings) == {k: (50, 0, 50) for k in "ABC"}


async def test_rows_wait_while_mysql_is_down(mirror_settings: Settings) -> None:
    down = mirror_settings.model_copy(update={"mysql_port": free_port()})
    mirror = MySQLMirror(down, ("inventory_db",))
    mirror.enqueue(STOCK_MIRROR, StockLevel(sku="A", on_hand=7, version=1))
    with pytest.raises(MirrorUnavailable):
        await mirror.flush()
    mirror.enqueue(STOCK_MIRROR, StockLevel(sku="B", on_hand=3, version=1))
    assert mirror.backlog == 2, "nothing is dropped while MySQL is away"
    mirror.settings = mirror_settings  # MySQL is back
    assert await mirror.flush() == 2
    await mirror.close()
    assert await stock_rows(mirror_settings) == {"A": (7, 0, 1), "B": (3, 0, 1)}
