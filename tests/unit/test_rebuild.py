"""``megatron mirror-rebuild``'s pure parts: target names, rows from the last state, the row diff."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cli.rebuild import SOURCES, _diff, target_settings
from config.settings import Settings
from domain.orders import HistoryEntry, Order, OrderStatus
from streams.events import Contact, Line, Payment
from tables.catalog import MIRRORED
from tables.rows import order_rows

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


def test_target_databases_are_named_by_the_prefix_and_never_the_live_ones() -> None:
    live = Settings(mysql_db_prefix="t1234_")
    assert target_settings(live, "rebuilt").database("orders_db") == "rebuilt_orders_db"
    for bad in ("", "a-b", "x;drop", "a" * 41):
        with pytest.raises(ValueError, match="--into"):
            target_settings(live, bad)
    with pytest.raises(ValueError, match="live mirror"):
        target_settings(live, "t1234")


def test_changelogs_are_the_mirrored_tables_of_the_services() -> None:
    s = Settings(app_id_prefix="megatron")
    assert [src.changelog(s) for src in SOURCES] == [
        "megatron-orders-orders-changelog", "megatron-inventory-stock-changelog", "megatron-payment-payments-changelog"]


def test_the_sources_are_the_catalogs_mirrored_tables_with_the_live_row_mappers() -> None:
    assert [src.table for src in SOURCES] == list(MIRRORED)
    assert [src.spec.database for src in SOURCES] == [t.mirror.database for t in MIRRORED if t.mirror]
    assert [src.spec for src in SOURCES[1:]] == [t.mirror for t in MIRRORED[1:]], "only the orders map differently"


def test_an_order_rebuilt_from_its_last_state_has_the_rows_its_first_state_wrote() -> None:
    """The live mirror got the lines from version 1; the rebuild sees only the last version."""
    lines = (Line(sku="IPHONE-15", name="iPhone 15", unit_price_paise=79_900_00, quantity=1),
             Line(sku="LAPTOP", name="Laptop", unit_price_paise=64_990_00, quantity=2))
    first = Order(order_id="o1", user_id="ravi", status=OrderStatus.CREATED, items=lines, total_paise=209_880_00,
                  payment=Payment(vpa="ravi@okhdfc"), contact=Contact(email="r@example.com"),
                  history=(HistoryEntry(status=OrderStatus.CREATED, at=NOW),), created_at=NOW, updated_at=NOW)
    last = first.moved_to(OrderStatus.INVENTORY_RESERVED, NOW).moved_to(OrderStatus.CONFIRMED, NOW)
    live = {r.ident: r for r in order_rows(first)}
    live.update({r.ident: r for r in order_rows(last)})  # the mirror keeps the newest row per key
    rebuilt = SOURCES[0].spec.rows(last)
    assert sorted((r.table, tuple(r.values.items())) for r in rebuilt) == \
        sorted((r.table, tuple(r.values.items())) for r in live.values())
    assert len(SOURCES[0].spec.rows(first)) == 3, "a first version is not given its lines twice"


def test_diff_names_every_differing_column_and_missing_row() -> None:
    live = {("a",): {"id": "a", "status": "CONFIRMED", "updated_at": 1},
            ("b",): {"id": "b", "status": "FAILED", "updated_at": 1}}
    rebuilt = {("a",): {"id": "a", "status": "CREATED", "updated_at": 2},
               ("c",): {"id": "c", "status": "FAILED", "updated_at": 1}}
    found = _diff("orders_db.orders", ["id"], live, rebuilt, ignored={"updated_at"})
    assert [(d.key, d.column, d.live, d.rebuilt) for d in found] == [
        ("id=a", "status", "CONFIRMED", "CREATED"), ("id=b", "(row)", "present", "missing"),
        ("id=c", "(row)", "missing", "present")]
    assert _diff("t", ["id"], live, live, ignored=set()) == []
