"""Inventory service: reserves an order's lines all or nothing, per SKU, where each SKU is owned.

Three short agents: ``split`` repartitions an order's lines by SKU, ``keep_stock``
changes one SKU's stock in the partition that owns it and answers per line, and
``collect`` gathers the answers per order into one public ``Inventory*`` event. The
answer for an order of one line is already its order's outcome: ``keep_stock`` announces
it itself, so such an order (every order of a flash sale) skips ``stock-results`` and
``collect``: two records and one hop fewer.
"""

from __future__ import annotations

from config.app import create_app, handling_position
from domain.stock import apply_stock, fold_result, hold_key
from streams.commands import CommitStock, ReleaseStock, ReserveStock, SetStock, StockResult
from streams.events import Message, OrderConfirmed, OrderFailed, OrderPlaced
from streams.topics import INVENTORY_EVENTS, ORDER_EVENTS, STOCK_COMMANDS, STOCK_RESULTS
from tables.stock import holds_table, reservations_table, stock_table
from web.inventory import register_inventory_views
from web.ops import register_ops_views

app = create_app("inventory")
stock = stock_table(app)
holds = holds_table(stock)  # entries of the stock table: see tables/stock.py
reservations = reservations_table(app)

LINE_COMMAND = {OrderPlaced: ReserveStock, OrderConfirmed: CommitStock, OrderFailed: ReleaseStock}


@app.agent(app.catalog_topic(ORDER_EVENTS))
async def split(stream):  # type: ignore[no-untyped-def]
    """For each order event, send one stock command per line to the SKU's partition."""
    await app.process(stream, send_line_commands)


async def send_line_commands(event: Message) -> None:
    await app.emit(STOCK_COMMANDS, *line_commands(event))


def line_commands(event: Message) -> list[Message]:
    command = LINE_COMMAND.get(type(event))
    if command is None:
        return []
    items = event.items  # type: ignore[attr-defined]
    return [command(order_id=event.order_id, sku=line.sku, quantity=line.quantity, lines_total=len(items))
            for line in items]


@app.agent(app.catalog_topic(STOCK_COMMANDS))
async def keep_stock(stream):  # type: ignore[no-untyped-def]
    """For each stock command: apply it to the SKU and its hold, answer per line."""
    await app.process(stream, apply_command)


async def apply_command(command: Message) -> None:
    sku = command.sku  # type: ignore[attr-defined]
    key = hold_key(sku, command.order_id)
    level_before, hold_before = stock.get(sku), None if isinstance(command, SetStock) else holds.get(key)
    level, hold, answer = apply_stock(level_before, hold_before, command, handling_position())
    if answer is not None:  # sent first: a crash before the store re-answers the same
        await send_answer(answer)
    again = app.replaying()  # found applied, perhaps in RocksDB only: written again (ServiceApp.replaying)
    if level is not level_before or again:  # the level, then the hold: apply_stock relies on that order
        stock.put(sku, level)
    if hold is not None and (hold is not hold_before or again):
        holds.put(key, hold)


async def send_answer(answer: StockResult) -> None:
    """A line of a longer order goes to be gathered; a one-line order's answer is folded at once.

    The fold is ``collect``'s own, from nothing: a repeated command announces the outcome again,
    as a repeated answer would not, and every reader of ``inventory-events`` ignores a repeat."""
    if answer.lines_total == 1:
        _, events = fold_result(None, answer)
        await app.emit(INVENTORY_EVENTS, *events)
    else:
        await app.emit(STOCK_RESULTS, answer)


@app.agent(app.catalog_topic(STOCK_RESULTS))
async def collect(stream):  # type: ignore[no-untyped-def]
    """For each per-SKU answer: fold it into the order's reservation, announce the outcome once."""
    await app.process(stream, fold_answer)


async def fold_answer(result: StockResult) -> None:
    before = reservations.get(result.order_id)
    state, events = fold_result(before, result)
    await app.emit(INVENTORY_EVENTS, *events)
    if not state.settled:
        reservations.put(result.order_id, state)
    elif before is not None:
        reservations.delete(result.order_id)  # a tombstone instead of the last write: no record more


register_ops_views(app)
register_inventory_views(app, stock, holds)
