"""The one error a command raises for bad input or an unknown name: a one-line message, exit code 2."""

__all__ = ["BadInput"]


class BadInput(Exception):
    """What the operator asked for cannot be done as asked; the message says why, in one line."""
