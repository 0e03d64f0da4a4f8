"""Bad input on every endpoint gets a 4xx with ``{error: {code, message, details}}`` and writes nothing.

The statuses are DESIGN.md's error table: a malformed body, a field of the wrong type or
out of range, an unknown SKU and an empty cart are all 400 (422 is kept for an
Idempotency-Key reused with another body).
"""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from config.settings import Settings
from tests.helpers import Shopper

pytestmark = pytest.mark.integration


def assert_error(status: int, body: Any, expected_status: int, code: str) -> None:
    assert status == expected_status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code and body["error"]["message"], body


@pytest.fixture
async def shopper(http: aiohttp.ClientSession, settings: Settings) -> Shopper:
    s = Shopper(http, settings)
    assert (await s.set_line("IPHONE-15", 1))[0] == 200
    return s


@pytest.mark.parametrize("quantity", [-1, 1.5, "2", 10**9, None, True, [1], 11])
async def test_bad_quantity_is_refused_and_cart_unchanged(shopper: Shopper, quantity: Any) -> None:
    status, body = await shopper.set_line("IPHONE-15", quantity)
    assert_error(status, body, 400, "validation_failed")
    assert body["error"]["details"], "details name the field"
    _, cart = await shopper.call("GET", f"/cart/{shopper.user_id}")
    assert [(i["sku"], i["quantity"]) for i in cart["items"]] == [("IPHONE-15", 1)]


async def test_quantity_zero_removes_the_line(shopper: Shopper) -> None:
    status, cart = await shopper.set_line("IPHONE-15", 0)
    assert status == 200 and cart["items"] == [] and cart["total_paise"] == 0


async def test_unknown_sku(shopper: Shopper) -> None:
    assert_error(*await shopper.set_line("NOKIA-3310", 1), 400, "unknown_sku")
    assert_error(*await shopper.call("DELETE", f"/cart/{shopper.user_id}/items/NOKIA-3310"), 400, "unknown_sku")


async def test_malformed_and_oversized_json(shopper: Shopper) -> None:
    path = f"/cart/{shopper.user_id}/items/LAPTOP"
    assert_error(*await shopper.call("PUT", path, data=b'{"quantity": 1'), 400, "bad_request")
    assert_error(*await shopper.call("PUT", path, data=b'[1]'), 400, "bad_request")
    big = b'{"quantity": 1, "pad": "' + b"x" * 20000 + b'"}'
    assert_error(*await shopper.call("PUT", path, data=big), 413, "payload_too_large")
    assert_error(*await shopper.call("POST", "/checkout", data=b"{nope", headers={"Idempotency-Key": "k"}),
                 400, "bad_request")
    huge = b'{"payment": {"method": "UPI", "vpa": "' + b"x" * 100_000 + b'@upi"}}'
    assert_error(*await shopper.call("POST", "/checkout", data=huge, headers={"Idempotency-Key": "k2"}),
                 413, "payload_too_large")
    _, cart = await shopper.call("GET", f"/cart/{shopper.user_id}")
    assert [i["sku"] for i in cart["items"]] == ["IPHONE-15"]


async def test_a_user_id_in_the_path_other_than_the_tokens(shopper: Shopper) -> None:
    """The shopper is the token's: any other id in the path, valid or not, is another shopper's cart."""
    assert_error(*await shopper.call("PUT", "/cart/not%20valid!/items/IPHONE-15", {"quantity": 1}), 403, "forbidden")


async def test_checkout_needs_an_idempotency_key(shopper: Shopper) -> None:
    status, body = await shopper.call("POST", "/checkout", shopper.checkout_body())
    assert_error(status, body, 400, "bad_request")


@pytest.mark.parametrize("field,value", [
    ("total_paise", 1), ("status", "CONFIRMED"), ("price_paise", 100), ("items", [{"sku": "IPHONE-15"}]),
    ("order_id", "mine"),
])
async def test_checkout_takes_no_price_status_or_id_from_the_body(shopper: Shopper, settings: Settings,
                                                                  field: str, value: Any) -> None:
    """No mass assignment: a field the server decides is refused, and no order is placed."""
    status, body = await shopper.call("POST", "/checkout", shopper.checkout_body(**{field: value}),
                                      headers={"Idempotency-Key": uuid.uuid4().hex})
    assert_error(status, body, 400, "validation_failed")
    assert field in {d["field"] for d in body["error"]["details"]}, body
    _, listed = await shopper.call("GET", "/orders")
    assert listed["orders"] == [], "nothing was placed"


@pytest.mark.parametrize("payment", [
    {"method": "UPI", "vpa": "no-at-sign"},
    {"method": "UPI", "vpa": "@upi"},
    {"method": "CARD", "vpa": "ravi@upi"},
    {"method": "UPI"},
])
async def test_checkout_with_bad_payment(shopper: Shopper, payment: dict[str, str]) -> None:
    status, body = await shopper.call("POST", "/checkout", {**shopper.checkout_body(), "payment": payment},
                                      headers={"Idempotency-Key": uuid.uuid4().hex})
    assert_error(status, body, 400, "validation_failed")
    assert all(d["field"].startswith("payment") for d in body["error"]["details"]), body


async def test_checkout_of_empty_or_unknown_cart(http: aiohttp.ClientSession, settings: Settings) -> None:
    nobody = Shopper(http, settings)
    assert_error(*await nobody.checkout(), 400, "empty_cart")


async def test_unknown_order(http: aiohttp.ClientSession, settings: Settings) -> None:
    shopper = Shopper(http, settings)
    assert_error(*await shopper.call("GET", f"/orders/{uuid.uuid4().hex}"), 404, "unknown_order")
