"""The gateway's API as an OpenAPI 3.1 document, served at ``/openapi.json``.

The request bodies are the pydantic models the views parse them with
(``Model.model_json_schema``, their ``$defs`` collected into ``components.schemas``), so a
field added to a model shows up here by itself. The answers are written out by hand from
the functions that build them (:func:`domain.cart.cart_body`, :func:`web.orders.order_body`,
:meth:`web.sessions.Session.body`, :func:`web.errors.error_body`), with their enums taken
from the code (the error codes from the tree, :mod:`domain.errors`). The statuses are what
the views answer (``web/gateway.py``, ``web/pages.py``, ``web/order_stream.py``,
``web/ops.py``, ``web/base.py``, ``web/errors.py``). ``tests/unit/test_openapi.py`` keeps the
document true: every route the gateway registers is in it and nothing else, the bodies the
code builds match their schemas; ``tests/integration/test_openapi.py`` runs schemathesis
against a running gateway with it.

Not documented: the shoppers' HTML pages (``/``, ``GET /checkout``,
``/orders/{order_id}/confirmation``), ``/static/{name}``, ``HEAD`` (aiohttp adds it to every
route) and Faust's own web views.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response
from pydantic import BaseModel

from domain import errors
from domain.cart import USER_ID, QuantityBody
from domain.catalog import PRODUCTS
from domain.checkout import CheckoutBody
from domain.orders import OrderStatus
from domain.sessions import CodeBody, GuestBody, SignInBody
from streams.events import Address, FailureReason
from web.base import ApiView
from web.sessions import COOKIE

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["openapi_document", "error_codes", "register_openapi_view", "OPENAPI_VERSION"]

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
JSON = "application/json"
#: the code of one of Faust's own web errors (``ApiView.on_request_error``), which is no class of the tree
WEB_ERROR_CODE = "http_error"
#: an example of a checkout that goes through (ravi@okhdfc is approved by the UPI simulator)
CHECKOUT_EXAMPLE: dict[str, Any] = {
    "payment": {"method": "UPI", "vpa": "ravi@okhdfc"},
    "shipping_address": {"name": "Ravi Kumar", "line": "12 MG Road, Karol Bagh", "city": "New Delhi",
                         "state": "Delhi", "pincode": "110005", "phone": "+919812345678"},
}

#: the cart, checkout and order calls: the token as a Bearer header, or the pages' cookie
SIGNED_IN: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"cookieAuth": []}]
PUBLIC: list[dict[str, list[str]]] = []


def error_codes() -> list[str]:
    """Every ``error.code`` the API can answer: those of the tree's classes, Faust's own, then a
    service's 4xx without a code of its own (a :class:`~domain.errors.Refused` passes on the
    other service's code, one of these, or this default)."""
    tree = [cls for cls in (getattr(errors, name) for name in errors.__all__)
            if isinstance(cls, type) and issubclass(cls, errors.MegatronError)]
    codes = [cls.code for cls in tree if cls is not errors.Refused]
    return list(dict.fromkeys([*codes, WEB_ERROR_CODE, errors.Refused.code]))


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


class _Components:
    """``components.schemas``, filled from pydantic models and by hand; a name means one schema."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def add(self, name: str, schema: dict[str, Any]) -> dict[str, str]:
        if self.schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two different schemas are both named {name!r}")
        return _ref(name)

    def model(self, model: type[BaseModel]) -> dict[str, str]:
        """``model``'s JSON schema as a component (its ``$defs`` too), and a reference to it."""
        schema = model.model_json_schema(ref_template=REF)
        for name, sub in schema.pop("$defs", {}).items():
            self.add(name, sub)
        return self.add(model.__name__, schema)


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return _json(_ref("Error"), description, **extra)


def _retry_after(required: bool = True) -> dict[str, Any]:
    return {"Retry-After": {"$ref": "#/components/headers/RetryAfter"} if required else
            {"description": "Seconds to wait before trying again, when the answer carries it.",
             "schema": {"type": "integer", "minimum": 0}}}


