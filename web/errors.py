"""The API's errors: one tree, each class with its HTTP status and JSON ``code`` (STYLE 5).

Views raise these; :class:`web.base.ApiView` renders every one as
``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import math
from typing import Any

from faust.web.exceptions import WebError

__all__ = ["ApiError", "BadRequest", "ValidationFailed", "NotFound", "UnknownSku", "UnknownOrder",
           "EmptyCart", "PayloadTooLarge", "Conflict", "DependencyUnavailable", "Unauthorized", "Forbidden",
           "IdempotencyInFlight", "IdempotencyMismatch", "RateLimited"]


class ApiError(WebError):
    """Base of every error a client sees."""

    code = 500
    error_code = "internal_error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.error_code, "message": self.message, "details": self.details}}

    def headers(self) -> dict[str, str]:
        """Headers the answer carries besides the body (``Retry-After``, ``WWW-Authenticate``)."""
        return {}


class BadRequest(ApiError):
    """The request cannot be read (malformed JSON, missing header)."""

    code = 400
    error_code = "bad_request"


class ValidationFailed(ApiError):
    """The request was read but a field is wrong or out of range; ``details`` lists the fields (DESIGN: 400)."""

    code = 400
    error_code = "validation_failed"


class Unauthorized(ApiError):
    """No token, or one this gateway did not sign, or one that expired."""

    code = 401
    error_code = "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="megatron"'}


class Forbidden(ApiError):
    """The token is good but names another shopper than the path."""

    code = 403
    error_code = "forbidden"


class NotFound(ApiError):
    code = 404
    error_code = "not_found"


class UnknownSku(ApiError):
    """A SKU that is not in the catalog (DESIGN: 400, in the path as in a body)."""

    code = 400
    error_code = "unknown_sku"


class UnknownOrder(NotFound):
    error_code = "unknown_order"


class EmptyCart(ApiError):
    """Checkout of a cart with nothing in it."""

    code = 400
    error_code = "empty_cart"


class Conflict(ApiError):
    code = 409
    error_code = "conflict"


class IdempotencyInFlight(Conflict):
    """The first request with this Idempotency-Key has not finished yet."""

    error_code = "idempotency_key_in_flight"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class IdempotencyMismatch(ApiError):
    """The Idempotency-Key was first used with another body."""

    code = 422
    error_code = "idempotency_key_reused"


class PayloadTooLarge(ApiError):
    code = 413
    error_code = "payload_too_large"


class _RetryLater(ApiError):
    retry_after_s: float = 1.0

    def __init__(self, message: str, details: Any = None, retry_after_s: float | None = None) -> None:
        super().__init__(message, details)
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(self.retry_after_s)))}


class RateLimited(_RetryLater):
    """Past a rate limit; ``Retry-After`` says when the next request is counted again."""

    code = 429
    error_code = "rate_limited"


class DependencyUnavailable(_RetryLater):
    """Redis, a service or the broker cannot be reached; retry later."""

    code = 503
    error_code = "dependency_unavailable"
    retry_after_s = 2.0
