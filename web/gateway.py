"""The API gateway's views: the shoppers' HTTP API of DESIGN.md, in front of the services.

The shoppers' pages are in :mod:`web.pages`; ``GET /checkout`` is here because it
shares its path with the checkout API.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response

from domain.cart import price_cart
from domain.catalog import PRODUCTS
from domain.checkout import CheckoutBody, order_id_for, place_order
from web.base import ApiView
from web.clients import ServiceClient
from web.errors import BadRequest, EmptyCart
from web.pages import SECURITY_HEADERS, checkout_page

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["register_gateway_views", "product_list"]


async def product_list(app: "ServiceApp") -> list[dict[str, Any]]:
    """The catalog with what is available of each product now (``GET /products``)."""
    inventory = ServiceClient(app, "inventory")
    stock = await asyncio.gather(*(inventory.get(f"/stock/{p.sku}") for p in PRODUCTS))
    return [{"sku": p.sku, "name": p.name, "price_paise": p.price_paise, "available": s["available"]}
            for p, s in zip(PRODUCTS, stock)]


def register_gateway_views(app: "ServiceApp") -> None:
    cart = ServiceClient(app, "cart")
    orders = ServiceClient(app, "orders")

    @app.page("/products")
    class Products(ApiView):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            return self.json(await product_list(app))

    @app.page("/cart/{user_id}")
    class Cart(ApiView):
        async def get(self, request: Request, user_id: str) -> Response:
            return self.json(await cart.get(f"/cart/{user_id}"))

    @app.page("/cart/{user_id}/items/{sku}")
    class CartLine(ApiView):
        async def put(self, request: Request, user_id: str, sku: str) -> Response:
            return await self._forward("PUT", request, f"/cart/{user_id}/items/{sku}")

        async def delete(self, request: Request, user_id: str, sku: str) -> Response:
            return await self._forward("DELETE", request, f"/cart/{user_id}/items/{sku}")

        async def _forward(self, method: str, request: Request, path: str) -> Response:
            raw = await request.read()
            status, body = await cart.request(method, path, json=None) if not raw else \
                await cart.request(method, path, json=_json_or_raise(raw))
            return self.json(body, status=status)

    @app.page("/checkout")
    class Checkout(ApiView):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            """The checkout page (HTML); the browser fills in the cart."""
            return self.html(checkout_page(app.settings), headers=dict(SECURITY_HEADERS))

        async def post(self, request: Request, **kwargs: Any) -> Response:
            key = request.headers.get("Idempotency-Key", "").strip()
            if not 1 <= len(key) <= 128:
                raise BadRequest("the Idempotency-Key header is required (1-128 characters)",
                                 {"header": "Idempotency-Key"})
            body = await self.body(request, CheckoutBody)
            order_id = order_id_for(body.user_id, key)
            current = await cart.get(f"/cart/{body.user_id}")
            lines = price_cart({i["sku"]: i["quantity"] for i in current["items"]})
            if not lines:
                # the same key after the order emptied the cart: the same order, not an error
                status, existing = await orders.request("GET", f"/orders/{order_id}?wait=0")
                if status == 200:
                    return self.json({"order_id": order_id, "status": existing["status"]}, status=202)
                raise EmptyCart("the cart is empty: add a product before checking out",
                                {"user_id": body.user_id})
            # a repeated key with lines still in the cart places the same order id again: the
            # order's owner keeps the first and ignores the repeat, so one key is one order
            placed = await orders.post("/orders", place_order(order_id, body, lines).model_dump(mode="json"))
            app.event_log.info("checkout", extra={"fields": {"service": "gateway", "order_id": order_id,
                                                             "user_id": body.user_id, "lines": len(lines)}})
            return self.json(placed, status=202)

    @app.page("/orders/{order_id}")
    class Order(ApiView):
        async def get(self, request: Request, order_id: str) -> Response:
            status, body = await orders.request("GET", f"/orders/{order_id}")
            return self.json(body, status=status)


def _json_or_raise(raw: bytes) -> Any:
    import json

    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadRequest("request body is not valid JSON", {"error": str(exc)}) from None