def _reused(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _schemas(c: _Components) -> None:
    """The answers' schemas, from the functions that build them."""
    integer_paise = {"type": "integer", "minimum": 0, "description": "paise (1/100 rupee)"}
    c.add("OrderStatus", {"type": "string", "enum": [s.value for s in OrderStatus]})
    c.add("FailureReason", {"type": "string", "enum": [r.value for r in FailureReason]})
    c.add("Error", {
        "type": "object", "additionalProperties": False, "required": ["error"],
        "description": "Every error answer (web.errors.error_body).",
        "properties": {"error": {
            "type": "object", "additionalProperties": False, "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "enum": error_codes()},
                "message": {"type": "string", "description": "what went wrong, for a person"},
                "details": {"type": ["object", "array"],
                            "description": "what a client can act on: e.g. the field, header or limit; for a "
                                           "body that does not validate, a list of {field, problem}"},
            },
        }},
    })
    c.add("Health", {
        "type": "object", "required": ["service", "ready", "checks"],
        "properties": {"service": {"type": "string"}, "ready": {"type": "boolean"},
                       "checks": {"type": "object", "additionalProperties": {"type": "boolean"},
                                  "description": "each dependency (cart, orders, inventory, redis) and this "
                                                 "worker's own readiness"},
                       "startup_s": {"type": "object", "additionalProperties": {"type": "number"},
                                     "description": "seconds of each phase of this worker's start that ended "
                                                    "(start, join, restore, resume) and their total"}},
    })
    c.add("Product", {
        "type": "object", "required": ["sku", "name", "price_paise", "available"],
        "properties": {"sku": {"type": "string"}, "name": {"type": "string"}, "price_paise": integer_paise,
                       "available": {"type": "integer", "description": "units on hand, not reserved"}},
    })
    c.add("Session", {
        "type": "object", "required": ["token", "user_id", "expires_at"],
        "description": "A token just issued (web.sessions.Session.body); the same token is set as the cookie.",
        "properties": {"token": {"type": "string", "minLength": 1, "description": "a JWT for the Authorization "
                                                                                   "header: `Bearer <token>`"},
                       "user_id": {"type": "string", "pattern": USER_ID.pattern},
                       "expires_at": {"type": "string", "format": "date-time"}},
    })
    c.add("CodeSent", {
        "type": "object", "required": ["sent", "expires_in_s"],
        "properties": {"sent": {"const": True}, "expires_in_s": {"type": "integer", "minimum": 1}},
    })
    c.add("PricedLine", {
        "type": "object", "required": ["sku", "name", "unit_price_paise", "quantity", "line_total_paise"],
        "properties": {"sku": {"type": "string"}, "name": {"type": "string"}, "unit_price_paise": integer_paise,
                       "quantity": {"type": "integer", "minimum": 1}, "line_total_paise": integer_paise},
    })
    c.add("Cart", {
        "type": "object", "required": ["user_id", "items", "total_paise"],
        "description": "A cart at catalog prices (domain.cart.cart_body).",
        "properties": {"user_id": {"type": "string"}, "items": {"type": "array", "items": _ref("PricedLine")},
                       "total_paise": integer_paise},
    })
    c.model(Address)
    timestamp = {"type": "string", "format": "date-time"}
    c.add("Order", {
        "type": "object",
        "required": ["order_id", "user_id", "status", "reason", "note", "items", "total_paise", "shipping_address",
                     "history", "created_at", "updated_at"],
        "description": "An order as its shopper sees it (web.orders.order_body).",
        "properties": {
            "order_id": {"type": "string"}, "user_id": {"type": "string"}, "status": _ref("OrderStatus"),
            "reason": {"anyOf": [_ref("FailureReason"), {"type": "null"}], "description": "why it FAILED"},
            "note": {"type": ["string", "null"], "description": "an operator's words, when one cancelled it"},
            "items": {"type": "array", "items": _ref("PricedLine")}, "total_paise": integer_paise,
            "shipping_address": {"anyOf": [_ref("Address"), {"type": "null"}],
                                 "description": "null for an order placed before the checkout carried one"},
            "history": {"type": "array", "items": {
                "type": "object", "required": ["status", "at"],
                "properties": {"status": _ref("OrderStatus"), "at": timestamp}}},
            "created_at": timestamp, "updated_at": timestamp,
        },
    })
    c.add("OrderList", {
        "type": "object", "required": ["user_id", "orders"],
        "properties": {"user_id": {"type": "string"},
                       "orders": {"type": "array", "items": _ref("Order"), "description": "newest first"}},
    })
    c.add("OrderAccepted", {
        "type": "object", "required": ["order_id", "status"],
        "properties": {"order_id": {"type": "string", "description": "random, 32 hex digits"},
                       "status": {**_ref("OrderStatus"),
                                  "description": "CREATED; a replay of a key whose order went on says where it is"}},
    })
    c.add("OrderEvent", {
        "type": "object", "required": ["event", "data"],
        "description": "One Server-Sent Event of the stream: `event: order`, `id:` the order's version, `data:` "
                       "the order as JSON. Comment lines (heartbeats) and a `retry:` line carry no event.",
        "properties": {"event": {"const": "order"}, "id": {"type": "string"}, "retry": {"type": "integer"},
                       "data": {"type": "string", "contentMediaType": JSON, "contentSchema": _ref("Order")}},
    })


