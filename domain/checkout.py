"""Turning a shopper's cart into an order: the checkout request, the order id, the command."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from streams.commands import PlaceOrder
from streams.events import Contact, Line, Payment, default_contact

__all__ = ["VPA_PATTERN", "CheckoutPayment", "CheckoutContact", "CheckoutBody", "order_id_for", "place_order"]

VPA_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,255}@[A-Za-z][A-Za-z0-9]{1,63}$"
_ORDER_NAMESPACE = uuid.UUID("6f1c3f52-8a57-4c4e-9d8e-0d5d7c9f3a10")


class CheckoutPayment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["UPI"]
    vpa: str = Field(pattern=VPA_PATTERN, description="UPI address, e.g. ravi@okhdfc")


class CheckoutContact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$")
    phone: str | None = Field(None, pattern=r"^\+?[0-9]{10,15}$")


class CheckoutBody(BaseModel):
    """``POST /checkout`` body."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    payment: CheckoutPayment
    contact: CheckoutContact | None = None


def order_id_for(user_id: str, idempotency_key: str) -> str:
    """The same shopper and key always name the same order, so a retried checkout finds it."""
    return uuid.uuid5(_ORDER_NAMESPACE, f"{user_id}\n{idempotency_key}").hex


def place_order(order_id: str, body: CheckoutBody, lines: list[Line]) -> PlaceOrder:
    """The command that creates the order from the priced cart."""
    contact = body.contact or CheckoutContact()
    return PlaceOrder(
        order_id=order_id, user_id=body.user_id, items=tuple(lines),
        total_paise=sum(l.line_total_paise for l in lines),
        payment=Payment(method="UPI", vpa=body.payment.vpa),
        contact=Contact(email=contact.email or default_contact(body.user_id).email, phone=contact.phone),
    )
