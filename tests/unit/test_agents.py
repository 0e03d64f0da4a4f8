"""Agents under Faust's ``test_context()``: the stream logic without a broker.

``app.emit`` (the send to Kafka) is replaced by a recorder, so these check what an
agent decides to send for the events it is given.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from streams.commands import (
    CommitStock, NotifyOrder, ReleaseStock, ReserveStock, SetStock, StockRejected, StockReleased, StockReserved,
)
from domain.stock import Hold, HoldState, StockLevel, is_hold_key
from streams.events import (
    Contact, FailureReason, InventoryFailed, InventoryReleased, InventoryReserved, Line, OrderConfirmed, OrderFailed,
    OrderPlaced, Payment,
)
from streams.topics import INVENTORY_EVENTS, STOCK_COMMANDS, STOCK_RESULTS
from tables.catalog import STOCK
from tables.model_table import ModelTable

LINES = (Line(sku="IPHONE-15", name="iPhone 15", unit_price_paise=7_990_000, quantity=1),
         Line(sku="LAPTOP", name="Laptop", unit_price_paise=6_499_000, quantity=2))


@pytest.fixture
def inventory(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    import agents.inventory as inventory

    sent: list[tuple[str, Any]] = []

    async def record(spec: Any, *events: Any) -> None:
        sent.extend((spec.name, event) for event in events)

    with mock.patch.object(inventory.app, "emit", record):
        yield inventory, sent


@pytest.mark.parametrize("event, command", [
    (OrderPlaced(order_id="o1", user_id="ravi", items=LINES, total_paise=20_988_000,
                 payment=Payment(vpa="ravi@upi"), contact=Contact(email="ravi@example.com")), ReserveStock),
    (OrderConfirmed(order_id="o1", user_id="ravi", items=LINES, total_paise=20_988_000), CommitStock),
    (OrderFailed(order_id="o1", user_id="ravi", items=LINES, reason=FailureReason.PAYMENT_DECLINED), ReleaseStock),
])
async def test_split_sends_one_stock_command_per_line(inventory: Any, event: Any, command: type) -> None:
    module, sent = inventory
    async with module.split.test_context() as agent:
        await agent.put(event, key=b"o1")
    assert [name for name, _ in sent] == [STOCK_COMMANDS.name] * 2
    commands = [c for _, c in sent]
    assert all(isinstance(c, command) for c in commands)
    assert [(c.sku, c.quantity, c.lines_total, c.order_id) for c in commands] == [
        ("IPHONE-15", 1, 2, "o1"), ("LAPTOP", 2, 2, "o1")]


ONE_LINE = {"order_id": "o1", "sku": "IPHONE-15", "quantity": 1, "lines_total": 1}


@pytest.mark.parametrize("answer, outcome", [
    (StockReserved(**ONE_LINE), InventoryReserved),
    (StockRejected(**ONE_LINE, available=0), InventoryFailed),
    (StockReleased(**ONE_LINE), InventoryReleased),
])
async def test_a_one_line_orders_answer_is_announced_at_once(inventory: Any, answer: Any, outcome: type) -> None:
    """No trip through stock-results and collect: the one answer is the order's outcome."""
    module, sent = inventory
    await module.send_answer(answer)
    assert [(name, type(event)) for name, event in sent] == [(INVENTORY_EVENTS.name, outcome)]
    assert sent[0][1].order_id == "o1"
    if outcome is InventoryFailed:
        assert sent[0][1].short_skus == ("IPHONE-15",)


async def test_a_line_of_a_longer_order_goes_to_be_gathered(inventory: Any) -> None:
    module, sent = inventory
    answer = StockReserved(**{**ONE_LINE, "lines_total": 2})
    await module.send_answer(answer)
    assert sent == [(STOCK_RESULTS.name, answer)]


