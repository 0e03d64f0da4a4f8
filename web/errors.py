"""The API's errors: one tree, each class with its HTTP status and JSON ``code`` (STYLE 5).

Views raise these; :class:`web.base.ApiView` renders every one as
``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from typing import Any

from faust.web.exceptions import WebError

__all__ = ["ApiError", "BadRequest", "ValidationFailed", "NotFound", "UnknownSku", "UnknownOrder",
           "EmptyCart", "PayloadTooLarge", "Conflict", "DependencyUnavailable"]


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


class BadRequest(ApiError):
    """The request cannot be read (malformed JSON, missing header)."""

    code = 400
    error_code = "bad_request"


class ValidationFailed(ApiError):
    """The request was read but a field is wrong; ``details`` lists the fields."""

    code = 422
    error_code = "validation_failed"


class NotFound(ApiError):
    code = 404
    error_code = "not_found"


class UnknownSku(NotFound):
    error_code = "unknown_sku"


class UnknownOrder(NotFound):
    error_code = "unknown_order"


class EmptyCart(ApiError):
    """Checkout of a cart with nothing in it."""

    code = 409
    error_code = "empty_cart"


class Conflict(ApiError):
    code = 409
    error_code = "conflict"


class PayloadTooLarge(ApiError):
    code = 413
    error_code = "payload_too_large"


class DependencyUnavailable(ApiError):
    """Redis, a service or the broker cannot be reached; retry later."""

    code = 503
    error_code = "dependency_unavailable"
