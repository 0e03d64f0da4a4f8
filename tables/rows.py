"""How each mirrored table's values become MySQL rows (``orders_db``, ``inventory_db``, ``payment_db``).

Apart from the table factories so that the table catalog (:mod:`tables.catalog`) can name
each table's mirror without building a table, and ``megatron mirror-rebuild`` maps the
states it reads from the changelogs with the very mappers the live mirror uses.
"""

from __future__ import annotations

from domain.orders import Order
from domain.payment import PaymentState
from domain.stock import StockLevel
from streams.events import Address, utcnow
from tables.mirror import MirrorSpec, Row

__all__ = ["SHIP_COLUMNS", "order_rows", "ORDERS_MIRROR", "stock_rows", "STOCK_MIRROR", "payment_rows",
           "PAYMENTS_MIRROR"]


#: ``orders`` columns of the delivery address (migration 0002), by the address field each holds
SHIP_COLUMNS: dict[str, str] = {f"ship_{field}": field for field in ("name", "line", "city", "state", "pincode", "phone")}


def _ship_columns(address: Address | None) -> dict[str, str | None]:
    """One column per field, so analysts group by ``ship_state`` or ``ship_pincode`` in plain SQL;
    all NULL for an order placed before the checkout carried an address."""
    values = address.model_dump() if address is not None else {}
    return {column: values.get(field) for column, field in SHIP_COLUMNS.items()}


def order_rows(order: Order) -> list[Row]:
    """``orders`` and ``order_items`` rows of one order at its version."""
    rows = [Row("orders", ("order_id",), {
        "order_id": order.order_id, "user_id": order.user_id, "status": order.status.value,
        "reason": order.reason.value if order.reason else None, "total_paise": order.total_paise,
        "vpa": order.payment.vpa, "created_at": order.created_at.replace(tzinfo=None),
        "updated_at": order.updated_at.replace(tzinfo=None), **_ship_columns(order.shipping_address),
        "version": order.version,
    })]
    if order.version == 1:  # lines never change after the order is placed
        rows += [Row("order_items", ("order_id", "sku"), {
            "order_id": order.order_id, "sku": line.sku, "name": line.name,
            "unit_price_paise": line.unit_price_paise, "quantity": line.quantity,
            "line_total_paise": line.line_total_paise, "version": 1,
        }) for line in order.items]
    return rows


ORDERS_MIRROR = MirrorSpec("orders_db", order_rows)


def stock_rows(level: StockLevel) -> list[Row]:
    return [Row("stock", ("sku",), {
        "sku": level.sku, "on_hand": level.on_hand, "reserved": level.reserved,
        "updated_at": utcnow().replace(tzinfo=None), "version": level.version,
    })]


STOCK_MIRROR = MirrorSpec("inventory_db", stock_rows)


def payment_rows(state: PaymentState) -> list[Row]:
    return [Row("payments", ("payment_id", "attempt"), {
        "payment_id": state.payment_id, "attempt": a.number, "order_id": state.order_id,
        "status": a.status.value, "amount_paise": state.amount_paise or 0, "vpa": state.vpa or "",
        "gateway_ref": a.gateway_ref, "reason": state.reason.value if state.reason else None,
        "created_at": state.created_at.replace(tzinfo=None), "updated_at": a.at.replace(tzinfo=None),
        "version": state.version,
    }) for a in state.attempts]


PAYMENTS_MIRROR = MirrorSpec("payment_db", payment_rows)
