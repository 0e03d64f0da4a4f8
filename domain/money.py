"""Money is integer paise everywhere; rupees only when shown to a person."""

from __future__ import annotations

__all__ = ["format_inr"]


def format_inr(paise: int) -> str:
    """``7990000`` -> ``₹79,900.00``, with Indian digit grouping (``₹1,14,900.00``)."""
    sign = "-" if paise < 0 else ""
    rupees, rem = divmod(abs(paise), 100)
    digits = str(rupees)
    head, tail = digits[:-3], digits[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    grouped = ",".join([*groups, tail]) if groups else tail
    return f"{sign}₹{grouped}.{rem:02d}"
