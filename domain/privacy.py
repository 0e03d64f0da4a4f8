"""Masking of personal data (VPA, email, phone, address) for log lines and analysts' output.

DESIGN.md: personal data never appears in clear in a log line, and ``megatron replay`` masks it
unless asked otherwise. The masked forms keep what an operator or analyst needs to tell records
apart and nothing that reaches the person:

- VPA / email: the first character, ``***``, the domain kept: ``ravi@okaxis`` -> ``r***@okaxis``
  (the bank handle or mail domain is what payment and delivery analyses group by);
- phone: ``+`` and the country code kept, the last 4 digits kept, every other digit ``*``:
  ``+919812345678`` -> ``+91******5678``;
- address: ``name``, ``line``, ``phone`` (and any other key) ``***``; ``city`` and ``state`` kept,
  ``pincode`` to its first 3 digits (the sorting district): ``110001`` -> ``110***``.

Pure functions, no Faust: the logging filter (:mod:`config.logs`), the senders and the CLI use them.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

__all__ = ["MASK", "mask_vpa", "mask_email", "mask_phone", "mask_address", "mask_recipient", "mask_text",
           "mask_record", "ADDRESS_KEPT"]

MASK = "***"
#: address keys analysts may see in clear (``pincode`` only to its district, see :func:`mask_pincode`)
ADDRESS_KEPT = ("city", "state")

# local@domain: a domain starts with a letter, so ``topic[0]@12`` (a log's offset) and ``@app.agent``
# (a decorator in a traceback) are not taken for an address
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z][A-Za-z0-9\-]*(?:\.[A-Za-z0-9\-]+)*")
# 10+ digits standing alone (not part of a hex id, a ``u-...`` user id, a decimal or a log's
# ``topic[0]@offset``); with a leading ``+`` single spaces or hyphens may group them
# (``+91 98123 45678``): dates and times never start with ``+``
_PHONE = re.compile(r"(?<![\w.+\-@])(?:\+\d(?:[ \-]?\d){9,}|\d{10,})(?![\w\-]|\.\d)")


def _mask_address_like(value: str) -> str:
    """``local@domain`` -> first character of ``local``, ``***``, ``@domain``; no ``@``: ``***``."""
    if not value:
        return value
    local, at, domain = value.rpartition("@")
    if not at or not local:
        return MASK
    return f"{local[0]}{MASK}@{domain}"


def mask_vpa(vpa: str) -> str:
    """A UPI address with its bank handle kept: ``ravi@okaxis`` -> ``r***@okaxis``."""
    return _mask_address_like(vpa)


def mask_email(email: str) -> str:
    """An email with its domain kept: ``ravi@example.com`` -> ``r***@example.com``."""
    return _mask_address_like(email)


def mask_phone(phone: str) -> str:
    """The last 4 digits (and a ``+`` country code) kept: ``+919812345678`` -> ``+91******5678``.

    Separators are dropped; a number of 4 digits or fewer is all ``***`` (its last 4 would be all of it)."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    if len(digits) <= 4:
        return MASK
    country = ""
    if phone.lstrip().startswith("+") and len(digits) > 10:
        country = "+" + digits[:min(3, len(digits) - 10)]  # national numbers are 10 digits in India
        digits = digits[len(country) - 1:]
    elif phone.lstrip().startswith("+"):
        country = "+"
    return f"{country}{'*' * (len(digits) - 4)}{digits[-4:]}"


def mask_pincode(pincode: Any) -> Any:
    """A PIN code to its first 3 digits (the sorting district): ``110001`` -> ``110***``."""
    if pincode is None or pincode == "":
        return pincode
    text = str(pincode)
    return f"{text[:3]}{MASK}" if len(text) > 3 else MASK


def mask_address(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A shipping address for analysts: city and state kept, the PIN code to its district, the rest ``***``.

    Unknown keys are masked too: a field added to the address later is personal until said otherwise."""
    if address is None:
        return None
    masked: dict[str, Any] = {}
    for key, value in address.items():
        if value is None or value == "":
            masked[key] = value  # nothing there to hide; keeps "no phone given" visible
        elif key in ADDRESS_KEPT:
            masked[key] = value
        elif key == "pincode":
            masked[key] = mask_pincode(value)
        else:
            masked[key] = MASK
    return masked


def mask_recipient(recipient: str) -> str:
    """A notification's recipient: an email, or a phone for SMS."""
    if not recipient:
        return recipient
    return mask_email(recipient) if "@" in recipient else mask_phone(recipient)


def mask_text(text: str) -> str:
    """Free text with every email/VPA-like token and every phone-like run of 10+ digits masked.

    Order ids (hex), user ids (``u-...``), SKUs (``IPHONE-15``), offsets and timestamps stay readable.
    Idempotent: masked text masks to itself."""
    if not text:
        return text
    if "@" in text:
        text = _EMAIL.sub(lambda m: _mask_address_like(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


#: how each personal field of an event, a command or an operator's view is masked, by its name
_FIELDS: dict[str, Callable[[Any], Any]] = {
    "vpa": lambda v: mask_vpa(v) if isinstance(v, str) else v,
    "email": lambda v: mask_email(v) if isinstance(v, str) else v,
    "phone": lambda v: mask_phone(v) if isinstance(v, str) else v,
    "recipient": lambda v: mask_recipient(v) if isinstance(v, str) else v,
    "shipping_address": lambda v: mask_address(v) if isinstance(v, Mapping) else (MASK if v else v),
    # free text that may quote an address or a number: an SMTP error names its recipient, an
    # operator's cancel note may carry the shopper's phone
    "error": lambda v: mask_text(v) if isinstance(v, str) else v,
    "note": lambda v: mask_text(v) if isinstance(v, str) else v,
}


def mask_record(data: Any) -> Any:
    """A JSON-shaped record (an event as ``model_dump(mode="json")``, a service's answer) with every
    personal field masked wherever it is nested: ``payment.vpa``, ``contact.email``, ``contact.phone``,
    ``shipping_address``, a notification's ``recipient`` and ``error``, a cancel ``note``.

    Returns a new structure; ``data`` is not changed. Everything else (ids, SKUs, amounts) is kept."""
    if isinstance(data, Mapping):
        return {k: _FIELDS[k](v) if k in _FIELDS else mask_record(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [mask_record(v) for v in data]
    return data
