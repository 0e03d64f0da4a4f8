"""Upcasters: bring an event written by an older ``schema_version`` to today's shape.

The topics keep their history, so a reader (an agent after a redelivery, ``megatron
replay`` years later) meets every version the project ever wrote. A field is only ever
added to an event, with a new ``schema_version`` and one upcaster here, registered for
the ``(type, version)`` it reads; each step returns the next version's raw JSON, so a
v0 record passes v0 -> v1 -> v2 ... until no step is registered for its version. The
models in :mod:`streams.events` then validate today's shape only.

A record without ``schema_version`` is version 0: the first events had no such field.

Versions so far:

- ``OrderPlaced`` v0 had no ``contact``: the notification service did not exist yet
  and nobody was told. v1 added it; a v0 order gets the contact the checkout gives a
  shopper who leaves none (``<user_id>@customers.megatron.store``, no phone, as in
  :func:`domain.checkout.place_order`).
- ``OrderPlaced`` v1 had no ``shipping_address``: the checkout did not ask the API for one
  (the page kept it in the browser). v2 added it; a v1 order's address is unknown, so it
  is ``null`` (the order, its page and its mirror row say "no address" rather than guess).
- ``NotificationSent`` / ``NotificationFailed`` v0 had no ``channel``: email was the
  only one before SMS came. v1 added it; a v0 notification was an email.
"""

from __future__ import annotations

from typing import Any, Callable

from streams.events import default_contact

__all__ = ["Upcaster", "UPCASTERS", "upcaster", "upcast", "version_of"]

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

#: One step per ``(type, version it reads)``; the step returns version + 1.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, version: int) -> Callable[[Upcaster], Upcaster]:
    """Register ``fun`` as the step from ``version`` to ``version + 1`` of ``event_type``."""

    def register(fun: Upcaster) -> Upcaster:
        key = (event_type, version)
        if key in UPCASTERS:
            raise ValueError(f"two upcasters for {event_type} v{version}")
        UPCASTERS[key] = fun
        return fun

    return register


def version_of(raw: dict[str, Any]) -> int | None:
    """The record's ``schema_version``: 0 when it predates the field, ``None`` when it is not a number."""
    version = raw.get("schema_version", 0)
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def upcast(raw: Any) -> Any:
    """``raw`` (decoded JSON) in today's shape. Anything that is not an event of a known version is
    returned as it is, for validation to refuse (the record goes to the dead letters, not into a crash)."""
    if not isinstance(raw, dict):
        return raw
    while True:
        version = version_of(raw)
        step = UPCASTERS.get((str(raw.get("type")), version)) if version is not None else None
        if step is None:
            return raw
        raw = {**step(dict(raw)), "schema_version": version + 1}


@upcaster("OrderPlaced", 0)
def _order_placed_contact(raw: dict[str, Any]) -> dict[str, Any]:
    if "contact" not in raw:
        raw["contact"] = default_contact(str(raw.get("user_id"))).model_dump()
    return raw


@upcaster("OrderPlaced", 1)
def _order_placed_shipping_address(raw: dict[str, Any]) -> dict[str, Any]:
    raw.setdefault("shipping_address", None)
    return raw


@upcaster("NotificationSent", 0)
@upcaster("NotificationFailed", 0)
def _notification_channel(raw: dict[str, Any]) -> dict[str, Any]:
    raw.setdefault("channel", "email")
    return raw
