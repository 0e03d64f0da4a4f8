"""Rupee formatting (domain/money.py) and turning a checkout request into PlaceOrder (domain/checkout.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domain.checkout import CheckoutBody, place_order
from domain.money import format_inr
from streams.events import Line

# --- format_inr ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("paise,shown", [
    (79_900_00, "₹79,900.00"),
    (1_14_900_00, "₹1,14,900.00"),
    (5, "₹0.05"),
    (1_00_00_000_00, "₹1,00,00,000.00"),
    (0, "₹0.00"),
    (999_99, "₹999.99"),
    (1_000_00, "₹1,000.00"),
    (12_34_567_89, "₹12,34,567.89"),
    (-79_900_00, "-₹79,900.00"),
])
def test_format_inr_uses_indian_grouping(paise: int, shown: str) -> None:
    """Shoppers read lakhs and crores: groups of 3 then 2, always two paise digits."""
    assert format_inr(paise) == shown


# --- CheckoutBody -------------------------------------------------------------------------------------------


ADDRESS = {"name": "Ravi Kumar", "line": "12 MG Road, Karol Bagh", "city": "New Delhi", "state": "Delhi",
           "pincode": "110005", "phone": "+919812345678"}


def body(**over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {"user_id": "ravi", "payment": {"method": "UPI", "vpa": "ravi@okhdfc"},
                         "shipping_address": ADDRESS}
    b.update(over)
    return b


def test_checkout_body_accepts_a_good_request() -> None:
    """The happy path validates and keeps what was sent."""
    parsed = CheckoutBody.model_validate(body())
    assert parsed.user_id == "ravi" and parsed.payment.vpa == "ravi@okhdfc" and parsed.contact is None


def test_checkout_body_needs_no_user_id() -> None:
    """The shopper comes from the token; a body may leave ``user_id`` out."""
    b = body()
    del b["user_id"]
    assert CheckoutBody.model_validate(b).user_id is None


def test_place_order_takes_the_shopper_it_is_given_not_the_body() -> None:
    """The gateway passes the token's shopper; a ``user_id`` in the body never names the order's owner."""
    cmd = place_order("oid-1", "u-token", CheckoutBody.model_validate(body(user_id="someone-else")), LINES)
    assert cmd.user_id == "u-token" and cmd.contact.email == "u-token@customers.megatron.store"


@pytest.mark.parametrize("vpa", ["ravi", "ravi@", "@okhdfc", "ra vi@okhdfc", "ravi@ok@hdfc", "r@okhdfc",
                                 "ravi@1bank", "", "ravi@o"])
def test_checkout_body_rejects_a_bad_vpa(vpa: str) -> None:
    """A malformed UPI address is a 4xx at the door, not a failed payment later."""
    with pytest.raises(ValidationError) as err:
        CheckoutBody.model_validate(body(payment={"method": "UPI", "vpa": vpa}))
    assert err.value.errors()[0]["loc"] == ("payment", "vpa")


@pytest.mark.parametrize("method", ["CARD", "upi", "NETBANKING", None])
def test_checkout_body_rejects_a_non_upi_method(method: Any) -> None:
    """Only UPI is offered."""
    with pytest.raises(ValidationError) as err:
        CheckoutBody.model_validate(body(payment={"method": method, "vpa": "ravi@okhdfc"}))
    assert err.value.errors()[0]["loc"] == ("payment", "method")


@pytest.mark.parametrize("bad", [
    body(coupon="FREE"),
    body(payment={"method": "UPI", "vpa": "ravi@okhdfc", "pin": "1234"}),
    body(contact={"email": "ravi@example.com", "fax": "1"}),
])
def test_checkout_body_rejects_extra_fields(bad: dict[str, Any]) -> None:
    """Unknown fields are refused, so a typo is reported instead of silently ignored."""
    with pytest.raises(ValidationError) as err:
        CheckoutBody.model_validate(bad)
    assert any(e["type"] == "extra_forbidden" for e in err.value.errors())


@pytest.mark.parametrize("user_id", ["", "a b", "x" * 65, "ravi/../admin"])
def test_checkout_body_rejects_a_bad_user_id(user_id: str) -> None:
    """user_id ends up in keys and paths; only the safe alphabet is accepted."""
    with pytest.raises(ValidationError):
        CheckoutBody.model_validate(body(user_id=user_id))


# --- place_order --------------------------------------------------------------------------------------------

LINES = [
    Line(sku="IPHONE-15", name="iPhone 15", unit_price_paise=79_900_00, quantity=1),
    Line(sku="LAPTOP", name="Laptop", unit_price_paise=64_990_00, quantity=2),
]


def test_place_order_totals_the_lines() -> None:
    """The order total is the sum of the priced lines, in paise."""
    cmd = place_order("oid-1", "ravi", CheckoutBody.model_validate(body()), LINES)
    assert cmd.total_paise == 79_900_00 + 2 * 64_990_00 == 2_09_880_00
    assert cmd.items == tuple(LINES)
    assert cmd.order_id == "oid-1" and cmd.user_id == "ravi"
    assert cmd.payment.method == "UPI" and cmd.payment.vpa == "ravi@okhdfc"


def test_place_order_defaults_the_contact_email() -> None:
    """Without a contact the shopper is still notified at a derived address."""
    cmd = place_order("oid-1", "ravi", CheckoutBody.model_validate(body()), LINES)
    assert cmd.contact.email == "ravi@customers.megatron.store" and cmd.contact.phone is None


def test_place_order_keeps_a_given_contact() -> None:
    """A contact sent with the checkout is the one notified."""
    b = CheckoutBody.model_validate(body(contact={"email": "r@example.com", "phone": "+919812345678"}))
    cmd = place_order("oid-1", "ravi", b, LINES)
    assert cmd.contact.email == "r@example.com" and cmd.contact.phone == "+919812345678"


def test_place_order_refuses_an_empty_cart() -> None:
    """An order needs at least one line."""
    with pytest.raises(ValidationError):
        place_order("oid-1", "ravi", CheckoutBody.model_validate(body()), [])
