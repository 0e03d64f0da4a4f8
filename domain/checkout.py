"""Turning a shopper's cart into an order: the checkout request and the command.

The order id is random (:func:`domain.sessions.new_order_id`) and the shopper comes from
the token, never from the body.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.address import state_named
from domain.cart import USER_ID
from domain.sessions import EMAIL_PATTERN
from streams.commands import PlaceOrder
from streams.events import Address, Contact, Line, Payment, default_contact

__all__ = ["VPA_PATTERN", "MOBILE_PATTERN", "CheckoutPayment", "CheckoutContact", "ShippingAddress", "CheckoutBody",
           "place_order"]

VPA_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,255}@[A-Za-z][A-Za-z0-9]{1,63}$"
#: an Indian mobile number as a shopper gives it: 10 digits from 6-9, ``+91`` optional
MOBILE_PATTERN = r"^(\+91)?[6-9][0-9]{9}$"
#: no control characters: the address goes on a label, a mail and a MySQL row as it is
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


class CheckoutPayment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["UPI"]
    vpa: str = Field(pattern=VPA_PATTERN, description="UPI address, e.g. ravi@okhdfc")


class CheckoutContact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, pattern=EMAIL_PATTERN, max_length=254)
    phone: str | None = Field(None, pattern=r"^\+?[0-9]{10,15}$")


class ShippingAddress(Address):
    """``shipping_address`` of the checkout, checked before an order is placed with it.

    The same fields as the order's :class:`~streams.events.Address`, stricter: text is
    stripped (runs of spaces and line breaks become one space), the state must be one of
    :data:`domain.address.INDIAN_STATES` and comes out in its usual spelling, and the
    mobile number comes out as ``+91XXXXXXXXXX`` whether or not the shopper typed ``+91``.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100, pattern=_PRINTABLE)
    line: str = Field(min_length=1, max_length=300, pattern=_PRINTABLE, description="house, street, area")
    city: str = Field(min_length=1, max_length=60, pattern=_PRINTABLE)
    state: str = Field(description="a state or union territory of India, e.g. Delhi")
    phone: str = Field(pattern=MOBILE_PATTERN, description="Indian mobile number, e.g. +919812345678")

    @field_validator("name", "line", "city", "state", mode="before")
    @classmethod
    def _one_line(cls, value: Any) -> Any:
        return " ".join(value.split()) if isinstance(value, str) else value

    @field_validator("state")
    @classmethod
    def _known_state(cls, value: str) -> str:
        state = state_named(value)
        if state is None:
            raise ValueError("not a state or union territory of India (use its usual English name, e.g. Delhi)")
        return state

    @field_validator("phone")
    @classmethod
    def _with_country_code(cls, value: str) -> str:
        return value if value.startswith("+91") else f"+91{value}"


class CheckoutBody(BaseModel):
    """``POST /checkout`` body."""

    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(None, pattern=USER_ID.pattern,
                                description="optional; when given it must be the token's shopper (else 403)")
    payment: CheckoutPayment
    shipping_address: ShippingAddress
    contact: CheckoutContact | None = None


def place_order(order_id: str, user_id: str, body: CheckoutBody, lines: list[Line]) -> PlaceOrder:
    """The command that creates the order from the priced cart."""
    contact = body.contact or CheckoutContact()
    return PlaceOrder(
        order_id=order_id, user_id=user_id, items=tuple(lines),
        total_paise=sum(l.line_total_paise for l in lines),
        payment=Payment(method="UPI", vpa=body.payment.vpa),
        contact=Contact(email=contact.email or default_contact(user_id).email, phone=contact.phone),
        # as the order's own model: the order keeps what was checked, not the checking
        shipping_address=Address.model_validate(body.shipping_address.model_dump()),
    )
