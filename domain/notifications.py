"""What the shopper is told about a final order status, and which messages were already sent."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from domain.address import address_lines
from domain.money import format_inr
from streams.commands import NotifyOrder

__all__ = ["Sent", "compose", "delivery_key"]


class Sent(BaseModel):
    """Messages already delivered for one order, so a repeated command sends nothing twice."""

    model_config = ConfigDict(frozen=True)

    keys: frozenset[str] = frozenset()


def delivery_key(command: NotifyOrder, channel: str) -> str:
    return f"{command.status}:{channel}"


REASONS = {
    "OUT_OF_STOCK": "an item in your order is out of stock",
    "PAYMENT_DECLINED": "your UPI payment was declined",
    "PAYMENT_TIMEOUT": "your UPI payment did not go through in time",
    "TIMED_OUT": "we could not complete it in time",
}


def compose(command: NotifyOrder) -> tuple[str, str, str]:
    """``(subject, email body, sms text)`` for the shopper."""
    short = command.order_id[:8]
    lines = "\n".join(f"  {l.quantity} x {l.name}  {format_inr(l.line_total_paise)}" for l in command.items)
    if command.status == "CONFIRMED":
        subject = f"Megatron Store: order {short} confirmed"
        text = f"Your order {short} is confirmed. Total {format_inr(command.total_paise)}."
    else:
        why = REASONS.get(command.reason.value if command.reason else "", "it could not be completed")
        subject = f"Megatron Store: order {short} failed"
        text = f"Your order {short} failed: {why}. Nothing was charged; your cart is kept."
    body = f"Hello {command.user_id},\n\n{text}\n\n{lines}\n\n{_delivery(command)}Megatron Store"
    return subject, body, text


def _delivery(command: NotifyOrder) -> str:
    """Where a confirmed order goes, for the shopper to check (the SMS stays short and says nothing of it);
    nothing for a failed order, or one placed before the checkout carried an address."""
    if command.status != "CONFIRMED" or command.shipping_address is None:
        return ""
    shown = "\n".join(f"  {line}" for line in address_lines(command.shipping_address.model_dump()))
    return f"Delivering to:\n{shown}\n\n"
