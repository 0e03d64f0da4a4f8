"""A cart priced from the catalog, and the rules for changing one."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from domain.catalog import BY_SKU
from streams.events import Line

__all__ = ["USER_ID", "QuantityBody", "price_cart", "cart_body"]

#: what a user id may look like (path segment, Redis key part)
USER_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class QuantityBody(BaseModel):
    """``PUT /cart/{user_id}/items/{sku}`` body: a whole number, 0 removes the line."""

    model_config = ConfigDict(extra="forbid")

    quantity: StrictInt = Field(ge=0)


def price_cart(lines: dict[str, int]) -> list[Line]:
    """The cart's lines at catalog prices, in catalog order; unknown SKUs are dropped."""
    return [Line(sku=sku, name=BY_SKU[sku].name, unit_price_paise=BY_SKU[sku].price_paise, quantity=qty)
            for sku, qty in sorted(lines.items(), key=lambda kv: list(BY_SKU).index(kv[0]) if kv[0] in BY_SKU else 0)
            if sku in BY_SKU and qty > 0]


def cart_body(user_id: str, lines: list[Line]) -> dict[str, Any]:
    """The public JSON of a cart (DESIGN.md ``GET /cart/{user_id}``)."""
    return {
        "user_id": user_id,
        "items": [{"sku": l.sku, "name": l.name, "unit_price_paise": l.unit_price_paise,
                   "quantity": l.quantity, "line_total_paise": l.line_total_paise} for l in lines],
        "total_paise": sum(l.line_total_paise for l in lines),
    }
