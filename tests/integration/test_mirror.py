"""The MySQL mirror against the real MariaDB: batched, idempotent, never older over newer, nothing lost."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import AsyncIterator

import pytest

from config.settings import Settings
from dev.broker import free_port
from domain.orders import HistoryEntry, Order, OrderStatus
from domain.stock import StockLevel
from streams.events import Address, Contact, Line, Payment
from tables.mirror import MirrorUnavailable, MySQLMirror
from tables.orders import ORDERS_MIRROR, SHIP_COLUMNS
from tables.schema import connect, migrate
from tables.stock import STOCK_MIRROR
from tests.helpers import query

pytestmark = pytest.mark.integration


@asynccontextmanager
async def migrated(database: str) -> AsyncIterator[Settings]:
    """Settings of a fresh, migrated ``database`` of its own, dropped afterwards."""
    s = Settings(mysql_db_prefix=f"m{uuid.uuid4().hex[:8]}_")
    await migrate(s, (database,))
    try:
        yield s
    finally:
        conn = await connect(s)
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{s.database(database)}`")
        conn.close()


@pytest.fixture
async def mirror_settings(stores: Settings) -> AsyncIterator[Settings]:
    async with migrated("inventory_db") as s:
        yield s


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


@pytest.fixture
async def orders_settings(stores: Settings) -> AsyncIterator[Settings]:
    async with migrated("orders_db") as s:
        yield s


def an_order(order_id: str, address: Address | None) -> Order:
    at = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
    return Order(order_id=order_id, user_id="ravi", status=OrderStatus.CREATED,
                 items=(Line(sku="IPHONE-15", name="iPhone 15", unit_price_paise=79_900_00, quantity=1),),
                 total_paise=79_900_00, payment=Payment(vpa="ravi@okhdfc"), contact=Contact(email="r@example.com"),
                 shipping_address=address, history=(HistoryEntry(status=OrderStatus.CREATED, at=at),),
                 created_at=at, updated_at=at)


async def test_orders_carry_the_delivery_address_in_any_script(orders_settings: Settings) -> None:
    """Migration 0002's columns take what the checkout accepts (a name in Devanagari too), NULL when unknown."""
    ravi = Address(name="रवि कुमार", line="12 MG Road, Karol Bagh", city="New Delhi", state="Delhi",
                   pincode="110005", phone="+919812345678")
    mirror = MySQLMirror(orders_settings, ("orders_db",))
    mirror.enqueue(ORDERS_MIRROR, an_order("o-new", ravi))
    mirror.enqueue(ORDERS_MIRROR, an_order("o-old", None))  # placed before OrderPlaced v2
    assert await mirror.flush() == 4
    await mirror.close()
    columns = ", ".join(SHIP_COLUMNS)
    rows = {r["order_id"]: r for r in await query(
        orders_settings, f"SELECT order_id, {columns} FROM `{orders_settings.database('orders_db')}`.orders")}
    text = {c: v.decode() if isinstance(v, bytes) else v for c, v in rows["o-new"].items()}
    assert {c: text[c] for c in SHIP_COLUMNS} == {
        "ship_name": "रवि कुमार", "ship_line": "12 MG Road, Karol Bagh", "ship_city": "New Delhi",
        "ship_state": "Delhi", "ship_pincode": "110005", "ship_phone": "+919812345678"}
    assert all(rows["o-old"][c] is None for c in SHIP_COLUMNS)
    assert await migrate(orders_settings, ("orders_db",)) == [], "each migration is applied once"


async def test_a_row_mysql_refuses_is_dropped_and_holds_no_other_row_back(
        mirror_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """Chaos seed 3 (2026-12-07): one negative reserved count failed the stock table's CHECK, and the
    multi-row upsert kept the two other SKUs of its batch out of MySQL until the run ended."""
    mirror = MySQLMirror(mirror_settings, ("inventory_db",))
    for level in (StockLevel(sku="A", on_hand=10, reserved=2, version=4),
                  StockLevel(sku="B", on_hand=5, reserved=-1, version=7),  # the CHECK refuses it
                  StockLevel(sku="C", on_hand=3, reserved=0, version=1)):
        mirror.enqueue(STOCK_MIRROR, level)
    assert await mirror.flush() == 2
    assert mirror.backlog == 0 and mirror.rows_refused == 1
    assert await stock_rows(mirror_settings) == {"A": (10, 2, 4), "C": (3, 0, 1)}
    assert any("refused" in r.getMessage() and "'B'" in r.getMessage() for r in caplog.records)
    mirror.enqueue(STOCK_MIRROR, StockLevel(sku="B", on_hand=5, reserved=0, version=8))  # the next version lands
    assert await mirror.flush() == 1
    await mirror.close()
    assert (await stock_rows(mirror_settings))["B"] == (5, 0, 8)