async def test_keep_stock_remembers_where_a_stock_count_was_read(inventory: Any) -> None:
    """The position of the record handled reaches the stock rule, which skips a count read again."""
    module, _ = inventory
    async with module.keep_stock.test_context() as agent:
        await agent.put(SetStock(order_id="op-1", sku="PIXEL-8", on_hand=12), key=b"PIXEL-8", partition=2)
        level = module.stock.get("PIXEL-8")
        assert level is not None and level.on_hand == 12
        assert level.applied_at is not None and level.applied_at[0] == 2


async def test_a_hold_is_an_entry_of_the_stock_table_beside_its_level(inventory: Any) -> None:
    """One changelog for both (see tables/stock.py); each view reads only its own entries."""
    module, _ = inventory
    assert module.holds.table is module.stock.table
    async with module.keep_stock.test_context() as agent:
        await agent.put(SetStock(order_id="op-1", sku="PIXEL-8", on_hand=12), key=b"PIXEL-8")
        await agent.put(ReserveStock(order_id="o9", sku="PIXEL-8", quantity=2, lines_total=1), key=b"PIXEL-8")
        level, hold = module.stock.get("PIXEL-8"), module.holds.get("PIXEL-8/o9")
    assert level is not None and (level.on_hand, level.reserved) == (12, 2)
    assert hold is not None and hold.state is HoldState.HELD
    # what the mirror's recovery and the views iterate: a plain mapping standing in for the RocksDB partitions
    raw = type("Partitions", (dict,), {"name": "stock"})(
        {k.encode(): v.model_dump_json().encode() for k, v in (("PIXEL-8", level), ("PIXEL-8/o9", hold))})
    stock = ModelTable(None, "stock", StockLevel, help="", where=STOCK.keys, table=raw)
    assert [k for k, _ in stock.items()] == ["PIXEL-8"]
    assert [k for k, _ in stock.view(Hold, is_hold_key).items()] == ["PIXEL-8/o9"]


class Entries:
    """The get/put surface of a ModelTable over one dict, each put logged as the changelog sees it."""

    def __init__(self, local: dict[str, Any], changelog: list[str]) -> None:
        self.local, self.changelog = local, changelog

    def get(self, key: str) -> Any:
        return self.local.get(key)

    def put(self, key: str, value: Any) -> None:
        self.local[key] = value
        self.changelog.append(key)


@pytest.mark.parametrize("replaying, written", [(False, []), (True, ["PIXEL-8", "PIXEL-8/o9"])])
async def test_a_stock_command_found_applied_in_the_backlog_writes_level_and_hold_again(
        inventory: Any, replaying: bool, written: list[str]) -> None:
    """Read again after a kill on the RocksDB the killed worker kept: the level and the hold are found
    applied, but the changelog may not have them. In the backlog they are written again, level first;
    a repeat in live traffic writes nothing."""
    module, sent = inventory
    local: dict[str, Any] = {}
    changelog: list[str] = []
    with mock.patch.object(module, "stock", Entries(local, changelog)), \
            mock.patch.object(module, "holds", Entries(local, changelog)), \
            mock.patch.object(module, "handling_position", lambda: (2, 41)):
        local["PIXEL-8"] = StockLevel(sku="PIXEL-8", on_hand=12)
        await module.apply_command(ReserveStock(order_id="o9", sku="PIXEL-8", quantity=2, lines_total=1))
        assert changelog == ["PIXEL-8", "PIXEL-8/o9"]
        changelog.clear()
        with mock.patch.object(module.app, "replaying", lambda: replaying):
            await module.apply_command(ReserveStock(order_id="o9", sku="PIXEL-8", quantity=2, lines_total=1))
    assert changelog == written
    assert (local["PIXEL-8"].on_hand, local["PIXEL-8"].reserved) == (12, 2)  # counted once
    assert [type(e) for _, e in sent] == [InventoryReserved, InventoryReserved]  # answered as the first time

