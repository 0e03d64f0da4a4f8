"""The public events of the topic catalog: facts that happened, JSON on the wire.

Every event carries ``event_id``, ``type``, ``order_id``, ``occurred_at`` (UTC) and
``schema_version``; analysts replay these, so a field is only ever added, with a
new ``schema_version`` and an upcaster in :mod:`streams.upcasters`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Message", "Event", "Line", "Payment", "Contact", "Address", "FailureReason",
    "OrderPlaced", "OrderConfirmed", "OrderFailed",
    "InventoryReserved", "InventoryFailed", "InventoryReleased",
    "PaymentConfirmed", "PaymentFailed", "NotificationSent", "NotificationFailed",
    "OrderEvent", "InventoryEvent", "PaymentEvent", "NotificationEvent",
    "utcnow", "new_id", "default_contact",
]


def utcnow() -> datetime:
    """Timezone-aware now; every timestamp in the system is UTC."""
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A fresh unique id (events, payments)."""
    return uuid.uuid4().hex


class Message(BaseModel):
    """Base of every event and command: immutable, validated, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(default_factory=new_id)
    order_id: str = Field(min_length=1, max_length=64)
    occurred_at: datetime = Field(default_factory=utcnow)
    schema_version: int = 1


Event = Message  # a fact; commands live in streams.commands


class FailureReason(str, Enum):
    """Why an order failed (the public list of DESIGN.md)."""

    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    PAYMENT_TIMEOUT = "PAYMENT_TIMEOUT"
    TIMED_OUT = "TIMED_OUT"
    CANCELLED = "CANCELLED"  # an operator cancelled it (megatron order-cancel)


class Line(BaseModel):
    """One order line, priced when the order was placed (money in paise)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str
    name: str
    unit_price_paise: int = Field(ge=0)
    quantity: int = Field(gt=0)

    @property
    def line_total_paise(self) -> int:
        return self.unit_price_paise * self.quantity


class Payment(BaseModel):
    """How the shopper pays; only UPI today."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["UPI"] = "UPI"
    vpa: str


class Contact(BaseModel):
    """Where the notification service tells the shopper the result."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: str
    phone: str | None = None


def default_contact(user_id: str) -> Contact:
    """Where a shopper who gave no contact is told: an email named after the user, no SMS."""
    return Contact(email=f"{user_id}@customers.megatron.store")


class Address(BaseModel):
    """Where an order is delivered, as the order carries it (``shipping_address``).

    The checkout checks it strictly (:class:`domain.checkout.ShippingAddress`: a known state,
    the phone normalised); reading it back only checks the shape, so a record written under
    an older list of states or union territories still reads.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    line: str = Field(min_length=1, max_length=300, description="house, street, area")
    city: str = Field(min_length=1, max_length=60)
    state: str = Field(min_length=1, max_length=60, description="a state or union territory of India")
    pincode: str = Field(pattern=r"^[1-9][0-9]{5}$")
    phone: str = Field(pattern=r"^\+91[6-9][0-9]{9}$", description="+91 and the 10-digit mobile number")


class OrderPlaced(Message):
    type: Literal["OrderPlaced"] = "OrderPlaced"
    schema_version: int = 2  # v2 added shipping_address (streams/upcasters.py)
    user_id: str
    items: tuple[Line, ...]
    total_paise: int
    payment: Payment
    contact: Contact
    shipping_address: Address | None = Field(None, description="None only for orders placed before v2")


class OrderConfirmed(Message):
    type: Literal["OrderConfirmed"] = "OrderConfirmed"
    user_id: str
    items: tuple[Line, ...]
    total_paise: int


class OrderFailed(Message):
    type: Literal["OrderFailed"] = "OrderFailed"
    user_id: str
    items: tuple[Line, ...]
    reason: FailureReason


class InventoryReserved(Message):
    type: Literal["InventoryReserved"] = "InventoryReserved"


class InventoryFailed(Message):
    type: Literal["InventoryFailed"] = "InventoryFailed"
    reason: FailureReason = FailureReason.OUT_OF_STOCK
    short_skus: tuple[str, ...] = ()


class InventoryReleased(Message):
    type: Literal["InventoryReleased"] = "InventoryReleased"


class PaymentConfirmed(Message):
    type: Literal["PaymentConfirmed"] = "PaymentConfirmed"
    payment_id: str
    amount_paise: int
    gateway_ref: str


class PaymentFailed(Message):
    type: Literal["PaymentFailed"] = "PaymentFailed"
    payment_id: str
    amount_paise: int
    reason: FailureReason
    gateway_ref: str | None = None


class NotificationSent(Message):
    type: Literal["NotificationSent"] = "NotificationSent"
    channel: Literal["email", "sms"]
    recipient: str
    status: str


class NotificationFailed(Message):
    type: Literal["NotificationFailed"] = "NotificationFailed"
    channel: Literal["email", "sms"]
    recipient: str
    error: str


def _union(*models: type[Message]) -> object:
    return Annotated[Union[models], Field(discriminator="type")]  # type: ignore[valid-type]


OrderEvent = _union(OrderPlaced, OrderConfirmed, OrderFailed)
InventoryEvent = _union(InventoryReserved, InventoryFailed, InventoryReleased)
PaymentEvent = _union(PaymentConfirmed, PaymentFailed)
NotificationEvent = _union(NotificationSent, NotificationFailed)
