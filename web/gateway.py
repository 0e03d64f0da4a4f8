"""The API gateway's views: the shoppers' HTTP API of DESIGN.md, in front of the services.

Every cart, checkout and order call names its shopper by a signed token
(:mod:`web.sessions`); a shopper sees and changes only his own things. The shoppers'
pages are in :mod:`web.pages`; ``GET /checkout`` is here because it shares its path
with the checkout API.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from faust.web import Request, Response

from adapters.services import ServiceClient
from adapters.shoppers import ClaimOutcome, ShopperStore
from domain.cart import price_cart
from domain.catalog import PRODUCTS
from domain.checkout import CheckoutBody, place_order
from domain.errors import BadRequest, EmptyCart, Forbidden, IdempotencyInFlight, IdempotencyMismatch, Unauthorized
from domain.sessions import (CodeBody, GuestBody, SignInBody, code_digest, codes_match, fingerprint,
                             new_order_id, new_signin_code, new_user_id, normalize_email)
from web.base import ApiView, parse_json, parse_model, read_body
from web.pages import SECURITY_HEADERS, checkout_page
from web.sessions import Identity, owned_order

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["register_gateway_views", "product_list"]

#: most orders ``GET /orders`` lists
ORDERS_LISTED = 50


async def product_list(services: ServiceClient) -> list[dict[str, Any]]:
    """The catalog with what is available of each product now (``GET /products``)."""
    inventory = services.to("inventory")
    stock = await asyncio.gather(*(inventory.get(f"/stock/{p.sku}") for p in PRODUCTS))
    return [{"sku": p.sku, "name": p.name, "price_paise": p.price_paise, "available": s["available"]}
            for p, s in zip(PRODUCTS, stock)]


def register_gateway_views(app: "ServiceApp", store: ShopperStore, identity: Identity,
                           services: ServiceClient) -> None:
    cart = services.to("cart")
    orders = services.to("orders")
    notification = services.to("notification")
    settings = app.settings

    @app.page("/products")
    class Products(ApiView):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            await identity.limit_address(request)
            return self.json(await product_list(services))

    @app.page("/session")
    class Session(ApiView):
        async def post(self, request: Request, **kwargs: Any) -> Response:
            """``{}``: a new guest shopper; ``{email, code}``: the shopper of that email, signed in."""
            data = parse_json(await read_body(request, settings.max_body_bytes))
            if isinstance(data, dict) and ("email" in data or "code" in data):
                await identity.limit_address(request, settings.rate_limit_signin_address, "signin_address")
                body = parse_model(SignInBody, data)
                email = normalize_email(body.email)
                if not await store.use_code(email, lambda d: codes_match(d, settings.session_secret, email,
                                                                         body.code)):
                    raise Unauthorized("that code is wrong, used or expired; ask for a new one",
                                       {"field": "code"})
                session = identity.issue(await store.shopper_for_email(email, new_user_id()), "email")
            else:
                await identity.limit_address(request, settings.rate_limit_session, "session")
                parse_model(GuestBody, data)
                session = identity.guest()
            return self.json(session.body(), status=201, headers={"Set-Cookie": identity.cookie(session),
                                                                  "Cache-Control": "no-store"})

    @app.page("/session/code")
    class SignInCode(ApiView):
        async def post(self, request: Request, **kwargs: Any) -> Response:
            """Mail a one-time code; the answer is the same whoever the email belongs to."""
            await identity.limit_address(request, settings.rate_limit_signin_address, "signin_address")
            body = await self.body(request, CodeBody)
            email = normalize_email(body.email)
            await identity.limit_signin(email)
            code = new_signin_code()
            await store.put_code(email, code_digest(settings.session_secret, email, code))
            await notification.post("/signin-codes", {"email": email, "code": code,
                                                      "valid_minutes": settings.signin_code_ttl_s // 60})
            return self.json({"sent": True, "expires_in_s": settings.signin_code_ttl_s}, status=202)

    @app.page("/cart/{user_id}")
    class Cart(ApiView):
        async def get(self, request: Request, user_id: str) -> Response:
            await identity.shopper(request, user_id)
            return self.json(await cart.get(f"/cart/{user_id}"))

    @app.page("/cart/{user_id}/items/{sku}")
    class CartLine(ApiView):
        async def put(self, request: Request, user_id: str, sku: str) -> Response:
            return await self._forward("PUT", request, user_id, sku)

        async def delete(self, request: Request, user_id: str, sku: str) -> Response:
            return await self._forward("DELETE", request, user_id, sku)

        async def _forward(self, method: str, request: Request, user_id: str, sku: str) -> Response:
            await identity.shopper(request, user_id)
            raw = await read_body(request, settings.max_body_bytes)
            status, body = await cart.request(method, f"/cart/{user_id}/items/{quote(sku, safe='')}",
                                              json=parse_json(raw) if raw else None)
            return self.json(body, status=status)

    @app.page("/checkout")
    class Checkout(ApiView):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            """The checkout page (HTML); the browser fills in the cart."""
            shopper, cookie = identity.page_shopper(request)
            return self.html(checkout_page(app.settings, shopper.user_id),
                             headers={**SECURITY_HEADERS, **cookie, "Cache-Control": "no-store"})

        async def post(self, request: Request, **kwargs: Any) -> Response:
            shopper = await identity.shopper(request)
            key = request.headers.get("Idempotency-Key", "").strip()
            if not 1 <= len(key) <= 255:
                raise BadRequest("the Idempotency-Key header is required (1-255 characters)",
                                 {"header": "Idempotency-Key"})
            data = parse_json(await read_body(request, settings.max_body_bytes))
            if isinstance(data, dict) and data.get("user_id") not in (None, shopper.user_id):
                raise Forbidden("a shopper checks out only his own cart", {"field": "user_id"})
            body = parse_model(CheckoutBody, data)
            # the key is held for as long as the checkout's two calls can take; a retry after a gateway
            # crash takes it over then, with the same order id, so it cannot place a second order
            lease_s = 2 * settings.http_timeout_s + 1
            claim = await store.claim(shopper.user_id, key, fingerprint("POST", "/checkout", data),
                                      new_order_id(), lease_s)
            if claim.outcome is ClaimOutcome.MISMATCH:
                raise IdempotencyMismatch("this Idempotency-Key was used for another checkout; use a new key",
                                          {"header": "Idempotency-Key"})
            if claim.outcome is ClaimOutcome.IN_FLIGHT:
                raise IdempotencyInFlight("a checkout with this Idempotency-Key is still running; retry shortly",
                                          {"header": "Idempotency-Key"})
            if claim.outcome is ClaimOutcome.REPLAY:
                assert claim.record.answer is not None
                return self.json(claim.record.answer, status=202, headers={"Idempotent-Replayed": "true"})
            try:
                answer = await place(shopper.user_id, claim.record.order_id, body)
            except BaseException:
                await store.release(shopper.user_id, key, claim.record)
                raise
            await store.finish(shopper.user_id, key, claim.record, answer)
            return self.json(answer, status=202)

    async def place(user_id: str, order_id: str, body: CheckoutBody) -> dict[str, Any]:
        """Create the order from the cart, or find it when an earlier try of this key placed it."""
        current = await cart.get(f"/cart/{user_id}")
        lines = price_cart({i["sku"]: i["quantity"] for i in current["items"]})
        if not lines:
            # an earlier try of this key placed the order and the cart was emptied: that order
            status, existing = await orders.request("GET", f"/orders/{order_id}?wait=0")
            if status == 200:
                return {"order_id": order_id, "status": existing["status"]}
            raise EmptyCart("the cart is empty: add a product before checking out", {"user_id": user_id})
        # a repeat of the same order id is ignored by its owner, so a retried key is one order
        placed = await orders.post("/orders", place_order(order_id, user_id, body, lines).model_dump(mode="json"))
        app.event_log.info("checkout", extra={"fields": {"service": "gateway", "order_id": order_id,
                                                         "user_id": user_id, "lines": len(lines)}})
        return {"order_id": placed["order_id"], "status": placed["status"]}

    @app.page("/orders")
    class Orders(ApiView):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            """The signed-in shopper's orders, newest first."""
            shopper = await identity.shopper(request)
            ids = await store.order_ids(shopper.user_id, ORDERS_LISTED)
            found = await asyncio.gather(*(orders.request("GET", f"/orders/{oid}") for oid in ids))
            listed = [body for status, body in found if status == 200 and body.get("user_id") == shopper.user_id]
            return self.json({"user_id": shopper.user_id, "orders": listed})

    @app.page("/orders/{order_id}")
    class Order(ApiView):
        async def get(self, request: Request, order_id: str) -> Response:
            shopper = await identity.shopper(request)
            return self.json(await owned_order(orders, order_id, shopper.user_id))