@pytest.fixture
def notification(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    import agents.notification as notification

    return notification


async def test_an_email_is_recorded_sent_only_once_announced(notification: Any) -> None:
    """make chaos (seed 1): the worker was killed between recording an email sent and announcing it, so
    the record skipped it on the replay and no NotificationSent ever came. Now a failed announcement
    leaves it unrecorded: the replay sends (same Message-ID) and announces it."""
    command = NotifyOrder(order_id="o7", user_id="ravi", status="CONFIRMED", total_paise=7_990_000, items=LINES[:1],
                          contact=Contact(email="ravi@example.com"))
    steps: list[str] = []

    async def send(to: str, *args: Any, **kwargs: Any) -> None:
        steps.append(f"send {to}")

    async def broker_gone(spec: Any, *events: Any) -> None:
        raise ConnectionError("the broker is away")

    async def announce(spec: Any, *events: Any) -> None:
        steps.extend(f"announce {type(e).__name__}" for e in events)

    def record(key: str, value: Any) -> None:
        steps.append(f"record {key}")

    with mock.patch.object(notification.email, "send", send), mock.patch.object(notification.sent, "put", record), \
            mock.patch.object(notification.sent, "get", lambda key: None):
        with mock.patch.object(notification.app, "emit", broker_gone), pytest.raises(ConnectionError):
            await notification.handle(command)
        assert steps == ["send ravi@example.com"], "not recorded: the replay must send and announce it"
        with mock.patch.object(notification.app, "emit", announce):
            await notification.handle(command)
    assert steps[1:] == ["send ravi@example.com", "announce NotificationSent", "record o7"]


def _failing_send(errors: list[Exception], steps: list[str]) -> Any:
    async def send(to: str, *args: Any, **kwargs: Any) -> None:
        if errors:
            steps.append(f"failed {type(errors[0]).__name__}")
            raise errors.pop(0)
        steps.append(f"send {to}")
    return send


async def test_an_email_that_timed_out_is_sent_again_before_it_counts_as_failed(notification: Any) -> None:
    """make chaos (seed 1, 2026-12-07): one SMTP timeout under load, and the order never got its email."""
    import smtplib

    command = NotifyOrder(order_id="o8", user_id="ravi", status="CONFIRMED", total_paise=7_990_000, items=LINES[:1],
                          contact=Contact(email="ravi@example.com"))
    steps: list[str] = []
    announced: list[Any] = []

    async def announce(spec: Any, *events: Any) -> None:
        announced.extend(events)

    quick = notification.app.settings.model_copy(update={"handler_retries": 3, "handler_retry_base_s": 0.001})
    errors: list[Exception] = [TimeoutError(), smtplib.SMTPServerDisconnected("gone")]
    with mock.patch.object(notification.app, "settings", quick), \
            mock.patch.object(notification.email, "send", _failing_send(errors, steps)), \
            mock.patch.object(notification.sent, "put", lambda key, value: None), \
            mock.patch.object(notification.sent, "get", lambda key: None), \
            mock.patch.object(notification.app, "emit", announce):
        await notification.handle(command)
        assert steps == ["failed TimeoutError", "failed SMTPServerDisconnected", "send ravi@example.com"]
        assert [type(e).__name__ for e in announced] == ["NotificationSent"]

        steps.clear(), announced.clear()
        refused = smtplib.SMTPRecipientsRefused({"ravi@example.com": (550, b"no such mailbox")})
        with mock.patch.object(notification.email, "send", _failing_send([refused], steps)):
            await notification.handle(command)
        assert steps == ["failed SMTPRecipientsRefused"], "a 5xx is final: not sent again"
        assert [type(e).__name__ for e in announced] == ["NotificationFailed"]

        steps.clear(), announced.clear()
        with mock.patch.object(notification.email, "send", _failing_send([TimeoutError()] * 4, steps)):
            await notification.handle(command)
        assert steps == ["failed TimeoutError"] * 4, "tried HANDLER_RETRIES times more, then failed"
        assert [type(e).__name__ for e in announced] == ["NotificationFailed"]
