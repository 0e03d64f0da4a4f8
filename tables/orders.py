"""The order service's table: one :class:`~domain.orders.Order` per ``order_id``, mirrored to ``orders_db``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.orders import Order
from streams.events import Address
from tables.mirror import MirrorSpec, Row
from tables.model_table import ModelTable

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["SHIP_COLUMNS", "order_rows", "ORDERS_MIRROR", "orders_table"]


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


def orders_table(app: "ServiceApp") -> ModelTable[Order]:
    return app.model_table("orders", Order, help="Orders by order_id: status, lines, history.",
                           mirror=ORDERS_MIRROR)
