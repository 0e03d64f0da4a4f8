"""The cart service's views over Redis: read a cart, set or remove a line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faust.web import Request, Response

from adapters.carts import CartStore
from domain.cart import USER_ID, QuantityBody, cart_body, price_cart
from domain.catalog import BY_SKU
from domain.errors import UnknownSku, ValidationFailed
from web.base import ApiView

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["register_cart_views", "check_user_id"]


def check_user_id(user_id: str) -> None:
    if not USER_ID.match(user_id):
        raise ValidationFailed("user_id must be 1-64 letters, digits or . _ @ -",
                               [{"field": "user_id", "problem": "invalid"}])


def register_cart_views(app: "ServiceApp", carts: CartStore) -> None:
    limit = app.settings.max_line_quantity

    async def respond(view: ApiView, user_id: str) -> Response:
        return view.json(cart_body(user_id, price_cart(await carts.lines(user_id))))

    @app.page("/cart/{user_id}")
    class Cart(ApiView):
        async def get(self, request: Request, user_id: str) -> Response:
            check_user_id(user_id)
            return await respond(self, user_id)

    @app.page("/cart/{user_id}/items/{sku}")
    class CartLine(ApiView):
        async def put(self, request: Request, user_id: str, sku: str) -> Response:
            check_user_id(user_id)
            if sku not in BY_SKU:
                raise UnknownSku(f"no product {sku}", {"sku": sku})
            body = await self.body(request, QuantityBody)
            if body.quantity > limit:
                raise ValidationFailed(f"quantity must be at most {limit}",
                                       [{"field": "quantity", "problem": f"greater than {limit}"}])
            lines = await carts.lines(user_id)
            if body.quantity and sku not in lines and len(lines) >= app.settings.max_cart_lines:
                raise ValidationFailed(f"a cart holds at most {app.settings.max_cart_lines} products",
                                       [{"field": "sku", "problem": "too many lines"}])
            await carts.set_quantity(user_id, sku, body.quantity)
            return await respond(self, user_id)

        async def delete(self, request: Request, user_id: str, sku: str) -> Response:
            check_user_id(user_id)
            if sku not in BY_SKU:
                raise UnknownSku(f"no product {sku}", {"sku": sku})
            await carts.set_quantity(user_id, sku, 0)
            return await respond(self, user_id)
