"""Cart service: shoppers' carts in Redis, served over HTTP; a confirmed order empties its lines."""

from __future__ import annotations

from typing import Any

from adapters.carts import CartStore
from config.app import create_app
from streams.events import Message, OrderConfirmed
from streams.topics import ORDER_EVENTS
from web.cart import register_cart_views
from web.ops import register_ops_views

app = create_app("cart")
carts = app.add_dependency(CartStore(app.settings))


@app.agent(app.catalog_topic(ORDER_EVENTS))
async def empty_on_confirm(stream):  # type: ignore[no-untyped-def]
    """For each confirmed order, take its lines out of the shopper's cart once (a failed order keeps them)."""
    await app.process(stream, empty_cart)


async def empty_cart(event: Message) -> None:
    if isinstance(event, OrderConfirmed):
        await carts.remove(event.user_id, [line.sku for line in event.items], event.order_id)


async def health_check() -> dict[str, Any]:
    return {"redis": await carts.ping()}


app.health_check = health_check  # type: ignore[attr-defined]
register_ops_views(app)
register_cart_views(app, carts)
