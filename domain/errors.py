"""Every error the platform raises on purpose: one tree that knows nothing of Faust or HTTP.

Each class carries the JSON ``code`` of DESIGN.md's error table, a one-line message and
``details`` a client can act on. The layers above decide what an error means to them:
the web layer renders it as a status and a body (``web.errors``), the command line as a
one-line message and exit code 2, an agent retries a :attr:`MegatronError.transient`
one and parks the rest on the topic's dead-letter topic.
"""

from __future__ import annotations

from typing import Any

# in the order the gateway's OpenAPI document lists their codes (web/openapi.py)
__all__ = ["MegatronError", "BadRequest", "ValidationFailed", "NotFound", "UnknownSku", "UnknownOrder", "EmptyCart",
           "PayloadTooLarge", "Conflict", "DependencyUnavailable", "Unauthorized", "Forbidden", "IdempotencyInFlight",
           "IdempotencyMismatch", "RateLimited", "InternalError", "Refused"]


class MegatronError(Exception):
    """Base of the tree: ``code`` names the error for machines, the message for people."""

    code = "internal_error"
    #: worth trying again unchanged (a dependency away, a limit that resets)
    transient = False
    retry_after_s: float | None = None

    def __init__(self, message: str, details: Any = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else {}
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s


class InternalError(MegatronError):
    """Something this code did not expect; the details stay in the log, never in an answer."""


class BadRequest(MegatronError):
    """The request cannot be read or done as asked (malformed JSON, a missing header, an unknown name)."""

    code = "bad_request"


class ValidationFailed(BadRequest):
    """The request was read but a field is wrong or out of range; ``details`` lists the fields."""

    code = "validation_failed"


class UnknownSku(BadRequest):
    """A SKU that is not in the catalog, in a path as in a body."""

    code = "unknown_sku"


class EmptyCart(BadRequest):
    """Checkout of a cart with nothing in it."""

    code = "empty_cart"


class PayloadTooLarge(BadRequest):
    """A body over the size limit, refused before it is read (or once it is larger than it said)."""

    code = "payload_too_large"


class Unauthorized(MegatronError):
    """No token, or one this gateway did not sign, or one that expired."""

    code = "unauthorized"


class Forbidden(MegatronError):
    """The token is good but names another shopper than the one asked about."""

    code = "forbidden"


class NotFound(MegatronError):
    """What the request names does not exist (a static file, an order's payment, a hold)."""

    code = "not_found"


class UnknownOrder(NotFound):
    """No such order, or one of another shopper (which is not told apart, so ids cannot be probed)."""

    code = "unknown_order"


class Conflict(MegatronError):
    """The request clashes with one that came first."""

    code = "conflict"


class IdempotencyInFlight(Conflict):
    """The first request with this Idempotency-Key has not finished yet."""

    code = "idempotency_key_in_flight"
    transient = True
    retry_after_s = 1.0


class IdempotencyMismatch(MegatronError):
    """The Idempotency-Key was first used with another body."""

    code = "idempotency_key_reused"


class RateLimited(MegatronError):
    """Past a rate limit; ``retry_after_s`` says when the next request is counted again."""

    code = "rate_limited"
    transient = True
    retry_after_s = 1.0


class DependencyUnavailable(MegatronError):
    """Redis, MySQL, a service, the broker or the payment gateway cannot be reached; retry later."""

    code = "dependency_unavailable"
    transient = True
    retry_after_s = 2.0


class Refused(MegatronError):
    """Another service or the payment gateway answered, and said no; ``status`` is what it answered.

    ``code`` is that service's own error code when it gave one, so a caller can pass it on
    as it came; without one it is ``downstream_error``."""

    code = "downstream_error"

    def __init__(self, message: str, details: Any = None, *, code: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message, details)
        if code is not None:
            self.code = code
        self.status = status
