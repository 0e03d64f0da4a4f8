"""The one error a command raises for bad input or an unknown name: a one-line message, exit code 2."""

from domain.errors import BadRequest

__all__ = ["BadInput"]


class BadInput(BadRequest):
    """What the operator asked for cannot be done as asked; the message says why, in one line."""
