"""Delivery addresses in India: the states and union territories, and an address as lines of text.

The checkout accepts only the names below (:class:`domain.checkout.ShippingAddress`); the
checkout page offers the same list (``web/templates/checkout.html``, kept equal by a test).
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["INDIAN_STATES", "state_named", "address_lines"]

#: India's 28 states, then its 8 union territories, by their usual English names
INDIAN_STATES: tuple[str, ...] = (
    "Andhra Pradesh", "Arunachal Pradesh", "Assam", "Bihar", "Chhattisgarh", "Goa", "Gujarat", "Haryana",
    "Himachal Pradesh", "Jharkhand", "Karnataka", "Kerala", "Madhya Pradesh", "Maharashtra", "Manipur",
    "Meghalaya", "Mizoram", "Nagaland", "Odisha", "Punjab", "Rajasthan", "Sikkim", "Tamil Nadu", "Telangana",
    "Tripura", "Uttar Pradesh", "Uttarakhand", "West Bengal",
    "Andaman and Nicobar Islands", "Chandigarh", "Dadra and Nagar Haveli and Daman and Diu", "Delhi",
    "Jammu and Kashmir", "Ladakh", "Lakshadweep", "Puducherry",
)

_BY_FOLDED = {" ".join(name.casefold().split()): name for name in INDIAN_STATES}


def state_named(text: str) -> str | None:
    """The state or union territory ``text`` names, in its usual spelling (``"tamil  nadu"`` ->
    ``"Tamil Nadu"``); ``None`` when it names none. Case and spacing are forgiven, spelling is not."""
    return _BY_FOLDED.get(" ".join(text.casefold().split()))


def address_lines(address: Mapping[str, Any]) -> list[str]:
    """The address as it goes on a parcel: name, street, ``city, state PIN``, phone."""
    return [address["name"], address["line"], f"{address['city']}, {address['state']} {address['pincode']}",
            f"Phone {address['phone']}"]