def _operations(c: _Components) -> dict[str, Any]:
    user_id = {"name": "user_id", "in": "path", "required": True,
               "description": "the shopper: must be the token's (else 403)",
               "schema": {"type": "string", "pattern": USER_ID.pattern}, "example": "u-0123456789abcdef"}
    sku = {"name": "sku", "in": "path", "required": True,
           "description": "a catalog SKU; any other is 400 unknown_sku",
           "schema": {"type": "string", "examples": [p.sku for p in PRODUCTS]}, "example": PRODUCTS[0].sku}
    order_id = {"name": "order_id", "in": "path", "required": True,
                "description": "as POST /checkout answered it; another shopper's order is 404 like a missing one",
                "schema": {"type": "string"}, "example": "0123456789abcdef0123456789abcdef"}
    idempotency_key = {"name": "Idempotency-Key", "in": "header", "required": True,
                       "description": "one key per checkout attempt (Stripe's semantics, scoped to the shopper): "
                                      "the same key and body answer the first answer again, another body 422, "
                                      "while the first is still running 409; kept at least 24 h",
                       "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "\\S",
                                  "description": "1-255 characters once surrounding spaces are stripped"}}
    cart = _json(_ref("Cart"), "The cart.")
    cart_400 = _error("Malformed JSON, a body that is not {quantity}, a quantity out of range (0 to the "
                      "line limit), too many lines, or an unknown SKU (validation_failed, bad_request, unknown_sku).")
    signed_in = {"401": _reused("Unauthorized"), "429": _reused("RateLimited"), "503": _reused("Unavailable")}
    cart_errors = {"401": _reused("Unauthorized"), "403": _error("Another shopper's cart (forbidden)."),
                   "429": _reused("RateLimited"), "503": _reused("Unavailable")}

    def op(operation_id: str, tag: str, summary: str, security: list[Any], responses: dict[str, Any],
           **extra: Any) -> dict[str, Any]:
        return {"operationId": operation_id, "tags": [tag], "summary": summary, "security": security,
                **extra, "responses": dict(sorted(responses.items()))}

    return {
        "/health": {"get": op(
            "getHealth", "ops", "Readiness of the gateway and its dependencies", PUBLIC,
            {"200": _json(_ref("Health"), "Ready."),
             "503": _json(_ref("Health"), "Not ready: a dependency does not answer or this worker is starting.")})},
        "/metrics": {"get": op(
            "getMetrics", "ops", "Prometheus metrics of this worker", PUBLIC,
            {"200": {"description": "Prometheus text exposition format.",
                     "content": {"text/plain": {"schema": {"type": "string"}}}}})},
        "/products": {"get": op(
            "listProducts", "catalog", "The catalog with what is available now", PUBLIC,
            {"200": _json({"type": "array", "items": _ref("Product")}, "The products, in catalog order."),
             "429": _reused("RateLimited"), "503": _reused("Unavailable")})},
        "/session": {"post": op(
            "createSession", "session", "A new guest session, or a sign-in with a mailed code", PUBLIC,
            {"201": _json(_ref("Session"), "The session; its token is also set as the pages' cookie.",
                          headers={"Set-Cookie": {"description": f"`{COOKIE}=<token>`; HttpOnly; SameSite=Lax",
                                                  "required": True, "schema": {"type": "string"}}}),
             "400": _error("Malformed JSON, not an object, or a field wrong or unknown (bad_request, "
                           "validation_failed)."),
             "401": _reused("Unauthorized"),
             "413": _reused("PayloadTooLarge"), "429": _reused("RateLimited"), "503": _reused("Unavailable")},
            description="`{}` starts a guest shopper with a server-chosen id. `{email, code}` signs in with the "
                        "code mailed by POST /session/code: the same email is the same shopper on every device "
                        "(401 when the code is wrong, used or expired).",
            requestBody={"required": True, "content": {JSON: {
                "schema": {"oneOf": [c.model(GuestBody), c.model(SignInBody)]},
                "examples": {"guest": {"value": {}},
                             "signIn": {"value": {"email": "ravi@example.com", "code": "123456"}}}}}})},
        "/session/code": {"post": op(
            "sendSignInCode", "session", "Mail a one-time sign-in code", PUBLIC,
            {"202": _json(_ref("CodeSent"), "Sent (the same answer whoever the email belongs to)."),
             "400": _error("Malformed JSON, not an object, or not an email (bad_request, validation_failed)."),
             "413": _reused("PayloadTooLarge"), "429": _reused("RateLimited"), "503": _reused("Unavailable")},
            requestBody={"required": True, "content": {JSON: {"schema": c.model(CodeBody),
                                                              "example": {"email": "ravi@example.com"}}}})},
        "/cart/{user_id}": {"parameters": [user_id], "get": op(
            "getCart", "cart", "The shopper's cart", SIGNED_IN, {"200": cart, **cart_errors})},
        "/cart/{user_id}/items/{sku}": {
            "parameters": [user_id, sku],
            "put": op("setCartLine", "cart", "Set a line's quantity (0 removes it)", SIGNED_IN,
                      {"200": cart, "400": cart_400, "413": _reused("PayloadTooLarge"), **cart_errors},
                      requestBody={"required": True, "content": {JSON: {"schema": c.model(QuantityBody),
                                                                        "example": {"quantity": 1}}}}),
            "delete": op("removeCartLine", "cart", "Remove a line", SIGNED_IN,
                         {"200": cart, "400": _error("An unknown SKU (unknown_sku), or a body sent that is not "
                                                     "JSON (bad_request)."),
                          "413": _reused("PayloadTooLarge"), **cart_errors}),
        },
        "/checkout": {"post": op(
            "checkout", "checkout", "Create the order from the cart", SIGNED_IN,
            {"202": _json(_ref("OrderAccepted"), "The order is created; it goes on by events.",
                          headers={"Idempotent-Replayed": {
                              "description": "`true` when this is the first answer to this key, again",
                              "schema": {"type": "string", "enum": ["true"]}}},
                          links={"order": {"operationId": "getOrder",
                                           "parameters": {"order_id": "$response.body#/order_id"}},
                                 "orderEvents": {"operationId": "streamOrderEvents",
                                                 "parameters": {"order_id": "$response.body#/order_id"}}}),
             "400": _error("No or a too long Idempotency-Key, malformed JSON, a field wrong, out of range or "
                           "unknown, or an empty cart (bad_request, validation_failed, empty_cart)."),
             "403": _error("A user_id in the body that is not the token's shopper (forbidden)."),
             "409": _error("The first request with this Idempotency-Key is still running "
                           "(idempotency_key_in_flight).", headers=_retry_after()),
             "413": _reused("PayloadTooLarge"),
             "422": _error("This Idempotency-Key was used with another body (idempotency_key_reused)."),
             **signed_in},
            parameters=[idempotency_key],
            requestBody={"required": True, "content": {JSON: {"schema": c.model(CheckoutBody),
                                                              "example": CHECKOUT_EXAMPLE}}})},
        "/orders": {"get": op(
            "listOrders", "orders", "The signed-in shopper's orders, newest first", SIGNED_IN,
            {"200": _json(_ref("OrderList"), "The orders (at most 50)."), **signed_in})},
        "/orders/{order_id}": {"parameters": [order_id], "get": op(
            "getOrder", "orders", "One of the shopper's orders", SIGNED_IN,
            {"200": _json(_ref("Order"), "The order."),
             "404": _error("No such order, or another shopper's (unknown_order)."), **signed_in})},
        "/orders/{order_id}/events": {"parameters": [order_id], "get": op(
            "streamOrderEvents", "orders", "The order's live status as Server-Sent Events", SIGNED_IN,
            {"200": {"description": "The order now, then once per change until it is final (or the stream's "
                                    "lifetime ends; the browser's EventSource reconnects). The schema is that "
                                    "of one event (as OpenAPI 3.2's itemSchema).",
                     "content": {"text/event-stream": {"schema": _ref("OrderEvent")}}},
             "404": _error("No such order, or another shopper's (unknown_order)."),
             "401": _reused("Unauthorized"), "429": _reused("RateLimited"),
             "503": _error("The order service cannot be reached or is rebalancing (dependency_unavailable); "
                           "an answer relayed from the order service carries no Retry-After.",
                           headers=_retry_after(required=False))},
            parameters=[{"name": "Last-Event-ID", "in": "header", "required": False,
                         "description": "passed on to the order service", "schema": {"type": "string"}}])},
        "/openapi.json": {"get": op(
            "getOpenApi", "ops", "This document", PUBLIC,
            {"200": _json({"type": "object"}, "The OpenAPI document.")})},
    }


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the gateway's JSON API (built once; do not change the answer)."""
    c = _Components()
    _schemas(c)
    paths = _operations(c)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Megatron Store gateway",
            "version": "1.0.0",
            "description": "The shoppers' HTTP API (DESIGN.md, \"HTTP API of the gateway\"). JSON; money in paise, "
                           "integers; currency INR. Every error is `{error: {code, message, details}}`. Cart, "
                           "checkout and order calls need the token of POST /session as `Authorization: Bearer "
                           f"<token>` (the pages send it as the `{COOKIE}` cookie); `{{user_id}}` must be the "
                           "token's shopper.",
        },
        "tags": [{"name": name} for name in ("catalog", "session", "cart", "checkout", "orders", "ops")],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(c.schemas.items())),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                               "description": "the token of POST /session"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": COOKIE,
                               "description": "the same token, as the pages keep it (HttpOnly, SameSite=Lax)"},
            },
            "headers": {"RetryAfter": {"description": "Seconds to wait before trying again.", "required": True,
                                       "schema": {"type": "integer", "minimum": 1}}},
            "responses": {
                "Unauthorized": _error("No token, or a malformed, forged, tampered or expired one (unauthorized); "
                                       "for POST /session, a wrong, used or expired code.",
                                       headers={"WWW-Authenticate": {"required": True, "schema": {"type": "string"},
                                                                     "description": 'Bearer realm="megatron"'}}),
                "RateLimited": _error("Past a rate limit (rate_limited).", headers=_retry_after()),
                "Unavailable": _error("A dependency (Redis, a service) cannot be reached, or this worker is starting "
                                      "(dependency_unavailable).", headers=_retry_after()),
                "PayloadTooLarge": _error("A body over the size limit (payload_too_large)."),
            },
        },
    }


def register_openapi_view(app: "ServiceApp") -> None:
    @app.page("/openapi.json")
    class OpenApi(ApiView):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            return self.json(openapi_document())
