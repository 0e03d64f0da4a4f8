"""Internal commands and per-SKU facts: asks between parts of one service.

Commands ask (``PlaceOrder``, ``ReserveStock``); the stock facts (``StockReserved``)
answer per SKU and are folded into the public ``Inventory*`` events per order.
None of these is in the public catalog; their topics are internal.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from streams.events import Address, Contact, FailureReason, Line, Message, Payment

__all__ = [
    "PlaceOrder", "ExpireOrder", "CancelOrder", "OrderNotified", "OrderCommand", "RetryPayment", "GatewayAnswered", "PaymentCommand", "NotifyOrder", "ReserveStock", "CommitStock", "ReleaseStock", "SetStock",
    "StockCommand", "StockReserved", "StockRejected", "StockReleased", "StockResult",
]


class PlaceOrder(Message):
    """The order service's create view asks its own agent to store a new order."""

    type: Literal["PlaceOrder"] = "PlaceOrder"
    user_id: str
    items: tuple[Line, ...] = Field(min_length=1)
    total_paise: int = Field(ge=0)
    payment: Payment
    contact: Contact
    # None only on a command written before the checkout carried the address (a deploy in flight)
    shipping_address: Address | None = None


class ExpireOrder(Message):
    """The order's deadline passed without a final status: fail it (``TIMED_OUT``) with compensation."""

    type: Literal["ExpireOrder"] = "ExpireOrder"


class CancelOrder(Message):
    """An operator fails a non-final order, with compensation; ``note`` says why."""

    type: Literal["CancelOrder"] = "CancelOrder"
    note: str = Field(min_length=1, max_length=500)


class OrderNotified(Message):
    """The notification service accepted the order's final status: its owner stops handing it on."""

    type: Literal["OrderNotified"] = "OrderNotified"


OrderCommand = Annotated[Union[PlaceOrder, ExpireOrder, CancelOrder, OrderNotified], Field(discriminator="type")]


class RetryPayment(Message):
    """The payment's retry time came: try the gateway again, or settle if its deadline passed."""

    type: Literal["RetryPayment"] = "RetryPayment"


class GatewayAnswered(Message):
    """A UPI gateway call of the payment service came back (or timed out): the payment's owner folds it in.

    The calls run off the partition's path; the answer travels keyed by ``order_id`` so that it
    is folded in the partition that owns the payment, by whichever worker owns it by then.
    ``call`` and ``number`` name the call (a payment numbers its calls), so a late, repeated or
    superseded answer is told from the one the payment waits for. ``answer``: the gateway
    approved what was asked (a charge, a refund), declined it, voided it (a cancel), or gave no answer
    in time."""

    type: Literal["GatewayAnswered"] = "GatewayAnswered"
    call: Literal["charge", "status", "cancel", "refund"]
    number: int = Field(ge=1)
    answer: Literal["APPROVED", "DECLINED", "VOIDED", "TIMEOUT"]
    gateway_ref: str | None = None


PaymentCommand = Annotated[Union[RetryPayment, GatewayAnswered], Field(discriminator="type")]


class NotifyOrder(Message):
    """The order service asks the notification service to tell the shopper a final status."""

    type: Literal["NotifyOrder"] = "NotifyOrder"
    user_id: str
    status: Literal["CONFIRMED", "FAILED"]
    reason: FailureReason | None = None
    total_paise: int
    items: tuple[Line, ...]
    contact: Contact
    shipping_address: Address | None = None  # where a confirmed order goes; None for orders placed before it


class _StockLine(Message):
    """A line of an order sent to the partition that owns its SKU."""

    sku: str
    quantity: int = Field(gt=0)
    lines_total: int = Field(gt=0, description="how many SKUs the order has, to know when all answered")


class ReserveStock(_StockLine):
    type: Literal["ReserveStock"] = "ReserveStock"


class CommitStock(_StockLine):
    """The order is confirmed: the held units leave the shelf."""

    type: Literal["CommitStock"] = "CommitStock"


class ReleaseStock(_StockLine):
    """The order failed: the held units go back to the shelf."""

    type: Literal["ReleaseStock"] = "ReleaseStock"


class SetStock(Message):
    """An operator (or the seed) sets a SKU's on-hand count; ``order_id`` names the request."""

    type: Literal["SetStock"] = "SetStock"
    sku: str
    on_hand: int = Field(ge=0)
    only_if_new: bool = False


StockCommand = Annotated[Union[ReserveStock, CommitStock, ReleaseStock, SetStock], Field(discriminator="type")]


class StockReserved(_StockLine):
    type: Literal["StockReserved"] = "StockReserved"


class StockRejected(_StockLine):
    type: Literal["StockRejected"] = "StockRejected"
    available: int


class StockReleased(_StockLine):
    type: Literal["StockReleased"] = "StockReleased"


StockResult = Annotated[Union[StockReserved, StockRejected, StockReleased], Field(discriminator="type")]
